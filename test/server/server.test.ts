// The HTTP shell against a real Postgres: routes, authentication, the document limits (including
// the 2025 max-depth bypasses), body limit, metrics, GraphiQL and the request log.
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthScopeFailureType } from '@pothos/plugin-scope-auth';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { AuthError } from '../../src/auth/jwt.js';
import type { Persona } from '../../src/auth/personas.js';
import { builder, forbiddenError } from '../../src/builder.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createContext } from '../../src/context.js';
import { createLogger } from '../../src/logger.js';
import { createServer, GRAPHQL_LIMITS, type OpsServer } from '../../src/server.js';
import { identity, type TestDatabase, useTestDatabase } from '../support/db.js';

const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
const GRAPHQL_RESPONSE = 'application/graphql-response+json';

let db: TestDatabase;
let pool: pg.Pool;
let config: Config;
let app: OpsServer;
let http: Server;
let base: string;
const logLines: string[] = [];
/** Statements and connections the server asked of its pool. */
const dbWork = { query: 0, connect: 0 };

function instrument(p: pg.Pool): pg.Pool {
  const query = p.query.bind(p);
  const connect = p.connect.bind(p);
  p.query = ((...args: Parameters<typeof query>) => {
    dbWork.query++;
    return query(...args);
  }) as typeof p.query;
  p.connect = ((...args: Parameters<typeof connect>) => {
    dbWork.connect++;
    return connect(...args);
  }) as typeof p.connect;
  return p;
}

function testConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, OPS_GRAPHIQL: 'true', ...extra });
}

const silent = () => createLogger({ level: 'silent' });

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  db = await useTestDatabase();
  pool = instrument(new pg.Pool({ connectionString: db.apiUrl, max: 4 }));
  config = testConfig();
  const logger = createLogger({
    level: 'debug',
    destination: { write: (line: string) => logLines.push(line) },
  });
  app = createServer({ config, pool, logger });
  http = createHttpServer(app.handle);
  base = await listen(http);
});

afterAll(async () => {
  await app?.close();
  await new Promise((resolve) => http?.close(resolve));
  await pool?.end();
});

const tokenFor = (persona: Persona, sub = `test-${persona}`) => mintToken({ secret: SECRET, persona, sub });

interface GraphQLResponse {
  status: number;
  headers: Headers;
  body: {
    data?: Record<string, unknown> | null;
    errors?: { message: string; extensions?: Record<string, unknown> }[];
  };
}

/** POSTs over real HTTP (body limit and router included). */
async function graphql(
  query: string,
  opts: { token?: string | null; operationName?: string; accept?: string } = {},
): Promise<GraphQLResponse> {
  const token = opts.token === undefined ? await tokenFor('audit_reader') : opts.token;
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: opts.accept ?? GRAPHQL_RESPONSE,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, operationName: opts.operationName }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

