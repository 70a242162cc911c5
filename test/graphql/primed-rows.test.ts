// Rows a whole-tree read primed are answered as they are: a field whose rows the one-release
// statement already read completes without a promise and without a statement, through whichever
// path reaches them (a check's gate is the gate read as the release's), and a loader made after the
// tree read starts with its rows; a key nothing primed still loads, batched, as the persona.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Context, createContext, type RequestInfo } from '../../src/context.js';
import { loaders, loadRows, primeRows } from '../../src/resolvers/loaders.js';
import { actAs, identity, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { countStatements, createTestApi, expectData, type StatementCounter, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let releaseId: string;
let gateId: string;

type Data = Record<string, unknown>;
const doc = (text: string) => parse(text) as TypedDocumentNode<Data, Record<string, unknown>>;

// Every list under the release, and from each check and approval back to its gate (the by-id
// loader the tree read primes with the release's gates).
const ROUND_TRIP = doc(`query RoundTrip($id: ID!) {
  release(id: $id) {
    id status
    gates {
      gateCode status
      checks { checkName status gate { gateCode } }
      approvals { approverId decision gate { gateCode } }
      evidence { artifactType }
    }
  }
}`);

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-primed');
    releaseId = String(
      (
        await c.query(`select (ops.create_release($1, 'primed')).release_id as id`, [
          `primed-${randomUUID().slice(0, 8)}`,
        ])
      ).rows[0].id,
    );
    await actAs(c, 'ci_service_role', 'ci-primed');
    await c.query(`select ops.record_check($1, 'G1', 'build', 'pass')`, [releaseId]);
    await c.query(`select ops.record_check($1, 'G1', 'lint', 'fail')`, [releaseId]);
    gateId = String(
      (
        await c.query(`select gate_id from ops.release_gates where release_id = $1 and gate_code = 'G1'`, [
          releaseId,
        ])
      ).rows[0].gate_id,
    );
  });
});

afterAll(async () => {
  await api?.close();
});

/**
 * A request's context as the GraphQL server builds it, on the request role's pool, and done(),
 * which finishes its read transaction as the server does when execution is done.
 */
function requestContext(pool = db.api): { ctx: Context; done: () => Promise<void> } {
  const info: RequestInfo = {
    requestId: randomUUID(),
    startedAt: performance.now(),
    identity: identity('release_manager', 'rm-primed'),
    authError: null,
  };
  return { ctx: createContext(pool, info), done: async () => info.readTransaction?.finish('commit') };
}

describe('rows primed by the one-release statement', () => {
  it('serve every path that reaches them: begin with the persona, one select, commit', async () => {
    api.statements.reset();
    const data = expectData(
      await api.executeOperation({
        operation: ROUND_TRIP,
        variables: { id: releaseId },
        persona: 'release_manager',
      }),
    );
    const statements = [...api.statements.statements];
    expect(statements).toHaveLength(3);
    expect(statements[1]).toMatch(/^select .* from ops\.releases t0 where/s);
    expect(statements[2]).toBe('commit');
    const gates = (data.release as { gates: { gateCode: string; checks: Data[] }[] }).gates;
    expect(gates.map((g) => g.gateCode)).toEqual(['G1', 'G2', 'G3', 'G4']);
    expect(gates[0]!.checks).toEqual([
      { checkName: 'build', status: 'pass', gate: { gateCode: 'G1' } },
      { checkName: 'lint', status: 'fail', gate: { gateCode: 'G1' } },
    ]);
  });

  it('are answered without a promise; a key nothing primed is loaded from the database as the persona', async () => {
    const { ctx, done } = requestContext();
    const primed = [{ check_id: randomUUID(), gate_id: gateId, check_name: 'primed', status: 'pass' }];
    primeRows(ctx, 'checksByGate', gateId, primed);
    expect(loadRows(ctx, 'checksByGate', gateId)).toBe(primed);

    // A gate nothing primed: the loader reads it (in the request's transaction).
    const other = randomUUID();
    const loaded = loadRows(ctx, 'checksByGate', other);
    expect(loaded).toBeInstanceOf(Promise);
    expect(await loaded).toEqual([]);
    await done();
  });

  it('keep their first value, and a loader made after them starts with them (no statement)', async () => {
    const pool = new pg.Pool({ connectionString: db.apiUrl, max: 1 });
    const counter: StatementCounter = countStatements(pool);
    try {
      const { ctx } = requestContext(pool);
      const first = [{ check_name: 'first' }];
      primeRows(ctx, 'checksByGate', gateId, first);
      primeRows(ctx, 'checksByGate', gateId, [{ check_name: 'second' }]);
      expect(loadRows(ctx, 'checksByGate', gateId)).toBe(first);
      expect(await loaders(ctx).checksByGate.load(gateId)).toBe(first);
      expect(counter.count).toBe(0);

      // Without priming, the same key is the database's rows (the two checks recorded above).
      const fresh = requestContext(pool);
      const rows = (await loaders(fresh.ctx).checksByGate.load(gateId)) as { check_name: string }[];
      await fresh.done();
      expect(rows.map((r) => r.check_name)).toEqual(['build', 'lint']);
      expect(counter.count).toBeGreaterThan(0);
    } finally {
      await pool.end();
    }
  });
});
