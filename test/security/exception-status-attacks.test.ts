// Attacks on the exception-status view reading each release through a lateral subquery
// (20261204200000): as every persona, raw SQL and the GraphQL page read the same rows as the
// previous definition (an inner join to ops.releases, 20261204150000) applied in a transaction
// rolled back: exceptions requested, approved, expired, of releases a developer does not own; a
// persona that may not read the view is refused by both.
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { activeBypass, createRelease, expireException, requestException } from '../governance/scenario.js';
import { actAs, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;

const PREVIOUS = `create or replace view ops.v_exception_status with (security_invoker = true) as
select e.exception_id, e.release_id, r.project, r.release_name, e.exception_type, e.impacted_gates,
       s.state, e.post_review_status, s.time_left,
       e.requested_by, e.approver_id, e.approved_at, e.effective_from, e.expires_at, e.reason, e.created_at
from ops.exceptions e
join ops.releases r on r.release_id = e.release_id
cross join lateral ops.exception_standing(e) s`;

// time_left is read from the clock at each statement: compared as its sign.
const READ = `select exception_id, release_id, project, release_name, exception_type, impacted_gates::text, state,
                     post_review_status, sign(extract(epoch from time_left)) as time_left_sign, requested_by,
                     approver_id, approved_at, effective_from, expires_at, reason, created_at
              from ops.v_exception_status order by exception_id`;

async function readAll(previous: boolean): Promise<Record<string, { rows?: unknown[]; code?: string }>> {
  const c = await db.admin.connect();
  const out: Record<string, { rows?: unknown[]; code?: string }> = {};
  try {
    await c.query('begin');
    if (previous) await c.query(PREVIOUS);
    for (const persona of PERSONAS) {
      await c.query('savepoint p');
      try {
        await actAs(c, persona, persona === 'developer' ? 'dev-dana' : `exc-${persona}`);
        out[persona] = { rows: (await c.query(READ)).rows };
      } catch (err) {
        out[persona] = { code: (err as { code?: string }).code };
      }
      await c.query('rollback to savepoint p');
    }
  } finally {
    await c.query('rollback');
    c.release();
  }
  return out;
}

beforeAll(async () => {
  db = await useTestDatabase();
  const a = await createRelease(db);
  const b = await createRelease(db, { sub: 'dev-other' });
  await activeBypass(db, a.release_id, ['G1']);
  await requestException(db, b.release_id, ['G2']);
  const expired = await activeBypass(db, b.release_id, ['G3']);
  await expireException(db, expired.exception_id);
});

describe('the exception-status view read release by release', () => {
  it('reads what the previous definition read, as every persona', async () => {
    const now = await readAll(false);
    const before = await readAll(true);
    expect(now).toEqual(before);
    expect(now.release_manager?.rows).toHaveLength(3);
    expect(now.audit_reader?.rows).toHaveLength(3);
    for (const p of ['developer', 'qa_tester', 'sre', 'ci_service_role'])
      expect(now[p]?.code, p).toBe('42501');
  });
});
