// Every PL/pgSQL function of the schema, statically checked by the plpgsql_check extension: a column
// misspelt, a field a record does not have, a wrong number of arguments or a type that does not
// exist fails here, even in a branch no other test reaches. Trigger functions are checked against
// every table they are attached to, with the trigger's transition tables.
//
// plpgsql_check is not part of the embedded PostgreSQL, so this file runs against Debian's
// PostgreSQL 15 (scripts/with-pg15.sh installs the extension's package and sets
// OPS_REQUIRE_PLPGSQL_CHECK=1, so a cluster without it fails there instead of passing unchecked).
// Elsewhere, without the extension, the test is skipped and says so.
import { runMigrations, Logger as WorkerLogger } from 'graphile-worker';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

interface Finding {
  fn: string;
  rel: string | null;
  columns: string[];
  transition_tables: string[];
  level: string;
  message: string;
  line: number | null;
}

/** The checker's report for each function, and for a trigger function for each table it serves. */
async function findings(on: pg.Pool | pg.PoolClient = db.admin): Promise<Finding[]> {
  const { rows } = await on.query<Finding>(`
    with targets as (
      -- A trigger function once per table it serves, with the transition tables of its triggers
      -- there (one trigger may name the old rows, another the new).
      select p.oid as fn, t.tgrelid as rel, max(t.tgoldtable) as old_table, max(t.tgnewtable) as new_table
      from pg_catalog.pg_proc p
      join pg_catalog.pg_namespace n on n.oid = p.pronamespace
      join pg_catalog.pg_language l on l.oid = p.prolang and l.lanname = 'plpgsql'
      left join pg_catalog.pg_trigger t on t.tgfoid = p.oid
      where n.nspname in ('ops', 'public')
        and (p.prorettype <> 'pg_catalog.trigger'::pg_catalog.regtype or t.tgrelid is not null)
        and p.prorettype <> 'pg_catalog.event_trigger'::pg_catalog.regtype
      group by p.oid, t.tgrelid
    )
    select t.fn::regprocedure::text as fn, t.rel::regclass::text as rel,
           -- The columns and transition tables of the other tables this trigger function serves.
           coalesce((select array_agg(distinct a.attname::text) from pg_catalog.pg_trigger o
                     join pg_catalog.pg_attribute a on a.attrelid = o.tgrelid and a.attnum > 0 and not a.attisdropped
                     where o.tgfoid = t.fn and o.tgrelid <> t.rel), '{}') as columns,
           coalesce((select array_agg(distinct x.name::text) from pg_catalog.pg_trigger o
                     cross join lateral (values (o.tgoldtable), (o.tgnewtable)) x(name)
                     where o.tgfoid = t.fn and o.tgrelid <> t.rel and x.name is not null), '{}') as transition_tables,
           c.level, c.message, c.lineno as line
    from targets t
    cross join lateral plpgsql_check_function_tb(t.fn, coalesce(t.rel, 0),
      oldtable => t.old_table, newtable => t.new_table,
      other_warnings => true, extra_warnings => false, performance_warnings => false) c
    order by 1, 2, c.lineno`);
  return rows;
}

/**
 * Findings that are not faults, each for a stated reason:
 * - an assignment of text to an enum (or any implicit cast) the function's own statement makes
 *   deliberately: the checker warns of every implicit cast;
 * - a trigger function that serves several tables and branches on TG_TABLE_NAME reads, in a branch
 *   for another table, a field this table does not have. It is allowed only when that field is a
 *   column of another table the function serves, so a field no table has still fails;
 * - likewise, such a function reads in a branch for another table that table's transition table
 *   (REFERENCING NEW TABLE AS ...), which this table's triggers do not name.
 */
function isFault(f: Finding): boolean {
  if (f.level === 'warning' && /target type is different type than source type/.test(f.message)) return false;
  const field = /^record "(new|old)" has no field "([^"]+)"$/.exec(f.message);
  if (field?.[2] && f.columns.includes(field[2])) return false;
  const relation = /^relation "([^"]+)" does not exist$/.exec(f.message);
  if (relation?.[1] && f.transition_tables.includes(relation[1])) return false;
  return true;
}

/** One line a finding, for the failure message. */
function describeFinding(f: Finding): string {
  return `${f.fn}${f.rel ? ` on ${f.rel}` : ''}, line ${f.line ?? '?'}: ${f.level}: ${f.message}`;
}

describe('plpgsql_check over every PL/pgSQL function', () => {
  it('finds no error and no warning but the known kinds', async (ctx) => {
    const { rows } = await db.admin.query(
      `select 1 from pg_catalog.pg_available_extensions where name = 'plpgsql_check'`,
    );
    if (rows.length === 0) {
      expect(process.env.OPS_REQUIRE_PLPGSQL_CHECK, 'plpgsql_check is required on this server').not.toBe('1');
      ctx.skip();
      return;
    }
    await db.admin.query('create extension if not exists plpgsql_check');
    // The delivery worker's job queue (graphile-worker's own migrations, as the worker installs it):
    // ops.webhook_dispatch queues jobs into it.
    await runMigrations({ connectionString: db.adminUrl, logger: new WorkerLogger(() => () => {}) });

    const all = await findings();
    const checked = await db.admin.query<{ n: number }>(
      `select count(*)::int as n from pg_catalog.pg_proc p join pg_catalog.pg_language l on l.oid = p.prolang
       where l.lanname = 'plpgsql' and p.pronamespace = 'ops'::regnamespace`,
    );
    expect(checked.rows[0]?.n).toBeGreaterThan(100);
    expect(all.filter(isFault).map(describeFinding)).toEqual([]);
  });

  it('would fail on a function that reads a column its table does not have', async (ctx) => {
    const { rows } = await db.admin.query(
      `select 1 from pg_catalog.pg_available_extensions where name = 'plpgsql_check'`,
    );
    if (rows.length === 0) {
      ctx.skip();
      return;
    }
    await db.admin.query('create extension if not exists plpgsql_check');
    const c = await db.admin.connect();
    await c.query('begin');
    try {
      await c.query(`
        create function ops.plpgsql_check_probe() returns integer language plpgsql
        set search_path = pg_catalog, pg_temp as $$
        begin
          return (select r.no_such_column from ops.releases r limit 1);
        end $$`);
      const probe = (await findings(c)).filter((f) => f.fn === 'ops.plpgsql_check_probe()');
      expect(probe.filter(isFault).map((f) => f.message)).toEqual([
        expect.stringContaining('column r.no_such_column does not exist'),
      ]);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});
