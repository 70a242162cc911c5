// The one migrator. It applies supabase/migrations in order and records each one in
// supabase_migrations.schema_migrations exactly as the Supabase CLI does (version, name, and the
// file split into statements), so the CLI and this project can take turns managing a database.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const migrationsDir = path.join(projectRoot, 'supabase/migrations');
const bootstrapFile = path.join(projectRoot, 'supabase/bootstrap/local-stand-ins.sql');

export interface Migration {
  version: string;
  name: string;
  file: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{14})_(.+)\.sql$/;

export function listMigrations(dir = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort()
    .map((file) => {
      const [, version, name] = MIGRATION_FILE.exec(file)!;
      return { version: version!, name: name!, file, sql: readFileSync(path.join(dir, file), 'utf8') };
    });
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Splits SQL the way the Supabase CLI records it: on top-level semicolons, outside quotes,
 * dollar quotes and comments; comments before a statement stay with it; whitespace trimmed.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      // E'...' strings allow backslash escapes.
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '');
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else if (escapes && sql[i] === '\\') i += 2;
        else i++;
      }
      i++;
    } else if (c === '$') {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close === -1 ? n : close + tag[0].length;
      } else i++;
    } else if (c === ';') {
      const stmt = sql.slice(start, i).trim();
      if (stmt) out.push(stmt);
      i++;
      start = i;
    } else i++;
  }
  const tail = sql.slice(start).trim();
  if (tail) out.push(tail);
  return out;
}

/**
 * Stands in for what a Supabase project already has (schema `auth` with uid()/jwt()/role(), the
 * roles anon, authenticated, service_role and authenticator), only where absent. Migrations never
 * create these, so the same files apply unchanged to a hosted project.
 */
export async function bootstrap(client: pg.ClientBase, authenticatorPassword?: string): Promise<void> {
  await client.query(readFileSync(bootstrapFile, 'utf8'));
  if (authenticatorPassword) {
    // Only ever for the local stand-in; a Supabase project manages its own authenticator.
    await client.query(
      `alter role authenticator with login password '${authenticatorPassword.replace(/'/g, "''")}'`,
    );
  }
}

const HISTORY_DDL = `
  create schema if not exists supabase_migrations;
  create table if not exists supabase_migrations.schema_migrations (version text not null primary key);
  alter table supabase_migrations.schema_migrations add column if not exists statements text[];
  alter table supabase_migrations.schema_migrations add column if not exists name text;
`;

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

/** Applies pending migrations, each in its own transaction, serialised by an advisory lock. */
export async function migrate(client: pg.ClientBase, migrations = listMigrations()): Promise<MigrateResult> {
  const result: MigrateResult = { applied: [], skipped: [] };
  await client.query('select pg_advisory_lock(7411001)');
  try {
    await client.query(HISTORY_DDL);
    const { rows } = await client.query<{ version: string }>(
      'select version from supabase_migrations.schema_migrations',
    );
    const done = new Set(rows.map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) {
        result.skipped.push(m.version);
        continue;
      }
      await client.query('begin');
      try {
        await client.query(m.sql);
        await client.query(
          'insert into supabase_migrations.schema_migrations (version, statements, name) values ($1, $2, $3)',
          [m.version, splitStatements(m.sql), m.name],
        );
        await client.query('commit');
      } catch (err) {
        await client.query('rollback');
        throw new Error(`migration ${m.file} failed: ${(err as Error).message}`, { cause: err });
      }
      result.applied.push(m.version);
    }
  } finally {
    await client.query('select pg_advisory_unlock(7411001)');
  }
  return result;
}
