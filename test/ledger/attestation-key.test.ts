// The attestation key: from OPS_ATTESTATION_KEY (checked to be Ed25519, never echoed), generated
// once into the data folder in development, per process in tests, absent otherwise (production
// without the variable signs nothing, and says so); its public half at the well-known URL.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Thumbprint } from '../../src/attestation/dsse.js';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer } from '../../src/server.js';
import { createRelease } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const SECRET = 'attestation-key-test-secret-0123456789abcdef';
const dir = mkdtempSync(path.join(tmpdir(), 'ops-attestation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pem = (type: 'ed25519' | 'ec') =>
  (type === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generateKeyPairSync('ed25519')
  ).privateKey
    .export({ format: 'pem', type: 'pkcs8' })
    .toString();

describe('OPS_ATTESTATION_KEY', () => {
  it('is taken from the environment when it is an Ed25519 key, with \\n escapes as newlines', () => {
    const key = pem('ed25519');
    const c = loadConfig({
      NODE_ENV: 'production',
      SUPABASE_JWT_SECRET: SECRET,
      OPS_ATTESTATION_KEY: key.replaceAll('\n', '\\n'),
    });
    expect(c.attestationKeySource).toBe('env');
    expect(c.attestationKeyPem).toBe(key.trim());
  });

  it('refuses another kind of key or garbage, naming the variable and never the value', () => {
    for (const value of [pem('ec'), 'not-a-key']) {
      let err: unknown;
      try {
        loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET, OPS_ATTESTATION_KEY: value });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).variables).toEqual(['OPS_ATTESTATION_KEY']);
      expect((err as Error).message).toContain('Ed25519');
      expect((err as Error).message).not.toContain(value.slice(0, 20));
    }
  });

  it('is generated once into the data folder in development (mode 600) and reused', () => {
    const secretFile = path.join(dir, 'dev', 'dev-secret');
    const first = loadConfig({}, { devSecretFile: secretFile });
    expect(first.attestationKeySource).toBe('dev-file');
    const file = path.join(dir, 'dev', 'attestation-key.pem');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8').trim()).toBe(first.attestationKeyPem);
    expect(loadConfig({}, { devSecretFile: secretFile }).attestationKeyPem).toBe(first.attestationKeyPem);
  });

  it('is per process in tests, and absent in production without the variable', () => {
    const t = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET });
    expect(t.attestationKeySource).toBe('ephemeral');
    expect(t.attestationKeyPem).toMatch(/BEGIN PRIVATE KEY/);
    const p = loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET });
    expect(p.attestationKeySource).toBe('none');
    expect(p.attestationKeyPem).toBeUndefined();
  });
});

describe('the well-known key set', () => {
  const serve = (env: Record<string, string>) => {
    // No request below reaches the database.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:9/none', max: 1 });
    const app = createServer({
      config: loadConfig({ SUPABASE_JWT_SECRET: SECRET, ...env }),
      pool,
      logger: createLogger({ level: 'silent' }),
    });
    return {
      app,
      close: async () => {
        await app.close();
        await pool.end();
      },
    };
  };

  it('publishes the public half as a JWK set, its kid the RFC 7638 thumbprint; no private member', async () => {
    const key = pem('ed25519');
    const { app, close } = serve({ NODE_ENV: 'production', OPS_ATTESTATION_KEY: key });
    try {
      const res = await app.fetch(new Request('http://ops.test/.well-known/ops-attestation-keys.json'));
      expect(res.status).toBe(200);
      const body = (await res.json()) as { keys: Record<string, string>[] };
      expect(body.keys).toHaveLength(1);
      const jwk = body.keys[0]!;
      expect(jwk).toEqual({
        kty: 'OKP',
        crv: 'Ed25519',
        x: expect.any(String),
        kid: ed25519Thumbprint(jwk.x!),
        alg: 'EdDSA',
        use: 'sig',
      });
      expect(JSON.stringify(body)).not.toContain('"d"');
    } finally {
      await close();
    }
  });

  let db: TestDatabase;
  beforeAll(async () => {
    db = await useTestDatabase();
  });

  it('is empty without a key, and the signed bundle is refused with a clear error', async () => {
    const release = await createRelease(db);
    const pool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
    const app = createServer({
      config: loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET }),
      pool,
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const res = await app.fetch(new Request('http://ops.test/.well-known/ops-attestation-keys.json'));
      expect(await res.json()).toEqual({ keys: [] });
      const token = await mintToken({ secret: SECRET, persona: 'audit_reader', sub: 'a' });
      const gql = await app.fetch(
        new Request('http://ops.test/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            query: 'query($id: ID!) { releaseEvidenceBundle(releaseId: $id) { bundleSha256 envelope } }',
            variables: { id: release.release_id },
          }),
        }),
      );
      const body = (await gql.json()) as { data: unknown; errors: { message: string; path: string[] }[] };
      expect(body.errors).toEqual([
        expect.objectContaining({
          message: expect.stringContaining('no attestation key is configured (OPS_ATTESTATION_KEY)'),
          path: ['releaseEvidenceBundle', 'envelope'],
        }),
      ]);
      // The unsigned bundle is still served.
      expect(body.data).toMatchObject({
        releaseEvidenceBundle: { bundleSha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      });
    } finally {
      await app.close();
      await pool.end();
    }
  });
});
