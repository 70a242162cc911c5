// Configuration: every wrong setting is refused at start-up by name; defaults are the documented ones.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { createVerifier } from '../../src/auth/jwt.js';
import { ConfigError, loadConfig } from '../../src/config.js';

const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
const dir = mkdtempSync(path.join(tmpdir(), 'ops-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refusal(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, { devSecretFile: path.join(dir, 'unused') });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe('loadConfig refuses a wrong setting, naming the variable', () => {
  it.each(['abc', '70000', '-1', '4000.5'])('PORT=%s', (port) => {
    const err = refusal({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, PORT: port });
    expect(err.variables).toEqual(['PORT']);
    expect(err.message).toMatch(/^invalid configuration: PORT: /);
  });

  it('NODE_ENV outside development|production|test', () => {
    const err = refusal({ NODE_ENV: 'staging', SUPABASE_JWT_SECRET: SECRET });
    expect(err.variables).toEqual(['NODE_ENV']);
    expect(err.message).toContain('NODE_ENV');
  });

  it('production without SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL', () => {
    const err = refusal({ NODE_ENV: 'production' });
    expect(err.variables).toEqual(['SUPABASE_JWT_SECRET', 'SUPABASE_JWKS_URL']);
    expect(err.message).toContain('SUPABASE_JWT_SECRET');
  });

  it('production with a secret too short to be a real one, without echoing it', () => {
    const err = refusal({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: 'short-secret' });
    expect(err.variables).toEqual(['SUPABASE_JWT_SECRET']);
    expect(err.message).not.toContain('short-secret');
  });

  it('several at once, each named', () => {
    const err = refusal({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, PORT: 'x', OPS_GRAPHIQL: 'maybe' });
    expect(err.variables.sort()).toEqual(['OPS_GRAPHIQL', 'PORT']);
  });

  it.each([
    ['OPS_INTROSPECTION', 'perhaps'],
    ['OPS_MAX_BODY_BYTES', '12k'],
    ['OPS_EMBEDDED_PG_PORT', '0'],
    ['LOG_LEVEL', 'verbose'],
    ['SUPABASE_JWKS_URL', 'not a url'],
  ])('%s=%s', (name, value) => {
    const err = refusal({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, [name]: value });
    expect(err.variables).toEqual([name]);
  });

  it('a database URL that is not postgres://, without echoing it (it may hold a password)', () => {
    const err = refusal({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, DATABASE_URL: 'mysql://u:pw@h/db' });
    expect(err.variables).toEqual(['DATABASE_URL']);
    expect(err.message).not.toContain('pw@');
  });

  it('OPS_API_DATABASE_URL without DATABASE_URL', () => {
    const err = refusal({
      NODE_ENV: 'test',
      SUPABASE_JWT_SECRET: SECRET,
      OPS_API_DATABASE_URL: 'postgres://a:b@localhost/x',
    });
    expect(err.variables).toContain('OPS_API_DATABASE_URL');
  });
});

describe('defaults', () => {
  it('are the documented ones', () => {
    const c = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET });
    expect(c).toMatchObject({
      env: 'test',
      port: 4000,
      host: '127.0.0.1',
      embeddedPgPort: 54329,
      graphiql: false,
      introspection: true,
      maxBodyBytes: 262_144,
      logLevel: 'info',
      jwtSecretSource: 'env',
    });
    expect(c.dataDir).toMatch(/\.data$/);
    expect(c.databaseUrl).toBeUndefined();
  });

  it('NODE_ENV defaults to development, with GraphiQL on; production has it off', () => {
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).env).toBe('development');
    expect(loadConfig({ SUPABASE_JWT_SECRET: SECRET }).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET }).graphiql).toBe(false);
    expect(
      loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET, OPS_GRAPHIQL: 'on' }).graphiql,
    ).toBe(true);
  });

  it('empty values count as unset', () => {
    const c = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, PORT: '', DATABASE_URL: ' ' });
    expect(c.port).toBe(4000);
    expect(c.databaseUrl).toBeUndefined();
  });

  it('JWKS alone is enough in production', () => {
    const c = loadConfig({ NODE_ENV: 'production', SUPABASE_JWKS_URL: 'https://x.supabase.co/auth/v1/jwks' });
    expect(c.auth).toMatchObject({ jwksUrl: 'https://x.supabase.co/auth/v1/jwks', jwtSecret: undefined });
  });
});

describe('the development secret', () => {
  it('is generated once (mode 600), then reused across starts', () => {
    const file = path.join(dir, 'nested', 'dev-secret');
    const first = loadConfig({}, { devSecretFile: file });
    expect(first.jwtSecretSource).toBe('dev-file');
    expect(first.auth.jwtSecret).toMatch(/^[\w-]{40,}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // The file as read is the secret: no newline for a reader to trim.
    expect(readFileSync(file, 'utf8')).toBe(first.auth.jwtSecret);
    const second = loadConfig({ NODE_ENV: 'development' }, { devSecretFile: file });
    expect(second.auth.jwtSecret).toBe(first.auth.jwtSecret);
  });

  it('is never generated outside development', () => {
    const file = path.join(dir, 'never');
    expect(() => loadConfig({ NODE_ENV: 'test' }, { devSecretFile: file })).toThrow(ConfigError);
    expect(() => statSync(file)).toThrow();
  });

  it('a token signed with the file as read verifies; a file with a trailing newline is rewritten without it', async () => {
    const file = path.join(dir, 'newline-secret');
    writeFileSync(file, 'an-old-secret-0123456789abcdef0123456789\n', { mode: 0o600 });
    const c = loadConfig({}, { devSecretFile: file });
    expect(c.auth.jwtSecret).toBe('an-old-secret-0123456789abcdef0123456789');
    expect(readFileSync(file, 'utf8')).toBe(c.auth.jwtSecret);
    const verify = createVerifier(c.auth);
    const token = await mintToken({ secret: readFileSync(file, 'utf8'), persona: 'sre' });
    expect((await verify(`Bearer ${token}`)).persona).toBe('sre');
  });

  it('an empty secret file is replaced', () => {
    const file = path.join(dir, 'empty-secret');
    writeFileSync(file, '\n', { mode: 0o644 });
    const c = loadConfig({}, { devSecretFile: file });
    expect(c.auth.jwtSecret).toBeTruthy();
    expect(readFileSync(file, 'utf8').trim()).toBe(c.auth.jwtSecret);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });
});
