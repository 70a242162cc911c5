// The owner removes a fact table from the ledger's registry, with its stored arms, behind the
// guards, then changes that table's facts: every gate of a release set to passed with
// release_gates unregistered verified "ok" for the release and for every chain, as no
// verification read the table any more. Now every verification refuses to answer (XX001, naming
// the table) while the ledger holds entries of a table that is no longer registered
// (20261205230000): through RPC as each reader, and through GraphQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachEvidence, createRelease, passG1, type Release, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { graphqlAs, type ServedApi, serveApi } from '../support/loopback.js';
import { tryAsRole } from './sql-door.js';

const SECRET = 'test-secret-ledger-registry-rows-0123456789abcdef01';

let db: TestDatabase;
let api: ServedApi;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  await passG1(db, release);
  await attachEvidence(db, 'qa_tester', who.qa, release.release_id, 'test_result', 'G2');
  api = await serveApi(db, SECRET);
});

afterAll(async () => {
  await api?.close();
});

/** Statements that take a table out of the registry, with its arms, behind the guards. */
function unregister(table: string): string[] {
  return [
    'alter table ops.ledger_release_scope_arms disable trigger ledger_release_scope_arms_fixed',
    'alter table ops.ledger_fact_tables disable trigger ledger_fact_tables_fixed',
    `delete from ops.ledger_release_scope_arms where table_name = '${table}'`,
    `delete from ops.ledger_fact_tables where table_name = '${table}'`,
    'alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_fixed',
    'alter table ops.ledger_fact_tables enable always trigger ledger_fact_tables_fixed',
  ];
}

/** The SQLSTATE (or 'ok: <ok>') of a verification, inside a savepoint. */
async function verify(c: import('pg').ClientBase, sql: string, params: unknown[]): Promise<string> {
  await c.query('savepoint v');
  try {
    const { rows } = await c.query(sql, params);
    await c.query('release savepoint v');
    return `ok: ${rows[0].r.ok}`;
  } catch (err) {
    await c.query('rollback to savepoint v');
    const e = err as { code?: string; message?: string };
    return `${e.code}: ${e.message}`;
  }
}

describe('a fact table taken out of the ledger registry behind the guards', () => {
  it('makes every verification refuse, for each table with entries of the release', async () => {
    const { rows } = await db.admin.query<{ fact_table: string }>(
      'select distinct fact_table from ops.ledger_entries where chain_id = $1 order by 1',
      [release.release_id],
    );
    const tables = rows.map((r) => r.fact_table);
    expect(tables).toEqual(expect.arrayContaining(['release_gates', 'gate_checks', 'evidence_artifacts']));
    const c = await db.admin.connect();
    try {
      for (const table of tables) {
        await c.query('begin');
        try {
          for (const sql of unregister(table)) await c.query(sql);
          for (const [sql, params] of [
            ['select ops.verify_ledger($1::uuid) as r', [release.release_id]],
            ['select ops.verify_ledger() as r', []],
          ] as const) {
            const got = await verify(c, sql, [...params]);
            expect(got, `${table}: ${sql}`).toMatch(
              new RegExp(`^XX001: .*entries of ${table}, which is no longer registered`),
            );
          }
        } finally {
          await c.query('rollback');
        }
      }
    } finally {
      c.release();
    }
  });

  it('refuses through RPC and GraphQL while the release’s gates were set to passed behind the ledger', async () => {
    const before = await db.admin.query('select * from ops.ledger_fact_tables order by table_name');
    const beforeArms = await db.admin.query('select * from ops.ledger_release_scope_arms order by 1, 2');
    const gatesBefore = await db.admin.query<{ gate_id: string; status: string }>(
      'select gate_id, status::text from ops.release_gates where release_id = $1',
      [release.release_id],
    );
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      for (const sql of unregister('release_gates')) await c.query(sql);
      await c.query('alter table ops.release_gates disable trigger all');
      await c.query(`update ops.release_gates set status = 'passed' where release_id = $1`, [
        release.release_id,
      ]);
      await c.query('alter table ops.release_gates enable trigger all');
      await c.query('commit');
    } finally {
      c.release();
    }
    try {
      for (const persona of ['release_manager', 'audit_reader'] as const) {
        for (const arg of [release.release_id, null]) {
          const out = await tryAsRole(db, persona, { sub: `rpc-${persona}`, role: persona }, (c) =>
            arg === null
              ? c.query('select ops.verify_ledger() as r')
              : c.query('select ops.verify_ledger($1::uuid) as r', [arg]),
          );
          expect(out, `${persona} ${arg}`).toMatchObject({ ok: false, code: 'XX001' });
          if (!out.ok) expect(out.message).toContain('release_gates');
        }
        const json = await graphqlAs(
          api,
          SECRET,
          persona,
          `gql-${persona}`,
          'query($id: ID) { ledgerVerification(releaseId: $id) { ok } }',
          { id: release.release_id },
        );
        expect(json.data?.ledgerVerification ?? null, persona).toBeNull();
        expect(json.errors?.length, persona).toBeGreaterThan(0);
      }
    } finally {
      // Put back what the owner took: the registry row, its arms and the gates' status.
      const r = await db.admin.connect();
      try {
        await r.query('begin');
        await r.query('alter table ops.release_gates disable trigger all');
        for (const g of gatesBefore.rows) {
          await r.query(
            'update ops.release_gates set status = $2::public.ops_gate_status where gate_id = $1',
            [g.gate_id, g.status],
          );
        }
        await r.query('alter table ops.release_gates enable trigger all');
        const row = before.rows.find((x) => x.table_name === 'release_gates');
        await r.query(
          'insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ($1, $2, $3)',
          [row.table_name, row.pk_column, row.release_scope],
        );
        for (const a of beforeArms.rows.filter((x) => x.table_name === 'release_gates')) {
          await r.query(
            'insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ($1, $2, $3)',
            [a.table_name, a.arm_no, a.arm],
          );
        }
        await r.query('commit');
      } finally {
        r.release();
      }
    }
    const ok = await db.as(
      'audit_reader',
      'after',
      async (c) => (await c.query('select ops.verify_ledger($1::uuid) as r', [release.release_id])).rows[0].r,
    );
    expect(ok.ok).toBe(true);
  });
});