describe('routes', () => {
  it('GET /health answers 200 without touching the database', async () => {
    const before = { ...dbWork };
    const res = await fetch(`${base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(dbWork).toEqual(before);
  });

  it('GET /readiness answers 200 after `select 1` through the pool', async () => {
    const before = dbWork.query;
    const res = await fetch(`${base}/readiness`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready' });
    // Also proves the statement counter used by the limit tests below does count.
    expect(dbWork.query).toBe(before + 1);
  });

  it('GET /readiness answers 503 when the database cannot be reached', async () => {
    const dead = new pg.Pool({
      connectionString: 'postgres://nobody:x@127.0.0.1:1/none',
      connectionTimeoutMillis: 1000,
    });
    const down = createServer({ config, pool: dead, logger: silent() });
    try {
      const res = await down.fetch(new Request('http://localhost/readiness'));
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({ status: 'unavailable' });
    } finally {
      await down.close();
      await dead.end();
    }
  });

  it('a wrong method on a known route is 405; an unknown path is 404', async () => {
    const res = await fetch(`${base}/health`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
  });

  it('extra routes are matched before GraphQL and get the per-request context', async () => {
    const extra = createServer({
      config,
      pool,
      logger: silent(),
      routes: [
        {
          method: 'POST',
          path: '/functions/v1/echo',
          handler: async (_req, ctx) =>
            Response.json({
              subject: ctx.identity?.subject ?? null,
              authError: ctx.authError?.code ?? null,
              requestId: ctx.requestId,
              whoami: ctx.identity
                ? await ctx.withPersona(async (c) => (await c.query('select current_user as u')).rows[0].u)
                : null,
            }),
        },
      ],
    });
    try {
      const post = (authorization?: string) =>
        extra.fetch(
          new Request('http://localhost/functions/v1/echo', {
            method: 'POST',
            headers: authorization ? { authorization } : {},
            body: '{}',
          }),
        );
      const ok = await (await post(`Bearer ${await tokenFor('ci_service_role', 'ci-bot')}`)).json();
      expect(ok).toMatchObject({ subject: 'ci-bot', authError: null, whoami: 'ci_service_role' });
      expect(await (await post()).json()).toMatchObject({ subject: null, authError: 'missing_token' });
      expect((await extra.fetch(new Request('http://localhost/functions/v1/echo'))).status).toBe(405);
    } finally {
      await extra.close();
    }
  });
});

describe('authentication', () => {
  it('viewer returns the token subject and persona', async () => {
    const res = await graphql('query Me { viewer { subject persona } }', {
      token: await tokenFor('sre', 'sam'),
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { viewer: { subject: 'sam', persona: 'sre' } } });
  });

  it('viewer through yoga.fetch, for every persona', async () => {
    for (const persona of ['ci_service_role', 'release_manager', 'qa_tester', 'developer'] as const) {
      const res = await app.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await tokenFor(persona, 'p')}`,
        },
        body: JSON.stringify({ query: '{ viewer { subject persona } }' }),
      });
      expect(await res.json()).toEqual({ data: { viewer: { subject: 'p', persona } } });
    }
  });

  it('a valid token naming no persona is authenticated with persona null', async () => {
    const { SignJWT } = await import('jose');
    const token = await new SignJWT({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('plain-user')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    const res = await graphql('{ viewer { subject persona } }', { token });
    expect(res.body.data).toEqual({ viewer: { subject: 'plain-user', persona: null } });
  });

  it.each([
    ['missing', null, 'missing_token'],
    ['malformed', 'not-a-jwt', 'invalid_token'],
  ])('a %s token is HTTP 401 with a GraphQL error, before any database work', async (_, token, reason) => {
    const before = { ...dbWork };
    const res = await graphql('{ viewer { subject } }', { token, accept: 'application/json' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="ops"/);
    expect(res.body.errors?.[0]?.extensions).toEqual({ code: 'UNAUTHENTICATED', reason });
    expect(res.body.data).toBeUndefined();
    expect(dbWork).toEqual(before);
  });

  it('a token signed with another secret, or expired, is 401', async () => {
    const forged = await mintToken({
      secret: 'another-secret-0123456789abcdef0123',
      persona: 'release_manager',
    });
    const forgedRes = await graphql('{ viewer { subject } }', { token: forged });
    expect(forgedRes.status).toBe(401);
    expect(forgedRes.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const expired = await mintToken({ secret: SECRET, persona: 'sre', ttlSeconds: -60 });
    const expiredRes = await graphql('{ viewer { subject } }', { token: expired });
    expect(expiredRes.status).toBe(401);
    expect(expiredRes.body.errors?.[0]?.extensions?.reason).toBe('token_expired');
  });

  it('the context binds withPersona to the caller: 401 without identity, 403 without persona', async () => {
    const anonymous = createContext(pool, { requestId: 'r', startedAt: 0 });
    await expect(anonymous.withPersona(async () => 1)).rejects.toMatchObject({ status: 401 });
    const noPersona = createContext(pool, {
      requestId: 'r',
      startedAt: 0,
      identity: { subject: 'u', persona: null, claims: { sub: 'u' } },
    });
    await expect(noPersona.withPersona(async () => 1)).rejects.toBeInstanceOf(AuthError);
    await expect(noPersona.withPersona(async () => 1)).rejects.toMatchObject({ status: 403 });
    const qa = createContext(pool, { requestId: 'r', startedAt: 0, identity: identity('qa_tester', 'q') });
    const who = await qa.withPersona(async (c) => (await c.query('select current_user as u')).rows[0].u);
    expect(who).toBe('qa_tester');
  });
});

describe('scope-auth', () => {
  it('a refused query field names the personas that may call it (code FORBIDDEN)', async () => {
    // A throwaway field, on a schema built for this test process only.
    builder.queryField('releaseManagersOrSreOnly', (t) =>
      t.string({ authScopes: { $any: { release_manager: true, sre: true } }, resolve: () => 'granted' }),
    );
    const guarded = createServer({ config, pool, logger: silent(), schema: builder.toSchema() });
    try {
      const run = async (persona: Persona) => {
        const res = await guarded.yoga.fetch('http://localhost/graphql', {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor(persona)}` },
          body: JSON.stringify({ query: '{ releaseManagersOrSreOnly }' }),
        });
        return (await res.json()) as GraphQLResponse['body'];
      };
      const refused = await run('developer');
      expect(refused.errors?.[0]?.message).toBe(
        'Query.releaseManagersOrSreOnly requires one of the personas: release_manager, sre',
      );
      expect(refused.errors?.[0]?.extensions).toEqual({
        code: 'FORBIDDEN',
        requiredPersonas: ['release_manager', 'sre'],
      });
      expect((await run('sre')).data).toEqual({ releaseManagersOrSreOnly: 'granted' });
    } finally {
      await guarded.close();
    }
  });

  it('a refusal without a persona scope says authentication is required', () => {
    const err = forbiddenError('Query.viewer', {
      kind: AuthScopeFailureType.AuthScope,
      scope: 'authenticated',
      parameter: true,
      error: null,
    });
    expect(err.message).toBe('Query.viewer requires an authenticated caller');
    expect(err.requiredPersonas).toEqual([]);
  });
});

// ---- Document limits ---------------------------------------------------------------------------

/** `ofType { ofType { ... inner } }`, n levels: a real recursive path through introspection types. */
function nest(n: number, inner = 'name'): string {
  let s = inner;
  for (let i = 0; i < n; i++) s = `ofType { ${s} }`;
  return s;
}
const repeat = (n: number, s: string) => Array.from({ length: n }, () => s).join(' ');
/** ~1400 tokens, depth 6, no alias, cost ~7400: only the cost limit can refuse it. */
const costly = (n: number) =>
  `{ __type(name: "Query") { ofType { ${repeat(n, `ofType { ${repeat(n, `ofType { ${repeat(n, 'ofType { name kind description }')} }`)} }`)} } } }`;

const attacks: { name: string; limit: string; query: string; control: string; message: RegExp }[] = [
  {
    name: 'depth bomb',
    limit: 'depth',
    query: `{ __type(name: "Query") { ${nest(12)} } }`,
    control: `{ __type(name: "Query") { ${nest(8)} } }`,
    message: /^Query depth limit of 10 exceeded, found \d+\.$/,
  },
  {
    // Fragment depth is cached at its first, shallow spread; the second spread sits deep.
    name: 'depth hidden by a fragment reused deeper (fragment-cache bypass)',
    limit: 'depth',
    query: `{ a: __type(name: "Query") { ...F } b: __type(name: "Query") { ${nest(7, '...F')} } }
            fragment F on __Type { ${nest(4)} }`,
    control: `{ a: __type(name: "Query") { ...F } } fragment F on __Type { ${nest(4)} }`,
    message: /^Query depth limit of 10 exceeded/,
  },
  {
    name: 'depth hidden in an operation named __schema',
    limit: 'depth',
    query: `query __schema { __type(name: "Query") { ${nest(12)} } }`,
    control: `query __schema { __type(name: "Query") { ${nest(8)} } }`,
    message: /^Query depth limit of 10 exceeded/,
  },
  {
    name: 'depth hidden in a fragment named __schema',
    limit: 'depth',
    query: `{ __type(name: "Query") { ${nest(6, '...__schema')} } } fragment __schema on __Type { ${nest(6)} }`,
    control: `{ __type(name: "Query") { ${nest(2, '...__schema')} } } fragment __schema on __Type { ${nest(2)} }`,
    message: /^Query depth limit of 10 exceeded/,
  },
  {
    name: 'alias flood',
    limit: 'aliases',
    query: `{ ${Array.from({ length: 40 }, (_, i) => `a${i}: viewer { subject }`).join(' ')} }`,
    control: `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: viewer { subject }`).join(' ')} }`,
    message: /^Aliases limit of 15 exceeded, found 40\.$/,
  },
  {
    name: 'token flood',
    limit: 'tokens',
    query: `{ ${repeat(2500, '__typename')} }`,
    // Far below 2000: graphql-js's own overlap check gives up on ~1000 identical fields.
    control: `{ ${repeat(300, '__typename')} }`,
    message: /^Token limit of 2000 exceeded\.$/,
  },
  {
    name: 'cost bomb',
    limit: 'cost',
    query: costly(6),
    control: costly(4),
    message: /^Query Cost limit of 5000 exceeded, found [\d.]+\.$/,
  },
];

describe('document limits', () => {
  it('are the agreed ones', () => {
    expect(GRAPHQL_LIMITS).toMatchObject({ maxDepth: 10, maxAliases: 15, maxTokens: 2000, maxCost: 5000 });
  });

  it.each(attacks)('$name: refused with a clear error and no database work', async (attack) => {
    const before = { ...dbWork };
    const res = await graphql(attack.query);
    expect(res.status).toBe(400);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors).toHaveLength(1);
    expect(res.body.errors?.[0]?.message).toMatch(attack.message);
    expect(res.body.errors?.[0]?.extensions).toEqual({ code: 'QUERY_LIMIT_EXCEEDED', limit: attack.limit });
    expect(dbWork).toEqual(before);
  });

  it.each(attacks)('$name: the same shape under the limit is answered', async (attack) => {
    const res = await graphql(attack.control);
    expect(res.body.errors).toBeUndefined();
    expect(res.status).toBe(200);
  });

  it('a plain application/json client gets the same error (status 200, per GraphQL over HTTP)', async () => {
    const res = await graphql(attacks[0]!.query, { accept: 'application/json' });
    expect(res.status).toBe(200);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('QUERY_LIMIT_EXCEEDED');
  });

  it('every rejection is counted, even of a document seen before', async () => {
    const count = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(/^ops_limit_rejections_total\{limit="tokens"\} (\d+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await count();
    await graphql(attacks.find((a) => a.limit === 'tokens')!.query);
    await graphql(attacks.find((a) => a.limit === 'tokens')!.query);
    expect(await count()).toBe(before + 2);
  });
});

describe('introspection and error detail', () => {
  const introspect = '{ __schema { queryType { name } } }';

  it('is answered for an authenticated caller when OPS_INTROSPECTION is on (the default)', async () => {
    const res = await graphql(introspect);
    expect(res.body).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
  });

  it('is refused when OPS_INTROSPECTION is off', async () => {
    const off = createServer({ config: testConfig({ OPS_INTROSPECTION: 'false' }), pool, logger: silent() });
    try {
      const res = await off.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await tokenFor('audit_reader')}`,
        },
        body: JSON.stringify({ query: introspect }),
      });
      const body = (await res.json()) as GraphQLResponse['body'];
      expect(body.errors?.[0]?.message).toMatch(/introspection/i);
      expect(body.data).toBeUndefined();
    } finally {
      await off.close();
    }
  });

  it('field suggestions are shown outside production and hidden in production', async () => {
    const typo = '{ viewr { subject } }';
    const dev = await graphql(typo);
    expect(dev.body.errors?.[0]?.message).toContain('Did you mean "viewer"?');

    const prodSecret = 'production-secret-0123456789abcdef-0123456789';
    const prod = createServer({
      config: loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: prodSecret }),
      pool,
      logger: silent(),
    });
    try {
      const res = await prod.yoga.fetch('http://localhost/graphql', {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${await mintToken({ secret: prodSecret, persona: 'sre' })}`,
        },
        body: JSON.stringify({ query: typo }),
      });
      const body = (await res.json()) as GraphQLResponse['body'];
      expect(body.errors?.[0]?.message).toMatch(/^Cannot query field "viewr" on type "Query"\./);
      expect(body.errors?.[0]?.message).not.toContain('viewer');
    } finally {
      await prod.close();
    }
  });
});

describe('body size', () => {
  const big = JSON.stringify({ query: `{ viewer { subject } } # ${'x'.repeat(300_000)}` });

  /** Raw HTTP so the body can be sent with or without Content-Length. */
  function post(body: string, chunked: boolean): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(`${base}/graphql`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': Buffer.byteLength(body) }),
        },
      });
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      // The server may close before the whole body is sent; the response is what counts.
      req.on('error', (err) => (err as NodeJS.ErrnoException).code === 'EPIPE' || reject(err));
      if (chunked) {
        for (let i = 0; i < body.length; i += 16_384) req.write(body.slice(i, i + 16_384));
        req.end();
      } else req.end(body);
    });
  }

  it('over OPS_MAX_BODY_BYTES by Content-Length: 413 before anything reads it', async () => {
    const res = await post(big, false);
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).errors[0].extensions).toEqual({
      code: 'REQUEST_ENTITY_TOO_LARGE',
      limit: 'body_size',
    });
  });

  it('over the limit while streaming (chunked, no Content-Length): 413', async () => {
    expect((await post(big, true)).status).toBe(413);
  });

  it('through yoga.fetch too (Yoga maxRequestBodySize)', async () => {
    const res = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await tokenFor('sre')}` },
      body: big,
    });
    expect(res.status).toBe(413);
  });
});

describe('/metrics', () => {
  it('exposes Yoga request metrics and the control plane counters', async () => {
    await graphql('query Metered { viewer { subject } }');
    await graphql('{ viewer { subject } }', { token: null });
    // An ingest attempt (a malformed envelope: rejected, and counted by outcome).
    const ingest = await fetch(`${base}/functions/v1/ops-event-ingest`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${await tokenFor('ci_service_role')}`,
      },
      body: '{}',
    });
    expect(ingest.status).toBe(400);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^graphql_envelop_request\{.*operationName="Metered".*\} \d+$/m);
    expect(text).toMatch(/^graphql_yoga_http_duration_count\{.*operationName="Metered".*\} \d+$/m);
    expect(text).toContain('# TYPE ops_ingest_outcomes_total counter');
    expect(text).toMatch(/^ops_ingest_outcomes_total\{status="rejected"\} [1-9]\d*$/m);
    expect(text).toContain('# TYPE ops_limit_rejections_total counter');
    expect(text).toMatch(/^ops_unauthenticated_requests_total [1-9]\d*$/m);
    expect(text).toMatch(/^ops_limit_rejections_total\{limit="depth"\} [1-9]\d*$/m);
    // Request URLs are not labels (GET query strings would become label values).
    expect(text).not.toMatch(/url="/);
  });
});

