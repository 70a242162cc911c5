import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approveException,
  createRelease,
  expireException,
  passG1,
  passG2,
  passG3,
  type Release,
  requestException,
  submitApproval,
  uniqueName,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { previousSweep } from '../timing/previous-sweep.js';

let db: TestDatabase;
let owner: pg.Client;
const subjects: Record<string, string> = {};
let releases: Release[] = [];

const asOwner = (sql: string, params: unknown[] = []) => owner.query(sql, params);

/** Runs as a persona on the test database's pool (ops.* functions check the persona). */
async function as<T extends pg.QueryResultRow>(
  persona: Parameters<TestDatabase['as']>[0],
  sub: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return db.as(persona, sub, async (c) => (await c.query<T>(sql, params)).rows);
}

beforeAll(async () => {
  db = await useTestDatabase();
  owner = new pg.Client({ connectionString: db.adminUrl });
  await owner.connect();
  await owner.query(previousSweep('20261202100000_ops_exception_window_opening_reevaluates.sql'));

  const project = uniqueName('sweep-answers');
  await as('release_manager', who.rm, `select ops.set_deadline_policy('G2', '1 hour', null, $1)`, [project]);
  await as('release_manager', who.rm, `select ops.set_deadline_policy('G4', '30 minutes', 'staging', $1)`, [
    project,
  ]);
  const r = await Promise.all([1, 2, 3, 4].map(() => createRelease(db, { project })));
  releases = r;
  const [a, b, c, d] = r as [Release, Release, Release, Release];

  // Approval requests: one expired undecided, one decided in time, one not yet due.
  const request = async (rel: Release) =>
    (
      await as<{ request_id: string }>(
        'developer',
        who.dev,
        `select request_id from ops.request_approval($1, 'G2')`,
        [rel.release_id],
      )
    )[0]!.request_id;
  subjects.expiredRequest = await request(a);
  subjects.decidedRequest = await request(b);
  subjects.openRequest = await request(c);
  await passG1(db, b);
  await submitApproval(db, 'qa_tester', who.qa, b.release_id, 'G2');
  // Moved into the past by the owner, the rules' triggers off: the expired one due a minute ago,
  // the decided one due a millisecond after its decision.
  await asOwner(
    `begin;
     set local session_replication_role = replica;
     update ops.timing_approval_requests set requested_at = now() - interval '2 hours',
            due_at = now() - interval '1 minute' where request_id = '${subjects.expiredRequest}';
     update ops.timing_approval_requests q set requested_at = now() - interval '2 hours',
            due_at = (select max(a.created_at) from ops.approvals a where a.release_id = q.release_id)
                     + interval '1 millisecond'
      where request_id = '${subjects.decidedRequest}';
     commit;`,
  );

  // Exceptions: one expired, one whose window opened after its approval, one in force.
  const expired = await requestException(db, a.release_id, ['G2']);
  await approveException(db, expired.exception_id);
  subjects.expiredException = expired.exception_id;
  const later = await db.as(
    'release_manager',
    who.rm2,
    async (cl) =>
      (
        await cl.query<{ exception_id: string }>(
          `select exception_id from ops.request_exception(p_release_id => $1,
           p_exception_type => 'gate_bypass', p_impacted_gates => '{G3}', p_reason => 'window later',
           p_risk_statement => 'low', p_expires_at => now() + interval '2 days',
           p_effective_from => now() + interval '1 hour')`,
          [c.release_id],
        )
      ).rows[0]!,
  );
  await approveException(db, later.exception_id);
  subjects.openedException = later.exception_id;
  const active = await requestException(db, d.release_id, ['G2']);
  await approveException(db, active.exception_id);
  subjects.activeException = active.exception_id;
  await asOwner(
    `begin;
     set local session_replication_role = replica;
     update ops.exceptions set effective_from = now() - interval '3 days', approved_at = now() - interval '3 days',
            expires_at = now() - interval '1 day' where exception_id = '${subjects.expiredException}';
     update ops.exceptions set approved_at = now() - interval '3 hours', effective_from = now() - interval '2 hours'
      where exception_id = '${subjects.openedException}';
     commit;`,
  );

  // A staging deployment 40 minutes ago, never confirmed healthy: its G4 missed the deadline.
  await passG1(db, d);
  await passG2(db, d);
  await passG3(db, d);
  subjects.lateDeployment = (
    await as<{ deployment_id: string }>(
      'ci_service_role',
      who.ci,
      `select deployment_id from ops.record_deployment($1, 'staging', 'succeeded', null, null,
         now() - interval '40 minutes')`,
      [d.release_id],
    )
  )[0]!.deployment_id;
}, 120_000);

afterAll(async () => {
  await owner?.end();
});

interface Outcome {
  recorded: number;
  transitions: {
    subject_kind: string;
    subject_id: string;
    to_state: string;
    reason: string;
    due_at: string;
  }[];
  gates: { release_id: string; gate_code: string; status: string }[];
}

