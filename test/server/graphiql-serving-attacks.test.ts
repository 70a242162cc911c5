// Attacks on how the GraphiQL page travels (src/http/graphiql.ts), as data: odd Accept-Encoding
// and If-None-Match values, and GraphQL answers asked for with the page's ETag and every
// encoding. None may get a 500, an encoding the client refused, a 304 for an ETag that is not the
// page's, or a GraphQL answer compressed, tagged or revalidated. Raw node:http requests, so that
// nothing decodes the body or adds an Accept-Encoding on the way.
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type RawAnswer as Raw, rawRequest, type ServedApi, serveApi } from '../support/loopback.js';

const SECRET = 'graphiql-serving-attacks-secret-0123456789abcdef';

let db: TestDatabase;
let on: ServedApi;
let whole: Raw;
let etag: string;

function send(
  pathAndQuery: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<Raw> {
  return rawRequest(`${on.base}${pathAndQuery}`, headers, method, body);
}

beforeAll(async () => {
  db = await useTestDatabase();
  on = await serveApi(db, SECRET, { OPS_GRAPHIQL: 'true' });
  whole = await send('/graphql', { accept: 'text/html' });
  etag = String(whole.headers.etag);
});

afterAll(async () => {
  await on?.close();
});

/** The body as the page's bytes, decoded by its Content-Encoding. */
function decoded(res: Raw): Buffer {
  const enc = res.headers['content-encoding'];
  if (enc === 'br') return brotliDecompressSync(res.body);
  if (enc === 'gzip') return gunzipSync(res.body);
  return res.body;
}

/**
 * Accept-Encoding values and the encodings the page may then travel in ('' = none). A refused
 * identity with no acceptable coding left may still be answered whole (RFC 9110 12.5.3 lets the
 * server send an unencoded representation, or a 406); never a coding the client refused.
 */
const ACCEPT_ENCODING: [string, string[]][] = [
  ['', ['']],
  ['*', ['br', 'gzip']],
  ['*;q=0', ['']],
  ['identity;q=0', ['']],
  ['*;q=0, identity', ['']],
  ['gzip;q=0, *', ['br']],
  ['br;q=0, *', ['gzip']],
  ['br;q=0.5, gzip;q=0.9', ['gzip']],
  ['GZIP', ['gzip']],
  ['Br', ['br']],
  ['br;q=abc', ['', 'gzip']],
  ['br;q=abc, gzip', ['gzip']],
  ['gzip;q=1e999', ['', 'gzip']],
  ['gzip;q=-1', ['']],
  ['gzip;q=2', ['', 'gzip']],
  [',,,', ['']],
  [';;;', ['']],
  ['gzip;;q=1;;', ['gzip', '']],
  ['compress, deflate, x-gzip', ['']],
  ['\tgzip\t', ['gzip']],
  ['b r', ['']],
  [`${'x,'.repeat(3000)}gzip`, ['gzip']],
];

describe('odd Accept-Encoding values for the page', () => {
  it.each(
    ACCEPT_ENCODING.map(
      ([accept, ok]) => [accept.length > 40 ? `${accept.slice(0, 40)}…` : accept, accept, ok] as const,
    ),
  )('"%s": 200, the page, in an encoding the client accepted', async (_label, accept, ok) => {
    const res = await send('/graphql', { accept: 'text/html', 'accept-encoding': accept });
    expect(res.status).toBe(200);
    expect(ok).toContain(String(res.headers['content-encoding'] ?? ''));
    expect(decoded(res).equals(whole.body)).toBe(true);
    expect(res.headers.etag).toBe(etag);
  });
});

describe('odd If-None-Match values for the page', () => {
  const cases: [string, (etag: string) => string, number][] = [
    ['the page’s ETag', (e) => e, 304],
    ['the page’s ETag among others', (e) => `"a", ${e}, "b"`, 304],
    ['empty', () => '', 200],
    ['a comma', () => ',', 200],
    ['the ETag unquoted', (e) => e.slice(1, -1), 200],
    ['the ETag with one character more', (e) => `${e.slice(0, -1)}x"`, 200],
    ['the ETag cut short', (e) => `${e.slice(0, -2)}"`, 200],
    ['the ETag in upper case', (e) => e.toUpperCase(), 200],
    ['a long list of other tags', () => Array.from({ length: 500 }, (_, i) => `"t${i}"`).join(', '), 200],
    ['a weak tag of other bytes', () => 'W/"stale"', 200],
  ];
  it.each(cases.map(([what, match, status]) => [what, status, match] as const))(
    '%s: answers %s, never a 500',
    async (_what, status, match) => {
      const res = await send('/graphql', {
        accept: 'text/html',
        'if-none-match': match(etag),
        'accept-encoding': 'gzip',
      });
      expect(res.status).toBe(status);
      if (status === 304) expect(res.body.length).toBe(0);
      else expect(decoded(res).equals(whole.body)).toBe(true);
    },
  );

  it('"*" and a weak form of the page’s ETag: a 304 or the page, never a 500', async () => {
    for (const match of ['*', `W/${etag}`]) {
      const res = await send('/graphql', { accept: 'text/html', 'if-none-match': match });
      expect([200, 304], match).toContain(res.status);
      if (res.status === 200) expect(res.body.equals(whole.body), match).toBe(true);
    }
  });
});

describe('GraphQL answers asked for with the page’s ETag and every encoding', () => {
  const asks: [string, string, Record<string, string>, string | undefined][] = [
    [
      'GET with a query, JSON accepted',
      '/graphql?query=%7B__typename%7D',
      { accept: 'application/json' },
      undefined,
    ],
    [
      'GET with a query, the GraphQL response type accepted',
      '/graphql?query=%7B__typename%7D',
      { accept: 'application/graphql-response+json' },
      undefined,
    ],
    [
      'GET with a query, an event stream accepted',
      '/graphql?query=%7B__typename%7D',
      { accept: 'text/event-stream' },
      undefined,
    ],
    [
      'POST, HTML accepted',
      '/graphql',
      { accept: 'text/html', 'content-type': 'application/json' },
      JSON.stringify({ query: '{ __typename }' }),
    ],
    [
      'POST, anything accepted',
      '/graphql',
      { accept: '*/*', 'content-type': 'application/json' },
      JSON.stringify({ query: '{ __typename }' }),
    ],
  ];
  it.each(asks)('%s: not compressed, not tagged, never a 304', async (_what, path, headers, body) => {
    const res = await send(
      path,
      { ...headers, 'accept-encoding': 'br, gzip', 'if-none-match': `${etag}, *` },
      body === undefined ? 'GET' : 'POST',
      body,
    );
    expect(res.status).not.toBe(304);
    expect(res.status).toBeLessThan(500);
    // Yoga marks its event streams 'none' (not to be compressed on the way); nothing else.
    expect([undefined, 'none']).toContain(res.headers['content-encoding']);
    expect(res.headers.etag).toBeUndefined();
    expect(res.body.toString('utf8')).not.toContain('Ops release gates');
  });
});