describe('GraphiQL', () => {
  it('is served from this process, with no CDN, with the examples and no placeholder token', async () => {
    const res = await fetch(`${base}/graphql`, { headers: { accept: 'text/html' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    for (const cdn of ['unpkg', 'jsdelivr', 'esm.sh', 'cdnjs']) expect(html).not.toContain(cdn);
    // A placeholder header would be sent with the first request and refused as a malformed token.
    const options = JSON.parse(/querySelector\('#root'\),\s*(\{.*\}),?\s*\);/.exec(html)?.[1] ?? 'null');
    expect(options).toMatchObject({ title: 'Ops release gates' });
    expect(options).not.toHaveProperty('headers');
    expect(options).not.toHaveProperty('defaultHeaders');
    expect(html).not.toContain('Bearer <token>');
    expect(html).toContain('query Viewer');
    // The schema is fetched again once a token is pasted (test/e2e/graphiql.test.ts drives it).
    expect(html).toContain('Re-fetch GraphQL schema');
  });

  it("answers an anonymous introspection-only document (GraphiQL's first schema fetch), and nothing else", async () => {
    const before = { ...dbWork };
    const schemaOnly = await graphql(
      'query IntrospectionQuery { __schema { queryType { name } } __type(name: "Release") { name } __typename }',
      { token: null },
    );
    expect(schemaOnly.status).toBe(200);
    expect(schemaOnly.body).toEqual({
      data: { __schema: { queryType: { name: 'Query' } }, __type: { name: 'Release' }, __typename: 'Query' },
    });
    const viaFragment = await graphql(
      'query Q { ...Roots } fragment Roots on Query { __schema { queryType { name } } }',
      {
        token: null,
      },
    );
    expect(viaFragment.body.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
    // It reached no database.
    expect(dbWork).toEqual(before);

    // Anything that is not introspection alone stays 401, however it is dressed.
    for (const query of [
      '{ __schema { queryType { name } } viewer { subject } }',
      '{ ... on Query { releases(first: 1) { nodes { id } } } __typename }',
      'query A { ...F } fragment F on Query { viewer { subject } }',
      'query A { __typename } query B { viewer { subject } }',
      'mutation { __typename }',
      '{ __schema { queryType { name } }',
    ]) {
      const res = await graphql(query, { token: null, operationName: 'A' });
      expect(res.status, query).toBe(401);
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe('UNAUTHENTICATED');
    }
    // A token that is there but bad is refused even for introspection.
    const malformed = await graphql('{ __schema { queryType { name } } }', { token: 'not-a-jwt' });
    expect(malformed.status).toBe(401);
  });

  it('anonymous introspection is refused when GraphiQL or introspection is off', async () => {
    const extras: Record<string, string>[] = [{ OPS_GRAPHIQL: 'false' }, { OPS_INTROSPECTION: 'false' }];
    for (const extra of extras) {
      const off = createServer({ config: testConfig(extra), pool, logger: silent() });
      try {
        const res = await off.fetch(
          new Request('http://localhost/graphql', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ query: '{ __schema { queryType { name } } }' }),
          }),
        );
        expect(res.status, JSON.stringify(extra)).toBe(401);
      } finally {
        await off.close();
      }
    }
  });

  it('is not served when OPS_GRAPHIQL is off', async () => {
    const off = createServer({ config: testConfig({ OPS_GRAPHIQL: 'false' }), pool, logger: silent() });
    try {
      const res = await off.fetch(
        new Request('http://localhost/graphql', { headers: { accept: 'text/html' } }),
      );
      expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    } finally {
      await off.close();
    }
  });
});

