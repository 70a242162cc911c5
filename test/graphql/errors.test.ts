// What a caller sees when something goes wrong: malformed input is a ValidationError naming each
// field (before any SQL runs); an unknown row is NotFound; a separation-of-duties refusal is a
// ForbiddenError carrying the rule's own words from SQL; anything unexpected is masked, with
// neither stack nor SQL nor driver message leaking.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  ExceptionsDocument,
  PromoteReleaseDocument,
  PromotionEligibilityDocument,
  RecordCheckDocument,
  ReleaseByNameDocument,
  ReleaseStatusDocument,
  RequestExceptionDocument,
} from '../../src/gql/graphql.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, expectTypename, okData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
});

const rm = { persona: 'release_manager', sub: 'rm-rita' } as const;

async function createRelease(persona: 'release_manager' | 'developer', sub: string) {
  const releaseName = `err-${randomUUID().slice(0, 8)}`;
  const r = await api.executeOperation({
    operation: CreateReleaseDocument,
    variables: { input: { project: 'odoo-core', releaseName } },
    persona,
    sub,
  });
  return okData(r.data?.createRelease);
}

describe('ValidationError: malformed input names the field, before any SQL', () => {
  it('a non-UUID release id', async () => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: PromoteReleaseDocument,
      variables: { input: { releaseId: 'release-42', environment: 'staging' } },
      ...rm,
    });
    const err = expectTypename(r.data?.promoteRelease, 'ValidationError');
    expect(err.code).toBe('VALIDATION');
    expect(err.issues).toEqual([{ path: 'releaseId', message: 'must be a UUID' }]);
    expect(err.message).toBe('releaseId: must be a UUID');
    expect(api.statements.count).toBe(0);
  });

  it('an empty project (and every other bad field of the same input)', async () => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: CreateReleaseDocument,
      variables: { input: { project: '   ', releaseName: 'x'.repeat(201) } },
      ...rm,
    });
    const err = expectTypename(r.data?.createRelease, 'ValidationError');
    expect(err.issues?.map((i) => i.path)).toEqual(['project', 'releaseName']);
    expect(err.message).toMatch(/^project: .+; releaseName: .+$/);
    expect(api.statements.count).toBe(0);
  });

  it('a sha256 that is not a hex digest', async () => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: AttachEvidenceDocument,
      variables: {
        input: {
          releaseId: randomUUID(),
          artifactType: 'test_result',
          artifactUrl: 'https://ci.example/junit.xml',
          sha256: 'abc123',
        },
      },
      persona: 'qa_tester',
    });
    const err = expectTypename(r.data?.attachEvidence, 'ValidationError');
    expect(err.issues).toEqual([{ path: 'sha256', message: 'must be a sha256 hex digest' }]);
    expect(api.statements.count).toBe(0);
  });

  it('on a query, a non-UUID id is a coded GraphQL error (VALIDATION)', async () => {
    const r = await api.executeOperation({
      operation: PromotionEligibilityDocument,
      variables: { releaseId: 'nope', environment: 'staging' },
      persona: 'audit_reader',
    });
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toMatchObject({
      message: 'releaseId must be a UUID',
      path: ['promotionEligibility'],
      extensions: { code: 'VALIDATION' },
    });
  });
});

