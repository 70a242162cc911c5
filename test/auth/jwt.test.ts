import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintPersonaTokens, mintToken } from '../../src/auth/dev-tokens.js';
import { AuthError, createVerifier, personaFromClaims } from '../../src/auth/jwt.js';
import { PERSONAS } from '../../src/auth/personas.js';

const SECRET = 'test-secret-at-least-32-characters-long!!';
const OTHER_SECRET = 'some-other-secret-also-32-characters-long';
const enc = (s: string) => new TextEncoder().encode(s);
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>): SignJWT {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt();
}

async function signHs(claims: Record<string, unknown>, opts: { secret?: string; exp?: number } = {}) {
  return hs256(claims)
    .setExpirationTime(opts.exp ?? now() + 600)
    .sign(enc(opts.secret ?? SECRET));
}

/** Runs the verifier and returns the AuthError it threw (fails the test if it resolved or threw otherwise). */
async function refusal(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => {
      throw new Error('expected verification to fail');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AuthError);
  return err as AuthError;
}

async function expectRefused(p: Promise<unknown>, status: number, code: string, token?: string) {
  const err = await refusal(p);
  expect({ status: err.status, code: err.code }).toEqual({ status, code });
  if (token) expect(err.message).not.toContain(token);
}

describe('personas and claims', () => {
  it('reads app_metadata.ops_role before the top-level role', () => {
    expect(personaFromClaims({ role: 'developer', app_metadata: { ops_role: 'sre' } })).toBe('sre');
    expect(personaFromClaims({ role: 'authenticated', app_metadata: { ops_role: 'qa_tester' } })).toBe(
      'qa_tester',
    );
    expect(personaFromClaims({ role: 'audit_reader', app_metadata: { ops_role: 'nope' } })).toBe(
      'audit_reader',
    );
    expect(personaFromClaims({ role: 'authenticated' })).toBeNull();
    expect(personaFromClaims({ role: 'service_role', app_metadata: 'sre' })).toBeNull();
  });
});

describe('HS256 verifier', () => {
  const verify = createVerifier({ jwtSecret: SECRET });

  it('accepts a valid token and takes the persona from the role claim', async () => {
    const token = await signHs({ sub: 'svc-ci', role: 'ci_service_role' });
    const id = await verify(`Bearer ${token}`);
    expect(id.subject).toBe('svc-ci');
    expect(id.persona).toBe('ci_service_role');
    expect(id.claims.role).toBe('ci_service_role');
    expect(id.claims.sub).toBe('svc-ci');
  });

  it('accepts a lower-case bearer scheme', async () => {
    const token = await signHs({ sub: 'svc-ci', role: 'sre' });
    expect((await verify(`bearer ${token}`)).persona).toBe('sre');
  });

  it('prefers app_metadata.ops_role over role', async () => {
    const token = await signHs({
      sub: 'user-1',
      role: 'authenticated',
      app_metadata: { ops_role: 'release_manager' },
    });
    expect((await verify(`Bearer ${token}`)).persona).toBe('release_manager');
    // Both naming the same persona is one persona.
    const same = await signHs({ sub: 'user-2', role: 'qa_tester', app_metadata: { ops_role: 'qa_tester' } });
    expect((await verify(`Bearer ${same}`)).persona).toBe('qa_tester');
  });

  it('refuses a token whose role and app_metadata.ops_role name different personas', async () => {
    const both = await signHs({ sub: 'user-2', role: 'developer', app_metadata: { ops_role: 'qa_tester' } });
    await expectRefused(verify(`Bearer ${both}`), 403, 'conflicting_persona', both);
  });

  it('refuses claims PostgreSQL cannot hold (a NUL, an unpaired surrogate), keeps any other text', async () => {
    const claims: Record<string, unknown>[] = [
      { sub: 'user\u0000', role: 'developer' },
      { sub: 'user\ud800', role: 'developer' },
      { sub: 'user', role: 'developer', note: ['ok', { deep: 'a\udc00' }] },
      { sub: 'user', role: 'developer', 'k\u0000': 1 },
    ];
    for (const c of claims) {
      const token = await signHs(c);
      const err = await refusal(verify(`Bearer ${token}`));
      expect({ status: err.status, code: err.code }).toEqual({ status: 401, code: 'invalid_token' });
      expect(err.message).toMatch(/NUL or an unpaired surrogate/);
    }
    const odd = `x'; \\ $$ E'\\x27' \u{1F600} ${'\u00e9'.repeat(3)}`;
    const id = await verify(
      `Bearer ${await signHs({ sub: odd, role: 'developer', nested: [[{ k: odd }]] })}`,
    );
    expect(id.subject).toBe(odd);
  });

  it('returns persona null for a valid token without a persona', async () => {
    const token = await signHs({ sub: 'user-3', role: 'authenticated', app_metadata: { provider: 'email' } });
    const id = await verify(`Bearer ${token}`);
    expect(id.subject).toBe('user-3');
    expect(id.persona).toBeNull();
  });

  it('refuses a missing header', async () => {
    await expectRefused(verify(undefined), 401, 'missing_token');
    await expectRefused(verify(null), 401, 'missing_token');
    await expectRefused(verify(''), 401, 'missing_token');
    await expectRefused(verify('Bearer '), 401, 'missing_token');
  });

  it('refuses a non-Bearer header', async () => {
    const token = await signHs({ sub: 'x', role: 'sre' });
    await expectRefused(verify(`Basic ${token}`), 401, 'missing_token', token);
    await expectRefused(verify(token), 401, 'missing_token', token);
  });

  it('refuses an expired token', async () => {
    const token = await signHs({ sub: 'x', role: 'sre' }, { exp: now() - 60 });
    await expectRefused(verify(`Bearer ${token}`), 401, 'token_expired', token);
  });

  it('refuses a token whose nbf is in the future', async () => {
    const token = await hs256({ sub: 'x', role: 'sre' })
      .setNotBefore(now() + 120)
      .setExpirationTime(now() + 600)
      .sign(enc(SECRET));
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses a token signed with a different secret', async () => {
    const token = await signHs({ sub: 'x', role: 'release_manager' }, { secret: OTHER_SECRET });
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const token = await signHs({ sub: 'x', role: 'developer' });
    const [h, , s] = token.split('.');
    const forged = `${h}.${b64url({ sub: 'x', role: 'release_manager', exp: now() + 600 })}.${s}`;
    await expectRefused(verify(`Bearer ${forged}`), 401, 'invalid_token', forged);
  });

  it('refuses alg none', async () => {
    const payload = b64url({ sub: 'x', role: 'release_manager', exp: now() + 600 });
    for (const header of [{ alg: 'none' }, { alg: 'none', typ: 'JWT' }, { alg: 'None' }]) {
      const token = `${b64url(header)}.${payload}.`;
      await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
    }
  });

  it('refuses malformed tokens', async () => {
    await expectRefused(verify('Bearer not-a-jwt'), 401, 'invalid_token');
    await expectRefused(verify('Bearer a.b.c'), 401, 'invalid_token');
    await expectRefused(verify(`Bearer ${b64url({ alg: 'HS256' })}.%%%.xyz`), 401, 'invalid_token');
  });

  it('refuses other HMAC algorithms even with the right secret', async () => {
    const token = await new SignJWT({ sub: 'x', role: 'sre' })
      .setProtectedHeader({ alg: 'HS512' })
      .setExpirationTime(now() + 600)
      .sign(enc(SECRET));
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses a token without sub', async () => {
    const noSub = await signHs({ role: 'sre' });
    await expectRefused(verify(`Bearer ${noSub}`), 401, 'invalid_token', noSub);
    const emptySub = await signHs({ sub: '', role: 'sre' });
    await expectRefused(verify(`Bearer ${emptySub}`), 401, 'invalid_token', emptySub);
    const numericSub = await signHs({ sub: 42, role: 'sre' });
    await expectRefused(verify(`Bearer ${numericSub}`), 401, 'invalid_token', numericSub);
  });
});