describe('request log', () => {
  it('has request id, subject, persona, operation, outcome and duration; never the token', async () => {
    const token = await tokenFor('qa_tester', 'quinn');
    const res = await graphql('query WhoAmI { viewer { subject } }', { token });
    const requestId = res.headers.get('x-request-id');
    const line = logLines
      .map((l) => JSON.parse(l))
      .find((l) => l.requestId === requestId && l.msg === 'request');
    expect(line).toMatchObject({
      method: 'POST',
      path: '/graphql',
      status: 200,
      outcome: 'ok',
      subject: 'quinn',
      persona: 'qa_tester',
      operationName: 'WhoAmI',
    });
    expect(line.durationMs).toBeGreaterThanOrEqual(0);
    expect(logLines.join('\n')).not.toContain(token);
    expect(logLines.join('\n')).not.toContain(token.split('.')[2]);
  });

  it("logs a field the persona may not read as the caller's error, not the server's", async () => {
    const token = await tokenFor('sre', 'sam');
    const res = await graphql('query Refused { releases(first: 1) { nodes { id } } }', { token });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const lines = logLines.map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'yoga error')).toEqual([]);
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'info',
        msg: 'graphql error answered to the caller',
        code: 'FORBIDDEN',
      }),
    );
  });

  it('redacts credentials a log call is handed by mistake', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => lines.push(l) } });
    logger.info(
      {
        headers: { authorization: 'Bearer abc.def.ghi' },
        req: { headers: { authorization: 'Bearer abc.def.ghi', cookie: 'sid=1' } },
        token: 'abc.def.ghi',
        config: { auth: { jwtSecret: 'shh' } },
      },
      'oops',
    );
    expect(lines.join('')).not.toMatch(/abc\.def\.ghi|shh|sid=1/);
  });
});
