// Claims made to be expensive: every reading of request.jwt.claims in SQL parses the whole text
// (ops.caller_identity about eleven times an ingest event, ops.owns_gate once a row in a
// developer's policy), so claims of thousands of keys or deep nesting would make each reading cost
// a millisecond or more. The verifier behind every HTTP door (the server's GraphQL and ingest, the
// Edge Function) refuses a token whose claims take more than MAX_CLAIMS_BYTES or nest deeper than
// MAX_CLAIMS_DEPTH with a 401; the database refuses claims longer than the same bound with OPS03
// before parsing them, whatever the raw SQL door sets. Claims just within the bounds pass both.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, createVerifier, MAX_CLAIMS_BYTES, MAX_CLAIMS_DEPTH } from '../../src/auth/jwt.js';
import { PERSONAS } from '../../src/auth/personas.js';
import { createRelease, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type ServedApi, serveApi } from '../support/loopback.js';
import { tryAsRole } from './sql-door.js';

const SECRET = 'claims-size-attacks-secret-0123456789abcdef0123';

let db: TestDatabase;
let api: ServedApi;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  api = await serveApi(db, SECRET);
  release = await createRelease(db);
});

afterAll(async () => {
  await api?.close();
});

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

/** Claims for a persona padded with a string so that JSON.stringify takes exactly `size` bytes. */
function claimsOfSize(persona: string, size: number): Record<string, unknown> {
  const base = {
    sub: `size-${persona}`,
    role: persona,
    exp: Math.floor(Date.now() / 1000) + 600,
    iat: 0,
    pad: '',
  };
  base.iat = base.exp - 600;
  base.pad = 'p'.repeat(size - bytes(base));
  expect(bytes(base)).toBe(size);
  return base;
}

/** Claims nesting `depth` levels (the payload itself is level 1). */
function claimsOfDepth(persona: string, depth: number): Record<string, unknown> {
  let inner: unknown = 1;
  for (let i = 2; i <= depth; i++) inner = { a: inner };
  return { sub: `depth-${persona}`, role: persona, n: depth > 1 ? inner : undefined };
}

function sign(claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ ...claims, iat: now, exp: now + 600 })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .sign(new TextEncoder().encode(SECRET));
}

describe('the verifier behind every HTTP door', () => {
  const verify = createVerifier({ jwtSecret: SECRET });

  it('accepts claims of exactly the bound in bytes and in depth', async () => {
    const atSize = await sign(claimsOfSize('developer', MAX_CLAIMS_BYTES));
    expect((await verify(`Bearer ${atSize}`)).persona).toBe('developer');
    const atDepth = await sign(claimsOfDepth('developer', MAX_CLAIMS_DEPTH));
    expect((await verify(`Bearer ${atDepth}`)).persona).toBe('developer');
  });

  it.each([
    ['one byte more', () => claimsOfSize('developer', MAX_CLAIMS_BYTES + 1)],
    ['one level deeper', () => claimsOfDepth('developer', MAX_CLAIMS_DEPTH + 1)],
    [
      'a thousand keys',
      () => ({
        sub: 'k',
        role: 'developer',
        ...Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])),
      }),
    ],
    [
      'arrays nested 2,000 deep',
      () => ({ sub: 'n', role: 'developer', n: JSON.parse(`${'['.repeat(2000)}${']'.repeat(2000)}`) }),
    ],
    [
      'multibyte text past the bound in bytes, not in characters',
      () => ({ sub: 'm', role: 'developer', note: 'é'.repeat(2100) }),
    ],
  ])('refuses claims of %s with 401 invalid_token', async (_what, make) => {
    const token = await sign(make() as Record<string, unknown>).catch(() => null);
    if (token === null) return expect.unreachable('signing failed');
    const err = await verify(`Bearer ${token}`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AuthError);
    expect({ status: (err as AuthError).status, code: (err as AuthError).code }).toEqual({
      status: 401,
      code: 'invalid_token',
    });
  });
});

