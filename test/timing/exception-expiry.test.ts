// An approved exception's expiry as a recorded fact: the deadline sweep (ops.record_deadline_transitions,
// run by every API instance's deadline job) records it once, re-evaluates the release so the stored
// gate leaves `bypassed` with a transition, and the outbox carries `exception.expired` with the
// blockers; an approval request reaches the outbox as `approval.requested`.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activeBypass,
  approveException,
  createRelease,
  requestException,
  storedGates,
  uniqueName,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function sweep(): Promise<number> {
  const { rows } = await db.admin.query('select ops.record_deadline_transitions() as n');
  return rows[0]!.n as number;
}

describe('exception expiry', () => {
  it('is recorded once by the sweep, which moves the stored gate out of bypassed and tells the outbox', async () => {
    const r = await createRelease(db, { project: uniqueName('expiry') });
    // A short window that ends by the clock alone: no row changes when it does.
    const requested = await requestException(db, r.release_id, ['G1'], { expiresIn: '20 seconds' });
    const e = await approveException(db, requested.exception_id);
    expect((await storedGates(db, r.release_id)).G1).toBe('bypassed');
    const { rows: ends } = await db.admin.query(
      'select expires_at from ops.exceptions where exception_id = $1',
      [e.exception_id],
    );
    while (
      (await db.admin.query('select clock_timestamp() > $1::timestamptz as past', [ends[0]!.expires_at]))
        .rows[0]!.past !== true
    ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Eligibility reads the clock; the stored status waits for a fact, which the sweep records.
    expect((await storedGates(db, r.release_id)).G1).toBe('bypassed');
    expect(await sweep()).toBeGreaterThanOrEqual(1);
    expect((await storedGates(db, r.release_id)).G1).not.toBe('bypassed');

    const { rows: transitions } = await db.admin.query(
      `select subject_kind, to_state, gate_code::text, reason from ops.deadline_transitions
        where subject_id = $1`,
      [e.exception_id],
    );
    expect(transitions).toEqual([
      {
        subject_kind: 'exception',
        to_state: 'expired',
        gate_code: 'G1',
        reason: expect.stringMatching(/^the gate_bypass exception .* for G1 expired at /),
      },
    ]);
    const { rows: gateMoves } = await db.admin.query(
      `select t.from_status::text, t.reason from ops.gate_transitions t
         join ops.release_gates g on g.gate_id = t.gate_id
        where g.release_id = $1 and g.gate_code = 'G1' and t.from_status = 'bypassed'`,
      [r.release_id],
    );
    expect(gateMoves).toHaveLength(1);
    expect(gateMoves[0]!.reason).toMatch(/exception .* expired/);

    const { rows: events } = await db.admin.query(
      `select kind, change->>'subject_kind' as subject_kind, blockers from ops.outbox_events
        where release_id = $1 and kind in ('exception.expired', 'deadline.passed')`,
      [r.release_id],
    );
    expect(events).toHaveLength(1);
    expect(events[0]!.kind).toBe('exception.expired');
    expect(events[0]!.subject_kind).toBe('exception');
    expect(Array.isArray(events[0]!.blockers)).toBe(true);
    expect((events[0]!.blockers as unknown[]).length).toBeGreaterThan(0);

    // A second sweep (another instance, or the next tick) records nothing more for it.
    await sweep();
    const { rows: again } = await db.admin.query(
      'select count(*)::int as n from ops.deadline_transitions where subject_id = $1',
      [e.exception_id],
    );
    expect(again[0]!.n).toBe(1);
  });

  it('leaves an exception that has not expired alone', async () => {
    const r = await createRelease(db, { project: uniqueName('expiry') });
    const e = await activeBypass(db, r.release_id, ['G1']);
    await sweep();
    expect((await storedGates(db, r.release_id)).G1).toBe('bypassed');
    const { rows } = await db.admin.query(
      'select count(*)::int as n from ops.deadline_transitions where subject_id = $1',
      [e.exception_id],
    );
    expect(rows[0]!.n).toBe(0);
  });
});

describe('approval requests in the outbox', () => {
  it('are an approval.requested event, visible to a release manager and not to a developer of another release', async () => {
    const r = await createRelease(db, { project: uniqueName('request') });
    const [req] = await db.as(
      'developer',
      who.dev,
      async (c) =>
        (
          await c.query(`select request_id from ops.request_approval($1, 'G2', 'please test')`, [
            r.release_id,
          ])
        ).rows,
    );
    const { rows } = await db.admin.query(
      `select kind, source_id, change->>'gate_code' as gate_code from ops.outbox_events
        where release_id = $1 and kind = 'approval.requested'`,
      [r.release_id],
    );
    expect(rows).toEqual([{ kind: 'approval.requested', source_id: req.request_id, gate_code: 'G2' }]);
    const seen = (persona: 'release_manager' | 'developer', sub: string) =>
      db.as(
        persona,
        sub,
        async (c) =>
          (
            await c.query(
              `select count(*)::int as n from ops.outbox_events where kind = 'approval.requested' and release_id = $1`,
              [r.release_id],
            )
          ).rows[0].n,
      );
    expect(await seen('release_manager', who.rm)).toBe(1);
    expect(await seen('developer', 'someone-else')).toBe(0);
  });
});
