// Attacks on an exception's state and time left through GraphQL (exceptionStatus, over
// ops.v_exception_status): many exceptions expiring at one instant, read again and again while
// they expire, as every persona that may read them, with and without the state filter. No answer
// may say 'active' without time left or anything else with time left, a negative time left, or a
// row the state filter asked for in another state; and once the instant has passed, every one is
// expired. (The CLI shows no exception state.)
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { createRelease } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let releaseId: string;
const COUNT = 60;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  releaseId = (await createRelease(db, { project: `exc-atk-${randomUUID().slice(0, 8)}` })).release_id;
});

afterAll(async () => {
  await api?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: the document below is parsed at run time, untyped
type Any = any;
const STATUS = parse(`query($f: ExceptionStatusFilter) {
  exceptionStatus(first: 100, filter: $f) { nodes { exceptionId state timeLeftSeconds expiresAt } }
}`) as unknown as TypedDocumentNode<Any, Any>;

/** Exceptions on the release, approved by another, all expiring at one instant `ms` from now. */
async function expiringAt(ms: number): Promise<void> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    await c.query('delete from ops.exceptions where release_id = $1', [releaseId]);
    await c.query(
      `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
         requested_by, approver_id, approved_at, effective_from, expires_at, created_by)
       select $1, 'gate_bypass', '{G2}', 'expiry', 'expiry', 'rm-a', 'rm-b', now(), now() - interval '1 hour',
              clock_timestamp() + $3 * interval '1 millisecond', 'rm-a'
       from generate_series(1, $2)`,
      [releaseId, COUNT, ms],
    );
    await c.query('commit');
  } finally {
    c.release();
  }
}

describe('exceptionStatus read while its rows expire', () => {
  it.each([['release_manager'], ['audit_reader']] as [Persona][])(
    '%s: state and time left agree in every answer; the active filter returns active rows only',
    async (persona) => {
      const wrong: string[] = [];
      let reads = 0;
      let sawActive = false;
      let sawExpired = false;
      // The reads must straddle the expiry: on a busy machine the first read can come after a short
      // window has passed, so the window widens until both sides were seen.
      for (const windowMs of [1500, 5000, 15_000]) {
        if (sawActive && sawExpired) break;
        sawActive = false;
        sawExpired = false;
        await expiringAt(windowMs);
        const deadline = Date.now() + 60_000;
        for (;;) {
          for (const filter of [
            { releaseId },
            { releaseId, state: 'active' },
            { releaseId, state: 'expired' },
          ]) {
            const result = await api.executeOperation({
              operation: STATUS,
              variables: { f: filter },
              persona,
            });
            expect(result.errors).toBeUndefined();
            for (const n of result.data.exceptionStatus.nodes) {
              reads++;
              if (n.state === 'active') sawActive = true;
              if (n.state === 'expired') sawExpired = true;
              if ((n.state === 'active') !== (n.timeLeftSeconds !== null))
                wrong.push(`${n.state} with ${n.timeLeftSeconds}`);
              if (n.timeLeftSeconds !== null && n.timeLeftSeconds < 0)
                wrong.push(`negative ${n.timeLeftSeconds}`);
              if (filter.state && n.state !== filter.state)
                wrong.push(`filter ${filter.state} gave ${n.state}`);
            }
          }
          const { rows } = await db.admin.query<{ past: boolean }>(
            'select bool_and(expires_at <= clock_timestamp()) as past from ops.exceptions where release_id = $1',
            [releaseId],
          );
          if (rows[0]!.past || Date.now() > deadline) break;
        }
      }
      const after = await api.executeOperation({
        operation: STATUS,
        variables: { f: { releaseId } },
        persona,
      });
      const states = after.data.exceptionStatus.nodes.map((n: Any) => `${n.state}/${n.timeLeftSeconds}`);
      expect(states).toEqual(Array.from({ length: COUNT }, () => 'expired/null'));
      expect(wrong).toEqual([]);
      expect(reads).toBeGreaterThan(COUNT);
      expect(sawActive && sawExpired).toBe(true);
    },
    120_000,
  );
});