describe('issuer and audience', () => {
  const verify = createVerifier({ jwtSecret: SECRET, issuer: 'https://auth.test/v1', audience: 'ops' });

  it('accepts matching iss and aud', async () => {
    const token = await mintToken({
      secret: SECRET,
      persona: 'sre',
      issuer: 'https://auth.test/v1',
      audience: 'ops',
    });
    expect((await verify(`Bearer ${token}`)).persona).toBe('sre');
  });

  it('refuses the wrong issuer', async () => {
    const token = await mintToken({
      secret: SECRET,
      persona: 'sre',
      issuer: 'https://evil.test',
      audience: 'ops',
    });
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses the wrong audience', async () => {
    const token = await mintToken({
      secret: SECRET,
      persona: 'sre',
      issuer: 'https://auth.test/v1',
      audience: 'someone-else',
    });
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses a token missing iss/aud when they are configured', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'sre' });
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });
});

describe('dev tokens', () => {
  it('mints one verifiable token per persona with distinct subjects', async () => {
    const verify = createVerifier({ jwtSecret: SECRET });
    const tokens = await mintPersonaTokens(SECRET);
    const subjects = new Set<string>();
    for (const persona of PERSONAS) {
      const id = await verify(`Bearer ${tokens[persona]}`);
      expect(id.persona).toBe(persona);
      expect(id.claims.role).toBe(persona);
      expect(id.claims.app_metadata).toEqual({ ops_role: persona });
      subjects.add(id.subject);
    }
    expect(subjects.size).toBe(PERSONAS.length);
    expect(subjects.has('dev-release-manager')).toBe(true);
    const named = await mintPersonaTokens(SECRET, {}, { developer: 'dana.developer' });
    expect((await verify(`Bearer ${named.developer}`)).subject).toBe('dana.developer');
    expect((await verify(`Bearer ${named.sre}`)).subject).toBe('dev-sre');
  });

  it('defaults sub to dev:<persona> and honours ttlSeconds', async () => {
    const verify = createVerifier({ jwtSecret: SECRET });
    const id = await verify(
      `Bearer ${await mintToken({ secret: SECRET, persona: 'qa_tester', ttlSeconds: 60 })}`,
    );
    expect(id.subject).toBe('dev:qa_tester');
    expect((id.claims.exp as number) - (id.claims.iat as number)).toBe(60);
  });
});

