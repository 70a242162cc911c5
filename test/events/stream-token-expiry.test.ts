// A live stream and the token that opened it. Tokens expire (every one carries exp, checked when a
// request begins), but a subscription's stream went on re-reading events as the token's persona
// for as long as the connection stayed open: a token minted to live a few seconds kept a
// release manager's stream of every release event alive indefinitely. A stream now ends when its
// token expires; the client subscribes again with a fresh token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
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

describe('a live stream opened with a short-lived token', () => {
  it('delivers while the token is valid and ends once it has expired', async () => {
    const project = uniqueName('sse-expiry');
    const r = await createRelease(db, { project });
    const ttlSeconds = 5;
    // The latest the tokens can expire: each is minted below, at most a second boundary later.
    const expiresAtMs = (Math.floor(Date.now() / 1000) + ttlSeconds + 1) * 1000;
    const { events, changes } = await subscribeReleaseAndGateChanges(
      api.server,
      { releaseId: r.release_id, project },
      'release_manager',
      who.rm,
      { ttlSeconds },
    );
    try {
      expect([events.status, changes.status]).toEqual([200, 200]);
      await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
      await eventually(
        () => events.events.length > 0 && changes.events.length > 0,
        'events while the token is valid',
      );
      expect([events.ended, changes.ended]).toEqual([false, false]);
      // After the expiry, and a change after it, both streams end (the change is not sent).
      await eventually(() => Date.now() > expiresAtMs, 'the token’s expiry', 30_000);
      const sent = [events.events.length, changes.events.length];
      await recordCheck(db, r.release_id, 'G1', 'unit-tests', 'fail');
      await eventually(
        () => events.ended && changes.ended,
        'both streams ended after the token expired',
        30_000,
      );
      expect([events.events.length, changes.events.length]).toEqual(sent);
      expect(events.errors).toEqual([]);
      expect(changes.errors).toEqual([]);
    } finally {
      events.close();
      changes.close();
    }
  }, 180_000);
});
