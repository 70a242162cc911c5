// The real Supabase CLI (the pinned npm package `supabase`) and the project's migrator are
// interchangeable: `supabase db push` applied to an empty database (after the bootstrap stand-ins
// for what a hosted project already has) builds the same schema and records the same migration
// history, statement for statement, as src/db/migrate.ts; and `supabase migration list` sees every
// migration as applied.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { withCredentials } from '../../src/db/database.js';
import {
  bootstrap,
  listMigrations,
  migrate,
  migrationsDir,
  projectRoot,
  splitStatements,
} from '../../src/db/migrate.js';
import { describeSchema } from '../../tools/db/describe.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const run = promisify(execFile);
const cli = path.join(projectRoot, 'node_modules/.bin/supabase');

let migrated: TestDatabase;
let cliUrl: string;
let cliDb: string;
let workdir: string;

/** Runs the CLI in the temporary workdir; returns stdout and stderr together. */
async function supabase(args: string[], cwd = workdir): Promise<string> {
  try {
    const { stdout, stderr } = await run(cli, args, {
      cwd,
      timeout: 60_000,
      env: { ...process.env, DO_NOT_TRACK: '1', SUPABASE_TELEMETRY_DISABLED: '1' },
    });
    return `${stdout}\n${stderr}`;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(
      `supabase ${args[0]} ${args[1]} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const HISTORY =
  'select version, name, statements from supabase_migrations.schema_migrations order by version';

beforeAll(async () => {
  migrated = await useTestDatabase();
  const serverUrl = inject('serverUrl');
  cliDb = `cli_${randomBytes(6).toString('hex')}`;
  await withClient(serverUrl, (c) => c.query(`create database "${cliDb}"`));
  const u = new URL(serverUrl);
  cliUrl = withCredentials(serverUrl, decodeURIComponent(u.username), decodeURIComponent(u.password), cliDb);
  // Only the stand-ins for Supabase's own objects; the migrations are the CLI's to apply.
  await withClient(cliUrl, (c) => bootstrap(c));

  // The CLI reads supabase/migrations under its working directory; nothing else is needed.
  workdir = mkdtempSync(path.join(tmpdir(), 'supabase-cli-'));
  mkdirSync(path.join(workdir, 'supabase'));
  symlinkSync(migrationsDir, path.join(workdir, 'supabase/migrations'), 'dir');

  await supabase(['db', 'push', '--db-url', `${cliUrl}?sslmode=disable`, '--yes']);
}, 120_000);

const dropDatabase = (name: string) =>
  withClient(inject('serverUrl'), (c) => c.query(`drop database if exists "${name}" with (force)`));

afterAll(async () => {
  if (cliDb) await dropDatabase(cliDb);
  if (workdir) rmSync(workdir, { recursive: true, force: true });
});

describe('supabase db push', () => {
  it('builds the same schema as the project migrator', async () => {
    const viaCli = await withClient(cliUrl, (c) => describeSchema(c));
    const client = await migrated.admin.connect();
    try {
      expect(viaCli).toBe(await describeSchema(client));
    } finally {
      client.release();
    }
  });

  it('records the same history: versions, names and statements', async () => {
    const viaCli = await withClient(cliUrl, (c) => c.query(HISTORY));
    const viaMigrator = await migrated.admin.query(HISTORY);
    expect(viaCli.rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
    for (const [i, row] of viaMigrator.rows.entries()) {
      expect(viaCli.rows[i], `history of ${row.version}_${row.name}`).toEqual(row);
    }
    expect(viaCli.rows).toHaveLength(viaMigrator.rows.length);
  });

  it('leaves the project migrator nothing to do on a CLI-managed database', async () => {
    const result = await withClient(cliUrl, (c) => migrate(c));
    expect(result.applied).toEqual([]);
  });
});

describe('supabase migration list', () => {
  it('shows every migration as applied', async () => {
    const output = await supabase(['migration', 'list', '--db-url', `${cliUrl}?sslmode=disable`]);
    // Rows read `   local | remote | time`, versions in backquotes; a pending one has an empty remote.
    const rows = new Map<string, string>();
    for (const line of output.split('\n')) {
      const cells = line.split('|').map((c) => c.trim().replace(/`/g, ''));
      if (cells.length >= 3 && /^\d{14}$/.test(cells[0]!)) rows.set(cells[0]!, cells[1]!);
    }
    for (const m of listMigrations()) {
      expect(rows.get(m.version), `${m.file} in supabase migration list:\n${output}`).toBe(m.version);
    }
  });
});