describe('JWKS verifier', () => {
  let server: Server;
  let jwksUrl: string;
  let rsa: CryptoKeyPair;
  let ec: CryptoKeyPair;
  let ed: CryptoKeyPair;
  let stranger: CryptoKeyPair;
  let rsaPublicJwk: JWK;

  beforeAll(async () => {
    rsa = await generateKeyPair('RS256');
    ec = await generateKeyPair('ES256');
    ed = await generateKeyPair('EdDSA');
    stranger = await generateKeyPair('RS256');
    rsaPublicJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
    const keys = [
      rsaPublicJwk,
      { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
      { ...(await exportJWK(ed.publicKey)), kid: 'ed-1', alg: 'EdDSA', use: 'sig' },
    ];
    const body = JSON.stringify({ keys });
    server = createServer((req, res) => {
      if (req.url === '/.well-known/jwks.json') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    jwksUrl = `http://127.0.0.1:${port}/.well-known/jwks.json`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
  });

  const sign = (key: CryptoKey, alg: string, kid: string, claims: Record<string, unknown> = {}) =>
    new SignJWT({ sub: 'svc-deployer', role: 'ci_service_role', ...claims })
      .setProtectedHeader({ alg, kid })
      .setIssuedAt()
      .setExpirationTime(now() + 600)
      .sign(key);

  it('accepts RS256, ES256 and EdDSA tokens signed with published keys', async () => {
    const verify = createVerifier({ jwksUrl });
    for (const [key, alg, kid] of [
      [rsa.privateKey, 'RS256', 'rsa-1'],
      [ec.privateKey, 'ES256', 'ec-1'],
      [ed.privateKey, 'EdDSA', 'ed-1'],
    ] as const) {
      const id = await verify(`Bearer ${await sign(key, alg, kid)}`);
      expect(id).toMatchObject({ subject: 'svc-deployer', persona: 'ci_service_role' });
    }
  });

  it('uses the JWKS for asymmetric tokens when a secret is also configured', async () => {
    const verify = createVerifier({ jwksUrl, jwtSecret: SECRET });
    const id = await verify(`Bearer ${await sign(ec.privateKey, 'ES256', 'ec-1', { role: 'sre' })}`);
    expect(id.persona).toBe('sre');
    expect((await verify(`Bearer ${await signHs({ sub: 'x', role: 'developer' })}`)).persona).toBe(
      'developer',
    );
  });

  it('refuses a token signed with a key not in the JWKS', async () => {
    const verify = createVerifier({ jwksUrl });
    const sameKid = await sign(stranger.privateKey, 'RS256', 'rsa-1');
    await expectRefused(verify(`Bearer ${sameKid}`), 401, 'invalid_token', sameKid);
    const unknownKid = await sign(stranger.privateKey, 'RS256', 'rsa-unknown');
    await expectRefused(verify(`Bearer ${unknownKid}`), 401, 'invalid_token', unknownKid);
  });

  it('refuses an HS256 token when only JWKS is configured', async () => {
    const verify = createVerifier({ jwksUrl });
    const token = await signHs({ sub: 'x', role: 'release_manager' });
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses an RS256 token whose header claims HS256', async () => {
    const rs = await sign(rsa.privateKey, 'RS256', 'rsa-1');
    const [, payload, sig] = rs.split('.');
    const relabelled = `${b64url({ alg: 'HS256', kid: 'rsa-1' })}.${payload}.${sig}`;
    await expectRefused(
      createVerifier({ jwksUrl })(`Bearer ${relabelled}`),
      401,
      'invalid_token',
      relabelled,
    );
    await expectRefused(
      createVerifier({ jwksUrl, jwtSecret: SECRET })(`Bearer ${relabelled}`),
      401,
      'invalid_token',
      relabelled,
    );
  });

  it('refuses HS256 signed with the public key as HMAC secret (alg confusion)', async () => {
    const verify = createVerifier({ jwksUrl, jwtSecret: SECRET });
    const token = await new SignJWT({ sub: 'x', role: 'release_manager' })
      .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
      .setExpirationTime(now() + 600)
      .sign(enc(JSON.stringify(rsaPublicJwk)));
    await expectRefused(verify(`Bearer ${token}`), 401, 'invalid_token', token);
  });

  it('refuses an expired RS256 token', async () => {
    const verify = createVerifier({ jwksUrl });
    const token = await new SignJWT({ sub: 'x', role: 'sre' })
      .setProtectedHeader({ alg: 'RS256', kid: 'rsa-1' })
      .setExpirationTime(now() - 60)
      .sign(rsa.privateKey);
    await expectRefused(verify(`Bearer ${token}`), 401, 'token_expired', token);
  });
});
