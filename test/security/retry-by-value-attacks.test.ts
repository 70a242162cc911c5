// Retries judged by value, attacked through the three ingest doors: the server's HTTP route, the
// Edge Function under Deno, and RPC to ops.ingest_event. Each row sends a first attempt and a retry
// with the same idempotency key as JSON text written by hand (numbers, strings and keys exactly as
// given) and says what the retry must be: the duplicate of the first (the same event, spelt
// otherwise), a conflict (a different event), or a refusal of the first attempt itself (the door
// cannot hold what was sent, so accepting it would store another event than the one sent).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, who } from '../governance/scenario.js';
import { bearer, denoTarget, httpServerTarget, type IngestTarget, SECRET } from '../ingest/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let http: IngestTarget;
let deno: IngestTarget;
let releaseId: string;

beforeAll(async () => {
  db = await useTestDatabase();
  http = await httpServerTarget(db);
  deno = await denoTarget(db, { SUPABASE_JWT_SECRET: SECRET });
  releaseId = (await createRelease(db)).release_id;
}, 120_000);

afterAll(async () => {
  await http?.close();
  await deno?.close();
});

/**
 * graphql-literal: ingestEvent with the metadata written into the document (its number text is
 * known); graphql-variables: the same through variables (the server checks their number text
 * before it JSON.parses them, src/http/exact-numbers.ts).
 */
type Door = 'http' | 'deno' | 'rpc' | 'graphql-literal' | 'graphql-variables';
/** own event: accepted as a first attempt of its own (another producer's key). */
type Outcome = 'duplicate' | 'conflict' | 'refused' | 'own event';

interface RetryAttack {
  name: string;
  /** The first attempt's metadata value and, unless `retryEnvelope` says otherwise, the retry's. */
  first: string;
  retry: string;
  /** Doors and what the retry must be through each (refused: the first attempt is a 400). */
  expect: Partial<Record<Door, Outcome>>;
  /** Text added to the retry's envelope (after payload), e.g. a moved emitted_at. */
  retryExtra?: string;
  /** The retry sent by another producer (its own subject): never the first one's duplicate. */
  otherProducer?: boolean;
  /** Doors where the outcome given is still the wrong one, and why it is not closed yet. */
  open?: Partial<Record<Door, string>>;
}

const all = (o: Outcome): Partial<Record<Door, Outcome>> => ({ http: o, deno: o, rpc: o });

// metadata is free-form in build_complete, so any JSON value can go there.
const rows: RetryAttack[] = [
  {
    name: 'a number spelt otherwise (1.50, 15e-1)',
    first: '1.50',
    retry: '15e-1',
    expect: { ...all('duplicate'), 'graphql-literal': 'duplicate', 'graphql-variables': 'duplicate' },
  },
  { name: 'a negative zero and a zero', first: '-0', retry: '0', expect: all('duplicate') },
  { name: '1.0e-7 and 0.0000001', first: '1.0e-7', retry: '0.0000001', expect: all('duplicate') },
  {
    name: 'a different number',
    first: '1.5',
    retry: '1.6',
    expect: { ...all('conflict'), 'graphql-literal': 'conflict', 'graphql-variables': 'conflict' },
  },
  {
    name: 'two integers beyond a double’s precision that a double cannot tell apart',
    first: '9007199254740993',
    retry: '9007199254740992',
    expect: {
      http: 'refused',
      deno: 'refused',
      rpc: 'conflict',
      'graphql-literal': 'refused',
      'graphql-variables': 'refused',
    },
  },
  {
    name: 'two numbers below a double’s range (JSON.parse reads both as 0)',
    first: '1e-400',
    retry: '2e-400',
    expect: {
      http: 'refused',
      deno: 'refused',
      rpc: 'conflict',
      'graphql-literal': 'refused',
      'graphql-variables': 'refused',
    },
  },
  {
    name: 'a decimal with more digits than a double keeps',
    first: '0.1000000000000000055511151231257827',
    retry: '0.1',
    expect: { http: 'refused', deno: 'refused', rpc: 'conflict', 'graphql-variables': 'refused' },
  },
  {
    name: 'two numbers above a double’s range (JSON.parse reads both as Infinity)',
    first: '1e400',
    retry: '2e400',
    expect: { http: 'refused', deno: 'refused', rpc: 'conflict', 'graphql-variables': 'refused' },
  },
  {
    name: 'a NaN-looking string and the number it spells',
    first: '"NaN"',
    retry: '"nan"',
    expect: all('conflict'),
  },
  {
    name: 'a string equal after Unicode normalisation but not byte-equal (é as one and two code points)',
    first: '"caf\\u00e9"',
    retry: '"cafe\\u0301"',
    expect: all('conflict'),
  },
  {
    name: 'the same string escaped otherwise (\\u00e9 and é)',
    first: '"caf\\u00e9"',
    retry: '"café"',
    expect: all('duplicate'),
  },
  {
    name: 'keys in another order',
    first: '{"a":1,"b":[1,2]}',
    retry: '{"b":[1,2],"a":1}',
    expect: all('duplicate'),
  },
  {
    name: 'a nested array in another order',
    first: '[[1,2],[3]]',
    retry: '[[3],[1,2]]',
    expect: all('conflict'),
  },
  { name: 'a nested array nested once more', first: '[1,[2]]', retry: '[1,[[2]]]', expect: all('conflict') },
  {
    name: 'emitted_at moved into the payload (only the envelope’s own emitted_at is left out)',
    first: '{}',
    retry: '{"emitted_at":"2020-01-01T00:00:00Z"}',
    expect: all('conflict'),
  },
  {
    name: 'emitted_at moved to another instant (left out: the same event)',
    first: '{}',
    retry: '{}',
    retryExtra: ',"emitted_at":"2020-01-01T00:00:00Z"',
    expect: all('duplicate'),
  },
  {
    name: 'another producer using the same key (its own event, never the first one’s duplicate)',
    first: '{}',
    retry: '{}',
    otherProducer: true,
    expect: all('own event'),
  },
];