describe('one UUID argument rule: a bad id is a clear error, never a silent answer', () => {
  it('exceptions(releaseId: "x") is VALIDATION, not every exception', async () => {
    const release = await createRelease('release_manager', 'rm-rita');
    const requested = await api.executeOperation({
      operation: RequestExceptionDocument,
      variables: {
        input: {
          releaseId: release.id!,
          exceptionType: 'gate_bypass',
          impactedGates: ['G2'],
          reason: 'flaky suite',
          riskStatement: 'low',
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        },
      },
      persona: 'qa_tester',
      sub: 'qa-quinn',
    });
    const exception = okData(requested.data?.requestException);
    const own = await api.executeOperation({
      operation: ExceptionsDocument,
      variables: { releaseId: release.id! },
      persona: 'audit_reader',
    });
    expect(expectData(own).exceptions?.map((e) => e.id)).toEqual([exception.id]);

    api.statements.reset();
    const bad = await api.executeOperation({
      operation: ExceptionsDocument,
      variables: { releaseId: 'x' },
      persona: 'audit_reader',
    });
    expect(bad.data?.exceptions ?? null).toBeNull();
    expect(bad.errors?.[0]).toMatchObject({
      message: 'releaseId must be a UUID',
      path: ['exceptions'],
      extensions: { code: 'VALIDATION' },
    });
    expect(api.statements.count).toBe(0);
  });

  it.each([
    ['release', '{ release(id: "x") { id } }', 'id'],
    ['deployment', '{ deployment(id: "x") { id } }', 'id'],
    ['releaseTimeline', '{ releaseTimeline(releaseId: "x") { seq } }', 'releaseId'],
    ['releaseEvidenceBundle', '{ releaseEvidenceBundle(releaseId: "x") { bundleSha256 } }', 'releaseId'],
    ['ingestLog', '{ ingestLog(filter: { releaseId: "x" }) { nodes { id } } }', 'releaseId'],
    [
      'releaseGateSummary',
      '{ releaseGateSummary(filter: { releaseId: "x" }) { nodes { gateId } } }',
      'releaseId',
    ],
    [
      'evidenceCompleteness',
      '{ evidenceCompleteness(filter: { releaseId: "x" }) { nodes { gateId } } }',
      'releaseId',
    ],
    [
      'exceptionStatus',
      '{ exceptionStatus(filter: { releaseId: "x" }) { nodes { exceptionId } } }',
      'releaseId',
    ],
    [
      'deploymentHistory',
      '{ deploymentHistory(filter: { releaseId: "x" }) { nodes { deploymentId } } }',
      'releaseId',
    ],
  ])('%s with a non-UUID id is VALIDATION naming the argument, before any SQL', async (field, query, arg) => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: parse(query) as TypedDocumentNode<Record<string, unknown>, Record<string, never>>,
      persona: 'audit_reader',
    });
    expect(r.errors?.[0]).toMatchObject({
      message: `${arg} must be a UUID`,
      path: [field],
      extensions: { code: 'VALIDATION' },
    });
    expect(api.statements.count).toBe(0);
  });
});

describe('one read transaction per request', () => {
  it('a refused read rolls back only itself: its siblings in the same request still answer', async () => {
    const release = await createRelease('release_manager', 'rm-rita');
    api.statements.reset();
    const r = await api.executeOperation({
      operation: parse(`query Mixed($unknown: ID!, $known: ID!) {
        missing: promotionEligibility(releaseId: $unknown, environment: staging) { eligible }
        present: release(id: $known) { id gates { gateCode } }
      }`) as TypedDocumentNode<
        Record<string, { id?: string; gates?: unknown[] } | null>,
        { unknown: string; known: string }
      >,
      variables: { unknown: randomUUID(), known: release.id! },
      persona: 'audit_reader',
    });
    expect(r.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['missing'], 'NOT_FOUND']]);
    expect(r.data?.present?.id).toBe(release.id);
    expect(r.data?.present?.gates).toHaveLength(4);
    // Every transaction the request opened was finished (no connection left checked out).
    const begins = api.statements.statements.filter((t) => t.startsWith('begin')).length;
    const ends = api.statements.statements.filter((t) => t === 'commit' || t === 'rollback').length;
    expect(ends).toBe(begins);
    expect(api.pool.waitingCount).toBe(0);
    expect(api.pool.idleCount).toBe(api.pool.totalCount);
  });
});

describe('NotFoundError: an unknown release', () => {
  it('promoteRelease and recordCheck answer NotFoundError naming the id', async () => {
    const id = randomUUID();
    const promoted = await api.executeOperation({
      operation: PromoteReleaseDocument,
      variables: { input: { releaseId: id, environment: 'staging' } },
      ...rm,
    });
    expect(expectTypename(promoted.data?.promoteRelease, 'NotFoundError')).toEqual({
      __typename: 'NotFoundError',
      code: 'NOT_FOUND',
      message: `release ${id} does not exist`,
    });
    const check = await api.executeOperation({
      operation: RecordCheckDocument,
      variables: { input: { releaseId: id, gateCode: 'G1', checkName: 'build', status: 'pass' } },
      persona: 'ci_service_role',
    });
    expect(expectTypename(check.data?.recordCheck, 'NotFoundError').message).toBe(
      `release ${id} does not exist`,
    );
  });

  it("a developer's view: someone else's release does not exist either", async () => {
    const theirs = await createRelease('developer', 'dev-dana');
    const r = await api.executeOperation({
      operation: RecordCheckDocument,
      variables: { input: { releaseId: theirs.id!, gateCode: 'G1', checkName: 'build', status: 'pass' } },
      persona: 'developer',
      sub: 'dev-other',
    });
    expect(expectTypename(r.data?.recordCheck, 'NotFoundError').message).toBe(
      `release ${theirs.id} does not exist`,
    );
  });

  it('release(id) of an unknown id is null', async () => {
    const r = await api.executeOperation({
      operation: ReleaseStatusDocument,
      variables: { id: randomUUID() },
      ...rm,
    });
    expect(expectData(r)).toEqual({ release: null });
  });

  it('promotionEligibility of an unknown release is NOT_FOUND, not a masked server error', async () => {
    const id = randomUUID();
    const r = await api.executeOperation({
      operation: PromotionEligibilityDocument,
      variables: { releaseId: id, environment: 'production' },
      persona: 'audit_reader',
    });
    expect(r.data).toEqual({ promotionEligibility: null });
    expect(r.errors).toHaveLength(1);
    expect(r.errors![0]).toMatchObject({
      message: `release ${id} does not exist`,
      path: ['promotionEligibility'],
      extensions: { code: 'NOT_FOUND' },
    });

    // The same for a developer asking about someone else's release (it does not exist for them).
    const theirs = await createRelease('developer', 'dev-dana');
    const mine = await api.executeOperation({
      operation: PromotionEligibilityDocument,
      variables: { releaseId: theirs.id!, environment: 'staging' },
      persona: 'developer',
      sub: 'dev-other',
    });
    expect(mine.errors?.[0]).toMatchObject({
      message: `release ${theirs.id} does not exist`,
      extensions: { code: 'NOT_FOUND' },
    });
  });
});

