import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import {
  commitWhileWaiting,
  createRelease,
  passG1,
  type Release,
  submitApproval,
  uniqueName,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { previousSweep } from '../timing/previous-sweep.js';
import { type Claims, tryAsRole } from './sql-door.js';

let db: TestDatabase;

let release: Release;
let requestId: string;

const watched = async () =>
  (await db.admin.query('select subject_id::text from ops.deadline_watch order by 1')).rows.map(
    (r) => r.subject_id as string,
  );

beforeAll(async () => {
  db = await useTestDatabase();
  const project = uniqueName('watch-attacks');
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.set_deadline_policy('G2', '1 hour', null, $1)`, [project]),
  );
  release = await createRelease(db, { project });
  requestId = await db.as(
    'developer',
    who.dev,
    async (c) =>
      (await c.query(`select request_id from ops.request_approval($1, 'G2')`, [release.release_id])).rows[0]
        .request_id,
  );
  // A second request, not yet due: watched whatever the first one's fate.
  const open = await createRelease(db, { project });
  await db.as('developer', who.dev, (c) =>
    c.query(`select ops.request_approval($1, 'G2')`, [open.release_id]),
  );
  await passG1(db, release);
  await submitApproval(db, 'qa_tester', who.qa, release.release_id, 'G2');
  // The request moved into the past by the owner, the rules' triggers off: due a millisecond after
  // its QA decision, which decides it in time under the gate's policy of today (G2: qa_tester).
  await db.admin.query(
    `begin;
     set local session_replication_role = replica;
     update ops.timing_approval_requests q set requested_at = now() - interval '2 hours',
            due_at = (select max(a.created_at) from ops.approvals a where a.release_id = q.release_id)
                     + interval '1 millisecond'
      where request_id = '${requestId}';
     commit;`,
  );
}, 120_000);

describe('the deadline watch under a policy change that commits while the sweep runs', () => {
  it('records the expiry of a request the new policy leaves undecided, as the previous sweep would', async () => {
    expect(await watched()).toContain(requestId);
    const { rows } = await db.admin.query(
      `select approver_persona::text as p from ops.gate_policies where gate_code = 'G2'`,
    );
    const was = rows[0].p as string;
    expect(was).toBe('qa_tester');
    const c1 = new pg.Client({ connectionString: db.adminUrl });
    const c2 = new pg.Client({ connectionString: db.adminUrl });
    await c1.connect();
    await c2.connect();
    try {
      // G2 decided by a release manager from now on: the QA sign-off no longer decides the request.
      await c1.query('begin');
      await c1.query(
        `update ops.gate_policies set approver_persona = 'release_manager' where gate_code = 'G2'`,
      );
      await c2.query('begin');
      const failed = await commitWhileWaiting(db.admin, c1, c2, () =>
        c2.query('select ops.record_deadline_transitions()'),
      );
      expect(failed).toBeUndefined();
      // The previous sweep, on the state both left (rolled back): it records the request's expiry.
      const previous = new pg.Client({ connectionString: db.adminUrl });
      await previous.connect();
      try {
        await previous.query(previousSweep('20261202100000_ops_exception_window_opening_reevaluates.sql'));
        await previous.query('begin');
        await previous.query('select pg_temp.previous_record_deadline_transitions()');
        const would = await previous.query(
          `select subject_id::text from ops.deadline_transitions where subject_kind = 'approval_request'`,
        );
        await previous.query('rollback');
        expect(would.rows.map((r) => r.subject_id)).toContain(requestId);
      } finally {
        await previous.end();
      }
      // The worker's next run.
      await db.admin.query('select ops.record_deadline_transitions()');
      const recorded = await db.admin.query(
        `select to_state, reason from ops.deadline_transitions
          where subject_kind = 'approval_request' and subject_id = $1`,
        [requestId],
      );
      expect(recorded.rows).toEqual([
        {
          to_state: 'expired',
          reason: expect.stringMatching(/^G2 approval requested by .* was not decided by /),
        },
      ]);
      expect(await watched()).not.toContain(requestId);
    } finally {
      await c1.end();
      await c2.end();
      await db.admin.query('update ops.gate_policies set approver_persona = $1 where gate_code = $2', [
        was,
        'G2',
      ]);
    }
  });
});

/** The claims an attacker may publish with each persona: its own, another's, the owner's. */
function claimsFor(persona: Persona): Claims[] {
  return [
    { sub: `atk-${persona}`, role: persona },
    { sub: `atk-${persona}`, role: 'release_manager', app_metadata: { ops_role: 'audit_reader' } },
    { sub: 'postgres', role: 'postgres' },
  ];
}

const WRITES: string[] = [
  `insert into ops.deadline_watch (subject_kind, subject_id) values ('exception', gen_random_uuid())`,
  `delete from ops.deadline_watch`,
  `update ops.deadline_watch set subject_id = gen_random_uuid()`,
  'truncate ops.deadline_watch',
  'select ops.record_deadline_transitions()',
  'select ops.deadline_watch_approval_request()',
  'select ops.deadline_watch_exception()',
  'select ops.deadline_watch_after_gate_policy()',
];

describe('the deadline watch through the raw SQL door', () => {
  it('is read by the auditor only and written by no persona, whatever the claims say', async () => {
    const before = await watched();
    expect(before.length).toBeGreaterThan(0);
    for (const persona of PERSONAS) {
      for (const claims of claimsFor(persona)) {
        const read = await tryAsRole(db, persona, claims, async (c) =>
          (await c.query('select subject_id::text from ops.deadline_watch order by 1')).rows.map(
            (r) => r.subject_id as string,
          ),
        );
        if (persona === 'audit_reader')
          expect(read, `${persona} ${JSON.stringify(claims)}`).toEqual({ ok: true, value: before });
        else expect(read, `${persona} ${JSON.stringify(claims)}`).toMatchObject({ ok: false, code: '42501' });
        for (const sql of WRITES) {
          const r = await tryAsRole(db, persona, claims, (c) => c.query(sql));
          expect(r, `${persona} ${sql}`).toMatchObject({ ok: false });
        }
      }
    }
    expect(await watched()).toEqual(before);
  });
});
