// Approving an exception is one act whichever function records it: submit_approval with
// decision `approved` on an exception approves it exactly as approve_exception does, with the same
// refusals; other decisions are recorded and leave it unapproved.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  createRelease,
  expectPgError,
  passG1,
  passG2,
  requestException,
  storedGates,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

const decide = (
  exceptionId: string,
  releaseId: string,
  decision: string,
  persona = 'release_manager' as const,
  sub: string = who.rm3,
) =>
  db.as(persona, sub, (c) =>
    c.query(`select * from ops.submit_approval(p_release_id => $1, p_decision => $2, p_exception_id => $3)`, [
      releaseId,
      decision,
      exceptionId,
    ]),
  );

describe('exception decisions through submit_approval', () => {
  it('approved: the exception is approved and bypasses its gate', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    const e = await requestException(db, r.release_id, ['G3']);
    const { rows } = await decide(e.exception_id, r.release_id, 'approved');
    expect(rows[0]).toMatchObject({ approver_id: who.rm3, decision: 'approved', scope: 'exception' });
    const stored = await db.admin.query(
      'select approver_id, approved_at from ops.exceptions where exception_id = $1',
      [e.exception_id],
    );
    expect(stored.rows[0].approver_id).toBe(who.rm3);
    expect(stored.rows[0].approved_at).toBeInstanceOf(Date);
    expect((await storedGates(db, r.release_id)).G3).toBe('bypassed');
  });

  it('approved by its requester: refused, nothing recorded', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3']);
    await expectPgError(
      decide(e.exception_id, r.release_id, 'approved', 'release_manager', who.rm2),
      'OPS03',
      /may not approve it/,
    );
    const { rows } = await db.admin.query(
      'select count(*)::int as n from ops.approvals where exception_id = $1',
      [e.exception_id],
    );
    expect(rows[0].n).toBe(0);
  });

  it('rejected: recorded, the exception stays unapproved', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3']);
    await decide(e.exception_id, r.release_id, 'rejected');
    const { rows } = await db.admin.query('select approver_id from ops.exceptions where exception_id = $1', [
      e.exception_id,
    ]);
    expect(rows[0].approver_id).toBeNull();
  });
});
