// Live streams of one process read their events grouped per identity: the open streams of one
// persona and one set of claims (their tokens' exp aside) share one statement per batch of notices,
// and each stream keeps its own filters on the rows read; streams of different identities never
// share a read, so each receives exactly what RLS lets its own identity read.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../src/auth/jwt.js';
import type { Persona } from '../../src/auth/personas.js';
import { createContext } from '../../src/context.js';
import { closeOutboxListener } from '../../src/events/listener.js';
import {
  liveStreamGroups,
  type OutboxEventRow,
  outboxStream,
  readIdentityKey,
} from '../../src/events/stream.js';
import { ReleaseEventsDocument, type ReleaseEventsSubscription } from '../../src/gql/graphql.js';
import { createRelease, recordCheck, reviseRelease, uniqueName, who } from '../governance/scenario.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';
import { subscribeSse } from './sse.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
  await closeOutboxListener(db.api);
});

/** The statements the server's pool sent that re-read outbox events for live streams. */
const streamReads = () =>
  api.statements.statements.filter((s) => /from ops\.outbox_events\s+where event_id = any/.test(s)).length;

/** Every outbox event of these releases, oldest first, as the owner sees them. */
const eventsOf = async (releaseIds: string[]) =>
  (
    await db.admin.query<{ event_id: string; release_id: string; announced: boolean }>(
      `select event_id, release_id, announced_at is not null as announced from ops.outbox_events
       where release_id = any ($1::uuid[]) order by created_at, event_id`,
      [releaseIds],
    )
  ).rows;

