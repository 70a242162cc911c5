// Helpers for the persona tests: run one statement as a persona and capture what happened, always
// rolling back so that one attempt never changes what the next one sees.
import type pg from 'pg';
import { expect } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import type { TestDatabase } from '../support/db.js';

/** What a statement did: rows, or the SQLSTATE and message it was refused with. */
export type Outcome =
  | { ok: true; rowCount: number; rows: Record<string, unknown>[] }
  | { ok: false; code: string; message: string };

class Rollback extends Error {}

function refusal(err: unknown): Outcome {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code !== 'string') throw err;
  return { ok: false, code: e.code, message: String(e.message) };
}

/** Runs one statement as the persona through withPersona (db.as), then rolls the transaction back. */
export async function attempt(
  db: TestDatabase,
  persona: Persona,
  sub: string,
  sql: string,
  params: unknown[] = [],
): Promise<Outcome> {
  let outcome: Outcome | undefined;
  try {
    await db.as(persona, sub, async (c) => {
      try {
        const r = await c.query(sql, params);
        outcome = { ok: true, rowCount: r.rowCount ?? 0, rows: r.rows };
      } catch (err) {
        outcome = refusal(err);
      }
      throw new Rollback();
    });
  } catch (err) {
    if (!(err instanceof Rollback)) throw err;
  }
  return outcome!;
}

/**
 * Runs one statement on the superuser connection after SET LOCAL ROLE to `role` with the given
 * claims, then rolls back. With triggers: false, session_replication_role = replica switches every
 * ordinary trigger off (governance guards, stamping), so a row-level security policy is seen on its
 * own. Row-level security still applies: it depends on current_user, which is the role.
 */
export async function attemptAsRole(
  db: TestDatabase,
  role: string,
  claims: Record<string, unknown> | null,
  sql: string,
  params: unknown[] = [],
  { triggers = true }: { triggers?: boolean } = {},
): Promise<Outcome> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    if (!triggers) await client.query(`set local session_replication_role = replica`);
    if (claims) {
      await client.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    }
    await client.query(`select set_config('role', $1, true)`, [role]);
    try {
      const r = await client.query(sql, params);
      return { ok: true, rowCount: r.rowCount ?? 0, rows: r.rows };
    } catch (err) {
      return refusal(err);
    }
  } finally {
    await client.query('rollback');
    client.release();
  }
}

/** As the superuser, in one committed transaction whose request.jwt.claims are `claims`. */
export async function adminAs<T>(
  db: TestDatabase,
  claims: Record<string, unknown> | null,
  fn: (c: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await db.admin.connect();
  try {
    await client.query('begin');
    if (claims) {
      await client.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify(claims)]);
    }
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}

/** Claims of a persona's token, as db.as / identity() builds them. */
export const claimsOf = (persona: Persona, sub: string) => ({ sub, role: persona });

/** Refused for lack of a GRANT: SQLSTATE 42501 "permission denied for table|view <name>". */
export function expectPermissionDenied(o: Outcome, relation: string): void {
  expect(o, `expected permission denied on ${relation}`).toMatchObject({ ok: false, code: '42501' });
  if (!o.ok) expect(o.message).toMatch(new RegExp(`^permission denied for (table|view) ${relation}$`));
}

/** Refused by an RLS WITH CHECK: SQLSTATE 42501 "new row violates row-level security policy". */
export function expectRlsViolation(o: Outcome, table: string): void {
  expect(o, `expected an RLS violation on ${table}`).toMatchObject({ ok: false, code: '42501' });
  if (!o.ok) {
    expect(o.message).toMatch(
      new RegExp(`^new row violates row-level security policy for table "${table}"$`),
    );
  }
}

/** Succeeded, touching `n` rows. */
export function expectRows(o: Outcome, n: number): void {
  if (!o.ok) throw new Error(`expected success, got ${o.code}: ${o.message}`);
  expect(o.rowCount).toBe(n);
}
