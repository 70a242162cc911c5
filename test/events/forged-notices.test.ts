// The outbox channel is not a trusted source: PostgreSQL lets any login NOTIFY any channel, so a
// persona with the raw SQL door can publish notices of its own on 'ops_outbox'. A forged notice
// must neither end other callers' live streams (an id that is no uuid), nor route an event to a
// subscription it does not belong to (a real event id under another release's id), nor send an
// event twice (a repeated id); the next real event still arrives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
import { asRole } from '../security/sql-door.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';
import { subscribeReleaseAndGateChanges } from './sse.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
});

/** Publishes notices on the outbox channel as a developer through the raw SQL door. */
function forge(notices: unknown[]): Promise<void> {
  return asRole(db, 'developer', { sub: 'atk-forger', role: 'developer' }, async (c) => {
    for (const n of notices) await c.query(`select pg_notify('ops_outbox', $1)`, [JSON.stringify(n)]);
  });
}

describe('notices forged on the outbox channel', () => {
  it('end no stream, reach no other subscription and repeat no event', async () => {
    const project = uniqueName('sse-forged');
    const target = await createRelease(db, { project });
    const elsewhere = await createRelease(db, { project: uniqueName('sse-elsewhere') });
    const { events, changes } = await subscribeReleaseAndGateChanges(
      api.server,
      { releaseId: target.release_id, project },
      'release_manager',
      who.rm,
    );
    try {
      expect([events.status, changes.status]).toEqual([200, 200]);
      await recordCheck(db, target.release_id, 'G1', 'build', 'pass');
      await recordCheck(db, elsewhere.release_id, 'G1', 'build', 'pass');
      const outbox = async (releaseId: string) =>
        (
          await db.admin.query<{ event_id: string; kind: string }>(
            'select event_id, kind from ops.outbox_events where release_id = $1 order by created_at, event_id',
            [releaseId],
          )
        ).rows;
      const before = await outbox(target.release_id);
      await eventually(() => events.events.length >= before.length, 'the first events');
      const foreign = (await outbox(elsewhere.release_id)).find((e) => e.kind === 'gate.transition')!;
      const own = before.find((e) => e.kind === 'gate.transition')!;
      const as = (eventId: unknown) => ({
        event_id: eventId,
        release_id: target.release_id,
        project,
        kind: 'gate.transition',
      });
      await forge([as('not-a-uuid'), as(null), null, 42, as(foreign.event_id), as(own.event_id)]);

      // A real change after the forged notices still reaches both streams, once.
      await recordCheck(db, target.release_id, 'G1', 'unit-tests', 'fail');
      const after = await outbox(target.release_id);
      const gateAfter = after.filter((e) => e.kind === 'gate.transition');
      // Each stream's last event is the barrier that proves no forged notice is still on its way:
      // the forged notices were committed before the real change began, so the announcement of
      // its events commits after them, and PostgreSQL delivers notifications to a listener in the
      // commit order of the transactions that sent them; the process's listener hands them to
      // each stream in the order they arrived, and a stream re-reads and sends its notices one
      // after the other (src/events/stream.ts). Once a stream has the change's last event, every
      // forged notice has been sent before it or dropped.
      const earlier = new Set(before.map((e) => e.event_id));
      const lastEvent = after.at(-1)!;
      const lastGate = gateAfter.at(-1)!;
      expect(earlier.has(lastEvent.event_id) || earlier.has(lastGate.event_id)).toBe(false);
      await eventually(
        () => events.events.some((e) => e.releaseEvents!.eventId === lastEvent.event_id),
        'the release’s last event, after the forged notices',
      );
      await eventually(
        () => changes.events.some((e) => e.gateChanges!.eventId === lastGate.event_id),
        'the project’s last gate change, after the forged notices',
      );
      expect(events.errors).toEqual([]);
      expect(changes.errors).toEqual([]);
      expect(events.events.map((e) => e.releaseEvents!.eventId)).toEqual(after.map((e) => e.event_id));
      expect(changes.events.map((e) => e.gateChanges!.eventId)).toEqual(gateAfter.map((e) => e.event_id));
    } finally {
      events.close();
      changes.close();
    }
  }, 180_000);
});
