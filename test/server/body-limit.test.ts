// The GraphQL body limit holds at both doors: the Node server (the body read once, under the limit,
// before a Request exists) and the Fetch level (OpsServer.fetch / yoga.fetch, where the body is
// counted while it is read), with or without a Content-Length, and a body within it is answered.
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type OpsServer } from '../../src/server.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const SECRET = 'test-secret-body-limit-0123456789abcdef0123456789';
const LIMIT = 4096;

let db: TestDatabase;
let app: OpsServer;
let http: Server;
let port: number;
let token: string;

beforeAll(async () => {
  db = await useTestDatabase();
  app = createServer({
    config: loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: SECRET, OPS_MAX_BODY_BYTES: String(LIMIT) }),
    pool: db.api,
    logger: createLogger({ level: 'silent' }),
  });
  http = createHttpServer(app.handle);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  port = (http.address() as AddressInfo).port;
  token = await mintToken({ secret: SECRET, persona: 'sre', sub: 'body-limit' });
});

afterAll(async () => {
  await app?.close();
  await new Promise((resolve) => http?.close(resolve));
});

/** A GraphQL document of about `bytes` bytes (padded with a comment), as a JSON body. */
function bodyOf(bytes: number): string {
  const pad = '#'.padEnd(Math.max(1, bytes - 60), 'x');
  return JSON.stringify({ query: `${pad}\n{ viewer { subject } }` });
}

/** A body delivered as a stream: no Content-Length, so only counting can stop it. */
function streamOf(text: string): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 1024) controller.enqueue(bytes.slice(i, i + 1024));
      controller.close();
    },
  });
}

const fetchLevel = (body: BodyInit, headers: Record<string, string> = {}) =>
  app.fetch(
    new Request('http://localhost/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
      body,
      duplex: 'half',
    } as RequestInit),
  );

function overHttp(body: string, chunked: boolean): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      path: '/graphql',
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        ...(chunked ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
      },
    });
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', (err) => (err as NodeJS.ErrnoException).code === 'EPIPE' || reject(err));
    if (chunked) {
      for (let i = 0; i < body.length; i += 1024) req.write(body.slice(i, i + 1024));
      req.end();
    } else req.end(body);
  });
}

describe('the GraphQL body limit', () => {
  it('answers a body within the limit at both doors, with or without a Content-Length', async () => {
    const body = bodyOf(LIMIT - 200);
    for (const res of [await fetchLevel(body), await fetchLevel(streamOf(body))]) {
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ data: { viewer: { subject: 'body-limit' } } });
    }
    for (const chunked of [false, true]) {
      const res = await overHttp(body, chunked);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ data: { viewer: { subject: 'body-limit' } } });
    }
  });

  it('refuses a body over the limit at the Fetch level, by Content-Length and while streaming', async () => {
    const body = bodyOf(LIMIT + 500);
    const declared = await fetchLevel(body);
    expect(declared.status).toBe(413);
    const streamed = await fetchLevel(streamOf(body));
    expect(streamed.status).toBe(413);
    expect(((await streamed.json()) as { errors: { extensions: unknown }[] }).errors[0]!.extensions).toEqual({
      code: 'REQUEST_ENTITY_TOO_LARGE',
      limit: 'body_size',
    });
  });

  it('refuses a Content-Length that is not a plain number at the Fetch level', async () => {
    const res = await app.yoga.fetch('http://localhost/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${token}`,
        'content-length': '10, 10',
      },
      body: bodyOf(100),
    });
    expect(res.status).toBe(400);
  });

  it('refuses a body over the limit over HTTP, by Content-Length and chunked', async () => {
    const body = bodyOf(LIMIT + 500);
    expect((await overHttp(body, false)).status).toBe(413);
    expect((await overHttp(body, true)).status).toBe(413);
  });
});
