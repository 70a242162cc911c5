// The ingest's doors as test targets: the server in-process (createServer().fetch), the server on a
// real port (the Node adapter, with its body limit), the Edge Function under Deno, and src/main.ts
// as a child process. Plus envelopes, tokens and log counts.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { loadConfig } from '../../src/config.js';
import { projectRoot } from '../../src/db/migrate.js';
import { createLogger } from '../../src/logger.js';
import { createServer, INGEST_PATH, type OpsServer, type Route } from '../../src/server.js';
import type { TestDatabase } from '../support/db.js';

export const SECRET = 'ingest-test-secret-0123456789abcdef0123456789';
/** Below the 262144 default on purpose: a 100 kB body is refused only if the setting is read. */
export const MAX_BODY_BYTES = 65_536;
export { INGEST_PATH };

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are inspected field by field
  body: any;
  text: string;
}

export interface PostOptions {
  /** `null`: no Authorization header at all. */
  authorization?: string | null;
  path?: string;
  contentType?: string;
}

/** One door to the ingest. */
export interface IngestTarget {
  name: string;
  /** Where an HTTP client reaches it (undefined for the in-process target). */
  base?: string;
  /** The path this door is usually called at. */
  path: string;
  post(body: string, options?: PostOptions): Promise<Reply>;
  close(): Promise<void>;
}

// ---- tokens -----------------------------------------------------------------------------------

const tokens = new Map<string, Promise<string>>();

/** A persona token signed with SECRET (cached per persona and subject). */
export function tokenFor(persona: Persona, sub = `ingest-${persona.replaceAll('_', '-')}`): Promise<string> {
  const key = `${persona}:${sub}`;
  let t = tokens.get(key);
  if (!t) {
    t = mintToken({ secret: SECRET, persona, sub, ttlSeconds: 3600 });
    tokens.set(key, t);
  }
  return t;
}

export async function bearer(persona: Persona, sub?: string): Promise<string> {
  return `Bearer ${await tokenFor(persona, sub)}`;
}

// ---- envelopes --------------------------------------------------------------------------------

export type EventType =
  | 'build_complete'
  | 'check_result'
  | 'gate_signoff'
  | 'evidence_attached'
  | 'deployment_event'
  | 'health_check'
  | 'environment_event';

export interface Envelope {
  schema_version: string;
  idempotency_key: string;
  event_type: EventType;
  source_system: string;
  release_id: string;
  gate_code?: string;
  payload: Record<string, unknown>;
  emitted_at: string;
}

export function envelope(
  eventType: EventType,
  releaseId: string,
  payload: Record<string, unknown>,
  opts: { key?: string; gate?: string; source?: string } = {},
): Envelope {
  const source = opts.source ?? 'github_actions';
  return {
    schema_version: 'v1.0',
    idempotency_key: opts.key ?? `${source}/${releaseId}/${eventType}/${randomUUID()}`,
    event_type: eventType,
    source_system: source,
    release_id: releaseId,
    ...(opts.gate ? { gate_code: opts.gate } : {}),
    payload,
    emitted_at: new Date().toISOString(),
  };
}

// ---- the database -----------------------------------------------------------------------------

export async function logCount(db: TestDatabase): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>('select count(*)::int as n from ops.event_ingest_log');
  return rows[0]!.n;
}

export interface LogRow {
  ingest_id: string;
  idempotency_key: string | null;
  processing_status: string;
  http_status: number;
  duplicate_of: string | null;
  result: unknown;
  error_detail: unknown;
  created_by: string;
  payload_hash: string | null;
}

export async function logRow(db: TestDatabase, ingestId: string): Promise<LogRow | undefined> {
  const { rows } = await db.admin.query<LogRow>(
    `select ingest_id, idempotency_key, processing_status::text, http_status, duplicate_of, result, error_detail,
            created_by, payload_hash
     from ops.event_ingest_log where ingest_id = $1`,
    [ingestId],
  );
  return rows[0];
}

