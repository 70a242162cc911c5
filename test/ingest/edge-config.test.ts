// The Edge Function's configuration, read in-process (its app module has no Deno APIs, so it is
// also typechecked with the project): Supabase's variable names, the documented defaults, and
// errors that name every variable at fault without repeating a secret.
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { type Config, ConfigError, loadConfig } from '../../src/config.js';
import { INGEST_SETTINGS } from '../../src/settings.js';
import {
  createIngestFunction,
  DEFAULT_MAX_BODY_BYTES,
  FunctionConfigError,
  readFunctionConfig,
} from '../../supabase/functions/ops-event-ingest/app.js';

const env = (vars: Record<string, string>) => (name: string) => vars[name];

describe('readFunctionConfig', () => {
  it('reads SUPABASE_DB_URL, the JWT settings and OPS_MAX_BODY_BYTES, with the documented defaults', () => {
    const base = { SUPABASE_DB_URL: 'postgresql://u:p@db:5432/postgres', SUPABASE_JWT_SECRET: 's3cret' };
    expect(readFunctionConfig(env(base))).toEqual({
      databaseUrl: base.SUPABASE_DB_URL,
      auth: {
        jwtSecret: 's3cret',
        jwksUrl: undefined,
        issuer: undefined,
        audience: undefined,
        maxLifetimeSeconds: 86_400,
      },
      maxBodyBytes: 262_144,
      poolMax: 5,
    });
    expect(DEFAULT_MAX_BODY_BYTES).toBe(262_144);
    const full = readFunctionConfig(
      env({
        SUPABASE_DB_URL: 'postgres://db/x',
        SUPABASE_JWKS_URL: 'https://p.supabase.co/auth/v1/.well-known/jwks.json',
        OPS_JWT_ISSUER: 'https://p.supabase.co/auth/v1',
        OPS_JWT_AUDIENCE: 'authenticated',
        OPS_MAX_BODY_BYTES: '65536',
        OPS_DB_POOL_MAX: '2',
        OPS_JWT_MAX_LIFETIME_SECONDS: '3600',
      }),
    );
    expect(
      readFunctionConfig(env({ ...base, OPS_API_DATABASE_URL: 'postgresql://authenticator:pw@db/postgres' }))
        .databaseUrl,
    ).toBe('postgresql://authenticator:pw@db/postgres');
    expect(full).toMatchObject({
      auth: {
        jwtSecret: undefined,
        jwksUrl: 'https://p.supabase.co/auth/v1/.well-known/jwks.json',
        issuer: 'https://p.supabase.co/auth/v1',
        audience: 'authenticated',
        maxLifetimeSeconds: 3600,
      },
      maxBodyBytes: 65_536,
      poolMax: 2,
    });
  });

  it('names every variable at fault and never repeats a secret', () => {
    let error: unknown;
    try {
      readFunctionConfig(env({ SUPABASE_DB_URL: 'mysql://root:hunter2@db/x', OPS_MAX_BODY_BYTES: '12' }));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(FunctionConfigError);
    expect((error as FunctionConfigError).variables).toEqual([
      'SUPABASE_DB_URL',
      'SUPABASE_JWT_SECRET',
      'SUPABASE_JWKS_URL',
      'OPS_MAX_BODY_BYTES',
    ]);
    expect((error as Error).message).not.toContain('hunter2');
    expect(() =>
      readFunctionConfig(env({ SUPABASE_DB_URL: 'postgres://db/x', SUPABASE_JWT_SECRET: ' ' })),
    ).toThrow(/SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL/);
  });
});

describe('the ingest settings the server and the Edge Function both read (src/settings.ts)', () => {
  const secret = 'x'.repeat(40);
  const serverValue: Record<keyof typeof INGEST_SETTINGS, (c: Config) => number | undefined> = {
    OPS_MAX_BODY_BYTES: (c) => c.maxBodyBytes,
    OPS_JWT_MAX_LIFETIME_SECONDS: (c) => c.auth.maxLifetimeSeconds,
  };
  const functionValue: Record<
    keyof typeof INGEST_SETTINGS,
    (c: ReturnType<typeof readFunctionConfig>) => number | undefined
  > = {
    OPS_MAX_BODY_BYTES: (c) => c.maxBodyBytes,
    OPS_JWT_MAX_LIFETIME_SECONDS: (c) => c.auth.maxLifetimeSeconds,
  };
  const server = (vars: Record<string, string>) =>
    loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: secret, ...vars });
  const fn = (vars: Record<string, string>) =>
    readFunctionConfig(env({ SUPABASE_DB_URL: 'postgres://db/x', SUPABASE_JWT_SECRET: secret, ...vars }));

  it.each(Object.keys(INGEST_SETTINGS) as (keyof typeof INGEST_SETTINGS)[])(
    '%s: the same default, bounds and refusals in both',
    (name) => {
      const s = INGEST_SETTINGS[name];
      expect(serverValue[name](server({}))).toBe(s.fallback);
      expect(functionValue[name](fn({}))).toBe(s.fallback);
      for (const ok of [s.min, s.max]) {
        expect(serverValue[name](server({ [name]: String(ok) }))).toBe(ok);
        expect(functionValue[name](fn({ [name]: String(ok) }))).toBe(ok);
      }
      for (const bad of [String(s.min - 1), String(s.max + 1), 'lots']) {
        expect(() => server({ [name]: bad })).toThrow(ConfigError);
        expect(() => fn({ [name]: bad })).toThrow(FunctionConfigError);
      }
    },
  );
});

describe('createIngestFunction', () => {
  it('serves only its own paths; CORS preflight is answered without a token', async () => {
    // Never connected: neither request reaches the database.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none' });
    const fn = createIngestFunction(
      { databaseUrl: 'unused', auth: { jwtSecret: 'x'.repeat(32) }, maxBodyBytes: 1024, poolMax: 1 },
      { pool, log: () => {} },
    );
    const other = await fn.fetch(
      new Request('http://fn.local/ops-event-ingest-v2', { method: 'POST', body: '{}' }),
    );
    expect(other.status).toBe(404);
    const preflight = await fn.fetch(new Request('http://fn.local/ops-event-ingest', { method: 'OPTIONS' }));
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-headers')).toContain('authorization');
    const unauthenticated = await fn.fetch(
      new Request('http://fn.local/functions/v1/ops-event-ingest', { method: 'POST', body: '{}' }),
    );
    expect(unauthenticated.status).toBe(401);
    await fn.close();
    await pool.end();
  });
});
