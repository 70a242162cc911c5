// `src/main.ts` as a real process, stopped (SIGTERM) while an ingest request waits in the database:
// another session holds the lock the ingest takes for its key (pg_advisory_lock is anyone's, so a
// login that may act as a persona can hold it), so the request's transaction can neither finish
// nor fail before its statement timeout. The drain gives up on it after its timeout, as it does on
// any request that outlasts it, and closes its connection; the stop must then not wait for that
// transaction any longer (it would, until the forced exit: "shutdown took too long", exit 1). The
// abandoned ingest got no 200 and committed nothing: nothing accepted is lost.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { waitUntil } from '../support/embedded-start.js';

const SECRET = 'test-secret-blocked-stop-0123456789abcdef01';
const SUB = 'ci.blocked-stop';
const KEY = 'blocked-stop/build/1';

let db: TestDatabase;
let child: ChildProcess | undefined;
let holder: pg.Client | undefined;
let output = '';

beforeAll(async () => {
  db = await useTestDatabase();
});

afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await holder?.end().catch(() => {});
});

/** Whether a backend of the API login is waiting for an advisory lock. */
async function ingestWaitsForTheLock(): Promise<boolean> {
  const { rows } = await db.admin.query(
    `select 1 from pg_stat_activity a
      where a.usename = 'authenticator' and a.wait_event_type = 'Lock' and a.wait_event = 'advisory'`,
  );
  return rows.length > 0;
}

it('SIGTERM while an ingest waits for a lock another session holds: the stop ends cleanly (exit 0), the ingest committed nothing', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      DATABASE_URL: db.adminUrl,
      OPS_API_DATABASE_URL: db.apiUrl,
      PORT: String(port),
      SUPABASE_JWT_SECRET: SECRET,
      LOG_LEVEL: 'info',
      OPS_WEBHOOK_WORKER: 'false',
    },
  });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit');
  await waitUntil('the server is healthy', async () => {
    if (child?.exitCode !== null) throw new Error(`the server exited early:\n${output}`);
    return fetch(`${base}/health`).then(
      (r) => r.ok,
      () => false,
    );
  });

  // The lock ops.ingest_event takes for (actor, source, key), held by a session of the API login
  // acting as the CI persona.
  holder = new pg.Client({ connectionString: db.apiUrl });
  await holder.connect();
  await holder.query('set role ci_service_role');
  await holder.query(
    `select pg_advisory_lock(hashtextextended(concat_ws(chr(31), 'ops.ingest', $1::text, 'github_actions', $2::text), 0))`,
    [SUB, KEY],
  );

  const token = await mintToken({ secret: SECRET, persona: 'ci_service_role', sub: SUB });
  const body = JSON.stringify({
    schema_version: 'v1.0',
    idempotency_key: KEY,
    source_system: 'github_actions',
    event_type: 'build_complete',
    release_id: '5d1c7a4e-0b7f-4d53-9a55-3c0c8e1f2a6b',
    payload: { status: 'pass', check_name: 'build' },
    emitted_at: new Date().toISOString(),
  });
  const answered = new Promise<number | string>((resolve) => {
    const req = httpRequest(`${base}/functions/v1/ops-event-ingest`, {
      agent: false,
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
    req.end(body);
  });
  await waitUntil(
    'the ingest waits for the lock',
    async () => {
      const early = await Promise.race([answered, Promise.resolve(null)]);
      if (early !== null) throw new Error(`the ingest was answered ${early} without waiting:\n${output}`);
      return ingestWaitsForTheLock();
    },
    60_000,
  );

  child.kill('SIGTERM');
  const [code, signal] = await exited;
  // The ingest was not answered 200 (its connection was closed when the drain gave up on it).
  expect(await answered).not.toBe(200);
  expect({ code, signal }, output).toEqual({ code: 0, signal: null });
  expect(output).toContain('"msg":"stopped"');
  expect(output).not.toContain('shutdown took too long');

  // Nothing of it was committed, before or after the lock is let go.
  await holder.end();
  holder = undefined;
  await waitUntil('no backend waits for the lock', async () => !(await ingestWaitsForTheLock()));
  const { rows } = await db.admin.query(
    'select count(*)::int as n from ops.event_ingest_log where idempotency_key = $1',
    [KEY],
  );
  expect(rows[0].n).toBe(0);
}, 120_000);