// ---- HTTP -------------------------------------------------------------------------------------

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function headersOf(options: PostOptions): Record<string, string> {
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/json' };
  if (options.authorization != null) headers.authorization = options.authorization;
  return headers;
}

/** fetch (undici, keep-alive) against an HTTP door. */
export async function httpPost(url: string, body: string, options: PostOptions = {}): Promise<Reply> {
  const res = await fetch(url, { method: 'POST', headers: headersOf(options), body });
  const text = await res.text();
  return { status: res.status, body: parse(text), text };
}

/**
 * Raw node:http, for bodies the server may refuse before reading them: it can close the
 * connection while the body is still being written, and the response is what counts.
 */
export function rawPost(
  url: string,
  body: string,
  options: PostOptions & { chunked?: boolean } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, {
      method: 'POST',
      agent: false,
      headers: {
        ...headersOf(options),
        ...(options.chunked
          ? { 'transfer-encoding': 'chunked' }
          : { 'content-length': String(Buffer.byteLength(body)) }),
      },
    });
    let responded = false;
    let lastError: Error | undefined;
    req.on('response', (res) => {
      responded = true;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: parse(text), text }));
      res.on('error', reject);
    });
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EPIPE' && code !== 'ECONNRESET') reject(err);
      else lastError = err;
    });
    req.on('close', () => {
      if (!responded) reject(lastError ?? new Error('the connection closed without a response'));
    });
    if (options.chunked) {
      for (let i = 0; i < body.length; i += 16_384) req.write(body.slice(i, i + 16_384));
      req.end();
    } else req.end(body);
  });
}

// ---- the server, in-process and on a port -----------------------------------------------------

export interface NodeServer {
  app: OpsServer;
  pool: pg.Pool;
  /** Set once listen() has run. */
  base?: string;
  listen(): Promise<string>;
  close(): Promise<void>;
}

export function startServer(
  db: Pick<TestDatabase, 'apiUrl'>,
  opts: { routes?: Route[]; poolMax?: number; maxBodyBytes?: number } = {},
): NodeServer {
  const pool = new pg.Pool({ connectionString: db.apiUrl, max: opts.poolMax ?? 10 });
  const config = loadConfig({
    NODE_ENV: 'test',
    SUPABASE_JWT_SECRET: SECRET,
    LOG_LEVEL: 'silent',
    OPS_MAX_BODY_BYTES: String(opts.maxBodyBytes ?? MAX_BODY_BYTES),
  });
  const app = createServer({ config, pool, logger: createLogger({ level: 'silent' }), routes: opts.routes });
  let http: Server | undefined;
  const server: NodeServer = {
    app,
    pool,
    async listen() {
      http = createHttpServer({ keepAliveTimeout: 30_000 }, app.handle);
      await new Promise<void>((resolve) => http!.listen(0, '127.0.0.1', resolve));
      server.base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
      return server.base;
    },
    async close() {
      await app.close({ timeoutMs: 5_000 });
      if (http) {
        http.closeAllConnections();
        await new Promise((resolve) => http!.close(resolve));
      }
      await pool.end();
    },
  };
  return server;
}

/** createServer(...).fetch: the whole server at the Fetch level (routes, then Yoga). */
export function inProcessTarget(db: TestDatabase): IngestTarget {
  const server = startServer(db);
  return {
    name: 'server in-process (fetch)',
    path: INGEST_PATH,
    async post(body, options = {}) {
      const res = await server.app.fetch(
        new Request(`http://ops.test${options.path ?? INGEST_PATH}`, {
          method: 'POST',
          headers: headersOf(options),
          body,
        }),
      );
      const text = await res.text();
      return { status: res.status, body: parse(text), text };
    },
    close: () => server.close(),
  };
}

/** The server on a real port, through the Node adapter (body limit, onBodyTooLarge). */
export async function httpServerTarget(db: TestDatabase): Promise<IngestTarget> {
  const server = startServer(db);
  const base = await server.listen();
  return {
    name: 'server on a port (node:http)',
    base,
    path: INGEST_PATH,
    post: (body, options = {}) => httpPost(`${base}${options.path ?? INGEST_PATH}`, body, options),
    close: () => server.close(),
  };
}

