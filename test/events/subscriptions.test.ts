// Live events over SSE: two personas subscribed to the same release each see only what they may
// read (every event is re-read under RLS as the subscriber), changes made by direct SQL reach the
// subscribers, and a subscriber on another API instance sees the same changes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GateChangesDocument, ReleaseEventsDocument } from '../../src/gql/graphql.js';
import { createRelease, recordCheck, reviseRelease, uniqueName, who } from '../governance/scenario.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';
import { subscribeSse } from './sse.js';

let db: TestDatabase;
let api: TestApi;
let other: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  other = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
  await other?.close();
});

describe('releaseEvents and gateChanges over SSE', () => {
  it('two personas see only what each may read; a change by direct SQL reaches them on either instance', async () => {
    const project = uniqueName('sse');
    const release = await createRelease(db, { project });
    const rm = await subscribeSse(
      api.server,
      ReleaseEventsDocument,
      { releaseId: release.release_id },
      'release_manager',
      who.rm,
    );
    const dev = await subscribeSse(
      api.server,
      ReleaseEventsDocument,
      { releaseId: release.release_id },
      'developer',
      who.dev,
    );
    const rmOther = await subscribeSse(
      other.server,
      GateChangesDocument,
      { project },
      'release_manager',
      who.rm,
    );
    try {
      expect([rm.status, dev.status, rmOther.status]).toEqual([200, 200, 200]);
      // Direct SQL, as CI: no API instance is involved in the change.
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
      await recordCheck(db, release.release_id, 'G1', 'build', 'fail');
      const { rows: outbox } = await db.admin.query<{ event_id: string; kind: string; source_table: string }>(
        'select event_id, kind, source_table from ops.outbox_events where release_id = $1 order by created_at',
        [release.release_id],
      );
      const gateEvents = outbox.filter((e) => e.kind === 'gate.transition');
      expect(gateEvents.length).toBeGreaterThan(0);

      // The release manager reads every fact of the release: every event arrives.
      await eventually(() => rm.events.length >= outbox.length, 'the release manager’s events');
      expect(rm.events.map((e) => e.releaseEvents!.eventId)).toEqual(outbox.map((e) => e.event_id));
      // The blocking change (G1 failed) carries the blockers at that moment.
      const failed = rm.events.find(
        (e) => (e.releaseEvents!.change as { to_status?: string }).to_status === 'failed',
      )!.releaseEvents!;
      expect(failed.releaseId).toBe(release.release_id);
      expect((failed.blockers as { gate_code: string }[]).map((b) => b.gate_code)).toContain('G1');

      // The other instance's gateChanges subscriber sees the gate transitions too.
      await eventually(() => rmOther.events.length >= gateEvents.length, 'the other instance’s events');
      expect(rmOther.events.map((e) => e.gateChanges!.eventId)).toEqual(gateEvents.map((e) => e.event_id));

      // The developer owns the release but may not read gate transitions: it gets only the events
      // whose fact it may read (its release's own row), never a gate transition.
      //
      // A barrier proves that none is still on its way: the developer revises its release (the
      // gates go back to pending), a fact committed after every one above whose last event is a
      // change of the release's status, which the developer may read. Every event reaches the
      // developer's stream along one path, in order: this process has one announcer for the
      // database (the first listener; both instances here share it, and nothing else in this
      // file announces), which announces committed events oldest first, one batch after the
      // other; PostgreSQL delivers notifications to a listener in the commit order of the
      // transactions that sent them (within one, in the order sent); and the stream re-reads
      // and sends its notices one after the other, in the order they arrived
      // (src/events/stream.ts). So once the developer has the revision's status change, every
      // earlier event of the release has been sent to it before, or refused.
      await reviseRelease(db, release.release_id, 'refs/heads/hotfix', 'barrier for the developer’s stream');
      const { rows: all } = await db.admin.query<{ event_id: string; kind: string; source_table: string }>(
        'select event_id, kind, source_table from ops.outbox_events where release_id = $1 order by created_at, event_id',
        [release.release_id],
      );
      const barrier = all.at(-1)!;
      expect(barrier.source_table).toBe('releases');
      await eventually(
        () => dev.events.some((e) => e.releaseEvents!.eventId === barrier.event_id),
        'the developer’s barrier event',
      );
      expect(dev.events.filter((e) => e.releaseEvents!.kind === 'gate.transition')).toEqual([]);
      const { rows: visible } = await db.as('developer', who.dev, (c) =>
        c.query<{ event_id: string }>(
          'select event_id from ops.outbox_events where release_id = $1 order by created_at, event_id',
          [release.release_id],
        ),
      );
      expect(visible.map((v) => v.event_id)).toEqual(
        all.filter((e) => e.source_table === 'releases').map((e) => e.event_id),
      );
      expect(dev.events.map((e) => e.releaseEvents!.eventId)).toEqual(visible.map((v) => v.event_id));
      expect(rm.errors).toEqual([]);
      expect(dev.errors).toEqual([]);
    } finally {
      rm.close();
      dev.close();
      rmOther.close();
    }
  });

  it('a release the subscriber may not read is refused as not found', async () => {
    const release = await createRelease(db, { project: uniqueName('sse-hidden'), sub: 'dev-owner' });
    for (const [persona, sub] of [
      ['developer', 'dev-someone-else'],
      ['sre', who.sre],
    ] as const) {
      const s = await subscribeSse(
        api.server,
        ReleaseEventsDocument,
        { releaseId: release.release_id },
        persona,
        sub,
      );
      try {
        await eventually(() => s.errors.length > 0, 'the refusal');
        expect(JSON.stringify(s.errors)).toMatch(/NOT_FOUND|no release/);
        expect(s.events).toEqual([]);
      } finally {
        s.close();
      }
    }
  });
});