describe('ForbiddenError from a rule in SQL', () => {
  it('the initiating actor may not approve G3 of their own release (separation of duties)', async () => {
    const release = await createRelease(rm.persona, rm.sub);
    const r = await api.executeOperation({
      operation: ApproveGateDocument,
      variables: { input: { releaseId: release.id!, gateCode: 'G3', decision: 'approved' } },
      ...rm,
    });
    expect(expectTypename(r.data?.approveGate, 'ForbiddenError')).toEqual({
      __typename: 'ForbiddenError',
      code: 'FORBIDDEN',
      message: `separation of duties: rm-rita initiated release ${release.releaseName} and may not approve its G3`,
      // The persona is right; the person is not: no persona would help.
      requiredPersonas: [],
    });
  });

  it('whoever signed G2 may not also approve G3, whatever persona they hold now', async () => {
    const release = await createRelease('developer', 'dev-dana');
    const approve = (persona: 'qa_tester' | 'release_manager', gateCode: 'G2' | 'G3') =>
      api.executeOperation({
        operation: ApproveGateDocument,
        variables: { input: { releaseId: release.id!, gateCode, decision: 'approved' } },
        persona,
        sub: 'pat-both-hats',
      });
    okData((await approve('qa_tester', 'G2')).data?.approveGate);
    const refused = expectTypename(
      (await approve('release_manager', 'G3')).data?.approveGate,
      'ForbiddenError',
    );
    expect(refused.message).toBe(
      `separation of duties: pat-both-hats signed off G2 of release ${release.releaseName} and may not also approve its G3`,
    );
  });

  it('only a pipeline names another initiating actor', async () => {
    const r = await api.executeOperation({
      operation: CreateReleaseDocument,
      variables: {
        input: { project: 'odoo-core', releaseName: `err-${randomUUID()}`, initiatingActor: 'dev-dana' },
      },
      ...rm,
    });
    expect(expectTypename(r.data?.createRelease, 'ForbiddenError').message).toBe(
      'only ci_service_role may name another initiating actor',
    );
  });
});

describe('unexpected errors stay masked', () => {
  let broken: TestApi;
  let deadPool: pg.Pool;

  beforeAll(async () => {
    deadPool = new pg.Pool({ connectionString: db.apiUrl, max: 1 });
    await deadPool.end();
    broken = createTestApi(db, { pool: deadPool });
  });

  afterAll(async () => {
    await broken?.close();
  });

  /** Nothing of the cause: no driver message, no SQL, no stack, no original error. */
  function expectMasked(errors: unknown, field: string) {
    expect(errors).toEqual([
      {
        message: 'Unexpected error.',
        locations: [expect.any(Object)],
        path: [field],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
    expect(JSON.stringify(errors)).not.toMatch(/pool|select|ops\.|stack|at .+\.js/i);
  }

  it('a query on a pool that was ended answers "Unexpected error."', async () => {
    const r = await broken.executeOperation({
      operation: ReleaseByNameDocument,
      variables: { project: 'odoo-core', name: 'anything' },
      ...rm,
    });
    expect(r.data).toEqual({ releaseByName: null });
    expectMasked(r.errors, 'releaseByName');
  });

  it('a mutation too: not a union member, a masked GraphQL error', async () => {
    const r = await broken.executeOperation({
      operation: CreateReleaseDocument,
      variables: { input: { project: 'odoo-core', releaseName: 'never-written' } },
      ...rm,
    });
    expect(r.data).toEqual({ createRelease: null });
    expectMasked(r.errors, 'createRelease');
  });
});
