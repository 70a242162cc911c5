// The seed plan's load test: 100 concurrent events of which 30 are retries of others (70 distinct
// keys), the retries sent at the same moment as their originals. Per distinct key: exactly one
// accepted log row and one set of domain effects; every other attempt a `duplicate` pointing at
// it, answered with the same ingest_id and result. Once against one server, once against two
// server processes (src/main.ts twice) sharing the database, the requests split between them.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { createRelease } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  type ChildService,
  type Envelope,
  type EventType,
  envelope,
  httpPost,
  INGEST_PATH,
  type NodeServer,
  type Reply,
  startMainProcess,
  startServer,
} from './support.js';

const EVENTS = 100;
const DISTINCT = 70;

let db: TestDatabase;
let releases: string[];

beforeAll(async () => {
  db = await useTestDatabase();
  releases = [];
  for (let i = 0; i < 4; i++) releases.push((await createRelease(db)).release_id);
});

/** What one accepted event of each type writes, by table. */
const EFFECTS: Record<
  string,
  { gate_checks: number; evidence_artifacts: number; environment_events: number }
> = {
  build_complete: { gate_checks: 1, evidence_artifacts: 1, environment_events: 0 },
  check_result: { gate_checks: 1, evidence_artifacts: 0, environment_events: 0 },
  evidence_attached: { gate_checks: 0, evidence_artifacts: 1, environment_events: 0 },
  environment_event: { gate_checks: 0, evidence_artifacts: 0, environment_events: 1 },
};

interface Planned {
  key: string;
  persona: Persona;
  env: Envelope;
}

/** 70 distinct events over four releases and four event types, then 30 retries of some of them, shuffled. */
function plan(run: string): Planned[] {
  const distinct: Planned[] = [];
  for (let i = 0; i < DISTINCT; i++) {
    const release = releases[i % releases.length]!;
    const type = (
      ['build_complete', 'check_result', 'evidence_attached', 'environment_event'] as EventType[]
    )[i % 4]!;
    const key = `load/${run}/${type}/${i}`;
    const [persona, env]: [Persona, Envelope] =
      type === 'build_complete'
        ? [
            'ci_service_role',
            envelope(
              type,
              release,
              {
                status: i % 5 ? 'pass' : 'fail',
                check_name: `build-${i % 3}`,
                log_url: `https://ci.example/${run}/${i}`,
              },
              { key },
            ),
          ]
        : type === 'check_result'
          ? [
              'ci_service_role',
              envelope(
                type,
                release,
                { check_name: `suite-${i % 3}`, status: 'pass' },
                { key, gate: i % 2 ? 'G1' : 'G2' },
              ),
            ]
          : type === 'evidence_attached'
            ? [
                'qa_tester',
                envelope(
                  type,
                  release,
                  { artifact_type: 'test_result', artifact_url: `https://qa.example/${run}/${i}` },
                  { key, gate: 'G2', source: 'agent' },
                ),
              ]
            : [
                'sre',
                envelope(type, release, { environment: 'staging', kind: 'config_change', n: i }, { key }),
              ];
    distinct.push({ key, persona, env });
  }
  const retries: Planned[] = [];
  for (let i = 0; i < EVENTS - DISTINCT; i++) retries.push(distinct[(i * 7) % DISTINCT]!);
  const all = [...distinct, ...retries];
  // Deterministic shuffle, so a retry may well leave before its original.
  let seed = 42;
  for (let i = all.length - 1; i > 0; i--) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    const j = seed % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all;
}

async function fire(planned: Planned[], urls: string[]): Promise<Reply[]> {
  const auth = new Map<Persona, string>();
  for (const p of planned)
    if (!auth.has(p.persona)) auth.set(p.persona, await bearer(p.persona, `load-${p.persona}`));
  // All at once: no request waits for another to leave.
  return Promise.all(
    planned.map((p, i) =>
      httpPost(urls[i % urls.length]!, JSON.stringify(p.env), { authorization: auth.get(p.persona)! }),
    ),
  );
}

