import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { recordDeadlineTransitions } from '../../src/timing/deadline-job.js';
import {
  createRelease,
  passG1,
  passG2,
  passG3,
  type Release,
  storedGates,
  uniqueName,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { previousSweep } from './previous-sweep.js';

let db: TestDatabase;
let owner: pg.Client;
let releases: [Release, Release, Release, Release];
const requests: string[] = [];
const deployments: string[] = [];

const recorded = async (subjectIds: string[]) =>
  (
    await owner.query(
      'select subject_id::text, to_state from ops.deadline_transitions where subject_id = any ($1::uuid[]) order by 1',
      [subjectIds],
    )
  ).rows.map((r) => [r.subject_id as string, r.to_state as string]);

const watched = async () =>
  (
    await owner.query(
      `select subject_id::text from ops.deadline_watch where subject_kind = 'approval_request'
        and subject_id = any ($1::uuid[]) order by 1`,
      [requests],
    )
  ).rows.map((r) => r.subject_id as string);

beforeAll(async () => {
  db = await useTestDatabase();
  owner = new pg.Client({ connectionString: db.adminUrl });
  await owner.connect();
  await owner.query(previousSweep('20261206000000_ops_deadline_sweep_waits_for_policy_change.sql'));

  const project = uniqueName('sweep-fails');
  await db.as('release_manager', who.rm, async (c) => {
    await c.query(`select ops.set_deadline_policy('G2', '1 hour', null, $1)`, [project]);
    await c.query(`select ops.set_deadline_policy('G4', '10 minutes', 'staging', $1)`, [project]);
  });
  releases = (await Promise.all([1, 2, 3, 4].map(() => createRelease(db, { project })))) as typeof releases;
  const [a, b, c, d] = releases;
  // Two G2 approval requests nobody decides, moved past their due time by the owner.
  for (const rel of [a, b]) {
    requests.push(
      await db.as(
        'developer',
        who.dev,
        async (cl) =>
          (await cl.query(`select request_id from ops.request_approval($1, 'G2')`, [rel.release_id])).rows[0]
            .request_id as string,
      ),
    );
  }
  await owner.query(
    `begin;
     set local session_replication_role = replica;
     update ops.timing_approval_requests set requested_at = now() - interval '2 hours',
            due_at = now() - interval '1 minute' where request_id = any ('{${requests.join(',')}}'::uuid[]);
     commit;`,
  );
  // Two staging deployments 20 minutes ago, never confirmed healthy, under a 10-minute G4 deadline.
  for (const rel of [c, d]) {
    await passG1(db, rel);
    await passG2(db, rel);
    await passG3(db, rel);
    deployments.push(
      await db.as(
        'ci_service_role',
        who.ci,
        async (cl) =>
          (
            await cl.query(
              `select deployment_id from ops.record_deployment($1, 'staging', 'succeeded', null, null,
                 now() - interval '20 minutes')`,
              [rel.release_id],
            )
          ).rows[0].deployment_id as string,
      ),
    );
  }
  // Their stored G4 as it stood before the deadline passed (the release's evaluation at the
  // deployment already judged the deadline from the clock): pending, moved back by the owner with
  // the rules' triggers off, so that the sweep's re-evaluation moves it.
  await owner.query(
    `begin;
     set local session_replication_role = replica;
     update ops.release_gates set status = 'pending', resolved_at = null, resolved_by = null
      where gate_code = 'G4' and release_id in ('${c.release_id}', '${d.release_id}');
     commit;`,
  );
  expect(await storedGates(db, d.release_id)).toMatchObject({ G4: 'pending' });
  // The failures: recording the first request's expiry, re-evaluating the fourth release's gates.
  await owner.query(
    `create function pg_temp.refuse() returns trigger language plpgsql as $f$
     begin raise exception 'refused for release %', new.release_id using errcode = 'P0001'; end $f$`,
  );
  await owner.query(
    `create trigger test_refuse_transition before insert on ops.deadline_transitions for each row
     when (new.release_id = '${a.release_id}') execute function pg_temp.refuse()`,
  );
  await owner.query(
    `create trigger test_refuse_gates before insert or update on ops.release_gates for each row
     when (new.release_id = '${d.release_id}') execute function pg_temp.refuse()`,
  );
}, 120_000);

afterAll(async () => {
  await owner?.query('drop trigger if exists test_refuse_transition on ops.deadline_transitions');
  await owner?.query('drop trigger if exists test_refuse_gates on ops.release_gates');
  await owner?.end();
});

describe('the deadline sweep when one subject fails', () => {
  // One test: between the runs, the stored G4 of the fourth release differs from the computed one
  // (the drift check after each test would refuse it).
  it('records every other subject, leaves the failing ones open and reports them, records them later', async () => {
    // The previous definition records no subject at all.
    await owner.query('begin');
    try {
      await expect(owner.query('select pg_temp.previous_record_deadline_transitions()')).rejects.toThrow(
        /refused for release/,
      );
    } finally {
      await owner.query('rollback');
    }
    expect(await recorded([...requests, ...deployments])).toEqual([]);
    expect(await watched()).toEqual([...requests].sort());

    const [, , c, d] = releases;
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (s: string) => lines.push(s) } });
    const first = await recordDeadlineTransitions(owner, logger);
    // The second request's expiry and the third release's G4 deadline; nothing of the failing two.
    expect(first).toBe(2);
    expect(await recorded([...requests, ...deployments])).toEqual(
      [
        [requests[1]!, 'expired'],
        [deployments[0]!, 'failed'],
      ].sort((x, y) => x[0]!.localeCompare(y[0]!)),
    );
    expect(await watched()).toEqual([requests[0]!]);
    // The third release's G4 moved by the sweep's re-evaluation; the fourth's left as it was.
    expect(await storedGates(db, c.release_id)).toMatchObject({ G4: 'failed' });
    expect(await storedGates(db, d.release_id)).toMatchObject({ G4: 'pending' });
    // Each failing subject reported by a warning naming its kind, id, message and SQLSTATE.
    const logged = lines.map((l) => JSON.parse(l) as { level: string; msg: string; code?: string });
    expect(logged).toHaveLength(2);
    expect(logged.every((l) => l.level === 'warn' && l.code === '01000')).toBe(true);
    expect(logged[0]!.msg).toContain(`approval_request ${requests[0]}`);
    expect(logged[0]!.msg).toMatch(/refused for release .*\(SQLSTATE P0001\)/);
    expect(logged[1]!.msg).toContain(`deployment_g4 ${deployments[1]}`);

    // Still failing: tried again, recorded nothing more.
    expect(await recordDeadlineTransitions(owner)).toBe(0);
    expect(await watched()).toEqual([requests[0]!]);

    // The failures gone: the next run records both.
    await owner.query('drop trigger test_refuse_transition on ops.deadline_transitions');
    await owner.query('drop trigger test_refuse_gates on ops.release_gates');
    expect(await recordDeadlineTransitions(owner)).toBe(2);
    expect(await recorded([...requests, ...deployments])).toEqual(
      [
        [requests[0]!, 'expired'],
        [requests[1]!, 'expired'],
        [deployments[0]!, 'failed'],
        [deployments[1]!, 'failed'],
      ].sort((x, y) => x[0]!.localeCompare(y[0]!)),
    );
    expect(await watched()).toEqual([]);
    expect(await storedGates(db, d.release_id)).toMatchObject({ G4: 'failed' });
  });
});
