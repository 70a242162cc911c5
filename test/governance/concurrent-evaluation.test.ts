// Two transactions writing facts of one release at once: the stored gate status must be what the
// rule computes over both facts once both have committed (ops.evaluate_release takes the release's
// row lock, 20261130006200). Without the lock the later transaction stored a status computed
// without the earlier one's fact: `passed` over a failing required check.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  beginAs,
  commitWhileWaiting,
  createRelease,
  storedGates,
  storedStatusDrift,
  uniqueName,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** A required G1 check of the release, as the raw SQL door sends it. */
const checkOf = (releaseId: string) => (name: string, status: string) =>
  `select ops.record_check(p_release_id => '${releaseId}', p_gate_code => 'G1', p_check_name => '${name}',
     p_status => '${status}', p_required => true)`;

describe('concurrent facts of one release', () => {
  it('store the status computed over both once both commit (read committed)', async () => {
    const r = await createRelease(db, { project: uniqueName('race') });
    const c1 = await db.api.connect();
    const c2 = await db.api.connect();
    const check = checkOf(r.release_id);
    try {
      for (const c of [c1, c2]) await beginAs(c, 'ci_service_role', who.ci);
      // The first transaction: a failing required check, not committed yet.
      await c1.query(check(`unit-${randomUUID().slice(0, 6)}`, 'fail'));
      // The second: a passing one of another name, evaluated while the first is still open.
      const failed = await commitWhileWaiting(db.admin, c1, c2, () =>
        c2.query(check(`lint-${randomUUID().slice(0, 6)}`, 'pass')),
      );
      expect(failed).toBeUndefined();
    } finally {
      c1.release();
      c2.release();
    }
    expect((await storedGates(db, r.release_id)).G1).toBe('failed');
    expect(await storedStatusDrift(db)).toEqual([]);
  });
});

describe('a fact written under REPEATABLE READ', () => {
  // The raw SQL door chooses its isolation. Under REPEATABLE READ the release row lock of a
  // transaction that only locked it (no release status change) lets a later one through with its
  // old snapshot: its evaluation sees neither the other's fact nor its stored change and stores
  // nothing, which would leave `passed` over a failing required check. What refuses it is the
  // ledger: every fact moves its release's chain head at commit, so the later transaction's commit
  // fails with a serialization error (40001) and writes nothing.
  it('never leaves a stored status the rule does not compute over every committed fact', async () => {
    const r = await createRelease(db, { project: uniqueName('race-rr') });
    const a = `unit-${randomUUID().slice(0, 6)}`;
    const b = `lint-${randomUUID().slice(0, 6)}`;
    const check = checkOf(r.release_id);
    await db.as('ci_service_role', who.ci, (c) => c.query(check(a, 'fail')));
    expect((await storedGates(db, r.release_id)).G1).toBe('failed');
    const c1 = await db.api.connect();
    const c2 = await db.api.connect();
    let secondError: string | undefined;
    try {
      await beginAs(c2, 'ci_service_role', who.ci, 'repeatable read');
      await c2.query('select count(*) from ops.releases'); // the snapshot is taken here
      await beginAs(c1, 'ci_service_role', who.ci);
      // The first: the failing check rerun and passing; G1 passes, the release stays in_progress.
      await c1.query(check(a, 'pass'));
      // The second, on its old snapshot: another required check failing, waiting for the first.
      secondError = (await commitWhileWaiting(db.admin, c1, c2, () => c2.query(check(b, 'fail'))))?.message;
    } finally {
      c1.release();
      c2.release();
    }
    const drift = await storedStatusDrift(db);
    expect(drift.filter((d) => JSON.stringify(d).includes(r.release_id))).toEqual([]);
    expect(secondError).toMatch(/could not serialize/);
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
  });
});