function text(key: string, metadata: string, extra = ''): string {
  // emitted_at first, so that retryExtra (a later emitted_at) is the one JSON.parse and jsonb keep.
  return `{"emitted_at":"2026-01-01T00:00:00Z","schema_version":"v1.0","idempotency_key":"${key}","event_type":"build_complete","source_system":"github_actions","release_id":"${releaseId}","payload":{"status":"pass","check_name":"retry-by-value","metadata":{"v":${metadata}}}${extra}}`;
}

// biome-ignore lint/suspicious/noExplicitAny: ingest responses are inspected field by field
async function send(door: Door, body: string, sub: string): Promise<{ status: number; body: any }> {
  if (door === 'rpc') {
    return db.as('ci_service_role', sub, async (c) => {
      const { rows: r } = await c.query('select ops.ingest_event($1::jsonb) as r', [body]);
      return { status: r[0].r.http_status, body: r[0].r };
    });
  }
  if (door === 'graphql-literal' || door === 'graphql-variables') return sendGraphql(door, body, sub);
  const target = door === 'http' ? http : deno;
  const r = await target.post(body, { authorization: await bearer('ci_service_role', sub) });
  return { status: r.status, body: r.body };
}

/** The envelope as ingestEvent's input: the payload inline in the document, or as a variable. */
// biome-ignore lint/suspicious/noExplicitAny: ingest responses are inspected field by field
async function sendGraphql(door: Door, body: string, sub: string): Promise<{ status: number; body: any }> {
  const metadata = /"metadata":\{"v":(.*)\}\}(?:,"emitted_at":"[^"]*")?\}$/.exec(body)![1]!;
  const e = JSON.parse(body);
  const selection = `{ __typename ... on IngestEventSuccess { data { status ingestId } } ... on Error { message } }`;
  const fields = `schemaVersion: "v1.0", idempotencyKey: ${JSON.stringify(e.idempotency_key)},
    eventType: build_complete, sourceSystem: "github_actions", releaseId: "${e.release_id}",
    emittedAt: "${e.emitted_at}"`;
  // Both written by hand, so that the number goes as written: into the document, or into the
  // variables of the request's JSON body.
  const requestBody =
    door === 'graphql-literal'
      ? JSON.stringify({
          query: `mutation { ingestEvent(input: {${fields},
            payload: {status: "pass", check_name: "retry-by-value", metadata: {v: ${metadata}}}}) ${selection} }`,
        })
      : `{"query":${JSON.stringify(`mutation($payload: JSON!) { ingestEvent(input: {${fields}, payload: $payload}) ${selection} }`)},` +
        `"variables":{"payload":{"status":"pass","check_name":"retry-by-value","metadata":{"v":${metadata}}}}}`;
  const res = await fetch(`${http.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: await bearer('ci_service_role', sub) },
    body: requestBody,
  });
  const json = await res.json();
  const out = json?.data?.ingestEvent;
  if (json.errors?.length || !out) return { status: 400, body: json };
  if (out.__typename === 'IngestEventSuccess') {
    return { status: 200, body: { status: out.data.status, ingest_id: out.data.ingestId } };
  }
  if (out.__typename === 'ConflictError') {
    return { status: 409, body: { status: 'rejected', detail: { error: 'idempotency_key_conflict' } } };
  }
  return { status: 400, body: out };
}

async function attempt(door: Door, row: RetryAttack): Promise<Outcome | 'accepted twice'> {
  const key = `retry/${door}/${randomUUID()}`;
  const first = await send(door, text(key, row.first), who.ci);
  if (first.status === 400) return 'refused';
  expect(first.body.status, JSON.stringify(first.body)).toBe('accepted');
  const retry = await send(
    door,
    text(key, row.retry, row.retryExtra),
    row.otherProducer ? 'ci-other' : who.ci,
  );
  if (row.otherProducer) {
    // Another producer's key is its own: a first attempt of its own, accepted, never a duplicate.
    return retry.body.status === 'accepted' && retry.body.ingest_id !== first.body.ingest_id
      ? 'own event'
      : retry.body.status;
  }
  if (retry.body.status === 'duplicate') {
    expect(retry.body.ingest_id).toBe(first.body.ingest_id);
    return 'duplicate';
  }
  if (retry.status === 409 && retry.body.detail?.error === 'idempotency_key_conflict') return 'conflict';
  return 'accepted twice';
}

describe('a retry judged by value', () => {
  const cases = rows.flatMap((row) =>
    (Object.entries(row.expect) as [Door, Outcome][]).map(([door, outcome]) => [
      `${door} · ci_service_role · ${row.name}: ${outcome}`,
      door,
      row,
      outcome,
    ]),
  ) as [string, Door, RetryAttack, Outcome][];
  it.each(cases)(
    '%s',
    async (_label, door, row, outcome) => {
      // An open row (see its reason) is expected to keep its wrong outcome until it is closed.
      expect(await attempt(door, row), row.open?.[door]).toBe(outcome);
    },
    60_000,
  );
});
