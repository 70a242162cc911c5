// Random and mutated envelopes at the ingest route (the server on a real port, and the Edge
// Function under Deno): whatever arrives, the answer is never a 5xx, nothing reaches the domain
// tables unless the answer was 200 accepted, and every authenticated attempt leaves exactly one
// log row (a refused token none).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import {
  APPROVAL_DECISIONS,
  ARTIFACT_TYPES,
  CHECK_STATUSES,
  DEPLOY_ENVIRONMENTS,
  DEPLOYMENT_STATUSES,
  EVENT_TYPES,
  GATE_CODES,
} from '../../src/vocabulary.js';
import { createRelease, passG1, passG2 } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  type ChildService,
  INGEST_PATH,
  logCount,
  type NodeServer,
  rawPost,
  startDenoFunction,
  startServer,
} from './support.js';

const LIMIT = 262_144;
const RUNS = Number(process.env.INGEST_PROPERTY_RUNS ?? 200);
/** A bigger run (the README's fuzz figures) raises both: INGEST_PROPERTY_RUNS=10000 INGEST_PROPERTY_TIME_MS=3600000. */
const TIME_LIMIT_MS = Number(process.env.INGEST_PROPERTY_TIME_MS ?? 240_000);

let db: TestDatabase;
let server: NodeServer;
let deno: ChildService;
let releaseIds: string[];

beforeAll(async () => {
  db = await useTestDatabase();
  server = startServer(db, { maxBodyBytes: LIMIT });
  await server.listen();
  deno = await startDenoFunction(db, { OPS_MAX_BODY_BYTES: String(LIMIT) });
  // One release fresh, one with G1 and G2 passed (so deployments can be recorded).
  const fresh = await createRelease(db);
  const ready = await createRelease(db);
  await passG1(db, ready);
  await passG2(db, ready);
  releaseIds = [fresh.release_id, ready.release_id];
});

afterAll(async () => {
  await deno?.stop();
  await server?.close();
});

async function domainCounts(): Promise<Record<string, number>> {
  const { rows } = await db.admin.query(
    `select (select count(*) from ops.gate_checks)::int as gate_checks,
            (select count(*) from ops.approvals)::int as approvals,
            (select count(*) from ops.evidence_artifacts)::int as evidence_artifacts,
            (select count(*) from ops.deployments)::int as deployments,
            (select count(*) from ops.environment_events)::int as environment_events,
            (select count(*) from ops.gate_transitions)::int as gate_transitions`,
  );
  return rows[0];
}

