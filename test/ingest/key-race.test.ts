// Two first attempts with one idempotency key at once, the later on a snapshot taken before the
// earlier committed (REPEATABLE READ through the raw SQL door). ops.ingest_event serialises a key
// with an advisory lock and then looks for the accepted attempt; on an older snapshot it cannot
// see it, applies the event and collides with the accepted row's unique index. That branch then
// logged a "duplicate" of an original it could not see either, without comparing payloads; the log's
// check constraint refused the row (23514, an error no caller can act on). It now raises a
// serialization failure (40001): nothing of the later attempt stays, and its retry is judged on a
// fresh snapshot (here: the conflict it is).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { beginAs, commitWhileWaiting, createRelease, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { envelope } from './support.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function ingest(
  c: pg.PoolClient,
  env: unknown,
): Promise<{ status: string; detail: { error?: string } }> {
  const { rows } = await c.query<{ r: { status: string; detail: { error?: string } } }>(
    'select ops.ingest_event($1::jsonb) as r',
    [JSON.stringify(env)],
  );
  return rows[0]!.r;
}

async function attemptsOf(key: string) {
  const { rows } = await db.admin.query<{
    processing_status: string;
    release_id: string;
    duplicate_of: string | null;
  }>(
    `select processing_status, release_id, duplicate_of from ops.event_ingest_log where idempotency_key = $1
     order by created_at`,
    [key],
  );
  return rows;
}

describe('one key, two first attempts, the later on an older snapshot', () => {
  for (const isolation of ['repeatable read', 'serializable'] as const) {
    it(`a different payload is never told "duplicate" (${isolation})`, async () => {
      const x = await createRelease(db, { project: uniqueName('key-race-x') });
      const y = await createRelease(db, { project: uniqueName('key-race-y') });
      const key = `race/${randomUUID()}`;
      const payload = { status: 'pass', check_name: 'build', log_url: 'https://ci.example/1' };
      const first = envelope('build_complete', x.release_id, payload, { key });
      const second = envelope('build_complete', y.release_id, payload, { key });
      const c1 = await db.api.connect();
      const c2 = await db.api.connect();
      let secondError: { code?: string } | undefined;
      let secondReply: { status: string } | undefined;
      try {
        await beginAs(c2, 'ci_service_role', who.ci, isolation);
        await c2.query('select count(*) from ops.releases'); // the snapshot is taken here
        await beginAs(c1, 'ci_service_role', who.ci);
        expect((await ingest(c1, first)).status).toBe('accepted');
        secondError = await commitWhileWaiting(db.admin, c1, c2, async () => {
          secondReply = await ingest(c2, second);
        });
      } finally {
        c1.release();
        c2.release();
      }
      expect(secondReply, JSON.stringify(secondReply)).toBeUndefined();
      expect(secondError?.code).toBe('40001');
      // Nothing of the later attempt stayed; the accepted one is whole.
      expect(await attemptsOf(key)).toEqual([
        { processing_status: 'accepted', release_id: x.release_id, duplicate_of: null },
      ]);
      // Its retry, on a fresh snapshot, is the conflict it is.
      const retry = await db.as('ci_service_role', who.ci, (c) => ingest(c, second));
      expect(retry.detail.error).toBe('idempotency_key_conflict');
    });
  }
});