/** What one sweep records (its count, the transitions in the order written, the stored gates after). */
async function sweep(fn: string): Promise<Outcome> {
  // As text: a JavaScript Date would drop the microseconds.
  const before = await asOwner(
    'select coalesce(max(created_at), now())::text as at from ops.deadline_transitions',
  );
  const { rows } = await asOwner(`select ${fn}() as n`);
  const transitions = await asOwner(
    `select subject_kind, subject_id::text, to_state, reason, due_at::text from ops.deadline_transitions
     where created_at > $1::timestamptz order by created_at, transition_id`,
    [before.rows[0].at],
  );
  const gates = await asOwner(
    `select release_id::text, gate_code::text, status::text from ops.release_gates where release_id = any ($1::uuid[])
     order by release_id, gate_code`,
    [releases.map((r) => r.release_id)],
  );
  return { recorded: rows[0].n, transitions: transitions.rows, gates: gates.rows };
}

/** The previous sweep's outcome (rolled back), then the current one's (committed). */
async function both(): Promise<{ previous: Outcome; current: Outcome }> {
  await asOwner('begin');
  const previous = await sweep('pg_temp.previous_record_deadline_transitions');
  await asOwner('rollback');
  await asOwner('begin');
  const current = await sweep('ops.record_deadline_transitions');
  await asOwner('commit');
  return { previous, current };
}

const watched = async () =>
  (await asOwner('select subject_id::text from ops.deadline_watch order by 1')).rows.map((r) => r.subject_id);

describe('the deadline sweep that starts from the open subjects', () => {
  it('records what the sweep that read every subject recorded, and settles what it judged', async () => {
    expect(await watched()).toEqual(
      [
        subjects.expiredRequest,
        subjects.decidedRequest,
        subjects.openRequest,
        subjects.expiredException,
        subjects.openedException,
        subjects.activeException,
      ].sort(),
    );
    const first = await both();
    expect(first.current).toEqual(first.previous);
    // The undecided request's expiry, the G4 deadline, the exception's expiry and the window's opening.
    expect(first.current.recorded).toBe(4);
    expect(first.current.transitions.map((t) => [t.subject_id, t.to_state])).toEqual([
      [subjects.expiredRequest, 'expired'],
      [subjects.lateDeployment, 'failed'],
      [subjects.expiredException, 'expired'],
      [subjects.openedException, 'effective'],
    ]);
    // Settled: the expired and the decided request, the expired exception.
    expect(await watched()).toEqual(
      [subjects.openRequest, subjects.openedException, subjects.activeException].sort(),
    );

    const second = await both();
    expect(second.current).toEqual(second.previous);
    expect(second.current.recorded).toBe(0);
  });

  it('leaves a settled exception settled when it is written again, and judges a shortened one as before', async () => {
    // The expired exception reviewed: its row written again, it stays settled.
    await as('release_manager', who.rm, `select ops.review_exception($1, 'complete')`, [
      subjects.expiredException,
    ]);
    expect(await watched()).not.toContain(subjects.expiredException);
    // The exception in force, its window moved into the past by the owner (a window only shortens).
    await expireException(db, subjects.activeException!);
    expect(await watched()).toContain(subjects.activeException);
    const shortened = await both();
    expect(shortened.current).toEqual(shortened.previous);
    expect(shortened.current.transitions.map((t) => [t.subject_id, t.to_state])).toEqual([
      [subjects.activeException, 'expired'],
    ]);
    expect(await watched()).toEqual([subjects.openRequest, subjects.openedException].sort());
    const again = await both();
    expect(again.current).toEqual(again.previous);
    expect(again.current.recorded).toBe(0);
  });

  it('judges a request decided in time again once the gate policy changes whose decision counts', async () => {
    // G2 decided by a release manager from now on: the QA sign-off no longer decides the request,
    // which both sweeps then record as expired. The policy restored afterwards.
    const { rows } = await asOwner(
      `select approver_persona::text as p from ops.gate_policies where gate_code = 'G2'`,
    );
    const was = rows[0]!.p as string;
    try {
      await asOwner(
        `update ops.gate_policies set approver_persona = 'release_manager' where gate_code = 'G2'`,
      );
      expect(await watched()).toContain(subjects.decidedRequest);
      const changed = await both();
      expect(changed.current).toEqual(changed.previous);
      expect(changed.current.transitions.map((t) => [t.subject_id, t.to_state])).toEqual([
        [subjects.decidedRequest, 'expired'],
      ]);
      expect(await watched()).not.toContain(subjects.decidedRequest);
    } finally {
      await asOwner('update ops.gate_policies set approver_persona = $1 where gate_code = $2', [was, 'G2']);
    }
    const restored = await both();
    expect(restored.current).toEqual(restored.previous);
    expect(restored.current.recorded).toBe(0);
  });
});
