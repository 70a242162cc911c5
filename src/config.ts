// Configuration from the environment, validated once at start-up (DESIGN.md section 9).
// A wrong setting stops the process with an error that names the variable, never its value
// when the value may be a secret.
import { createPrivateKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AuthConfig } from './auth/jwt.js';
import { projectRoot } from './db/migrate.js';
import {
  flag,
  httpUrl,
  INGEST_SETTINGS,
  integer,
  integerSetting,
  optional,
  POOL_MAX,
  postgresUrl,
} from './settings.js';
import { loadWebhookConfig, type WebhookConfig } from './webhooks/config.js';

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
  /** Bounds of the Node HTTP server (README: Timeouts and bounds). */
  http: HttpLimits;
  /** Connections of the request pool. */
  dbPoolMax: number;
  /**
   * Bearer token that opens /metrics to a scraper. In production /metrics answers only this token
   * or a loopback client; elsewhere anyone on the (loopback) listener.
   */
  metricsToken?: string;
  /**
   * The Ed25519 key (PKCS#8 PEM) that signs evidence attestations. 'dev-file': generated into
   * .data/attestation-key.pem in development; 'ephemeral': generated for this process (tests);
   * 'none': not configured (production without OPS_ATTESTATION_KEY: nothing is signed).
   */
  attestationKeyPem?: string;
  attestationKeySource: 'env' | 'dev-file' | 'ephemeral' | 'none';
  /** Webhook delivery (src/webhooks/config.ts: OPS_WEBHOOK_*). */
  webhooks: WebhookConfig;
}

export interface HttpLimits {
  /** Until a request's headers are complete (slow-header clients), ms. */
  headersTimeoutMs: number;
  /** Until a request is received in full, headers and body (slow-body clients), ms. */
  requestTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long, ms. */
  keepAliveTimeoutMs: number;
  /** Once received, a request is answered within this long (503 when the work takes longer), ms. */
  handlerTimeoutMs: number;
  /** Open connections at once; further ones are closed on arrival. */
  maxConnections: number;
}

/** How often Node checks the headers and request timeouts (its default is 30 s), ms. */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1_000;

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
/** The development attestation key, beside the development secret. */
export const DEV_ATTESTATION_KEY_FILE = 'attestation-key.pem';

