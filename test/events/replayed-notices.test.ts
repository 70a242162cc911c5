// A notice forged on the outbox channel that names a real event committed and announced before the
// subscription began: any login may NOTIFY, and an event id is readable by every persona that may
// read the event (a developer reads its own release's outbox). Such a replay pushed the old event
// into a live stream as if it had just happened (a "G1 passed" from before a later failure, shown
// again after it), and once a stream had forgotten an event it sent (it remembers the last
// 10,000), a replay sent it a second time. A stream now sends only events announced after it
// began (announced_at, stamped by the database's clock when the real announcer notified them),
// so a replayed or not yet announced id reads as nothing; the next real change still arrives.
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

const outbox = async (releaseId: string) =>
  (
    await db.admin.query<{ event_id: string; kind: string; announced: boolean }>(
      `select event_id, kind, announced_at is not null as announced from ops.outbox_events
        where release_id = $1 order by created_at, event_id`,
      [releaseId],
    )
  ).rows;

describe('a notice replaying an event announced before the stream began', () => {
  it('is not sent: the stream carries only what happened since, each once', async () => {
    const project = uniqueName('sse-replay');
    const target = await createRelease(db, { project });
    await recordCheck(db, target.release_id, 'G1', 'build', 'pass');
    // Every event so far announced, by the announcer's own function (no listener runs yet).
    await eventually(async () => {
      await db.admin.query('select ops.outbox_announce(1000)');
      return (await outbox(target.release_id)).every((e) => e.announced);
    }, 'announced');
    const before = await outbox(target.release_id);
    expect(before.some((e) => e.kind === 'gate.transition')).toBe(true);

    const { events, changes } = await subscribeReleaseAndGateChanges(
      api.server,
      { releaseId: target.release_id, project },
      'release_manager',
      who.rm,
    );
    try {
      expect([events.status, changes.status]).toEqual([200, 200]);
      // The developer who made the release reads its events (those of its facts), ids included, and
      // replays each.
      const ids = await asRole(db, 'developer', { sub: who.dev, role: 'developer' }, async (c) =>
        (
          await c.query<{ event_id: string }>(
            'select event_id from ops.outbox_events where release_id = $1',
            [target.release_id],
          )
        ).rows.map((r) => r.event_id),
      );
      expect(ids.length).toBeGreaterThan(0);
      expect(before.map((e) => e.event_id)).toEqual(expect.arrayContaining(ids));
      await asRole(db, 'developer', { sub: 'atk-replayer', role: 'developer' }, async (c) => {
        for (const id of ids)
          await c.query(`select pg_notify('ops_outbox', $1)`, [JSON.stringify({ event_id: id })]);
      });

      // A real change after the replay: its events arrive, and are the only ones (the replayed
      // notices were committed before it began, so they reached each stream before its events).
      await recordCheck(db, target.release_id, 'G1', 'unit-tests', 'fail');
      const earlier = new Set(before.map((e) => e.event_id));
      const after = (await outbox(target.release_id)).filter((e) => !earlier.has(e.event_id));
      const gateAfter = after.filter((e) => e.kind === 'gate.transition');
      expect(gateAfter.length).toBeGreaterThan(0);
      await eventually(
        () => events.events.some((e) => e.releaseEvents!.eventId === after.at(-1)!.event_id),
        'the release’s last event',
      );
      await eventually(
        () => changes.events.some((e) => e.gateChanges!.eventId === gateAfter.at(-1)!.event_id),
        'the project’s last gate change',
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
