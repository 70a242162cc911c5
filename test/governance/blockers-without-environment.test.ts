// ops.promotion_blockers(release, environment) and ops.is_eligible_for_promotion answer the same
// on every call of a session, whatever plan the session keeps (20261204200200): with no
// environment, a release that does not exist is OPS04 from the first call to the tenth (it was
// "no blockers" and "eligible" until the session's sixth call switched to a generic plan), and one
// that exists is OPS22: the question needs an environment (20261205200000; it answered "no
// blockers", so "eligible", for a release blocked everywhere).
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createRelease, type Release } from './scenario.js';

let db: TestDatabase;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
});

/** The SQLSTATE of each of ten calls in one transaction ('ok' when it succeeds). */
async function tenCalls(sql: string, params: unknown[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: db.apiUrl });
  await c.connect();
  const outcomes: string[] = [];
  try {
    await c.query('begin');
    await c.query(`select set_config('role', 'ci_service_role', true),
                          set_config('request.jwt.claims', '{"sub":"ci-bot","role":"ci_service_role"}', true)`);
    for (let i = 0; i < 10; i++) {
      await c.query('savepoint s');
      try {
        await c.query(sql, params);
        outcomes.push('ok');
        await c.query('release savepoint s');
      } catch (err) {
        outcomes.push((err as { code?: string }).code ?? 'error');
        await c.query('rollback to savepoint s');
      }
    }
  } finally {
    await c.query('rollback').catch(() => {});
    await c.end();
  }
  return outcomes;
}

describe('blockers with no environment', () => {
  it('a release that does not exist is OPS04 on every call of a session', async () => {
    for (const sql of [
      'select * from ops.promotion_blockers($1::uuid, $2::text)',
      'select ops.is_eligible_for_promotion($1::uuid, $2::text)',
    ]) {
      expect(await tenCalls(sql, [null, null]), sql).toEqual(Array(10).fill('OPS04'));
      expect(await tenCalls(sql, ['00000000-0000-4000-8000-000000000000', null]), sql).toEqual(
        Array(10).fill('OPS04'),
      );
    }
  });

  it('a release that exists is OPS22 with no environment, never "no blockers" or "eligible", on every call', async () => {
    // The release is blocked for every environment (nothing has reported yet).
    for (const sql of [
      'select * from ops.promotion_blockers($1::uuid, $2::text)',
      'select ops.is_eligible_for_promotion($1::uuid, $2::text)',
    ]) {
      expect(await tenCalls(sql, [release.release_id, null]), sql).toEqual(Array(10).fill('OPS22'));
    }
    const c = new pg.Client({ connectionString: db.apiUrl });
    await c.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('role', 'release_manager', true),
                            set_config('request.jwt.claims', '{"sub":"rm","role":"release_manager"}', true)`);
      await expect(
        c.query('select ops.is_eligible_for_promotion($1::uuid, null)', [release.release_id]),
      ).rejects.toMatchObject({
        code: 'OPS22',
        message: expect.stringMatching(/target environment is required/),
      });
      await c.query('rollback');
      await c.query('begin');
      await c.query(`select set_config('role', 'release_manager', true),
                            set_config('request.jwt.claims', '{"sub":"rm","role":"release_manager"}', true)`);
      // With an environment the blockers are there and the release is not eligible, as before.
      const { rows } = await c.query(
        `select (select count(*)::int from ops.promotion_blockers($1::uuid, 'staging')) as n,
                ops.is_eligible_for_promotion($1::uuid, 'staging') as eligible`,
        [release.release_id],
      );
      expect(rows[0]).toEqual({ n: expect.any(Number), eligible: false });
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await c.query('rollback').catch(() => {});
      await c.end();
    }
  });
});
