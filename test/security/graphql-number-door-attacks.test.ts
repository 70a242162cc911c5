// Attacks on the exact numbers of GraphQL variables (src/http/exact-numbers.ts), through the real
// Node server, as data: each row sends one request that tries to get a number a double cannot hold
// (9007199254740993) into a stored payload by another way in than a plain POST JSON body, or to
// make the check answer anything but a clear 400. `stored` is what the row allows in the ingest log
// for its key: nothing (refused), or the exact literal (never its rounding).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { createRelease, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type ServedApi, serveApi } from '../support/loopback.js';

const SECRET = 'test-secret-number-doors-0123456789abcdef0123456789';
const LOSSY = '9007199254740993';

let db: TestDatabase;
let api: ServedApi;
let base: string;
let releaseId: string;
let token: string;

beforeAll(async () => {
  db = await useTestDatabase();
  api = await serveApi(db, SECRET);
  base = api.base;
  releaseId = (await createRelease(db)).release_id;
  token = await mintToken({ secret: SECRET, persona: 'ci_service_role', sub: who.ci });
});

afterAll(async () => {
  await api?.close();
});

const INGEST = `mutation($key: String!, $release: ID!, $payload: JSON!) {
  ingestEvent(input: {schemaVersion: "v1.0", idempotencyKey: $key, eventType: build_complete,
    sourceSystem: "github_actions", releaseId: $release, emittedAt: "2026-11-30T12:00:00Z", payload: $payload}) {
    __typename ... on IngestEventSuccess { data { status ingestId } }
  }
}`;

/** The variables of an ingestEvent whose payload metadata carries `number` as written. */
function variablesText(key: string, number = LOSSY): string {
  return (
    `{"key":${JSON.stringify(key)},"release":"${releaseId}",` +
    `"payload":{"status":"pass","check_name":"number-doors","metadata":{"v":${number}}}}`
  );
}

function jsonBody(key: string, number = LOSSY): string {
  return `{"query":${JSON.stringify(INGEST)},"variables":${variablesText(key, number)}}`;
}

interface Sent {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | FormData;
}

interface NumberAttack {
  name: string;
  /** The request for an idempotency key. */
  request: (key: string) => Sent;
  /** The status the request must get (a clear 4xx for every way the number could arrive rounded). */
  status: number;
  /** Whether the answer names the number (false: refused for another reason, e.g. no variables). */
  names?: boolean;
  /** The payload numbers stored for the key, as jsonb text (none unless the request is valid). */
  stored?: string[];
}

const form = (key: string) => {
  const f = new FormData();
  f.set('operations', jsonBody(key));
  return f;
};

