// The GraphQL metrics an operator relies on stay at /metrics after a request: the request count
// by operation, the HTTP duration histogram by operation and status (its _count is the request
// count by status) and the errors by code, recorded by the request log's hook (src/http/request-log.ts),
// each request counted once. The per-phase histograms are no longer recorded.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type OpsServer } from '../../src/server.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const SECRET = 'request-metrics-secret-0123456789abcdef0123';

let db: TestDatabase;
let pool: pg.Pool;
let app: OpsServer;
let http: Server;
let base: string;

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
  app = createServer({
    config: loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, LOG_LEVEL: 'silent' }),
    pool,
    logger: createLogger({ level: 'silent' }),
  });
  http = createHttpServer(app.handle);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await app?.close({ timeoutMs: 2000 });
  http?.closeAllConnections();
  await new Promise((resolve) => http?.close(resolve));
  await pool?.end();
});

async function graphql(query: string, token: string | null): Promise<number> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      // GraphQL over HTTP: an invalid document is a 400 with this media type (200 with plain JSON).
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query }),
  });
  await res.text();
  return res.status;
}

/** The value of one series of /metrics (0 when absent), by metric name and exact labels. */
async function scrape(): Promise<(name: string, labels: Record<string, string>) => number> {
  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return (name, labels) => {
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!m || m[1] !== name) continue;
      const found = Object.fromEntries(
        [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]),
      );
      const wanted = Object.entries(labels);
      if (wanted.length === Object.keys(found).length && wanted.every(([k, v]) => found[k] === v))
        return Number(m[3]);
    }
    return 0;
  };
}

const nest = (n: number): string => (n === 0 ? 'name' : `ofType { ${nest(n - 1)} }`);

describe('GraphQL request metrics at /metrics', () => {
  it('count each executed operation, time each parsed request by status, and count errors by code', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-metrics' });
    const earlier = await scrape();
    const executed = { operationType: 'query', operationName: 'Watched' };
    const ok = { ...executed, method: 'POST', statusCode: '200' };
    const deep = { operationName: 'TooDeep', operationType: 'query', method: 'POST', statusCode: '400' };
    const counts = {
      requests: earlier('graphql_envelop_request', executed),
      ok: earlier('graphql_yoga_http_duration_count', ok),
      deep: earlier('graphql_yoga_http_duration_count', deep),
      limit: earlier('ops_graphql_errors_total', { code: 'QUERY_LIMIT_EXCEEDED' }),
      invalid: earlier('ops_graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' }),
    };

    expect(await graphql('query Watched { viewer { subject } }', token)).toBe(200);
    expect(await graphql('query Watched { viewer { subject } }', token)).toBe(200);
    expect(await graphql(`query TooDeep { __type(name: "Query") { ${nest(12)} } }`, token)).toBe(400);
    expect(await graphql('query Unknown { noSuchField }', token)).toBe(400);

    const later = await scrape();
    expect(later('graphql_envelop_request', executed)).toBe(counts.requests + 2);
    expect(later('graphql_yoga_http_duration_count', ok)).toBe(counts.ok + 2);
    expect(later('graphql_yoga_http_duration_bucket', { ...ok, le: '+Inf' })).toBe(counts.ok + 2);
    expect(later('graphql_yoga_http_duration_sum', ok)).toBeGreaterThan(0);
    // Refused before execution: timed with its status, not counted as executed.
    expect(later('graphql_yoga_http_duration_count', deep)).toBe(counts.deep + 1);
    expect(later('graphql_envelop_request', { operationType: 'query', operationName: 'TooDeep' })).toBe(0);
    expect(later('ops_graphql_errors_total', { code: 'QUERY_LIMIT_EXCEEDED' })).toBe(counts.limit + 1);
    expect(later('ops_graphql_errors_total', { code: 'GRAPHQL_VALIDATION_FAILED' })).toBe(counts.invalid + 1);
  });

  it('counts a subscription as executed', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-metrics' });
    const labels = { operationType: 'subscription', operationName: 'Follow' };
    const counted = (await scrape())('graphql_envelop_request', labels);
    // A release no one may read: the subscription starts, then answers NOT_FOUND and ends.
    const res = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({
        query: 'subscription Follow($id: ID!) { releaseEvents(releaseId: $id) { eventId } }',
        variables: { id: '00000000-0000-4000-8000-000000000000' },
      }),
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await res.text()).toContain('NOT_FOUND');
    expect((await scrape())('graphql_envelop_request', labels)).toBe(counted + 1);
  });

  it('no longer records the per-phase histograms, and never labels by URL', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-metrics' });
    expect(await graphql('query Phases { viewer { subject } }', token)).toBe(200);
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^graphql_envelop_request\{.*operationName="Phases".*\} 1$/m);
    expect(text).not.toMatch(/^graphql_envelop_phase_/m);
    expect(text).not.toMatch(/url="/);
  });
});
