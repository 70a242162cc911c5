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
 * Splits SQL exactly as the Supabase CLI records it in schema_migrations.statements, so the history
 * written by either tool is the same. The CLI's splitter is a small character state machine, and
 * this reproduces its behaviour, quirks included (they matter only for text PostgreSQL would read
 * differently, which the CLI then fails to apply anyway):
 * - a top-level `;` ends a statement; the statement keeps the comments before it, loses trailing
 *   semicolons, is trimmed, and is dropped when empty; text after the last `;` is a statement too;
 * - no split inside '…' or "…" (doubled quotes escape; backslashes do not, not even in E'…'), inside
 *   $tag$…$tag$ (tag characters: letters, digits, `_`), inside -- line and nested block comments;
 *   a backslash outside them makes the next character ordinary;
 * - no split inside parentheses; a `)` closes every open parenthesis at once;
 * - no split between a whitespace-preceded ATOMIC (BEGIN ATOMIC bodies) and the next END outside
 *   quotes and parentheses, END matched case-insensitively even inside a longer word.
 */
export function splitStatements(sql: string): string[] {
  interface State {
    next(ch: string, end: number): State | null;
  }
  let start = 0;
  /** The last n characters up to end, within the current statement. */
  const tail = (end: number, n: number) => (end - start >= n ? sql.slice(end - n, end) : null);
  const sameLetters = (a: string | null, b: string) =>
    a !== null && a.length === b.length && a.replace(/[a-z]/g, (c) => c.toUpperCase()) === b.toUpperCase();

  const ready: State = {
    next(ch, end) {
      switch (ch) {
        case '$':
          return tag(end - 1);
        case "'":
        case '"':
          return quoted(ch);
        case '-':
          return dash;
        case '/':
          return block();
        case '\\':
          return escaped;
        case ';':
          return null;
        case '(':
          return group(')');
        case 'c':
        case 'C': {
          const w = tail(end, 7);
          return w !== null && /[\t\n\v\f\r \u0085\u00a0]/.test(w[0]!) && sameLetters(w.slice(1), 'ATOMIC')
            ? group('END')
            : ready;
        }
        default:
          return ready;
      }
    },
  };
  /** Inside text that only `delimiter` ends: dollar quotes and line comments. */
  const until = (delimiter: string): State => ({
    next(_ch, end) {
      return tail(end, delimiter.length) === delimiter ? ready : this;
    },
  });
  const tag = (offset: number): State => ({
    next(ch, end) {
      if (ch === '$') return until(sql.slice(offset, end));
      if (/[\p{L}\p{Nd}_]/u.test(ch)) return this;
      return ready.next(ch, end);
    },
  });
  const quoted = (delimiter: string): State => {
    let closed = false;
    return {
      next(ch, end) {
        if (closed) {
          if (ch !== delimiter) return ready.next(ch, end);
          closed = false;
        } else if (ch === delimiter) closed = true;
        return this;
      },
    };
  };
  const dash: State = {
    next(ch, end) {
      return ch === '-' ? until('\n') : ready.next(ch, end);
    },
  };
  const block = (): State => {
    let depth = 0;
    return {
      next(ch, end) {
        const w = tail(end, 2);
        if (w === '/*') {
          depth++;
          return this;
        }
        if (depth === 0) return ready.next(ch, end);
        if (w === '*/' && --depth === 0) return ready;
        return this;
      },
    };
  };
  const escaped: State = { next: () => ready };
  const group = (closer: string): State => {
    let inner: State = ready;
    return {
      next(ch, end) {
        inner = inner.next(ch, end) ?? inner;
        return inner === ready && sameLetters(tail(end, closer.length), closer) ? ready : this;
      },
    };
  };

  const out: string[] = [];
  const emit = (text: string) => {
    const stmt = text.replace(/;+$/, '').replace(/^[\s\u0085]+|[\s\u0085]+$/g, '');
    if (stmt) out.push(stmt);
  };
  let state: State = ready;
  let end = 0;
  for (const ch of sql) {
    end += ch.length;
    const next = state.next(ch, end);
    if (next === null) {
      emit(sql.slice(start, end));
      start = end;
      state = ready;
    } else state = next;
  }
  if (start < sql.length) emit(sql.slice(start));
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