// SQL whose splitting is easy to get wrong: the CLI applies each file and records its statements;
// splitStatements must give the same list for every one (it is what the project's migrator records).
const TRICKY: Array<[string, string]> = [
  [
    'dollar_tag_digits',
    'create function sx_f1() returns int language plpgsql as $f1$ begin return 1; end $f1$;\nselect 1 as "a;b";\n',
  ],
  ['trailing_comment', 'select 1;\n-- trailing comment only\n'],
  ['empty_statements', 'select 1;;\nselect 2 ;  ;\n'],
  ['block_comments', '/* outer /* nested; */ still; */ select 1;\nselect 2 /* ; */;\n'],
  [
    'begin_atomic',
    'create function sx_f2() returns int language sql begin atomic select 1; select 2; end;\nselect 3;\n',
  ],
  [
    'begin_atomic_multiline',
    'create table sx_t (a int);\ncreate function sx_f3(x int) returns int language sql\nbegin atomic\n  select x + 1;\nend;\n' +
      'create procedure sx_p4() language sql begin atomic insert into sx_t values (1); insert into sx_t values (2); end;\n',
  ],
  ['crlf', 'select 1;\r\n-- crlf comment\r\nselect 2;\r\n'],
  [
    'quotes',
    "select 1 as a$b;\nselect '$$;' as x;\nselect '--;' as y;\nselect 'a''b;c';\nselect 1 as \"x\"\"y;\";\n",
  ],
  ['comment_before_semicolon', 'select 1 -- trailing; comment\n;\nselect 2\n'],
  ['comments_kept', '-- header\n\n-- more\nselect 1;\n\n\n-- between\nselect 2;\n'],
  [
    'dollar_quotes',
    'do $$ begin perform 1; end $$;\nselect $tag$ x; $$ y $tag$;\nselect $_$;$_$;\nselect $a$ $b$ ; $b$ $a$;\n',
  ],
  [
    'other_strings',
    "select U&'d\\0061t;a';\nselect B'101';\nselect X'1F';\nselect 'x\\';\nselect E'a\\\\'; select 3;\n",
  ],
  [
    'rule_actions',
    'create table sx_ra (a int);\ncreate rule sx_r1 as on insert to sx_ra do also (delete from sx_ra where a < 0; delete from sx_ra where a > 9);\nselect 1;\n',
  ],
  ['atomic_as_a_word', "select 1 as atomic, 'x' as legend;\nselect 2;\n"],
  ['unicode_tag', 'select $é1$ ; $é1$;\n'],
];

describe('splitStatements', () => {
  it('records what the Supabase CLI records, for SQL that is hard to split', async () => {
    const name = `cli_split_${randomBytes(6).toString('hex')}`;
    const dir = mkdtempSync(path.join(tmpdir(), 'supabase-split-'));
    const serverUrl = inject('serverUrl');
    await withClient(serverUrl, (c) => c.query(`create database "${name}"`));
    try {
      mkdirSync(path.join(dir, 'supabase/migrations'), { recursive: true });
      for (const [i, [label, sql]] of TRICKY.entries()) {
        writeFileSync(
          path.join(dir, `supabase/migrations/2099010100${String(i).padStart(4, '0')}_${label}.sql`),
          sql,
        );
      }
      const u = new URL(serverUrl);
      const url = withCredentials(
        serverUrl,
        decodeURIComponent(u.username),
        decodeURIComponent(u.password),
        name,
      );
      await supabase(['db', 'push', '--db-url', `${url}?sslmode=disable`, '--yes'], dir);
      const { rows } = await withClient(url, (c) =>
        c.query('select name, statements from supabase_migrations.schema_migrations order by version'),
      );
      expect(rows.map((r) => r.name)).toEqual(TRICKY.map(([label]) => label));
      for (const [i, [label, sql]] of TRICKY.entries()) {
        expect(splitStatements(sql), label).toEqual(rows[i].statements);
      }
    } finally {
      await dropDatabase(name);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
