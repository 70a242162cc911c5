// Bytes PostgreSQL's jsonb cannot store, at every JSON door: NUL and unpaired surrogates in keys
// (at any depth) as well as values, numbers outside the range of a double (JSON.parse makes them
// Infinity), absurd nesting; plus bodies that are not JSON by their Content-Type or not UTF-8.
// Each is a 4xx naming what is wrong (never a 5xx), leaves exactly one log row that keeps the
// event's identity, and no domain row. The same inputs through GraphQL (ingestEvent and the JSON
// inputs of other mutations) are ValidationErrors naming the path.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  type ChildService,
  envelope,
  INGEST_PATH,
  logCount,
  type NodeServer,
  startDenoFunction,
  startServer,
} from './support.js';

let db: TestDatabase;
let server: NodeServer;
let deno: ChildService;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  server = startServer(db);
  await server.listen();
  deno = await startDenoFunction(db);
  release = await createRelease(db);
});
afterAll(async () => {
  await deno?.stop();
  await server?.close();
});

async function domainRows(): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select ((select count(*) from ops.gate_checks) + (select count(*) from ops.approvals)
           + (select count(*) from ops.evidence_artifacts) + (select count(*) from ops.deployments)
           + (select count(*) from ops.environment_events) + (select count(*) from ops.gate_transitions)
           + (select count(*) from ops.releases))::int as n`,
  );
  return rows[0]!.n;
}

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: inspected field by field
  body: any;
  text: string;
}

async function post(url: string, body: string | Blob, contentType?: string | null): Promise<Answer> {
  const headers: Record<string, string> = { authorization: await bearer('ci_service_role') };
  if (contentType !== null) headers['content-type'] = contentType ?? 'application/json';
  const res = await fetch(url, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, text };
}

/** A valid envelope's JSON text with `"__HOLE__"` replaced by raw JSON (e.g. 1e400). */
function withRaw(payload: Record<string, unknown>, raw: string): { text: string; key: string } {
  const env = envelope('build_complete', release.release_id, payload);
  return { text: JSON.stringify(env).replace('"__HOLE__"', raw), key: env.idempotency_key };
}

const doors = [
  { name: 'server on a real port', url: () => `${server.base}${INGEST_PATH}` },
  { name: 'Edge Function under Deno', url: () => `${deno.base}/ops-event-ingest` },
];

describe.each(doors)('$name', ({ url }) => {
  /** Sends one authenticated attempt and checks: the status, one log row, no domain row. */
  async function refused(body: string | Blob, status: number, error: string, contentType?: string | null) {
    const logBefore = await logCount(db);
    const rowsBefore = await domainRows();
    const reply = await post(url(), body, contentType);
    expect(reply.status, reply.text).toBe(status);
    expect(reply.body).toMatchObject({ status: 'rejected', error });
    expect(await logCount(db), 'one log row').toBe(logBefore + 1);
    expect(await domainRows(), 'no domain row').toBe(rowsBefore);
    const { rows } = await db.admin.query(
      `select idempotency_key, event_type, source_system, release_id, processing_status::text, http_status,
              envelope, error_detail
       from ops.event_ingest_log where ingest_id = $1`,
      [reply.body.ingest_id],
    );
    expect(rows[0]).toMatchObject({ processing_status: 'rejected', http_status: status });
    return { reply, row: rows[0] };
  }

  it.each([
    ['NUL in a payload key', { 'k\u0000x': 'v' }, 'payload["k\\u0000x"]', 'NUL'],
    ['lone surrogate in a payload key', { 'k\ud800x': 'v' }, 'payload["k\\ud800x"]', 'surrogate'],
    [
      'NUL in a metadata key, deeper',
      { status: 'pass', metadata: { outer: { 'a\u0000b': 1 } } },
      'payload.metadata.outer["a\\u0000b"]',
      'NUL',
    ],
    [
      'lone low surrogate in a value',
      { status: 'pass', check_name: 'x\udfff' },
      'payload.check_name',
      'surrogate',
    ],
  ])('%s: 400 naming the path, logged with the identity', async (_label, payload, path, word) => {
    const env = envelope('build_complete', release.release_id, payload as Record<string, unknown>);
    const { reply, row } = await refused(JSON.stringify(env), 400, 'invalid_envelope');
    expect(reply.body.detail.issues).toContainEqual({ path, message: expect.stringContaining(word) });
    expect(row).toMatchObject({
      idempotency_key: env.idempotency_key,
      event_type: 'build_complete',
      source_system: env.source_system,
      release_id: release.release_id,
    });
    expect(row.envelope.emitted_at).toBe(env.emitted_at);
  });

  it.each([
    ['1e400 in metadata', { status: 'pass', metadata: { big: '__HOLE__' } }, '1e400', 'payload.metadata.big'],
    [
      '-1.7976931348623157e309 in metadata',
      { status: 'pass', metadata: { small: '__HOLE__' } },
      '-1.7976931348623157e309',
      'payload.metadata.small',
    ],
    ['1e400 as a payload field', { status: '__HOLE__' }, '1e400', 'payload.status'],
  ])('%s: 400 naming the path, logged with the identity', async (_label, payload, raw, path) => {
    const { text, key } = withRaw(payload, raw);
    const { reply, row } = await refused(text, 400, 'invalid_envelope');
    expect(reply.body.detail.issues).toContainEqual({ path, message: expect.stringContaining('range') });
    expect(row).toMatchObject({ idempotency_key: key, event_type: 'build_complete' });
  });

  it('a number out of range as the whole body, and nesting 5,000 deep in a key: 400', async () => {
    await refused('1e400', 400, 'invalid_envelope');
    const { text } = withRaw(
      { status: 'pass', metadata: '__HOLE__' },
      `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`,
    );
    const { reply } = await refused(text, 400, 'invalid_envelope');
    expect(reply.body.detail.issues[0]).toMatchObject({ message: expect.stringMatching(/nested deeper/) });
  });

  it.each([
    ['text/plain', 'text/plain'],
    ['a form', 'application/x-www-form-urlencoded'],
    ['none at all', null],
    ['JSON in another charset', 'application/json; charset=latin1'],
  ])('Content-Type %s: 415, logged', async (_label, contentType) => {
    const env = envelope('build_complete', release.release_id, { status: 'pass' });
    await refused(JSON.stringify(env), 415, 'unsupported_media_type', contentType);
  });

  it('application/json with charset=utf-8 and a +json type are accepted', async () => {
    for (const contentType of ['application/json; charset=UTF-8', 'application/vnd.ops.event+json']) {
      const env = envelope('build_complete', release.release_id, { status: 'pass' });
      const reply = await post(url(), JSON.stringify(env), contentType);
      expect(reply.status, reply.text).toBe(200);
      expect(reply.body.status).toBe('accepted');
    }
  });

  it('invalid UTF-8: 400 invalid_utf8, logged (never stored with replacement characters)', async () => {
    const env = envelope('build_complete', release.release_id, { status: 'pass', check_name: '__HOLE__' });
    const [before, after] = JSON.stringify(env).split('__HOLE__') as [string, string];
    const bytes = Buffer.concat([Buffer.from(before), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from(after)]);
    await refused(new Blob([bytes]), 400, 'invalid_utf8');
  });
});

describe('GraphQL', () => {
  async function graphql(persona: 'release_manager' | 'ci_service_role', rawBody: string): Promise<Answer> {
    const res = await fetch(`${server.base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await bearer(persona) },
      body: rawBody,
    });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text), text };
  }

  const CREATE = `mutation C($input: CreateReleaseInput!) { createRelease(input: $input) {
    __typename ... on ValidationError { message issues { path message } } } }`;

  /** createRelease with scopeMetadata spliced in as raw JSON text. */
  function createRelease(scopeMetadata: string) {
    const input = JSON.stringify({
      project: `hostile-${randomUUID()}`,
      releaseName: 'r1',
      scopeMetadata: '__HOLE__',
    });
    return JSON.stringify({ query: CREATE, variables: { input: '__INPUT__' } })
      .replace('"__INPUT__"', input)
      .replace('"__HOLE__"', scopeMetadata);
  }

  it.each([
    ['NUL in a key', JSON.stringify({ 'a\u0000b': 1 }), 'scopeMetadata["a\\u0000b"]', 'NUL'],
    [
      'lone surrogate in a nested key',
      JSON.stringify({ x: [{ 'k\ud800': 1 }] }),
      'scopeMetadata.x.0["k\\ud800"]',
      'surrogate',
    ],
    ['1e400', '{"n":1e400}', 'scopeMetadata.n', 'range'],
    ['-1.7976931348623157e309', '[-1.7976931348623157e309]', 'scopeMetadata.0', 'range'],
    ['5,000 levels deep', `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`, 'scopeMetadata', 'nested deeper'],
  ])('scopeMetadata with %s: a ValidationError naming the path, no release', async (_l, raw, path, word) => {
    const rowsBefore = await domainRows();
    const reply = await graphql('release_manager', createRelease(raw));
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body.errors, reply.text).toBeUndefined();
    expect(reply.body.data.createRelease.__typename).toBe('ValidationError');
    expect(reply.body.data.createRelease.issues).toContainEqual({
      path: path === 'scopeMetadata' ? expect.stringMatching(/^scopeMetadata/) : path,
      message: expect.stringContaining(word),
    });
    expect(await domainRows()).toBe(rowsBefore);
  });

  it('rationaleStructured with a NUL key: a ValidationError naming it', async () => {
    const body = JSON.stringify({
      query: `mutation A($input: ApproveGateInput!) { approveGate(input: $input) {
        __typename ... on ValidationError { issues { path message } } } }`,
      variables: {
        input: {
          releaseId: release.release_id,
          gateCode: 'G2',
          decision: 'approved',
          rationaleStructured: { 'x\u0000': 1 },
        },
      },
    });
    const reply = await graphql('release_manager', body);
    expect(reply.body.errors, reply.text).toBeUndefined();
    expect(reply.body.data.approveGate).toEqual({
      __typename: 'ValidationError',
      issues: [{ path: 'rationaleStructured["x\\u0000"]', message: expect.stringContaining('NUL') }],
    });
  });

  it('ingestEvent with a NUL key or 1e400 in the payload: a ValidationError, logged once with the identity', async () => {
    const MUTATION = `mutation I($input: IngestEventInput!) { ingestEvent(input: $input) {
      __typename ... on ValidationError { issues { path message } } } }`;
    for (const [raw, path] of [
      [JSON.stringify({ status: 'pass', metadata: { 'a\u0000b': 1 } }), 'payload.metadata["a\\u0000b"]'],
      ['{"status":"pass","metadata":{"n":1e400}}', 'payload.metadata.n'],
    ] as const) {
      const key = `graphql/hostile/${randomUUID()}`;
      const input = JSON.stringify({
        schemaVersion: 'v1.0',
        idempotencyKey: key,
        eventType: 'build_complete',
        sourceSystem: 'github_actions',
        releaseId: release.release_id,
        payload: '__HOLE__',
        emittedAt: new Date().toISOString(),
      }).replace('"__HOLE__"', raw);
      const body = JSON.stringify({ query: MUTATION, variables: { input: '__INPUT__' } }).replace(
        '"__INPUT__"',
        input,
      );
      const logBefore = await logCount(db);
      const reply = await graphql('ci_service_role', body);
      expect(reply.body.errors, reply.text).toBeUndefined();
      expect(reply.body.data.ingestEvent.__typename).toBe('ValidationError');
      expect(reply.body.data.ingestEvent.issues).toContainEqual({ path, message: expect.any(String) });
      expect(await logCount(db)).toBe(logBefore + 1);
      const { rows } = await db.admin.query(
        'select event_type, source_system, release_id, processing_status::text from ops.event_ingest_log where idempotency_key = $1',
        [key],
      );
      expect(rows).toEqual([
        {
          event_type: 'build_complete',
          source_system: 'github_actions',
          release_id: release.release_id,
          processing_status: 'rejected',
        },
      ]);
    }
  });
});
