// The Edge Function's application, free of Deno APIs so it can be built from any environment map:
// configuration from Supabase's variables (parsers, bounds and defaults shared with the server in
// src/settings.ts), a pg Pool on SUPABASE_DB_URL, and the very same createIngestHandler the
// project's server mounts at /functions/v1/ops-event-ingest.
// pg ships no types; Deno takes them from @types/pg (Node resolves them by itself).
// @ts-types="npm:@types/pg@^8.23.1"
import type pg from 'pg';
import { type AuthConfig, createVerifier } from '../../../src/auth/jwt.ts';
import { createPool } from '../../../src/db/pool.ts';
import { createIngestHandler, type IngestOutcome } from '../../../src/ingest/handler.ts';
import {
  INGEST_SETTINGS,
  type IntegerSetting,
  integer as integerSchema,
  POOL_MAX,
  postgresUrl,
} from '../../../src/settings.ts';

export const FUNCTION_NAME = 'ops-event-ingest';
export const DEFAULT_MAX_BODY_BYTES: number = INGEST_SETTINGS.OPS_MAX_BODY_BYTES.fallback;
export const DEFAULT_POOL_MAX: number = POOL_MAX.edgeFunction.fallback;

/**
 * Supabase's gateway hands the function the path without its `/functions/v1` prefix; a client
 * pointed straight at the function (local runs, tests) keeps it. Both are the ingest.
 */
const PATHS = new Set([`/${FUNCTION_NAME}`, `/functions/v1/${FUNCTION_NAME}`]);

export interface FunctionConfig {
  databaseUrl: string;
  auth: AuthConfig;
  maxBodyBytes: number;
  poolMax: number;
}

export class FunctionConfigError extends Error {
  constructor(
    message: string,
    /** The environment variables at fault (their values are never repeated: they hold secrets). */
    public readonly variables: string[],
  ) {
    super(message);
    this.name = 'FunctionConfigError';
  }
}

type Env = (name: string) => string | undefined;

/** An integer setting within its bounds (src/settings.ts, as the server reads it), or its fallback when unset. */
function integer(env: Env, name: string, setting: IntegerSetting): number {
  const raw = env(name)?.trim();
  if (!raw) return setting.fallback;
  const parsed = integerSchema(setting.min, setting.max).safeParse(raw);
  if (!parsed.success) {
    throw new FunctionConfigError(`${name}: ${parsed.error.issues[0]?.message} (got ${raw})`, [name]);
  }
  return parsed.data;
}

/** Reads and checks the function's configuration; throws naming every variable at fault. */
export function readFunctionConfig(env: Env): FunctionConfig {
  const value = (name: string) => env(name)?.trim() || undefined;
  const problems: FunctionConfigError[] = [];
  // Supabase sets SUPABASE_DB_URL (and reserves SUPABASE_* names). OPS_API_DATABASE_URL, the
  // server's name for the request login, overrides it: that login must be a member of the six
  // personas (the migrations grant them to `authenticator`).
  const urlVariable = value('OPS_API_DATABASE_URL') ? 'OPS_API_DATABASE_URL' : 'SUPABASE_DB_URL';
  const databaseUrl = value(urlVariable);
  if (!databaseUrl) {
    problems.push(new FunctionConfigError('SUPABASE_DB_URL: required', ['SUPABASE_DB_URL']));
  } else if (!postgresUrl.safeParse(databaseUrl).success) {
    problems.push(
      new FunctionConfigError(`${urlVariable}: expected a postgres:// or postgresql:// URL`, [urlVariable]),
    );
  }
  const auth: AuthConfig = {
    jwtSecret: value('SUPABASE_JWT_SECRET'),
    jwksUrl: value('SUPABASE_JWKS_URL'),
    issuer: value('OPS_JWT_ISSUER'),
    audience: value('OPS_JWT_AUDIENCE'),
  };
  try {
    auth.maxLifetimeSeconds = integer(
      env,
      'OPS_JWT_MAX_LIFETIME_SECONDS',
      INGEST_SETTINGS.OPS_JWT_MAX_LIFETIME_SECONDS,
    );
  } catch (err) {
    problems.push(err as FunctionConfigError);
  }
  if (!auth.jwtSecret && !auth.jwksUrl) {
    problems.push(
      new FunctionConfigError('SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL must be set', [
        'SUPABASE_JWT_SECRET',
        'SUPABASE_JWKS_URL',
      ]),
    );
  }
  let maxBodyBytes = DEFAULT_MAX_BODY_BYTES;
  let poolMax = DEFAULT_POOL_MAX;
  try {
    maxBodyBytes = integer(env, 'OPS_MAX_BODY_BYTES', INGEST_SETTINGS.OPS_MAX_BODY_BYTES);
  } catch (err) {
    problems.push(err as FunctionConfigError);
  }
  try {
    poolMax = integer(env, 'OPS_DB_POOL_MAX', POOL_MAX.edgeFunction);
  } catch (err) {
    problems.push(err as FunctionConfigError);
  }
  if (problems.length > 0) {
    throw new FunctionConfigError(
      `invalid configuration: ${problems.map((p) => p.message).join('; ')}`,
      problems.flatMap((p) => p.variables),
    );
  }
  return { databaseUrl: databaseUrl!, auth, maxBodyBytes, poolMax };
}

export interface IngestFunctionOptions {
  /** A pool of one's own (tests); otherwise one is opened on config.databaseUrl. */
  pool?: pg.Pool;
  /** One JSON line per event worth an operator's attention. */
  log?: (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
  onOutcome?: (outcome: IngestOutcome) => void;
}

export interface IngestFunction {
  fetch: (request: Request) => Promise<Response>;
  close: () => Promise<void>;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' },
  });
}

const defaultLog: NonNullable<IngestFunctionOptions['log']> = (level, msg, fields) => {
  const line = JSON.stringify({
    level,
    msg,
    function: FUNCTION_NAME,
    time: new Date().toISOString(),
    ...fields,
  });
  if (level === 'error') console.error(line);
  else console.log(line);
};

export function createIngestFunction(
  config: FunctionConfig,
  options: IngestFunctionOptions = {},
): IngestFunction {
  const log = options.log ?? defaultLog;
  const ownPool = !options.pool;
  // A lost connection (the database restarted) must not end the isolate: requests meanwhile are
  // answered 503 with Retry-After, and the pool reconnects by itself.
  const pool =
    options.pool ??
    createPool({
      connectionString: config.databaseUrl,
      max: config.poolMax,
      application_name: FUNCTION_NAME,
      onConnectionError: (msg, fields) => log('warn', msg, fields),
    });

  const ingest = createIngestHandler({
    verify: createVerifier(config.auth),
    pool,
    maxBodyBytes: config.maxBodyBytes,
    onOutcome: options.onOutcome,
    onError: (err) => log('error', 'ingest failed', { err: String((err as Error)?.stack ?? err) }),
    onUnavailable: (err) => log('warn', 'database unavailable', { reason: String((err as Error)?.message) }),
  });

  return {
    async fetch(request) {
      const path = new URL(request.url).pathname.replace(/\/+$/, '');
      if (!PATHS.has(path)) {
        return json(404, { error: 'not_found', message: `this function serves /${FUNCTION_NAME}` });
      }
      try {
        return await ingest.handle(request);
      } catch (err) {
        // Not the caller's fault (e.g. the JWKS endpoint is unreachable): no internals leak.
        log('error', 'request failed', { err: String((err as Error)?.stack ?? err) });
        return json(500, { error: 'internal_error', message: 'the event could not be processed' });
      }
    },
    async close() {
      if (ownPool) await pool.end();
    },
  };
}
