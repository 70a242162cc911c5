// The ledger's release scopes stored as arms (20261205100000): a fact table is registered with its
// arms, whose text joined by ' or ' is its release scope and each of which is on its own a boolean
// expression over t and $1; anything else is refused at commit, naming the table. One release's
// verification reads the table through its arms. The arms are append-only for the owner too.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRelease, passG1, type Release } from '../governance/scenario.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let release: Release;
let table = 0;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  await passG1(db, release);
});

/**
 * Creates a fact table and registers it with `scope` and `arms` in one transaction, as a migration
 * would; resolves when the commit succeeds, rejects with the commit's (or a statement's) error.
 */
async function register(scope: string, arms: string[], numbers?: number[]): Promise<string> {
  const name = `scratch_facts_${++table}`;
  await inTransaction(db.admin, async (c) => {
    await c.query(`create table ops.${name} (fact_id uuid primary key, release_id uuid, gate_id uuid)`);
    await c.query(
      `insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ($1, 'fact_id', $2)`,
      [name, scope],
    );
    for (const [i, arm] of arms.entries()) {
      await c.query(
        'insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ($1, $2, $3)',
        [name, numbers?.[i] ?? i + 1, arm],
      );
    }
  });
  return name;
}

const BY_GATE = 't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1)';

describe('registering a fact table with its release scope arms', () => {
  it('accepts arms whose text joined by or is the scope, and verification reads the table through them', async () => {
    const name = await register(`t.release_id = $1 or ${BY_GATE}`, ['t.release_id = $1', BY_GATE]);
    const gate = (
      await db.admin.query('select gate_id from ops.release_gates where release_id = $1 limit 1', [
        release.release_id,
      ])
    ).rows[0].gate_id;
    // Rows of the release by each arm, and one of another release; none is on the ledger.
    const { rows } = await db.admin.query(
      `insert into ops.${name} (fact_id, release_id, gate_id) values
         (gen_random_uuid(), $1, null), (gen_random_uuid(), null, $2), (gen_random_uuid(), gen_random_uuid(), null)
       returning fact_id`,
      [release.release_id, gate],
    );
    const { rows: found } = await db.admin.query(
      `select row_id from ops.ledger_findings($1) where fact_table = $2 and kind = 'unrecorded' order by row_id`,
      [release.release_id, name],
    );
    expect(found.map((f) => f.row_id)).toEqual([rows[0].fact_id, rows[1].fact_id].sort());
  });

  it.each([
    ['no arms', 't.release_id = $1', [], undefined, /has no arms/],
    [
      'arms that make another scope',
      't.release_id = $1',
      ['false'],
      undefined,
      /is not its arms joined by ' or '/,
    ],
    [
      'arms out of order',
      `t.release_id = $1 or ${BY_GATE}`,
      [BY_GATE, 't.release_id = $1'],
      undefined,
      /joined/,
    ],
    ['an arm missing', `t.release_id = $1 or ${BY_GATE}`, ['t.release_id = $1'], undefined, /joined/],
    [
      'arms numbered with a gap',
      `t.release_id = $1 or ${BY_GATE}`,
      ['t.release_id = $1', BY_GATE],
      [1, 3],
      /numbered up to 3 but there are 2/,
    ],
    [
      'an arm closing a parenthesis it did not open',
      't.release_id = $1) or (t.gate_id = $1',
      ['t.release_id = $1) or (t.gate_id = $1'],
      undefined,
      /arm 1 of scratch_facts_\d+ is not a boolean expression/,
    ],
    [
      'an arm that is more than an expression',
      'true union select',
      ['true union select'],
      undefined,
      /arm 1 of .* is not a boolean expression/,
    ],
    [
      'an arm that is not boolean',
      't.release_id',
      ['t.release_id'],
      undefined,
      /is not a boolean expression/,
    ],
    [
      'an arm naming a parameter that is not the release',
      't.release_id = $2',
      ['t.release_id = $2'],
      undefined,
      /is not a boolean expression/,
    ],
    [
      'an empty arm',
      't.release_id = $1 or ',
      ['t.release_id = $1', ' '],
      undefined,
      /ledger_release_scope_arms_arm_check/,
    ],
    [
      'an arm with a comment',
      't.release_id = $1 -- or t.gate_id = $1',
      ['t.release_id = $1 -- or t.gate_id = $1'],
      undefined,
      /ledger_release_scope_arms_arm_check/,
    ],
  ] as [string, string, string[], number[] | undefined, RegExp][])(
    'refuses %s, naming what is wrong, and registers nothing',
    async (_what, scope, arms, numbers, message) => {
      const before = (await db.admin.query('select count(*)::int as n from ops.ledger_fact_tables')).rows[0]
        .n;
      await expect(register(scope, arms, numbers)).rejects.toMatchObject({
        code: '23514',
        message: expect.stringMatching(message),
      });
      const after = (await db.admin.query('select count(*)::int as n from ops.ledger_fact_tables')).rows[0].n;
      expect(after).toBe(before);
    },
  );

  it('refuses an arm added later to a registered table whose scope it would change', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(
        `insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ('gate_checks', 2, 'true')`,
      );
      await expect(c.query('commit')).rejects.toMatchObject({
        code: '23514',
        message: expect.stringContaining('gate_checks'),
      });
    } finally {
      c.release();
    }
    const { rows } = await db.admin.query(
      `select count(*)::int as n from ops.ledger_release_scope_arms where table_name = 'gate_checks'`,
    );
    expect(rows[0].n).toBe(1);
  });
});

describe('the stored arms, for the owner', () => {
  it.each([
    [`update ops.ledger_release_scope_arms set arm = 'false' where table_name = 'gate_checks'`],
    [`delete from ops.ledger_release_scope_arms where table_name = 'evidence_artifacts' and arm_no = 4`],
    ['truncate ops.ledger_release_scope_arms'],
  ])('refuses %s, replica role or not', async (sql) => {
    for (const replica of [false, true]) {
      const c = await db.admin.connect();
      try {
        await c.query('begin');
        if (replica) await c.query('set local session_replication_role = replica');
        await expect(c.query(sql)).rejects.toMatchObject({ code: 'OPS03' });
      } finally {
        await c.query('rollback');
        c.release();
      }
    }
  });
});