const EnvSchema = z.object({
  NODE_ENV: optional(z.enum(['development', 'production', 'test'])),
  DATABASE_URL: optional(postgresUrl),
  OPS_API_DATABASE_URL: optional(postgresUrl),
  PORT: optional(integer(0, 65535)),
  HOST: optional(z.string().trim().min(1)),
  SUPABASE_JWT_SECRET: optional(z.string()),
  SUPABASE_JWKS_URL: optional(httpUrl),
  OPS_JWT_ISSUER: optional(z.string().trim().min(1)),
  OPS_JWT_AUDIENCE: optional(z.string().trim().min(1)),
  OPS_JWT_MAX_LIFETIME_SECONDS: integerSetting(INGEST_SETTINGS.OPS_JWT_MAX_LIFETIME_SECONDS),
  OPS_METRICS_TOKEN: optional(z.string().trim().min(16)),
  OPS_EMBEDDED_PG_PORT: optional(integer(1, 65535)),
  OPS_DATA_DIR: optional(z.string().trim().min(1)),
  OPS_GRAPHIQL: optional(flag),
  OPS_INTROSPECTION: optional(flag),
  OPS_MAX_BODY_BYTES: integerSetting(INGEST_SETTINGS.OPS_MAX_BODY_BYTES),
  LOG_LEVEL: optional(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
  OPS_HTTP_HEADERS_TIMEOUT_MS: optional(integer(1_000, 600_000)),
  OPS_HTTP_REQUEST_TIMEOUT_MS: optional(integer(1_000, 3_600_000)),
  OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS: optional(integer(100, 600_000)),
  OPS_HTTP_HANDLER_TIMEOUT_MS: optional(integer(1_000, 3_600_000)),
  OPS_HTTP_MAX_CONNECTIONS: optional(integer(1, 1_000_000)),
  OPS_DB_POOL_MAX: integerSetting(POOL_MAX.server),
  OPS_ATTESTATION_KEY: optional(
    z
      .string()
      .transform((v) => v.replace(/\\n/g, '\n').trim())
      .refine(isEd25519PrivateKey, { message: 'expected an Ed25519 private key in PKCS#8 PEM' }),
  ),
});

function isEd25519PrivateKey(pem: string): boolean {
  try {
    return createPrivateKey(pem).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
}

// Values never repeated in an error message.
const SECRET_VARIABLES = new Set([
  'SUPABASE_JWT_SECRET',
  'DATABASE_URL',
  'OPS_API_DATABASE_URL',
  'OPS_METRICS_TOKEN',
  'OPS_ATTESTATION_KEY',
]);
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

  const http: HttpLimits = {
    headersTimeoutMs: e.OPS_HTTP_HEADERS_TIMEOUT_MS ?? 10_000,
    requestTimeoutMs: e.OPS_HTTP_REQUEST_TIMEOUT_MS ?? 30_000,
    keepAliveTimeoutMs: e.OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS ?? 5_000,
    handlerTimeoutMs: e.OPS_HTTP_HANDLER_TIMEOUT_MS ?? 30_000,
    maxConnections: e.OPS_HTTP_MAX_CONNECTIONS ?? 1_024,
  };
  // Node refuses a headers timeout above the request timeout (the headers are part of the request).
  if (http.headersTimeoutMs > http.requestTimeoutMs) {
    throw new ConfigError(
      `OPS_HTTP_HEADERS_TIMEOUT_MS (${http.headersTimeoutMs}) must not exceed OPS_HTTP_REQUEST_TIMEOUT_MS (${http.requestTimeoutMs})`,
      ['OPS_HTTP_HEADERS_TIMEOUT_MS', 'OPS_HTTP_REQUEST_TIMEOUT_MS'],
    );
  }

  let attestationKeyPem = e.OPS_ATTESTATION_KEY;
  let attestationKeySource: Config['attestationKeySource'] = attestationKeyPem ? 'env' : 'none';
  if (!attestationKeyPem && nodeEnv === 'development') {
    const secretFile = options.devSecretFile ?? DEV_SECRET_FILE;
    attestationKeyPem = developmentAttestationKey(
      path.join(path.dirname(secretFile), DEV_ATTESTATION_KEY_FILE),
    );
    attestationKeySource = 'dev-file';
  } else if (!attestationKeyPem && nodeEnv === 'test') {
    attestationKeyPem = newAttestationKey();
    attestationKeySource = 'ephemeral';
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
      maxLifetimeSeconds:
        e.OPS_JWT_MAX_LIFETIME_SECONDS ?? INGEST_SETTINGS.OPS_JWT_MAX_LIFETIME_SECONDS.fallback,
    },
    metricsToken: e.OPS_METRICS_TOKEN,
    jwtSecretSource,
    embeddedPgPort: e.OPS_EMBEDDED_PG_PORT ?? 54329,
    dataDir: path.resolve(e.OPS_DATA_DIR ?? path.join(projectRoot, '.data')),
    graphiql: e.OPS_GRAPHIQL ?? nodeEnv === 'development',
    introspection: e.OPS_INTROSPECTION ?? true,
    maxBodyBytes: e.OPS_MAX_BODY_BYTES ?? INGEST_SETTINGS.OPS_MAX_BODY_BYTES.fallback,
    logLevel: e.LOG_LEVEL ?? 'info',
    http,
    dbPoolMax: e.OPS_DB_POOL_MAX ?? POOL_MAX.server.fallback,
    attestationKeyPem,
    attestationKeySource,
    webhooks: loadWebhookConfig(env, nodeEnv),
  };
}

function newAttestationKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** Reads the development attestation key, creating it (mode 600) on first use, as the dev secret. */
function developmentAttestationKey(file: string): string {
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing && isEd25519PrivateKey(existing)) {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
      return existing;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const pem = newAttestationKey();
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFileSync(file, 'utf8').trim();
  }
  chmodSync(file, 0o600);
  return pem.trim();
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