// ---- arbitraries -------------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** Text a producer should not send: control characters, NUL, unpaired surrogates, emoji. */
const nastyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '😀', '\u202e', 'null', '{}'),
);
const name = fc.string({ minLength: 1, maxLength: 40 });
const url = fc.webUrl();
const sha = fc.stringMatching(/^[0-9a-f]{64}$/);
const isoDate = fc
  .date({ min: new Date('2001-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const meta = fc.dictionary(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });
const checkStatus = fc.constantFrom(...CHECK_STATUSES);

const payloads: Record<(typeof EVENT_TYPES)[number], fc.Arbitrary<Json>> = {
  build_complete: fc.record(
    { status: checkStatus, check_name: name, artifact_ref: url, log_url: url, sha256: sha, metadata: meta },
    { requiredKeys: ['status'] },
  ),
  check_result: fc.record(
    { check_name: name, status: checkStatus, required: fc.boolean(), artifact_ref: url, metadata: meta },
    { requiredKeys: ['check_name', 'status'] },
  ),
  gate_signoff: fc.record(
    {
      decision: fc.constantFrom(...APPROVAL_DECISIONS),
      rationale_text: fc.string({ maxLength: 100 }),
      rationale_structured: meta,
    },
    { requiredKeys: ['decision'] },
  ),
  evidence_attached: fc.record(
    {
      artifact_type: fc.constantFrom(...ARTIFACT_TYPES),
      artifact_url: url,
      sha256: sha,
      check_id: fc.uuid(),
      deployment_id: fc.uuid(),
      metadata: meta,
    },
    { requiredKeys: ['artifact_type', 'artifact_url'] },
  ),
  deployment_event: fc.record(
    {
      deployment_id: fc.uuid(),
      environment: fc.constantFrom(...DEPLOY_ENVIRONMENTS),
      status: fc.constantFrom(...DEPLOYMENT_STATUSES),
      source_ref: fc.string({ maxLength: 40 }),
      rollback_of: fc.uuid(),
      deployed_at: isoDate,
    },
    { requiredKeys: ['environment', 'status'] },
  ),
  health_check: fc.record(
    {
      deployment_id: fc.uuid(),
      environment: fc.constantFrom(...DEPLOY_ENVIRONMENTS),
      status: checkStatus,
      check_name: name,
      artifact_url: url,
      sha256: sha,
      metadata: meta,
    },
    { requiredKeys: ['environment', 'status'] },
  ),
  environment_event: fc
    .tuple(fc.record({ environment: fc.string({ minLength: 1, maxLength: 100 }), kind: name }), meta)
    .map(([p, extra]) => ({ ...extra, ...p })),
};

function validEnvelope(): fc.Arbitrary<Json> {
  return fc.constantFrom(...EVENT_TYPES).chain((type) =>
    fc.record(
      {
        schema_version: fc.constant('v1.0'),
        idempotency_key: fc.oneof(
          fc.uuid().map((u) => `prop/${type}/${u}`),
          // A few shared keys, so retries and conflicting reuse happen too.
          fc.constantFrom('prop/shared-1', 'prop/shared-2', 'prop/shared-3'),
        ),
        event_type: fc.constant(type),
        source_system: fc.constantFrom('github_actions', 'agent', 'manual', 'monitoring', 'n8n'),
        release_id: fc.oneof(fc.constantFrom(...releaseIds), fc.uuid()),
        gate_code: type === 'gate_signoff' ? fc.constantFrom('G2', 'G3') : fc.constantFrom(...GATE_CODES),
        payload: payloads[type],
        emitted_at: isoDate,
      },
      {
        requiredKeys: [
          'schema_version',
          'idempotency_key',
          'event_type',
          'source_system',
          'release_id',
          'payload',
          'emitted_at',
          ...(type === 'check_result' || type === 'gate_signoff' ? (['gate_code'] as const) : []),
        ],
      },
    ),
  );
}

/** Every path to a field of the envelope and of its payload. */
function fieldPaths(env: Json): string[][] {
  const payload = (env.payload ?? {}) as Json;
  return [...Object.keys(env).map((k) => [k]), ...Object.keys(payload).map((k) => ['payload', k])];
}

function setAt(env: Json, path: string[], value: unknown, remove = false): Json {
  const copy: Json = { ...env, payload: { ...((env.payload as Json) ?? {}) } };
  const parent = path.length === 1 ? copy : (copy.payload as Json);
  const key = path[path.length - 1]!;
  if (remove) delete parent[key];
  else parent[key] = value;
  return copy;
}

/** Keys PostgreSQL's jsonb cannot store (NUL, unpaired surrogates), and odd but storable ones. */
const nastyKey = fc.oneof(
  fc.constantFrom('\u0000', 'k\u0000', '\ud800', 'a\udfffb', 'x\ud800\u0000', '__proto__', '', '😀'),
  fc.string({ unit: 'binary', maxLength: 8 }),
);

/** Number literals outside the range of a double: JSON.parse turns them into ±Infinity. */
const OUT_OF_RANGE = ['1e400', '-1e400', '-1.7976931348623157e309', '1.8e308', '123456789e999'] as const;
/** A string in a body that a mutation replaces by raw JSON text (see withRawNumbers). */
const RAW_NUMBER = '__out_of_range_number__';

function withRawNumbers(body: string, literal: string): string {
  return body.replaceAll(`"${RAW_NUMBER}"`, literal);
}

/** A key inserted into the envelope, its payload or the payload's metadata (made an object). */
function withKey(env: Json, where: 'envelope' | 'payload' | 'metadata', key: string, value: unknown): Json {
  const define = (o: Json) =>
    Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  const copy: Json = { ...env, payload: { ...((env.payload as Json) ?? {}) } };
  const payload = copy.payload as Json;
  if (where === 'envelope') define(copy);
  else if (where === 'payload') define(payload);
  else {
    const meta = payload.metadata && typeof payload.metadata === 'object' ? payload.metadata : {};
    payload.metadata = define({ ...(meta as Json) });
  }
  return copy;
}

const junk = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
  nastyText,
);

function nested(depth: number, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = i % 2 ? { k: v } : [v];
  return v;
}

function mutated(): fc.Arbitrary<Json> {
  const base = validEnvelope();
  const pick = base.chain((env) => fc.tuple(fc.constant(env), fc.constantFrom(...fieldPaths(env))));
  return fc.oneof(
    // a field dropped
    pick.map(([env, path]) => setAt(env, path, undefined, true)),
    // a field of the wrong type
    pick.chain(([env, path]) => junk.map((v) => setAt(env, path, v))),
    // text Postgres cannot hold, anywhere
    pick.chain(([env, path]) => nastyText.map((v) => setAt(env, path, v))),
    // a key Postgres cannot hold, at any of three depths
    base.chain((env) =>
      fc
        .tuple(fc.constantFrom('envelope', 'payload', 'metadata') as fc.Arbitrary<'envelope'>, nastyKey, junk)
        .map(([where, key, value]) => withKey(env, where, key, value)),
    ),
    // a number out of range, as a field or inside metadata (replaced in the JSON text)
    pick.map(([env, path]) => setAt(env, path, RAW_NUMBER)),
    base.map((env) => withKey(env, 'metadata', 'n', RAW_NUMBER)),
    // an unknown event type or schema version
    base.chain((env) =>
      fc
        .string({ maxLength: 20 })
        .filter((t) => !(EVENT_TYPES as readonly string[]).includes(t))
        .map((t) => ({ ...env, event_type: t })),
    ),
    base.chain((env) =>
      fc.oneof(fc.string({ maxLength: 8 }), junk).map((v) => ({ ...env, schema_version: v })),
    ),
    // huge strings, some over the body limit
    pick.chain(([env, path]) =>
      fc.integer({ min: 200, max: 300_000 }).map((n) => setAt(env, path, `${'x'.repeat(n)}`)),
    ),
    // nested junk: a shallow random object, or absurdly deep nesting
    base.chain((env) =>
      fc
        .oneof(
          fc.object({ maxDepth: 4 }),
          fc.integer({ min: 1, max: 1_000 }).map((d) => nested(d, 'leaf')),
        )
        .chain((v) =>
          fc
            .constantFrom<string[]>(['payload', 'metadata'], ['payload'], ['source_system'])
            .map((p) => setAt(env, p, v)),
        ),
    ),
    // invalid UUIDs where UUIDs belong
    base.chain((env) =>
      fc
        .tuple(
          fc.oneof(
            fc.uuid().map((u) => `${u.slice(0, -1)}g`),
            fc.uuid().map((u) => u.replaceAll('-', '')),
            fc.uuid().map((u) => `${u}0`),
            fc.string({ maxLength: 36 }),
          ),
          fc.constantFrom<string[]>(
            ['release_id'],
            ['payload', 'deployment_id'],
            ['payload', 'check_id'],
            ['payload', 'rollback_of'],
          ),
        )
        .map(([bad, path]) => setAt(env, path, bad)),
    ),
  );
}

interface Attempt {
  body: string;
  persona: (typeof PERSONAS)[number];
  badToken: boolean;
}

function attempts(): fc.Arbitrary<Attempt> {
  const body = fc.oneof(
    { weight: 2, arbitrary: validEnvelope().map((e) => JSON.stringify(e)) },
    {
      weight: 6,
      arbitrary: fc
        .tuple(mutated(), fc.constantFrom(...OUT_OF_RANGE))
        .map(([e, n]) => withRawNumbers(JSON.stringify(e), n)),
    },
    // any JSON at all
    { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null') },
    // not JSON
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 200 }),
        fc.constantFrom('', '{', '{"schema_version":', 'null garbage', '\u0000', '[1,]', 'NaN'),
        // nesting far deeper than anything needs (JSON.parse copes, Postgres and hashing would not)
        fc.integer({ min: 1, max: 60_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`),
        fc.integer({ min: 1, max: 30_000 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`),
      ),
    },
  );
  return fc.record({
    body,
    persona: fc.constantFrom(...PERSONAS),
    badToken: fc.integer({ min: 0, max: 19 }).map((n) => n === 0),
  });
}

