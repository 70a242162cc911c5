// Configuration from the environment, validated once at start-up (DESIGN.md section 9).
// A wrong setting stops the process with an error that names the variable, never its value
// when the value may be a secret.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AuthConfig } from './auth/jwt.js';
import { projectRoot } from './db/migrate.js';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  env: NodeEnv;
  /** Postgres used instead of the embedded one (owner connection: migrations). */
  databaseUrl?: string;
  /** Login role for requests when databaseUrl is set; defaults to databaseUrl itself. */
  apiDatabaseUrl?: string;
  port: number;
  host: string;
  auth: AuthConfig;
  /** Where the HS256 secret came from; 'dev-file' means generated for development. */
  jwtSecretSource: 'env' | 'dev-file' | 'none';
  embeddedPgPort: number;
  dataDir: string;
  graphiql: boolean;
  /** Introspection for authenticated callers (never for anonymous ones). */
  introspection: boolean;
  maxBodyBytes: number;
  logLevel: LogLevel;
}

export class ConfigError extends Error {
  constructor(
    message: string,
    /** The environment variables at fault. */
    public readonly variables: string[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The development secret lives here; `npm start` creates it and `ops-gates token mint` reads it. */
export const DEV_SECRET_FILE = path.join(projectRoot, '.data', 'dev-secret');

// Empty strings (`FOO=` in an env file) count as unset.
const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'].includes(v), {
    message: 'expected true/false (or 1/0, on/off, yes/no)',
  })
  .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `expected an integer between ${min} and ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected an integer between ${min} and ${max}` });

const postgresUrl = z.string().refine(
  (v) => {
    try {
      return ['postgres:', 'postgresql:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { message: 'expected a postgres:// or postgresql:// URL' },
);

const httpsUrl = z.string().refine(
  (v) => {
    try {
      return ['https:', 'http:'].includes(new URL(v).protocol);
    } catch {
      return false;
    }
  },
  { message: 'expected an http(s) URL' },
);

const EnvSchema = z.object({
  NODE_ENV: optional(z.enum(['development', 'production', 'test'])),
  DATABASE_URL: optional(postgresUrl),
  OPS_API_DATABASE_URL: optional(postgresUrl),
  PORT: optional(integer(0, 65535)),
  HOST: optional(z.string().trim().min(1)),
  SUPABASE_JWT_SECRET: optional(z.string()),
  SUPABASE_JWKS_URL: optional(httpsUrl),
  OPS_JWT_ISSUER: optional(z.string().trim().min(1)),
  OPS_JWT_AUDIENCE: optional(z.string().trim().min(1)),
  OPS_EMBEDDED_PG_PORT: optional(integer(1, 65535)),
  OPS_DATA_DIR: optional(z.string().trim().min(1)),
  OPS_GRAPHIQL: optional(flag),
  OPS_INTROSPECTION: optional(flag),
  OPS_MAX_BODY_BYTES: optional(integer(1024, 100 * 1024 * 1024)),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
});

// Values never repeated in an error message.
const SECRET_VARIABLES = new Set(['SUPABASE_JWT_SECRET', 'DATABASE_URL', 'OPS_API_DATABASE_URL']);
// Supabase's own secrets are at least 32 characters; a short one is a mistake in production.
const MIN_PRODUCTION_SECRET_LENGTH = 32;

export interface LoadConfigOptions {
  /** Where the generated development secret is kept (tests point it elsewhere). */
  devSecretFile?: string;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  options: LoadConfigOptions = {},
): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines: string[] = [];
    const variables: string[] = [];
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? '?');
      variables.push(name);
      const raw = env[name];
      const shown = SECRET_VARIABLES.has(name) || raw === undefined ? '' : ` (got ${JSON.stringify(raw)})`;
      lines.push(`${name}: ${issue.message}${shown}`);
    }
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`, [...new Set(variables)]);
  }
  const e = parsed.data;
  const nodeEnv: NodeEnv = e.NODE_ENV ?? 'development';

  if (e.OPS_API_DATABASE_URL && !e.DATABASE_URL) {
    throw new ConfigError('OPS_API_DATABASE_URL is set but DATABASE_URL is not: set both or neither', [
      'OPS_API_DATABASE_URL',
      'DATABASE_URL',
    ]);
  }

  let jwtSecret = e.SUPABASE_JWT_SECRET;
  let jwtSecretSource: Config['jwtSecretSource'] = jwtSecret ? 'env' : 'none';
  if (jwtSecret && nodeEnv === 'production' && jwtSecret.length < MIN_PRODUCTION_SECRET_LENGTH) {
    throw new ConfigError(
      `SUPABASE_JWT_SECRET: must be at least ${MIN_PRODUCTION_SECRET_LENGTH} characters in production`,
      ['SUPABASE_JWT_SECRET'],
    );
  }
  if (!jwtSecret && !e.SUPABASE_JWKS_URL) {
    if (nodeEnv !== 'development') {
      throw new ConfigError(
        `SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL must be set when NODE_ENV=${nodeEnv} (a development secret is generated only when NODE_ENV=development)`,
        ['SUPABASE_JWT_SECRET', 'SUPABASE_JWKS_URL'],
      );
    }
    jwtSecret = developmentSecret(options.devSecretFile ?? DEV_SECRET_FILE);
    jwtSecretSource = 'dev-file';
  }

  return {
    env: nodeEnv,
    databaseUrl: e.DATABASE_URL,
    apiDatabaseUrl: e.OPS_API_DATABASE_URL,
    port: e.PORT ?? 4000,
    host: e.HOST ?? '127.0.0.1',
    auth: {
      jwtSecret,
      jwksUrl: e.SUPABASE_JWKS_URL,
      issuer: e.OPS_JWT_ISSUER,
      audience: e.OPS_JWT_AUDIENCE,
    },
    jwtSecretSource,
    embeddedPgPort: e.OPS_EMBEDDED_PG_PORT ?? 54329,
    dataDir: path.resolve(e.OPS_DATA_DIR ?? path.join(projectRoot, '.data')),
    graphiql: e.OPS_GRAPHIQL ?? nodeEnv === 'development',
    introspection: e.OPS_INTROSPECTION ?? true,
    maxBodyBytes: e.OPS_MAX_BODY_BYTES ?? 262_144,
    logLevel: e.LOG_LEVEL ?? 'info',
  };
}

/**
 * Reads the development secret, creating it (mode 600) on first use so tokens survive restarts.
 * The secret is the file's exact content, with no trailing newline, so a token signed with the
 * file as any tool reads it verifies here. A file with surrounding whitespace (one written by
 * hand, or by an earlier version of this function) is rewritten without it; the secret it holds
 * stays the same.
 */
function developmentSecret(file: string): string {
  let exists = false;
  try {
    const raw = readFileSync(file, 'utf8');
    exists = true;
    const existing = raw.trim();
    if (existing) {
      if (raw !== existing) writeFileSync(file, existing, { mode: 0o600 });
      // Someone may have loosened it; the secret signs tokens for every persona.
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      return existing;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  try {
    // 'wx': of two first starts racing, the secret written first wins.
    writeFileSync(file, secret, { mode: 0o600, flag: exists ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFileSync(file, 'utf8').trim();
  }
  chmodSync(file, 0o600);
  return secret;
}
