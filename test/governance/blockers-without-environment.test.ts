// ops.promotion_blockers(release, environment) and ops.is_eligible_for_promotion answer the same
// on every call of a session, whatever plan the session keeps (20261204200200): with no
// environment, a release that does not exist is OPS04 from the first call to the tenth (it was
// "no blockers" and "eligible" until the session's sixth call switched to a generic plan), and one
// that exists has no blockers.
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

  it('a release that exists has no blockers and its environment-less eligibility is true, on every call', async () => {
    expect(
      await tenCalls('select * from ops.promotion_blockers($1::uuid, $2::text)', [release.release_id, null]),
    ).toEqual(Array(10).fill('ok'));
    const c = new pg.Client({ connectionString: db.apiUrl });
    await c.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('role', 'release_manager', true),
                            set_config('request.jwt.claims', '{"sub":"rm","role":"release_manager"}', true)`);
      for (let i = 0; i < 10; i++) {
        const { rows } = await c.query(
          'select count(*)::int as n from ops.promotion_blockers($1::uuid, null)',
          [release.release_id],
        );
        expect(rows[0].n).toBe(0);
      }
      // With an environment the blockers are there, as before.
      const { rows } = await c.query(
        `select count(*)::int as n from ops.promotion_blockers($1::uuid, 'staging')`,
        [release.release_id],
      );
      expect(rows[0].n).toBeGreaterThan(0);
    } finally {
      await c.query('rollback');
      await c.end();
    }
  });
});