// ---- the property ------------------------------------------------------------------------------

const targets = [
  { name: 'server on a real port', url: () => `${server.base}${INGEST_PATH}` },
  { name: 'Edge Function under Deno', url: () => `${deno.base}/ops-event-ingest` },
];

describe.each(targets)('$name', ({ url }) => {
  it(
    `${RUNS} random and mutated attempts: never a 5xx, no domain rows unless accepted, one log row each`,
    async () => {
      const seen = new Map<number, number>();
      const totals = { attempts: 0, authenticated: 0, logRows: 0, hostile: 0, hostileAccepted: 0 };
      const logAtStart = await logCount(db);
      await fc.assert(
        fc.asyncProperty(attempts(), async ({ body, persona, badToken }) => {
          const logBefore = await logCount(db);
          const before = await domainCounts();
          const authorization = badToken ? 'Bearer not-a-token' : await bearer(persona, `prop-${persona}`);
          const reply = await rawPost(url(), body, { authorization });
          seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
          totals.attempts++;
          if (!badToken) totals.authenticated++;
          // What jsonb cannot store, as JSON.stringify writes it, or a number literal out of range.
          if (/\\u0000|\\ud[89a-f][0-9a-f]{2}|e(309|400|999)\b/i.test(body)) {
            totals.hostile++;
            if (reply.status === 200) totals.hostileAccepted++;
          }

          expect(reply.status, reply.text.slice(0, 500)).toBeLessThan(500);
          expect([200, 400, 401, 403, 409, 413, 422]).toContain(reply.status);
          expect(await logCount(db), 'log rows').toBe(logBefore + (badToken ? 0 : 1));
          const accepted = reply.status === 200 && reply.body?.status === 'accepted';
          if (!badToken) {
            expect(['accepted', 'duplicate', 'rejected']).toContain(reply.body?.status);
            expect(reply.status === 200).toBe(reply.body.status !== 'rejected');
          }
          if (!accepted) expect(await domainCounts(), `no domain rows from ${reply.status}`).toEqual(before);
        }),
        {
          numRuns: RUNS,
          endOnFailure: false,
          interruptAfterTimeLimit: TIME_LIMIT_MS,
          // A fixed seed keeps runs comparable; an oversized body is always among the attempts.
          seed: 20261126,
          examples: [
            [
              {
                body: JSON.stringify({ schema_version: 'v1.0', payload: { blob: 'x'.repeat(LIMIT) } }),
                persona: 'ci_service_role',
                badToken: false,
              },
            ],
          ],
        },
      );
      // The generator reaches the outcomes it is meant to: accepted, refused, too large.
      expect([...seen.keys()]).toEqual(expect.arrayContaining([200, 400, 413]));
      totals.logRows = (await logCount(db)) - logAtStart;
      expect(totals.logRows, 'one log row per authenticated attempt').toBe(totals.authenticated);
      expect(totals.hostile, 'the generator sends what jsonb cannot store').toBeGreaterThan(0);
      const statuses = [...seen].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`);
      process.stdout.write(
        `ingest property: ${totals.attempts} attempts (${statuses.join(', ')}); 5xx: 0; ` +
          `log rows ${totals.logRows} = authenticated attempts ${totals.authenticated}; ` +
          `bodies with NUL, lone surrogates or out-of-range numbers: ${totals.hostile} (${totals.hostileAccepted} answered 200); ` +
          `domain rows from refused attempts: 0 (checked after each)\n`,
      );
    },
    TIME_LIMIT_MS + 60_000,
  );
});
