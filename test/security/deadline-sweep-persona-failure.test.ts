// A subject a persona could make the deadline sweep fail on: an exception whose gates include a
// NULL (`p_impacted_gates => '{NULL}'`), requested by one release manager and approved by another.
// Its expiry had no gate to record (ops.deadline_transitions.gate_code is NOT NULL), so recording it
// raised: before 20261206200000 no deadline of any release was recorded while it stayed watched;
// since, only that one was left open. Since 20261206210000 such an exception cannot be made: a NULL
// among the gates is refused at request, through RPC and raw SQL as every persona that may request,
// and by the owner's own insert; nothing is stored.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { createRelease, type GateCode, requestException, uniqueName } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { tryAsRole } from './sql-door.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await useTestDatabase();
});

const count = async (releaseId: string) =>
  (
    await db.admin.query<{ n: number }>(
      'select count(*)::int as n from ops.exceptions where release_id = $1',
      [releaseId],
    )
  ).rows[0]!.n;

describe('an exception with a NULL among its gates', () => {
  it('is refused at request through the scenario door (RPC as a release manager), nothing stored', async () => {
    const r = await createRelease(db, { project: uniqueName('gateless') });
    await expect(requestException(db, r.release_id, ['NULL' as GateCode])).rejects.toMatchObject({
      code: '23514',
      constraint: 'exceptions_impacted_gates_named',
    });
    await expect(requestException(db, r.release_id, ['G2', 'NULL' as GateCode])).rejects.toMatchObject({
      code: '23514',
    });
    expect(await count(r.release_id)).toBe(0);
    // A well-formed request still works.
    await requestException(db, r.release_id, ['G2']);
    expect(await count(r.release_id)).toBe(1);
  });

  it('is refused for every persona through the raw SQL door, and for the owner, nothing stored', async () => {
    const r = await createRelease(db, { project: uniqueName('gateless-sql') });
    for (const persona of PERSONAS) {
      for (const gates of ['{NULL}', '{G3,NULL}']) {
        const out = await tryAsRole(db, persona, { sub: `gateless-${persona}`, role: persona }, (c) =>
          c.query(
            `select ops.request_exception($1, 'gate_bypass', $2::public.ops_gate_code[], 'r', 'low',
                                          now() + interval '1 hour')`,
            [r.release_id, gates],
          ),
        );
        expect(out, `${persona} ${gates}`).toMatchObject({ ok: false });
      }
    }
    const owner = new pg.Client({ connectionString: db.adminUrl });
    await owner.connect();
    try {
      await expect(
        owner.query(
          `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
                                       requested_by, expires_at)
           values ($1, 'gate_bypass', '{NULL}', 'r', 'low', 'owner', now() + interval '1 hour')`,
          [r.release_id],
        ),
      ).rejects.toMatchObject({ code: '23514' });
    } finally {
      await owner.end();
    }
    expect(await count(r.release_id)).toBe(0);
  });
});
