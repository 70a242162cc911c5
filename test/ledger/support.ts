// Tampering as the database owner would: one transaction with the fact tables' triggers off —
// ordinary ones by session_replication_role = replica, ENABLE ALWAYS ones (append-only guards)
// disabled and restored before the transaction ends — so nothing the control plane does on a
// write (the ledger's triggers included) runs.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { projectRoot } from '../../src/db/migrate.js';
import type { TestDatabase } from '../support/db.js';

export async function behindTriggers<T>(
  db: Pick<TestDatabase, 'admin'>,
  fn: (c: pg.PoolClient) => Promise<T>,
  options: { commit?: boolean } = {},
): Promise<T> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    const { rows: always } = await c.query<{ rel: string; name: string }>(
      `select format('ops.%I', f.table_name) as rel, t.tgname as name
       from ops.ledger_fact_tables f
       join pg_trigger t on t.tgrelid = format('ops.%I', f.table_name)::regclass
       where t.tgenabled = 'A' and not t.tgisinternal`,
    );
    for (const t of always) await c.query(`alter table ${t.rel} disable trigger "${t.name}"`);
    const result = await fn(c);
    for (const t of always) await c.query(`alter table ${t.rel} enable always trigger "${t.name}"`);
    await c.query(options.commit === false ? 'rollback' : 'commit');
    return result;
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

/** The ledger's findings and report as 20261129004000 defined them, as CREATE OR REPLACE statements
 * (to compare the current definitions with, in a transaction that is rolled back). */
export function previousLedgerDefinitions(): string[] {
  const file = readFileSync(
    path.join(projectRoot, 'supabase/migrations/20261129004000_ops_ledger.sql'),
    'utf8',
  );
  return ['ledger_findings', 'ledger_report'].map((name) => {
    const m = new RegExp(`create function ops\\.${name}\\([\\s\\S]*?\\n\\$\\$;`).exec(file);
    if (!m) throw new Error(`ops.${name} not found in 20261129004000`);
    return m[0].replace(/^create function/, 'create or replace function');
  });
}
