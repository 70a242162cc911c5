// The Node HTTP server's bounds (README: Timeouts and bounds), each set from the configuration and
// seen from a raw socket: a client that sends its body or headers too slowly is answered 408 and
// disconnected, an idle keep-alive connection is closed, connections beyond the bound are closed
// on arrival, and a request whose handling takes too long is answered 503 with Retry-After. With
// the database unreachable (this server's pool points at a closed port), every door answers 503
// with Retry-After rather than a 500.
import type { Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { ConfigError, HTTP_TIMEOUT_CHECK_INTERVAL_MS, loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createNodeServer, createServer, INGEST_PATH, type OpsServer } from '../../src/server.js';

const SECRET = 'timeouts-test-secret-0123456789abcdef012345';
const REQUEST_TIMEOUT_MS = 2_000;
const config = loadConfig({
  NODE_ENV: 'test',
  SUPABASE_JWT_SECRET: SECRET,
  LOG_LEVEL: 'silent',
  OPS_HTTP_HEADERS_TIMEOUT_MS: '1500',
  OPS_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS: '500',
  OPS_HTTP_HANDLER_TIMEOUT_MS: '1000',
  OPS_HTTP_MAX_CONNECTIONS: '4',
});

let http: Server;
let app: OpsServer;
let pool: pg.Pool;
let port: number;

beforeAll(async () => {
  // A database that cannot be reached (nothing listens on port 1).
  pool = new pg.Pool({ connectionString: 'postgresql://nobody@127.0.0.1:1/none' });
  app = createServer({
    config,
    pool,
    logger: createLogger({ level: 'silent' }),
    routes: [
      {
        method: 'GET',
        path: '/test/slow',
        handler: () => new Promise((resolve) => setTimeout(() => resolve(new Response('late')), 5_000)),
      },
    ],
  });
  http = createNodeServer(config);
  http.on('request', app.handle);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = (http.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close({ timeoutMs: 1_000 });
  http.closeAllConnections();
  await new Promise((resolve) => http.close(resolve));
  await pool.end();
});

interface Closed {
  received: string;
  afterMs: number;
}

/** A raw connection, and a promise of what it received until the server closed it. */
function open(to = port): { socket: Socket; closed: Promise<Closed> } {
  const began = Date.now();
  const socket = connect(to, '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d) => {
    received += d;
  });
  socket.on('error', () => {});
  const closed = new Promise<Closed>((resolve) => {
    socket.once('close', () => resolve({ received, afterMs: Date.now() - began }));
  });
  return { socket, closed };
}

/** Writes `text` one character per `everyMs` until done or the socket closes; returns how many. */
async function trickle(socket: Socket, text: string, everyMs: number): Promise<number> {
  let sent = 0;
  for (const ch of text) {
    if (socket.destroyed || socket.writableEnded) break;
    socket.write(ch);
    sent++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return sent;
}

describe('configuration', () => {
  it('defaults are the documented ones', () => {
    const c = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET });
    expect(c.http).toEqual({
      headersTimeoutMs: 10_000,
      requestTimeoutMs: 30_000,
      keepAliveTimeoutMs: 5_000,
      handlerTimeoutMs: 30_000,
      maxConnections: 1_024,
    });
    expect(c.dbPoolMax).toBe(10);
  });

  it('a headers timeout above the request timeout, or a value out of range, is refused by name', () => {
    const base = { NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET };
    expect(() =>
      loadConfig({ ...base, OPS_HTTP_HEADERS_TIMEOUT_MS: '20000', OPS_HTTP_REQUEST_TIMEOUT_MS: '10000' }),
    ).toThrow(ConfigError);
    for (const [name, value] of [
      ['OPS_HTTP_REQUEST_TIMEOUT_MS', '10'],
      ['OPS_HTTP_MAX_CONNECTIONS', '0'],
      ['OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS', 'soon'],
      ['OPS_DB_POOL_MAX', '0'],
    ] as const) {
      try {
        loadConfig({ ...base, [name]: value });
        throw new Error(`${name}=${value} was accepted`);
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).variables).toEqual([name]);
      }
    }
  });

  it('the server carries them', () => {
    expect(http.requestTimeout).toBe(REQUEST_TIMEOUT_MS);
    expect(http.headersTimeout).toBe(1_500);
    expect(http.keepAliveTimeout).toBe(500);
    expect(http.maxConnections).toBe(4);
  });
});

