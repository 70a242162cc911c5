// exceptions(state:) selects by the rule of ops.v_exception_status (its state column) and the
// stored post-review status: the API answers exactly what the view says, for each state.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApproveExceptionDocument,
  CreateReleaseDocument,
  ExceptionsDocument,
  RequestExceptionDocument,
} from '../../src/gql/graphql.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, okData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
});

async function requestException(releaseId: string): Promise<string> {
  const r = await api.executeOperation({
    operation: RequestExceptionDocument,
    variables: {
      input: {
        releaseId,
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
  return okData(r.data?.requestException).id!;
}

describe('exceptions(state:) follows ops.v_exception_status', () => {
  it('ACTIVE, EXPIRED and PENDING_REVIEW each select what the view and the table say', async () => {
    const created = await api.executeOperation({
      operation: CreateReleaseDocument,
      variables: { input: { project: 'odoo-core', releaseName: `exc-${randomUUID().slice(0, 8)}` } },
      persona: 'developer',
      sub: 'dev-dana',
    });
    const releaseId = okData(created.data?.createRelease).id!;
    const active = await requestException(releaseId);
    const unapproved = await requestException(releaseId);
    const expired = await requestException(releaseId);
    for (const id of [active, expired]) {
      const approved = await api.executeOperation({
        operation: ApproveExceptionDocument,
        variables: { input: { exceptionId: id } },
        persona: 'release_manager',
        sub: 'rm-rita',
      });
      okData(approved.data?.approveException);
    }
    // Close one window in the past (arranged by the owner, bypassing the guards that refuse it).
    const admin = await db.admin.connect();
    try {
      await admin.query('begin');
      await admin.query("set local session_replication_role = 'replica'");
      await admin.query(
        `update ops.exceptions set effective_from = now() - interval '2 days',
                expires_at = now() - interval '1 day' where exception_id = $1`,
        [expired],
      );
      await admin.query('commit');
    } finally {
      admin.release();
    }

    const view = await db.admin.query<{ exception_id: string; state: string; post_review_status: string }>(
      'select exception_id, state, post_review_status::text from ops.v_exception_status where release_id = $1',
      [releaseId],
    );
    const viewIds = (pick: (r: (typeof view.rows)[number]) => boolean) =>
      view.rows
        .filter(pick)
        .map((r) => r.exception_id)
        .sort();
    expect(viewIds((r) => r.state === 'active')).toEqual([active]);
    expect(viewIds((r) => r.state === 'expired')).toEqual([expired]);

    const expected = {
      ACTIVE: viewIds((r) => r.state === 'active'),
      EXPIRED: viewIds((r) => r.state === 'expired'),
      PENDING_REVIEW: viewIds((r) => r.post_review_status === 'pending'),
    } as const;
    expect(expected.PENDING_REVIEW.length).toBeGreaterThan(0);
    for (const state of ['ACTIVE', 'EXPIRED', 'PENDING_REVIEW'] as const) {
      const r = await api.executeOperation({
        operation: ExceptionsDocument,
        variables: { state, releaseId },
        persona: 'audit_reader',
      });
      const ids = (expectData(r).exceptions ?? []).map((e) => e.id).sort();
      expect(ids, state).toEqual(expected[state]);
    }
    const all = await api.executeOperation({
      operation: ExceptionsDocument,
      variables: { releaseId },
      persona: 'release_manager',
      sub: 'rm-rita',
    });
    expect((expectData(all).exceptions ?? []).map((e) => e.id).sort()).toEqual(
      [active, unapproved, expired].sort(),
    );
  });
});
