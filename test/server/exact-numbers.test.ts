// GraphQL variables and extensions hold their numbers exactly (src/http/exact-numbers.ts), through
// the real Node server: a number a double cannot hold is refused with a 400 that names it and its
// path, before anything is executed; a number merely spelt otherwise is the number it spells; a
// body that is not a JSON object is refused as Yoga's own parser refuses it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { createRelease, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type ServedApi, serveApi } from '../support/loopback.js';

const SECRET = 'test-secret-exact-numbers-0123456789abcdef0123456789';

let db: TestDatabase;
let api: ServedApi;
let base: string;
let releaseId: string;

beforeAll(async () => {
  db = await useTestDatabase();
  api = await serveApi(db, SECRET);
  base = api.base;
  releaseId = (await createRelease(db)).release_id;
});

afterAll(async () => {
  await api?.close();
});

async function headers(persona: Persona = 'ci_service_role', sub: string = who.ci) {
  return {
    'content-type': 'application/json',
    authorization: `Bearer ${await mintToken({ secret: SECRET, persona, sub })}`,
  };
}

// biome-ignore lint/suspicious/noExplicitAny: GraphQL responses are inspected field by field
async function post(body: string): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/graphql`, { method: 'POST', headers: await headers(), body });
  return { status: res.status, json: await res.json() };
}

const INGEST = `mutation($key: String!, $release: ID!, $payload: JSON!) {
  ingestEvent(input: {schemaVersion: "v1.0", idempotencyKey: $key, eventType: build_complete,
    sourceSystem: "github_actions", releaseId: $release, emittedAt: "2026-11-30T12:00:00Z", payload: $payload}) {
    __typename ... on IngestEventSuccess { data { status ingestId } }
  }
}`;

/** An ingestEvent request whose payload metadata carries `number` exactly as written. */
function ingestBody(key: string, number: string): string {
  return (
    `{"query":${JSON.stringify(INGEST)},"variables":{"key":${JSON.stringify(key)},` +
    `"release":"${releaseId}","payload":{"status":"pass","check_name":"exact-numbers","metadata":{"v":${number}}}}}`
  );
}

async function logRowsOf(key: string): Promise<number> {
  const { rows } = await db.admin.query(
    'select count(*)::int as n from ops.event_ingest_log where idempotency_key = $1',
    [key],
  );
  return rows[0].n;
}

describe('numbers in GraphQL variables', () => {
  it.each([
    [
      'an integer past 2^53',
      '9007199254740993',
      'variables.payload.metadata.v: 9007199254740993 (reads as 9007199254740992)',
    ],
    ['a number below a double’s range', '1e-400', 'variables.payload.metadata.v: 1e-400 (reads as 0)'],
    [
      'a decimal with more digits than a double keeps',
      '0.1000000000000000055511151231257827',
      'variables.payload.metadata.v: 0.1000000000000000055511151231257827 (reads as 0.1)',
    ],
  ])('%s is refused with a 400 naming it, and nothing is ingested', async (_name, number, named) => {
    const key = `exact/${number}`;
    const { status, json } = await post(ingestBody(key, number));
    expect(status).toBe(400);
    expect(json.errors[0].message).toContain(named);
    expect(json.errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(json.data).toBeUndefined();
    expect(await logRowsOf(key)).toBe(0);
  });

  it('a number spelt otherwise (1.50) is the number it spells and is ingested', async () => {
    const { status, json } = await post(ingestBody('exact/1.50', '1.50'));
    expect(status, JSON.stringify(json)).toBe(200);
    expect(json.data.ingestEvent.data.status).toBe('accepted');
    const { rows } = await db.admin.query(
      `select envelope -> 'payload' -> 'metadata' -> 'v' as v from ops.event_ingest_log where idempotency_key = $1`,
      ['exact/1.50'],
    );
    expect(Number(rows[0].v)).toBe(1.5);
  });

  it('every refused number is named, in extensions too', async () => {
    const { status, json } = await post(
      '{"query":"{ viewer { subject } }","extensions":{"a":[1,9007199254740993]},"variables":{"b":{"c":1e-999,"d":1e999}}}',
    );
    expect(status).toBe(400);
    expect(json.errors[0].message).toContain('extensions.a.1: 9007199254740993');
    expect(json.errors[0].message).toContain('variables.b.c: 1e-999 (reads as 0)');
    // Beyond the range upwards it reads as Infinity, left to the JSON checks behind each mutation
    // (test/ingest/hostile-bytes.test.ts: a ValidationError naming the path, an ingest logged).
    expect(json.errors[0].message).not.toContain('1e999');
  });

  it('GET parameters are held to the same', async () => {
    const query = encodeURIComponent('query($id: ID!) { release(id: $id) { id } }');
    const variables = encodeURIComponent('{"id":12345678901234567890}');
    const res = await fetch(`${base}/graphql?query=${query}&variables=${variables}`, {
      headers: await headers('audit_reader', who.auditor),
    });
    expect(res.status).toBe(400);
    expect((await res.json()).errors[0].message).toContain('variables.id: 12345678901234567890');
  });

  it('a body that is not a JSON object is refused as before', async () => {
    const invalid = await post('{"query":');
    expect(invalid.status).toBe(400);
    expect(invalid.json.errors[0].message).toBe('POST body sent invalid JSON.');
    const scalar = await post('42');
    expect(scalar.status).toBe(400);
    expect(scalar.json.errors[0].message).toBe('POST body is expected to be object but received number');
    const nothing = await post('null');
    expect(nothing.status).toBe(400);
    expect(nothing.json.errors[0].message).toBe('POST body is expected to be object but received null');
  });
});