// ---- child processes: the Edge Function under Deno, src/main.ts ------------------------------

const require = createRequire(import.meta.url);

/** The deno binary the npm package `deno` ships (its own, or its platform package's). */
export function denoBinary(): string {
  const exe = process.platform === 'win32' ? 'deno.exe' : 'deno';
  const own = path.join(path.dirname(require.resolve('deno/package.json')), exe);
  if (existsSync(own)) return own;
  const platform = `@deno/${process.platform}-${process.arch}${process.platform === 'linux' ? '-glibc' : ''}`;
  return path.join(path.dirname(require.resolve(`${platform}/package.json`)), exe);
}

export const FUNCTION_DIR = path.join(projectRoot, 'supabase/functions/ops-event-ingest');

export interface ChildService {
  base: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** Spawns a process and waits for the line that carries its URL. */
async function startChild(
  command: string,
  args: string[],
  env: Record<string, string>,
  findUrl: (output: string) => string | undefined,
  timeoutMs: number,
): Promise<ChildService> {
  const child = spawn(command, args, {
    cwd: projectRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      output += d;
      const url = findUrl(output);
      if (url) {
        clearTimeout(timer);
        resolve(url);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
  return {
    base,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * supabase/functions/ops-event-ingest under Deno, on a port of its choosing, reaching the test
 * database through SUPABASE_DB_URL as the request role (authenticator).
 */
export function startDenoFunction(
  db: Pick<TestDatabase, 'apiUrl'>,
  env: Record<string, string> = {},
): Promise<ChildService> {
  return startChild(
    denoBinary(),
    [
      'run',
      '--allow-net',
      '--allow-env',
      '--allow-read',
      // The project's node_modules (npm ci), never modified: no download at start.
      '--node-modules-dir=manual',
      '--config',
      path.join(FUNCTION_DIR, 'deno.json'),
      path.join(FUNCTION_DIR, 'index.ts'),
    ],
    {
      SUPABASE_DB_URL: db.apiUrl,
      SUPABASE_JWT_SECRET: SECRET,
      OPS_MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      PORT: '0',
      HOST: '127.0.0.1',
      DENO_NO_UPDATE_CHECK: '1',
      NO_COLOR: '1',
      ...env,
    },
    (output) => /listening on (http:\/\/[^/\s]+)\//.exec(output)?.[1],
    90_000,
  );
}

export async function denoTarget(db: TestDatabase, env: Record<string, string> = {}): Promise<IngestTarget> {
  const fn = await startDenoFunction(db, env);
  return {
    name: 'Edge Function (Deno)',
    base: fn.base,
    // As Supabase's gateway hands it over.
    path: '/ops-event-ingest',
    post: (body, options = {}) => httpPost(`${fn.base}${options.path ?? '/ops-event-ingest'}`, body, options),
    close: () => fn.stop(),
  };
}

/** src/main.ts as production runs it, on a port of its choosing. */
export function startMainProcess(
  db: Pick<TestDatabase, 'adminUrl' | 'apiUrl'>,
  env: Record<string, string> = {},
): Promise<ChildService> {
  return startChild(
    process.execPath,
    ['--import', 'tsx', 'src/main.ts'],
    {
      NODE_ENV: 'test',
      DATABASE_URL: db.adminUrl,
      OPS_API_DATABASE_URL: db.apiUrl,
      SUPABASE_JWT_SECRET: SECRET,
      PORT: '0',
      LOG_LEVEL: 'info',
      ...env,
    },
    (output) => {
      // pino's JSON lines: the one that says `listening` carries the URL.
      for (const line of output.split('\n')) {
        if (!line.includes('"listening"')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string };
          if (entry.msg === 'listening' && entry.url) return entry.url;
        } catch {
          // a partial line
        }
      }
      return undefined;
    },
    90_000,
  );
}
