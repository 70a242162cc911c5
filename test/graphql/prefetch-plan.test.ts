// The one-release statement is planned once per document and reused, but only for the same inputs:
// a persona that may read fewer relations, or variables that change which field nodes are merged
// (@include/@skip), get a statement planned for them, so a plan never reads a relation the caller
// may not read nor misses one the selection asks for.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let releaseId: string;

type Data = Record<string, unknown>;
const doc = (text: string) => parse(text) as TypedDocumentNode<Data, Record<string, unknown>>;

const WITH_GATES = doc(`query PlanByPersona($id: ID!) {
  release(id: $id) { id releaseName gates { gateCode checks { checkName status } } }
}`);

const MAYBE_GATES = doc(`query PlanByVariables($id: ID!, $gates: Boolean!) {
  release(id: $id) { id }
  release(id: $id) @include(if: $gates) { gates { gateCode checks { checkName } } }
}`);

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-plan');
    releaseId = String(
      (
        await c.query(`select (ops.create_release($1, 'planned')).release_id as id`, [
          `plan-${randomUUID().slice(0, 8)}`,
        ])
      ).rows[0].id,
    );
    await actAs(c, 'ci_service_role', 'ci-plan');
    await c.query(`select ops.record_check($1, 'G1', 'build', 'pass')`, [releaseId]);
  });
});

afterAll(async () => {
  await api?.close();
});

async function run(
  operation: TypedDocumentNode<Data, Record<string, unknown>>,
  variables: Data,
  persona: Persona,
) {
  api.statements.reset();
  const result = await api.executeOperation({ operation, variables, persona, sub: 'dev-plan' });
  return { result, statements: [...api.statements.statements] };
}

describe('the planned one-release statement', () => {
  it('is planned per persona: a persona that may not read the gates never gets a plan that reads them', async () => {
    for (let round = 0; round < 2; round++) {
      const rm = await run(WITH_GATES, { id: releaseId }, 'release_manager');
      expect(rm.result.errors).toBeUndefined();
      const gates = ((rm.result.data as Data).release as { gates: { gateCode: string; checks: unknown[] }[] })
        .gates;
      expect(gates.find((g) => g.gateCode === 'G1')?.checks).toEqual([
        { checkName: 'build', status: 'pass' },
      ]);
      expect(rm.statements).toHaveLength(3);
      expect(rm.statements[1]).toMatch(/from ops\.release_gates/);

      // The same document as the developer who made the release: the release, and the gates refused.
      const dev = await run(WITH_GATES, { id: releaseId }, 'developer');
      expect(dev.result.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
      expect(((dev.result.data as Data).release as { releaseName: string }).releaseName).toBe('planned');
      expect(dev.statements[1]).toMatch(/from ops\.releases t0/);
      expect(dev.statements[1]).not.toMatch(/release_gates/);
    }
  });

  it('is planned per set of merged field nodes: @include decides with the variables', async () => {
    for (const gates of [false, true, false, true]) {
      const { result, statements } = await run(MAYBE_GATES, { id: releaseId, gates }, 'release_manager');
      expect(result.errors).toBeUndefined();
      const release = (result.data as Data).release as { id: string; gates?: { gateCode: string }[] };
      expect(release.id).toBe(releaseId);
      if (gates) {
        expect(release.gates?.map((g) => g.gateCode)).toEqual(['G1', 'G2', 'G3', 'G4']);
        // The gates and their checks came with the release: nothing loaded afterwards.
        expect(statements).toHaveLength(3);
        expect(statements[1]).toMatch(/from ops\.release_gates/);
      } else {
        expect(release.gates).toBeUndefined();
        expect(statements[1]).not.toMatch(/release_gates/);
      }
    }
  });
});