describe('through the server: GraphQL and the HTTP ingest', () => {
  it('a token with claims past the bound is a 401 at both, and the ingest writes nothing', async () => {
    const key = `github_actions/${randomUUID()}/check_result`;
    const fat = await sign({
      sub: 'fat-ci',
      role: 'ci_service_role',
      ...Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`k${i}`, i])),
    });
    const gql = await fetch(`${api.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fat}` },
      body: JSON.stringify({ query: '{ viewer { subject } }' }),
    });
    expect(gql.status).toBe(401);
    const ingest = await fetch(`${api.base}/functions/v1/ops-event-ingest`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${fat}` },
      body: JSON.stringify({
        schema_version: 'v1.0',
        idempotency_key: key,
        event_type: 'check_result',
        source_system: 'github_actions',
        release_id: release.release_id,
        gate_code: 'G2',
        payload: { check_name: key, status: 'pass' },
        emitted_at: new Date().toISOString(),
      }),
    });
    expect(ingest.status).toBe(401);
    const { rows } = await db.admin.query('select 1 from ops.event_ingest_log where idempotency_key = $1', [
      key,
    ]);
    expect(rows).toHaveLength(0);
  });

  it('a token just within the bound is served', async () => {
    const slim = await sign(claimsOfSize('developer', MAX_CLAIMS_BYTES - 64));
    const res = await fetch(`${api.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${slim}` },
      body: JSON.stringify({ query: '{ viewer { subject } }' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data?: { viewer?: { subject?: string } } }).data?.viewer?.subject).toBe(
      'size-developer',
    );
  });
});

describe('through the raw SQL door', () => {
  const READINGS = [
    'select ops.caller_identity()',
    'select ops.current_claims()',
    'select ops.current_actor()',
    'select * from ops.caller_stamp()',
  ];

  it.each(PERSONAS.map((p) => [p] as const))(
    '%s: claims one byte past the bound are OPS03 at every reading; at the bound they are read',
    async (persona) => {
      for (const sql of READINGS) {
        const over = await tryAsRole(db, persona, claimsOfSize(persona, MAX_CLAIMS_BYTES + 1), (c) =>
          c.query(sql),
        );
        expect(over.ok ? 'accepted' : over.code, sql).toBe('OPS03');
        if (!over.ok) expect(over.message).toContain('request.jwt.claims');
        const at = await tryAsRole(db, persona, claimsOfSize(persona, MAX_CLAIMS_BYTES), (c) => c.query(sql));
        expect(at.ok ? 'ok' : `${at.code} ${at.message}`, sql).toBe('ok');
      }
    },
  );

  it('multibyte claims are bounded in bytes, as the verifier counts them', async () => {
    const claims = { sub: 'multibyte', role: 'developer', note: 'é'.repeat(2100) };
    expect(bytes(claims)).toBeGreaterThan(MAX_CLAIMS_BYTES);
    expect(JSON.stringify(claims).length).toBeLessThanOrEqual(MAX_CLAIMS_BYTES);
    const r = await tryAsRole(db, 'developer', claims, (c) => c.query('select ops.caller_identity()'));
    expect(r.ok ? 'accepted' : r.code).toBe('OPS03');
  });

  it('an ingest call with claims past the bound writes nothing', async () => {
    const key = `claims-size-${randomUUID()}`;
    const r = await tryAsRole(db, 'ci_service_role', claimsOfSize('ci_service_role', 8000), (c) =>
      c.query(
        `select ops.ingest_event(pg_catalog.jsonb_build_object(
           'schema_version', 'v1.0', 'idempotency_key', $1::text, 'source_system', 'github_actions',
           'release_id', $2::uuid, 'emitted_at', pg_catalog.now(), 'event_type', 'check_result',
           'gate_code', 'G2', 'payload', pg_catalog.jsonb_build_object('check_name', $1::text, 'status', 'pass')))`,
        [key, release.release_id],
      ),
    );
    expect(r.ok ? 'accepted' : r.code).toBe('OPS03');
    const { rows } = await db.admin.query('select 1 from ops.event_ingest_log where idempotency_key = $1', [
      key,
    ]);
    expect(rows).toHaveLength(0);
  });
});
