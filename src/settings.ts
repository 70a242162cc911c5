// Settings read from the environment by both the server (src/config.ts, src/webhooks/config.ts)
// and the Edge Function (supabase/functions/ops-event-ingest/app.ts): the value parsers, and the
// bounds and defaults of the settings both read, defined once. It is part of the Edge Function's
// module graph: zod and the JWT module only, no Node or Deno APIs, every relative import naming
// its .ts file.
import { z } from 'zod';
import { DEFAULT_MAX_TOKEN_LIFETIME_S } from './auth/jwt.ts';

/** An optional setting: an empty string (`FOO=` in an env file) counts as unset. */
export const optional = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? undefined : v), schema.optional());

/** true/false, 1/0, on/off or yes/no, any case. */
export const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'].includes(v), {
    message: 'expected true/false (or 1/0, on/off, yes/no)',
  })
  .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

/** A whole number from min to max (both included), written in decimal digits. */
export const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `expected an integer between ${min} and ${max}` })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `expected an integer between ${min} and ${max}` });

function hasProtocol(value: string, protocols: string[]): boolean {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/** A Postgres connection URL (DATABASE_URL, OPS_API_DATABASE_URL, SUPABASE_DB_URL). */
export const postgresUrl = z.string().refine((v) => hasProtocol(v, ['postgres:', 'postgresql:']), {
  message: 'expected a postgres:// or postgresql:// URL',
});

/** An http(s) URL (SUPABASE_JWKS_URL). */
export const httpUrl = z
  .string()
  .refine((v) => hasProtocol(v, ['https:', 'http:']), { message: 'expected an http(s) URL' });

/** An integer setting's bounds (inclusive) and its value when unset. */
export interface IntegerSetting {
  min: number;
  max: number;
  fallback: number;
}

/** The integer settings of the ingest, the same wherever it runs (server or Edge Function). */
export const INGEST_SETTINGS = {
  /** Largest request body accepted, bytes. */
  OPS_MAX_BODY_BYTES: { min: 1024, max: 100 * 1024 * 1024, fallback: 262_144 },
  /** Longest token lifetime (exp − iat) accepted, seconds. */
  OPS_JWT_MAX_LIFETIME_SECONDS: { min: 60, max: 30 * 86_400, fallback: DEFAULT_MAX_TOKEN_LIFETIME_S },
} as const satisfies Record<string, IntegerSetting>;

/**
 * OPS_DB_POOL_MAX, connections of the request pool: the server's, and each Edge Function
 * instance's (many instances share the database's connection budget, so fewer).
 */
export const POOL_MAX = {
  server: { min: 1, max: 1_000, fallback: 10 },
  edgeFunction: { min: 1, max: 100, fallback: 5 },
} as const satisfies Record<string, IntegerSetting>;

/** An integer setting's schema: its bounds, unset when empty (the caller applies the fallback). */
export const integerSetting = (s: IntegerSetting) => optional(integer(s.min, s.max));
