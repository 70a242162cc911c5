// The raw SQL door as an attacker has it: a login (the API's `authenticator`) that may assume any
// persona with SET ROLE and publish claims of its choosing, then run any statement its grants allow.
import pg from 'pg';
import type { Persona } from '../../src/auth/personas.js';
import type { TestDatabase } from '../support/db.js';

export type Claims = Record<string, unknown>;

/** Runs fn in one committed transaction as `role` with `claims` (rolled back when fn throws). */
export async function asRole<T>(
  db: TestDatabase,
  role: Persona,
  claims: Claims | null,
  fn: (c: pg.ClientBase) => Promise<T>,
  { fresh = false }: { fresh?: boolean } = {},
): Promise<T> {
  // fresh: a connection of its own, closed afterwards, so that nothing the session cached (compiled
  // functions, plans) helps or hinders the attempt, and nothing it leaves behind reaches the pool.
  let c: pg.ClientBase & { release(): void };
  if (fresh) {
    const client = new pg.Client({ connectionString: db.apiUrl });
    await client.connect();
    c = Object.assign(client, { release: () => void client.end() });
  } else c = await db.api.connect();
  try {
    await c.query('begin');
    await c.query(`select set_config('role', $1, true)`, [role]);
    if (claims) await c.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    const result = await fn(c);
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/** The same, but a refusal (any SQL error) is an answer, not a failure of the test. */
export async function tryAsRole<T>(
  db: TestDatabase,
  role: Persona,
  claims: Claims | null,
  fn: (c: pg.ClientBase) => Promise<T>,
  opts: { fresh?: boolean } = {},
): Promise<{ ok: true; value: T } | { ok: false; code: string; message: string }> {
  try {
    return { ok: true, value: await asRole(db, role, claims, fn, opts) };
  } catch (err) {
    const e = err as { code?: string; message?: string };
    if (typeof e.code !== 'string') throw err;
    return { ok: false, code: e.code, message: String(e.message) };
  }
}

/** Runs statements one by one, each in a savepoint, and returns the first that succeeds. */
export async function firstThatWorks(
  c: pg.ClientBase,
  statements: [string, unknown[]][],
): Promise<unknown[] | null> {
  for (const [sql, params] of statements) {
    await c.query('savepoint try_one');
    try {
      const r = await c.query(sql, params);
      await c.query('release savepoint try_one');
      return r.rows;
    } catch {
      await c.query('rollback to savepoint try_one');
    }
  }
  return null;
}

/** One admin query's first row. */
export async function adminOne<T = Record<string, unknown>>(
  db: TestDatabase,
  sql: string,
  params: unknown[] = [],
): Promise<T | undefined> {
  const { rows } = await db.admin.query(sql, params);
  return rows[0] as T | undefined;
}
