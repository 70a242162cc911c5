import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { run } from '../../src/cli/run.js';
import { loadConfig } from '../../src/config.js';
import { projectRoot } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { runProcess } from '../../src/process.js';
import { createServer } from '../../src/server.js';
import type { TestDatabase } from '../support/db.js';

export const SECRET = 'cli-test-secret-0123456789abcdef0123456789';
export const BIN = path.join(projectRoot, 'bin/ops-gates.mjs');

/** The people of the tests: one subject per persona; the release manager never initiates. */
export const PEOPLE = {
  developer: { persona: 'developer', sub: 'dev-dana' },
  ci: { persona: 'ci_service_role', sub: 'ci-github-actions' },
  qa: { persona: 'qa_tester', sub: 'qa-quinn' },
  rm: { persona: 'release_manager', sub: 'rm-rita' },
  rm2: { persona: 'release_manager', sub: 'rm-raj' },
  sre: { persona: 'sre', sub: 'sre-sam' },
  auditor: { persona: 'audit_reader', sub: 'audit-ada' },
} as const satisfies Record<string, { persona: Persona; sub: string }>;

export type Person = keyof typeof PEOPLE;

export function token(who: Person, secret = SECRET): Promise<string> {
  return mintToken({ secret, persona: PEOPLE[who].persona, sub: PEOPLE[who].sub });
}

export interface LiveServer {
  url: string;
  port: number;
  pool: pg.Pool;
  /** Requests the HTTP server has seen, by path. */
  requests: string[];
  close(): Promise<void>;
}

export async function startServer(db: Pick<TestDatabase, 'apiUrl'>): Promise<LiveServer> {
  const pool = new pg.Pool({ connectionString: db.apiUrl, max: 6 });
  const config = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, LOG_LEVEL: 'silent' });
  const app = createServer({ config, pool, logger: createLogger({ level: 'silent' }) });
  const requests: string[] = [];
  const http: Server = createHttpServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    app.handle(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    pool,
    requests,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      await app.close();
      await pool.end();
    },
  };
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: each test reads the fields it checks
  json: any;
}

function parse(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  tty?: boolean;
}

/** ops-gates in this process, with its own environment (nothing from the test's). */
export async function cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: { OPS_RETRIES: '3', ...options.env },
    cwd: options.cwd ?? projectRoot,
    stdoutIsTTY: options.tty ?? false,
    stderrIsTTY: options.tty ?? false,
  });
  return { code, stdout, stderr, json: parse(stdout) };
}

/** ops-gates as a child process through bin/ops-gates.mjs, as a user or a pipeline runs it. */
export async function spawnCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const r = await runProcess(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...options.env },
  });
  return { ...r, json: parse(r.stdout) };
}

/** The ingest log rows for a key, oldest first (read as the database owner). */
export async function logRows(db: TestDatabase, key: string) {
  const { rows } = await db.admin.query<{
    ingest_id: string;
    processing_status: string;
    http_status: number;
    duplicate_of: string | null;
    created_by: string;
  }>(
    `select ingest_id, processing_status::text, http_status, duplicate_of, created_by
     from ops.event_ingest_log where idempotency_key = $1 order by received_at, ingest_id`,
    [key],
  );
  return rows;
}
