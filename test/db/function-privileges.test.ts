// No function in ops is callable by PUBLIC (so neither by anon nor authenticated): each persona
// gets only what a migration granted it explicitly.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

describe('function privileges', () => {
  it('grant EXECUTE on no ops function to PUBLIC', async () => {
    const { rows } = await db.admin.query(
      `select p.oid::regprocedure::text as fn
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'ops'
         and exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)
       order by 1`,
    );
    expect(rows.map((r) => r.fn)).toEqual([]);
  });

  it('keep anon and authenticated away from every ops function', async () => {
    const { rows } = await db.admin.query(
      `select p.oid::regprocedure::text as fn, r.rolname
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       cross join (values ('anon'), ('authenticated')) r(rolname)
       where n.nspname = 'ops' and has_function_privilege(r.rolname, p.oid, 'execute')`,
    );
    expect(rows).toEqual([]);
  });

  it('leave the read-only persona unable to re-evaluate gates (which stores results)', async () => {
    const { rows } = await db.admin.query(
      `select has_function_privilege('audit_reader', 'ops.evaluate_release(uuid, text)', 'execute') as can`,
    );
    expect(rows[0].can).toBe(false);
  });
});