describe('reads grouped per identity', () => {
  it('the key leaves out exp, iat and nbf only: another claim, subject or persona is another group', () => {
    const base = { sub: 'dev-a', role: 'developer', app_metadata: { ops_role: 'developer', team: 'x' } };
    const id = (claims: Record<string, unknown>, persona: Persona = 'developer'): Identity => ({
      subject: String(claims.sub),
      persona,
      claims,
    });
    const key = readIdentityKey(id(base));
    expect(readIdentityKey(id({ ...base, exp: 2, iat: 1, nbf: 1 }))).toBe(key);
    // Key order does not matter, at any depth.
    expect(
      readIdentityKey(
        id({ app_metadata: { team: 'x', ops_role: 'developer' }, role: 'developer', sub: 'dev-a' }),
      ),
    ).toBe(key);
    expect(readIdentityKey(id({ ...base, sub: 'dev-b' }))).not.toBe(key);
    expect(readIdentityKey(id({ ...base, app_metadata: { ops_role: 'developer', team: 'y' } }))).not.toBe(
      key,
    );
    expect(readIdentityKey(id({ ...base, jti: 'one' }))).not.toBe(key);
    expect(readIdentityKey(id(base, 'release_manager'))).not.toBe(key);
  });

  it('streams of one identity receive the same events from one statement per batch', async () => {
    const release = await createRelease(db, { project: uniqueName('shared') });
    await eventually(
      async () => (await eventsOf([release.release_id])).every((e) => e.announced),
      'announced',
    );
    // Four streams of the release manager, with tokens of different lifetimes (exp differs).
    const streams: Awaited<ReturnType<typeof subscribeSse<ReleaseEventsSubscription, unknown>>>[] = [];
    for (const ttlSeconds of [600, 900, 1200, 1500]) {
      streams.push(
        await subscribeSse(
          api.server,
          ReleaseEventsDocument,
          { releaseId: release.release_id },
          'release_manager',
          who.rm,
          { ttlSeconds },
        ),
      );
    }
    try {
      expect(streams.map((s) => s.status)).toEqual([200, 200, 200, 200]);
      // One group of four streams (each stream joins its group when its first event is awaited).
      await eventually(() => liveStreamGroups(api.pool).streams === 4, 'the four streams open');
      expect(liveStreamGroups(api.pool)).toEqual({ groups: 1, streams: 4 });
      const before = new Set((await eventsOf([release.release_id])).map((e) => e.event_id));
      const readsBefore = streamReads();
      // Exactly one event, written by the owner's direct SQL: one notice, one batch.
      await db.admin.query(
        `select ops.outbox_write('release.status_changed', $1, null, 'releases', $1, 'owner', '{}'::jsonb, false)`,
        [release.release_id],
      );
      const fresh = (await eventsOf([release.release_id])).filter((e) => !before.has(e.event_id));
      expect(fresh).toHaveLength(1);
      await eventually(
        () => streams.every((s) => s.events.some((e) => e.releaseEvents!.eventId === fresh[0]!.event_id)),
        'the event on every stream',
      );
      // Every stream has it: the one read that fetched it is counted. Apart, the four streams read
      // once each.
      expect(streamReads() - readsBefore).toBe(1);
      for (const s of streams) {
        expect(s.events.map((e) => e.releaseEvents!.eventId)).toEqual([fresh[0]!.event_id]);
        expect(s.errors).toEqual([]);
      }
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('streams of different identities each receive exactly what RLS lets their own identity read', async () => {
    const project = uniqueName('identities');
    const a = await createRelease(db, { project, sub: 'dev-alpha' });
    const b = await createRelease(db, { project, sub: 'dev-bravo' });
    const ids = [a.release_id, b.release_id];
    await eventually(async () => (await eventsOf(ids)).every((e) => e.announced), 'announced');
    const before = new Set((await eventsOf(ids)).map((e) => e.event_id));

    // Each stream accepts every event it reads: RLS, reading as its identity, is the only judge.
    const open = async (persona: Persona, sub: string) => {
      const now = Math.floor(Date.now() / 1000);
      const identity: Identity = {
        subject: sub,
        persona,
        claims: { sub, role: persona, iat: now, exp: now + 600 },
      };
      const ctx = createContext(db.api, { requestId: sub, startedAt: 0, identity, authError: null });
      const stream = await outboxStream(ctx, () => true);
      const got: OutboxEventRow[] = [];
      const it = stream[Symbol.asyncIterator]();
      const done = (async () => {
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          got.push(r.value);
        }
      })();
      const close = async () => {
        await it.return?.();
        await done;
      };
      return { persona, sub, got, close };
    };
    const subscribers = [
      await open('developer', 'dev-alpha'),
      await open('developer', 'dev-bravo'),
      await open('release_manager', who.rm),
      // A second stream of the alpha developer shares the first one's reads.
      await open('developer', 'dev-alpha'),
    ];
    try {
      // Interleaved facts of both releases: G1 passing and failing (gate transitions, which only the
      // release manager reads, and status changes, which each developer reads of its own release),
      // then each release revised by its own developer.
      for (const status of ['pass', 'fail', 'pass'] as const) {
        await recordCheck(db, a.release_id, 'G1', 'build', status);
        await recordCheck(db, b.release_id, 'G1', 'build', status);
      }
      await reviseRelease(db, a.release_id, 'refs/heads/a2', 'interleaved', 'developer', 'dev-alpha');
      await reviseRelease(db, b.release_id, 'refs/heads/b2', 'interleaved', 'developer', 'dev-bravo');
      const all = (await eventsOf(ids)).filter((e) => !before.has(e.event_id));
      const lastOf = (releaseId: string) => all.filter((e) => e.release_id === releaseId).at(-1)!.event_id;
      const barrier = { a: lastOf(a.release_id), b: lastOf(b.release_id) };
      const expected = async (persona: Persona, sub: string) => {
        const { rows } = await db.as(persona, sub, (c) =>
          c.query<{ event_id: string }>(
            'select event_id from ops.outbox_events where release_id = any ($1::uuid[]) order by created_at, event_id',
            [ids],
          ),
        );
        return rows.map((r) => r.event_id).filter((id) => !before.has(id));
      };
      for (const s of subscribers) {
        const want = await expected(s.persona, s.sub);
        // The barrier: the stream's last visible event, after every other event of both releases
        // that it could still receive (one announcer, oldest first; one stream, in order notified).
        const last = want.at(-1)!;
        expect([barrier.a, barrier.b], `${s.sub}'s last event is a revision`).toContain(last);
        await eventually(() => s.got.some((e) => e.event_id === last), `${s.sub}'s barrier`);
        expect(s.got.map((e) => e.event_id)).toEqual(want);
      }
      // RLS decided: each developer saw its own release's events only, the release manager both.
      const releasesSeen = (i: number) => [...new Set(subscribers[i]!.got.map((e) => e.release_id))].sort();
      expect(releasesSeen(0)).toEqual([a.release_id]);
      expect(releasesSeen(1)).toEqual([b.release_id]);
      expect(releasesSeen(2)).toEqual([...ids].sort());
      expect(subscribers[2]!.got.length).toBeGreaterThanOrEqual(6);
    } finally {
      for (const s of subscribers) await s.close();
    }
  });
});