describe('bounds', () => {
  it('a slow-body client is answered 408 and disconnected within the request timeout', async () => {
    const body = JSON.stringify({ schema_version: 'v1.0', pad: 'x'.repeat(400) });
    const { socket, closed } = open();
    socket.write(
      `POST ${INGEST_PATH} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    // One byte every 100 ms: the whole body would take over 40 s.
    const sent = trickle(socket, body, 100);
    const result = await closed;
    expect(await sent).toBeLessThan(body.length);
    expect(result.received).toMatch(/^HTTP\/1\.1 408/);
    // Generous on a shared machine: the documented bound plus Node's check interval, plus slack.
    expect(result.afterMs).toBeLessThan(REQUEST_TIMEOUT_MS + HTTP_TIMEOUT_CHECK_INTERVAL_MS + 10_000);
    process.stdout.write(
      `slow body: disconnected after ${result.afterMs} ms (request timeout ${REQUEST_TIMEOUT_MS} ms)\n`,
    );
  }, 60_000);

  it('a slow-header client is disconnected too', async () => {
    const { socket, closed } = open();
    const headers = `GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'y'.repeat(400)}\r\n\r\n`;
    const sent = trickle(socket, headers, 100);
    const result = await closed;
    expect(await sent).toBeLessThan(headers.length);
    expect(result.received).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);

  it('an idle keep-alive connection is closed after its response', async () => {
    const { socket, closed } = open();
    socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
    const result = await closed;
    expect(result.received).toMatch(/^HTTP\/1\.1 200/);
    expect(result.received).toMatch(/keep-alive/i);
  }, 60_000);

  it('connections beyond the bound are closed on arrival; the ones within it are served', async () => {
    // A server of the same bound whose headers timeout (1.5 s above) cannot close the held, silent
    // connections first: on a busy machine that took longer than the window to get to the extra
    // connection, and the bound then had room for it.
    const bounded = createNodeServer(
      loadConfig({
        NODE_ENV: 'test',
        SUPABASE_JWT_SECRET: SECRET,
        OPS_HTTP_HEADERS_TIMEOUT_MS: '600000',
        OPS_HTTP_REQUEST_TIMEOUT_MS: '600000',
        OPS_HTTP_MAX_CONNECTIONS: '4',
      }),
    );
    bounded.on('request', app.handle);
    await new Promise<void>((resolve) => bounded.listen(0, '127.0.0.1', resolve));
    const boundedPort = (bounded.address() as AddressInfo).port;
    try {
      expect(bounded.maxConnections).toBe(4);
      const held = Array.from({ length: 4 }, () => open(boundedPort));
      await Promise.all(held.map((h) => new Promise((r) => h.socket.once('connect', r))));
      // Node counts a connection once it has accepted it.
      await expect
        .poll(() => new Promise<number>((resolve) => bounded.getConnections((_, n) => resolve(n))), {
          timeout: 30_000,
          interval: 50,
        })
        .toBe(4);
      const extra = open(boundedPort);
      extra.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n');
      const refused = await extra.closed;
      expect(refused.received).toBe('');
      // The held ones still work.
      held[0]!.socket.write('GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
      expect((await held[0]!.closed).received).toMatch(/^HTTP\/1\.1 200/);
      for (const h of held) h.socket.destroy();
    } finally {
      bounded.closeAllConnections();
      await new Promise((resolve) => bounded.close(resolve));
    }
  }, 60_000);

  it('a request whose handling takes too long is answered 503 with Retry-After', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/test/slow`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({ error: 'handler_timeout' });
  }, 60_000);
});

describe('the database unreachable', () => {
  const base = () => `http://127.0.0.1:${port}`;
  const token = () => mintToken({ secret: SECRET, persona: 'ci_service_role', sub: 'ci', ttlSeconds: 600 });

  it('/readiness: 503 with Retry-After', async () => {
    const res = await fetch(`${base()}/readiness`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('the ingest: 503 database_unavailable with Retry-After', async () => {
    const res = await fetch(`${base()}${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
      body: JSON.stringify({ schema_version: 'v1.0' }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await res.json()).toMatchObject({ status: 'error', error: 'database_unavailable' });
  });

  it('GraphQL: HTTP 503 with Retry-After and code SERVICE_UNAVAILABLE, for a query and a mutation', async () => {
    for (const query of [
      '{ releases(first: 1) { nodes { id } } }',
      'mutation { createRelease(input: { project: "p", releaseName: "r" }) { __typename } }',
    ]) {
      const res = await fetch(`${base()}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await token()}` },
        body: JSON.stringify({ query }),
      });
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(503);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(body.errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
      expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1|stack/);
    }
  });
});