const ATTACKS: NumberAttack[] = [
  {
    name: 'POST application/json, text/plain (a content-type list: Yoga reads the first)',
    request: (key) => ({ headers: { 'content-type': 'application/json, text/plain' }, body: jsonBody(key) }),
    status: 400,
  },
  {
    name: 'POST application/graphql+json;charset=utf-8,application/json',
    request: (key) => ({
      headers: { 'content-type': 'application/graphql+json;charset=utf-8,application/json' },
      body: jsonBody(key),
    }),
    status: 400,
  },
  {
    name: 'POST multipart/form-data with the request as its operations field (no field takes a file)',
    request: (key) => ({ headers: { 'graphql-require-preflight': '1' }, body: form(key) }),
    status: 415,
  },
  {
    name: 'POST application/x-www-form-urlencoded with query and variables',
    request: (key) => ({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: INGEST, variables: variablesText(key) }).toString(),
    }),
    status: 400,
  },
  {
    name: 'POST application/json; charset=utf-8',
    request: (key) => ({
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: jsonBody(key),
    }),
    status: 400,
  },
  {
    name: 'POST Application/JSON (odd case)',
    request: (key) => ({ headers: { 'content-type': 'Application/JSON' }, body: jsonBody(key) }),
    status: 400,
  },
  {
    name: 'POST application/graphql-response+json',
    request: (key) => ({
      headers: { 'content-type': 'application/graphql-response+json' },
      body: jsonBody(key),
    }),
    status: 415,
  },
  {
    name: 'POST application/graphql with the variables in the query string',
    request: (key) => ({
      path: `/graphql?variables=${encodeURIComponent(variablesText(key))}`,
      headers: { 'content-type': 'application/graphql' },
      body: INGEST,
    }),
    status: 400,
    names: false,
  },
  {
    name: 'POST application/json whose variables come only in the query string',
    request: (key) => ({
      path: `/graphql?variables=${encodeURIComponent(variablesText(key))}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: INGEST }),
    }),
    status: 400,
    names: false,
  },
  {
    name: 'a batched array body',
    request: (key) => ({ headers: { 'content-type': 'application/json' }, body: `[${jsonBody(key)}]` }),
    status: 400,
  },
  {
    name: 'duplicate variables keys: the exact first, the lossy last (JSON.parse keeps the last)',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: `{"query":${JSON.stringify(INGEST)},"variables":${variablesText(key, '1')},"variables":${variablesText(key)}}`,
    }),
    status: 400,
  },
  {
    name: 'the number after escaped quotes and a unicode-escaped key',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body:
        `{"query":${JSON.stringify(INGEST)},"variables":{"key":${JSON.stringify(key)},"release":"${releaseId}",` +
        `"payload":{"status":"pass","check_name":"a\\"\\\\\\"","met\\u0061data":{"\\"v":${LOSSY}}}}}`,
    }),
    status: 400,
  },
  {
    name: 'GET with the mutation refused (405) whatever the variables',
    request: (key) => ({
      method: 'GET',
      path: `/graphql?query=${encodeURIComponent(INGEST)}&variables=${encodeURIComponent(variablesText(key, '1'))}`,
    }),
    status: 405,
  },
  // Valid requests by the same ways in still work, their numbers as sent.
  {
    name: 'valid: a form body with exact numbers is ingested',
    request: (key) => ({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: INGEST, variables: variablesText(key, '1.50') }).toString(),
    }),
    status: 200,
    stored: ['1.5'],
  },
  {
    name: 'valid: a content-type list led by application/json with exact numbers is ingested',
    request: (key) => ({
      headers: { 'content-type': 'application/json, text/plain' },
      body: jsonBody(key, '12'),
    }),
    status: 200,
    stored: ['12'],
  },
  {
    name: 'a form body whose variables are not JSON: a 400, not a 500',
    request: () => ({
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ query: INGEST, variables: '{"key":' }).toString(),
    }),
    status: 400,
    names: false,
  },
  // Large adversarial bodies within the body limit: a clear 400, promptly.
  {
    name: 'fifteen thousand lossy numbers: a 400 naming the first ten',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: jsonBody(key, `[${Array(15_000).fill(LOSSY).join(',')}]`),
    }),
    status: 400,
  },
  {
    name: 'the lossy number under 100 000 nested arrays',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: jsonBody(key, `${'['.repeat(100_000)}${LOSSY}${']'.repeat(100_000)}`),
    }),
    status: 400,
    names: false,
  },
  {
    // Beyond a double's range upwards it reads as Infinity, which the ingest's own JSON check
    // refuses by path (a ValidationError, the attempt logged as rejected), as for 1e400.
    name: 'a 200 000-digit number literal: refused by the ingest as out of range, nothing stored',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: jsonBody(key, `1${'0'.repeat(200_000)}`),
    }),
    status: 200,
    names: false,
    // The rejected attempt's log row, the number in its envelope marked as what could not be kept.
    stored: ['"(number out of range)"'],
  },
  {
    name: 'a decimal with 200 000 zeros before its digit',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: jsonBody(key, `0.${'0'.repeat(200_000)}1`),
    }),
    status: 400,
    names: false,
  },
  {
    name: 'an exponent past 2^53 that reads as 0',
    request: (key) => ({
      headers: { 'content-type': 'application/json' },
      body: jsonBody(key, '1e-9007199254740993'),
    }),
    status: 400,
    names: false,
  },
];

async function send(s: Sent) {
  const res = await fetch(`${base}${s.path ?? '/graphql'}`, {
    method: s.method ?? 'POST',
    headers: { authorization: `Bearer ${token}`, ...(s.headers ?? {}) },
    body: s.body,
  });
  return { status: res.status, text: await res.text() };
}

async function storedNumbers(key: string): Promise<string[]> {
  const { rows } = await db.admin.query<{ v: string }>(
    `select (envelope -> 'payload' -> 'metadata' -> 'v')::text as v from ops.event_ingest_log
     where idempotency_key = $1 and envelope -> 'payload' -> 'metadata' ? 'v'`,
    [key],
  );
  return rows.map((r) => r.v);
}

describe('GraphQL numbers through every way in', () => {
  it.each(ATTACKS.map((a, i) => [a.name, a, i] as const))('%s', async (_name, attack, i) => {
    const key = `number-door/${i}/${Date.now()}`;
    const { status, text } = await send(attack.request(key));
    // Never a rounded number stored, whatever the answer.
    for (const v of await storedNumbers(key)) expect(v).not.toBe('9007199254740992');
    expect(status, text).toBe(attack.status);
    if (attack.names !== false && status === 400) expect(text).toContain(LOSSY);
    if (status === 400) expect(JSON.parse(text).errors?.[0]?.message, text).toBeTruthy();
    expect(await storedNumbers(key)).toEqual(attack.stored ?? []);
  });
});
