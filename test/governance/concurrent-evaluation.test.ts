// Two transactions writing facts of one release at once: the stored gate status must be what the
// rule computes over both facts once both have committed (ops.evaluate_release takes the release's
// row lock, 20261130006200). Without the lock the later transaction stored a status computed
// without the earlier one's fact: `passed` over a failing required check.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createRelease, storedGates, storedStatusDrift, uniqueName, who } from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

describe('concurrent facts of one release', () => {
  it('store the status computed over both once both commit (read committed)', async () => {
    const r = await createRelease(db, { project: uniqueName('race') });
    const claims = JSON.stringify({
      sub: who.ci,
      role: 'ci_service_role',
      app_metadata: { ops_role: 'ci_service_role' },
    });
    const c1 = await db.api.connect();
    const c2 = await db.api.connect();
    const check = (name: string, status: string) =>
      `select ops.record_check(p_release_id => '${r.release_id}', p_gate_code => 'G1', p_check_name => '${name}',
         p_status => '${status}', p_required => true)`;
    try {
      for (const c of [c1, c2]) {
        await c.query('begin isolation level read committed');
        await c.query(`select set_config('role', 'ci_service_role', true)`);
        await c.query(`select set_config('request.jwt.claims', $1, true)`, [claims]);
      }
      // The first transaction: a failing required check, not committed yet.
      await c1.query(check(`unit-${randomUUID().slice(0, 6)}`, 'fail'));
      // The second: a passing one of another name, evaluated while the first is still open.
      const second = c2
        .query(check(`lint-${randomUUID().slice(0, 6)}`, 'pass'))
        .then(() => c2.query('commit'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      await c1.query('commit');
      await second;
    } finally {
      c1.release();
      c2.release();
    }
    expect((await storedGates(db, r.release_id)).G1).toBe('failed');
    expect(await storedStatusDrift(db)).toEqual([]);
  });
});
