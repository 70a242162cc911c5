// A database of its own for each test file, cloned from the migrated template.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import type { Identity } from '../../src/auth/jwt.js';
import type { Persona } from '../../src/auth/personas.js';
import { withCredentials } from '../../src/db/database.js';
import { withPersona } from '../../src/db/with-persona.js';

export interface TestDatabase {
  name: string;
  adminUrl: string;
  apiUrl: string;
  /** Superuser pool: for arranging scenarios and for tests of what even the owner cannot do. */
  admin: pg.Pool;
  /** The request role's pool (authenticator), as the server uses it. */
  api: pg.Pool;
  /** Runs fn in one transaction as the persona, through withPersona. */
  as<T>(persona: Persona, sub: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T>;
}

export function identity(persona: Persona, sub: string, extra: Record<string, unknown> = {}): Identity {
  return { subject: sub, persona, claims: { sub, role: persona, ...extra } };
}

/** Creates the database now and drops it after the file's tests. */
export async function useTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject('serverUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  await server.query(`create database "${name}" template "${inject('templateDb')}"`);
  await server.end();
  const url = new URL(serverUrl);
  const adminUrl = withCredentials(
    serverUrl,
    decodeURIComponent(url.username),
    decodeURIComponent(url.password),
    name,
  );
  const apiUrl = withCredentials(serverUrl, 'authenticator', inject('authenticatorPassword'), name);
  const admin = new pg.Pool({ connectionString: adminUrl, max: 4 });
  const api = new pg.Pool({ connectionString: apiUrl, max: 10 });
  afterAll(async () => {
    await api.end();
    await admin.end();
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`drop database if exists "${name}" with (force)`);
    await c.end();
  });
  return {
    name,
    adminUrl,
    apiUrl,
    admin,
    api,
    as: (persona, sub, fn) => withPersona(api, identity(persona, sub), fn),
  };
}

/** Runs fn in one transaction on a client of the pool: committed, or rolled back and rethrown. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('begin');
    const result = await fn(c);
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

/**
 * Inside a superuser's transaction: from here on acts as the persona (the role the transaction
 * assumes) with claims that say who (sub), as the API would.
 */
export function actAs(client: pg.ClientBase, persona: Persona, sub: string): Promise<unknown> {
  return client.query(`select set_config('role', $2, true), set_config('request.jwt.claims', $1, true)`, [
    JSON.stringify({ sub, role: persona }),
    persona,
  ]);
}