async function verify(planned: Planned[], replies: Reply[]): Promise<void> {
  for (const r of replies) expect(r.status, r.text).toBe(200);

  const keys = [...new Set(planned.map((p) => p.key))];
  expect(keys).toHaveLength(DISTINCT);
  const { rows: log } = await db.admin.query<{
    ingest_id: string;
    idempotency_key: string;
    processing_status: string;
    duplicate_of: string | null;
    result: unknown;
  }>(
    `select ingest_id, idempotency_key, processing_status::text, duplicate_of, result
     from ops.event_ingest_log where idempotency_key = any($1)`,
    [keys],
  );
  expect(log).toHaveLength(EVENTS);

  const acceptedIds: string[] = [];
  for (const key of keys) {
    const sent = planned.map((p, i) => ({ p, reply: replies[i]! })).filter((x) => x.p.key === key);
    const rows = log.filter((l) => l.idempotency_key === key);
    const accepted = rows.filter((l) => l.processing_status === 'accepted');
    expect(accepted, key).toHaveLength(1);
    const original = accepted[0]!;
    acceptedIds.push(original.ingest_id);
    expect(rows).toHaveLength(sent.length);
    for (const row of rows.filter((l) => l !== original)) {
      expect(row).toMatchObject({
        processing_status: 'duplicate',
        duplicate_of: original.ingest_id,
        result: original.result,
      });
    }
    // Every answer names the accepted attempt and carries its result; one says accepted.
    expect(sent.map((s) => s.reply.body.status).sort()).toEqual(
      ['accepted', ...Array(sent.length - 1).fill('duplicate')].sort(),
    );
    for (const s of sent) {
      expect(s.reply.body.ingest_id).toBe(original.ingest_id);
      expect(s.reply.body.detail).toEqual(original.result);
    }
  }

  // One set of effects per distinct key, and none from any duplicate attempt.
  const { rows: effects } = await db.admin.query<{ ingest_id: string; table_name: string; n: number }>(
    `select ingest_id, 'gate_checks' as table_name, count(*)::int as n from ops.gate_checks
       where ingest_id = any($1) group by ingest_id
     union all
     select ingest_id, 'evidence_artifacts', count(*)::int from ops.evidence_artifacts
       where ingest_id = any($1) group by ingest_id
     union all
     select ingest_id, 'environment_events', count(*)::int from ops.environment_events
       where ingest_id = any($1) group by ingest_id`,
    [log.map((l) => l.ingest_id)],
  );
  for (const key of keys) {
    const type = planned.find((p) => p.key === key)!.env.event_type;
    const id = log.find((l) => l.idempotency_key === key && l.processing_status === 'accepted')!.ingest_id;
    const counts = Object.fromEntries(
      ['gate_checks', 'evidence_artifacts', 'environment_events'].map((t) => [
        t,
        effects.find((e) => e.ingest_id === id && e.table_name === t)?.n ?? 0,
      ]),
    );
    expect(counts, `${key} (${type})`).toEqual(EFFECTS[type]);
  }
  expect(effects.every((e) => acceptedIds.includes(e.ingest_id))).toBe(true);
}

describe('one server', () => {
  let server: NodeServer;
  beforeAll(async () => {
    server = startServer(db, { poolMax: 10 });
    await server.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('100 concurrent events, 30% retries: one accepted row and one set of effects per key', async () => {
    const planned = plan(randomUUID().slice(0, 8));
    const replies = await fire(planned, [`${server.base}${INGEST_PATH}`]);
    await verify(planned, replies);
  }, 120_000);
});

describe('two server processes sharing the database', () => {
  const processes: ChildService[] = [];
  beforeAll(async () => {
    // One after the other: each migrates (a no-op here) at start.
    processes.push(await startMainProcess(db));
    processes.push(await startMainProcess(db));
  }, 180_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.stop()));
  });

  it('100 concurrent events split across both, 30% retries: one accepted row and one set of effects per key', async () => {
    expect(processes[0]!.base).not.toBe(processes[1]!.base);
    const planned = plan(randomUUID().slice(0, 8));
    const replies = await fire(
      planned,
      processes.map((p) => `${p.base}${INGEST_PATH}`),
    );
    await verify(planned, replies);
    // Both processes served requests, retries of one key included.
    const servedBy = new Map<string, Set<number>>();
    planned.forEach((p, i) => {
      servedBy.set(p.key, (servedBy.get(p.key) ?? new Set()).add(i % 2));
    });
    expect([...servedBy.values()].some((s) => s.size === 2)).toBe(true);
  }, 120_000);
});
