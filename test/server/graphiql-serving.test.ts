// How the GraphiQL page travels (src/http/graphiql.ts): it inlines GraphiQL's ~9 MB bundle, so it
// is sent brotli- or gzip-compressed when the browser accepts it, whole when it does not, and a
// reload that presents the page's ETag gets a 304 with no body. GraphQL answers are not touched.
// Raw node:http requests, so that nothing decodes the body or adds an Accept-Encoding on the way.
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type RawAnswer as Raw, rawRequest, type ServedApi, serveApi } from '../support/loopback.js';

const SECRET = 'graphiql-serving-secret-0123456789abcdef012345';

let db: TestDatabase;
let on: ServedApi;
let off: ServedApi;

beforeAll(async () => {
  db = await useTestDatabase();
  on = await serveApi(db, SECRET, { OPS_GRAPHIQL: 'true' });
  off = await serveApi(db, SECRET, { OPS_GRAPHIQL: 'false' });
});

afterAll(async () => {
  await on?.close();
  await off?.close();
});

function get(base: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<Raw> {
  return rawRequest(`${base}/graphql`, headers, method, body);
}

const page = (accept: Record<string, string> = {}) => get(on.base, { accept: 'text/html', ...accept });

describe('the GraphiQL page', () => {
  let whole: Raw;
  beforeAll(async () => {
    whole = await page();
  });

  it('is sent whole to a client that names no encoding, with an ETag and revalidation', () => {
    expect(whole.status).toBe(200);
    expect(whole.headers['content-encoding']).toBeUndefined();
    expect(whole.headers['content-type']).toMatch(/^text\/html/);
    expect(whole.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
    expect(whole.headers['cache-control']).toBe('no-cache');
    expect(whole.headers.vary).toMatch(/accept-encoding/i);
    const html = whole.body.toString('utf8');
    expect(html).toContain('Ops release gates');
    expect(html).toContain('Re-fetch GraphQL schema');
    expect(whole.body.length).toBeGreaterThan(1_000_000);
  });

  it.each([
    ['br', 'gzip, deflate, br', brotliDecompressSync],
    ['gzip', 'gzip, deflate', gunzipSync],
    ['gzip', 'br;q=0, gzip', gunzipSync],
  ] as const)(
    'is sent as %s to a client accepting "%s", the same bytes at a third of the size or less',
    async (encoding, accept, decode) => {
      const res = await page({ 'accept-encoding': accept });
      expect(res.status).toBe(200);
      expect(res.headers['content-encoding']).toBe(encoding);
      expect(res.headers.etag).toBe(whole.headers.etag);
      expect(res.headers.vary).toMatch(/accept-encoding/i);
      expect(Number(res.headers['content-length'] ?? res.body.length)).toBe(res.body.length);
      expect(res.body.length * 3).toBeLessThan(whole.body.length);
      expect(decode(res.body).equals(whole.body)).toBe(true);
    },
  );

  it('is sent whole when every compression is refused', async () => {
    for (const accept of ['identity', 'gzip;q=0, br;q=0', 'deflate']) {
      const res = await page({ 'accept-encoding': accept });
      expect(res.status, accept).toBe(200);
      expect(res.headers['content-encoding'], accept).toBeUndefined();
      expect(res.body.equals(whole.body), accept).toBe(true);
    }
  });

  it('answers a reload carrying its ETag with 304 and no body, and another ETag with the page', async () => {
    const etag = String(whole.headers.etag);
    for (const match of [etag, `"stale", ${etag}`]) {
      const res = await page({ 'if-none-match': match, 'accept-encoding': 'gzip' });
      expect(res.status, match).toBe(304);
      expect(res.body.length, match).toBe(0);
      expect(res.headers.etag).toBe(etag);
    }
    const stale = await page({ 'if-none-match': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.body.equals(whole.body)).toBe(true);
  });
});

describe('what is not the page', () => {
  it('GraphQL answers are not compressed or tagged, even to a client accepting gzip', async () => {
    const res = await get(
      on.base,
      { 'content-type': 'application/json', accept: 'application/json', 'accept-encoding': 'gzip, br' },
      'POST',
      JSON.stringify({ query: '{ viewer { subject } }' }),
    );
    expect(res.status).toBe(401);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.headers.etag).toBeUndefined();
    expect(JSON.parse(res.body.toString('utf8'))).toHaveProperty('errors');
  });

  it('with GraphiQL off, a browser GET is no page, compressed or not', async () => {
    const res = await get(off.base, { accept: 'text/html', 'accept-encoding': 'gzip' });
    expect(res.headers['content-type'] ?? '').not.toMatch(/^text\/html/);
    expect(res.headers['content-encoding']).toBeUndefined();
    expect(res.body.toString('utf8')).not.toContain('Ops release gates');
  });
});
