// A blocking gate transition's outbox event carries the release's promotion blockers as they are at
// that moment. They come from the gates the evaluation just computed (not computed a second time);
// the answer must be exactly what ops.promotion_blockers says in the same transaction, and the
// gates passed along must not outlive the evaluation.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRelease, passG1, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await useTestDatabase();
});

describe('the blockers on a gate transition event', () => {
  it('equal ops.promotion_blockers at the moment of the change, and leave no context behind', async () => {
    const release = await createRelease(db, { project: 'outbox-blockers' });
    await passG1(db, release);
    const now = await db.as('ci_service_role', who.ci, async (c) => {
      await c.query(
        `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'build',
           p_status => 'fail')`,
        [release.release_id],
      );
      const computed = await c.query<{ blockers: unknown }>(
        `select coalesce(jsonb_agg(to_jsonb(b)), '[]'::jsonb) as blockers from ops.promotion_blockers($1) b`,
        [release.release_id],
      );
      return computed.rows[0]!.blockers;
    });
    // Read after commit (the CI persona may not read gate transitions, nor their events).
    const event = await db.admin.query<{ blockers: unknown }>(
      `select e.blockers from ops.outbox_events e
       where e.release_id = $1 and e.kind = 'gate.transition' and e.change->>'to_status' = 'failed'`,
      [release.release_id],
    );
    expect(event.rows).toHaveLength(1);
    const blockers = event.rows[0]!.blockers as { gate_code: string | null; reason: string }[];
    expect(blockers.map((b) => b.gate_code)).toContain('G1');
    expect(blockers).toEqual(now);
    const left = await db.admin.query(`select * from ops.transaction_context where name = 'evaluated_gates'`);
    expect(left.rows).toEqual([]);
  });

  it('a passing change carries none, and a change computed outside an evaluation still gets them', async () => {
    const release = await createRelease(db, { project: 'outbox-blockers' });
    await passG1(db, release);
    const passed = await db.admin.query<{ blockers: unknown }>(
      `select blockers from ops.outbox_events
       where release_id = $1 and kind = 'gate.transition' and change->>'to_status' = 'passed'`,
      [release.release_id],
    );
    expect(passed.rows.map((r) => r.blockers)).toEqual([null]);
    // ops.outbox_write without an evaluation in progress computes the blockers itself.
    await db.admin.query(
      `select ops.outbox_write('gate.transition', $1, null, 'releases', $1, 'test', '{}'::jsonb, true)`,
      [release.release_id],
    );
    const expected = await db.admin.query<{ blockers: unknown }>(
      `select coalesce(jsonb_agg(to_jsonb(b)), '[]'::jsonb) as blockers from ops.promotion_blockers($1) b`,
      [release.release_id],
    );
    const again = await db.admin.query<{ blockers: unknown }>(
      `select blockers from ops.outbox_events where release_id = $1 and source_table = 'releases' and actor = 'test'`,
      [release.release_id],
    );
    expect(again.rows.map((r) => r.blockers)).toEqual([expected.rows[0]!.blockers]);
  });
});
