// PostgreSQL restarted (fast shutdown, a second's outage, start again) under ingest load with two
// API processes (src/main.ts) and the Edge Function (Deno) on it: all stay alive, every failed request is a 503 with
// Retry-After from the outage (never a 500, never a dead process), all serve again by themselves,
// and every event acknowledged with 200 is accepted exactly once, as is every 503'd event once
// its producer retries it. The cluster is this file's own (restarting the shared one would hit
// every other test file). The time to recovery is printed, never asserted.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prepareDatabase, withCredentials } from '../../src/db/database.js';
import { type EmbeddedCluster, resolveDataRoot, startEmbedded } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { withPersona } from '../../src/db/with-persona.js';
import { createRelease } from '../governance/scenario.js';
import {
  bearer,
  type ChildService,
  envelope,
  INGEST_PATH,
  startDenoFunction,
  startMainProcess,
} from '../ingest/support.js';
import { identity, type TestDatabase } from '../support/db.js';

/** Load per API process; bounded in count by the time the scenario takes (a few seconds). */
const WORKERS_PER_INSTANCE = 3;
const OUTAGE_MS = 1_000;

const dataRoot = path.join(
  projectRoot,
  '.data',
  `fault-restart-${process.pid}-${randomBytes(3).toString('hex')}`,
);
let cluster: EmbeddedCluster | null = null;
let port = 0;
let admin: pg.Pool;
let api: pg.Pool;
let urls: { adminUrl: string; apiUrl: string };
/** Two API processes (src/main.ts) and the Edge Function under Deno, each with its ingest URL. */
const instances: (ChildService & { name: string; ingestUrl: string })[] = [];

beforeAll(async () => {
  port = 20000 + Math.floor(Math.random() * 20000);
  cluster = await startEmbedded({ dataRoot, port });
  const server = new pg.Client({ connectionString: cluster.adminUrl });
  await server.connect();
  await server.query('create database ops');
  await server.end();
  const password = new URL(cluster.adminUrl).password;
  const authenticator = randomBytes(12).toString('hex');
  const adminUrl = withCredentials(cluster.adminUrl, 'postgres', decodeURIComponent(password), 'ops');
  await prepareDatabase(adminUrl, authenticator);
  urls = { adminUrl, apiUrl: withCredentials(cluster.adminUrl, 'authenticator', authenticator, 'ops') };
  admin = new pg.Pool({ connectionString: adminUrl, max: 2 });
  api = new pg.Pool({ connectionString: urls.apiUrl, max: 2 });
  // Idle connections of these pools die in the restart too.
  admin.on('error', () => {});
  api.on('error', () => {});
  for (let i = 1; i <= 2; i++) {
    const s = await startMainProcess(urls);
    instances.push(Object.assign(s, { name: `API ${i}`, ingestUrl: `${s.base}${INGEST_PATH}` }));
  }
  const fn = await startDenoFunction(urls);
  instances.push(Object.assign(fn, { name: 'Edge Function', ingestUrl: `${fn.base}/ops-event-ingest` }));
}, 240_000);

afterAll(async () => {
  for (const s of instances) await s.stop();
  await api?.end();
  await admin?.end();
  await cluster?.stop();
  rmSync(resolveDataRoot(dataRoot), { recursive: true, force: true });
  rmSync(dataRoot, { recursive: true, force: true });
}, 120_000);

interface Sent {
  key: string;
  body: string;
  instance: number;
  status: number;
  retryAfter: string | null;
  began: number;
  ended: number;
}

async function send(instance: number, body: string, key: string): Promise<Sent> {
  const began = Date.now();
  let status = 0;
  let retryAfter: string | null = null;
  try {
    const res = await fetch(instances[instance]!.ingestUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await bearer('ci_service_role') },
      body,
      signal: AbortSignal.timeout(60_000),
    });
    status = res.status;
    retryAfter = res.headers.get('retry-after');
    await res.arrayBuffer();
  } catch {
    status = 0; // no answer at all: the process is gone or hung
  }
  return { key, body, instance, status, retryAfter, began, ended: Date.now() };
}

