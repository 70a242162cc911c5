// Every token expires, and within the configured maximum lifetime: a token without `exp`, or one
// minted to live longer than OPS_JWT_MAX_LIFETIME_SECONDS, is refused like a forged one.
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { AuthError, createVerifier, DEFAULT_MAX_TOKEN_LIFETIME_S } from '../../src/auth/jwt.js';
import { loadConfig } from '../../src/config.js';

const SECRET = 'token-lifetime-secret-0123456789abcdef0123';
const now = () => Math.floor(Date.now() / 1000);

async function sign(opts: { iat?: number | null; exp?: number | null }): Promise<string> {
  const jwt = new SignJWT({ role: 'sre' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject('sre-1');
  if (opts.iat !== null) jwt.setIssuedAt(opts.iat ?? now());
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? now() + 600);
  return jwt.sign(new TextEncoder().encode(SECRET));
}

async function refusedWith(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => new Error('expected the token to be refused'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  return err as AuthError;
}

describe('token lifetime', () => {
  const verify = createVerifier({ jwtSecret: SECRET, maxLifetimeSeconds: 3600 });

  it('refuses a token without exp', async () => {
    const err = await refusedWith(verify(`Bearer ${await sign({ exp: null })}`));
    expect({ status: err.status, code: err.code }).toEqual({ status: 401, code: 'invalid_token' });
    expect(err.message).toMatch(/no exp/);
  });

  it('refuses a token that lives longer than the maximum, with or without iat', async () => {
    for (const token of [
      await sign({ exp: now() + 7200 }),
      await sign({ iat: null, exp: now() + 7200 }),
      await sign({ iat: now() - 86_400, exp: now() + 60 }),
    ]) {
      const err = await refusedWith(verify(`Bearer ${token}`));
      expect({ status: err.status, code: err.code }).toEqual({ status: 401, code: 'invalid_token' });
      expect(err.message).toMatch(/lifetime exceeds the 3600 s allowed/);
    }
  });

  it('accepts a token within the maximum', async () => {
    await expect(verify(`Bearer ${await sign({ exp: now() + 3600 })}`)).resolves.toMatchObject({
      subject: 'sre-1',
    });
    await expect(verify(`Bearer ${await sign({ iat: null, exp: now() + 60 })}`)).resolves.toMatchObject({
      subject: 'sre-1',
    });
  });

  it('is configured by OPS_JWT_MAX_LIFETIME_SECONDS, a day by default', () => {
    const base = { NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET };
    expect(loadConfig(base).auth.maxLifetimeSeconds).toBe(DEFAULT_MAX_TOKEN_LIFETIME_S);
    expect(DEFAULT_MAX_TOKEN_LIFETIME_S).toBe(86_400);
    expect(loadConfig({ ...base, OPS_JWT_MAX_LIFETIME_SECONDS: '900' }).auth.maxLifetimeSeconds).toBe(900);
    expect(() => loadConfig({ ...base, OPS_JWT_MAX_LIFETIME_SECONDS: '0' })).toThrow(
      /OPS_JWT_MAX_LIFETIME_SECONDS/,
    );
  });
});