it('a PostgreSQL restart under ingest load: both API processes and the Edge Function survive, 503s only during the outage, every 200 accepted exactly once', async () => {
  // The scenario helpers' checks after the test (stored status equals the rule) read through admin.
  const db: Pick<TestDatabase, 'as' | 'admin'> = {
    as: (p, s, fn) => withPersona(api, identity(p, s), fn),
    admin,
  };
  const release = await createRelease(db as TestDatabase);
  const sent: Sent[] = [];
  let stopLoad = false;

  const worker = async (instance: number, n: number) => {
    for (let i = 0; !stopLoad; i++) {
      const env = envelope('build_complete', release.release_id, {
        status: 'pass',
        check_name: `load-${instance}-${n}-${i}`,
      });
      sent.push(await send(instance, JSON.stringify(env), env.idempotency_key));
    }
  };
  const load = instances.flatMap((_, instance) =>
    Array.from({ length: WORKERS_PER_INSTANCE }, (_, n) => worker(instance, n)),
  );

  // Load first, then the restart: a fast shutdown, an outage, the same cluster started again.
  await new Promise((r) => setTimeout(r, 1_500));
  const stopBegan = Date.now();
  await cluster!.stop();
  await new Promise((r) => setTimeout(r, OUTAGE_MS));
  cluster = await startEmbedded({ dataRoot, port });
  const startDone = Date.now();

  // Keep the load on until each process has answered 200 again for a while (bounded).
  const recoveredAt: (number | null)[] = instances.map(() => null);
  const deadline = Date.now() + 90_000;
  for (;;) {
    for (const [i] of instances.entries()) {
      recoveredAt[i] ??=
        sent.find((s) => s.instance === i && s.began > startDone && s.status === 200)?.ended ?? null;
    }
    if (recoveredAt.every((t) => t !== null && Date.now() - t > 1_500) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  stopLoad = true;
  await Promise.all(load);

  // Both processes alive and ready.
  for (const s of instances) {
    expect(s.child.exitCode, s.output().slice(-2000)).toBeNull();
    expect(s.child.signalCode).toBeNull();
    if (s.name !== 'Edge Function') expect((await fetch(`${s.base}/readiness`)).status).toBe(200);
    expect(s.output()).not.toMatch(/Unhandled 'error' event/);
  }

  // Every failure a 503 with Retry-After, and only around the outage.
  const statuses = new Map<number, number>();
  for (const s of sent) statuses.set(s.status, (statuses.get(s.status) ?? 0) + 1);
  const failed = sent.filter((s) => s.status !== 200);
  for (const f of failed) {
    expect(f.status, `${f.key} answered ${f.status}`).toBe(503);
    expect(f.retryAfter).toMatch(/^\d+$/);
    expect(f.ended, 'no failure before the database went away').toBeGreaterThanOrEqual(stopBegan);
  }
  // Once a process has served again after the restart, it never fails again: the outage ended.
  expect(recoveredAt.every((t) => t !== null)).toBe(true);
  const failedAfterRecovery = failed.filter((f) => f.began > recoveredAt[f.instance]!);
  expect(failedAfterRecovery, 'failures after recovery').toEqual([]);

  // A producer retries what was answered 503 (same key, same bytes): accepted or duplicate now.
  for (const f of failed) {
    const again = await send(f.instance, f.body, f.key);
    expect(again.status, f.key).toBe(200);
  }

  // Exactly once: each key has one accepted log row and one gate check from it.
  const keys = sent.map((s) => s.key);
  const { rows } = await admin.query<{ key: string; accepted: number; checks: number }>(
    `select k as key,
            (select count(*) from ops.event_ingest_log l where l.idempotency_key = k and l.processing_status = 'accepted')::int as accepted,
            (select count(*) from ops.gate_checks c join ops.event_ingest_log l using (ingest_id)
              where l.idempotency_key = k)::int as checks
     from unnest($1::text[]) k`,
    [keys],
  );
  const wrong = rows.filter((r) => r.accepted !== 1 || r.checks !== 1);
  expect(wrong, 'every key accepted exactly once').toEqual([]);
  expect(statuses.get(200) ?? 0).toBeGreaterThan(0);

  process.stdout.write(
    `database restart under load: ${sent.length} requests (${[...statuses].map(([s, n]) => `${n}×${s}`).join(', ')}), ` +
      `database down ${startDone - stopBegan} ms; time to recovery (stop began → first 200 after the restart): ${recoveredAt
        .map((t, i) => `${instances[i]!.name} ${t! - stopBegan} ms`)
        .join(', ')}; ${failed.length} retried, all 200; ${keys.length} keys, each accepted once\n`,
  );
}, 300_000);
