// Ctrl-C in a terminal running `npm start` on the embedded database: the terminal sends SIGINT to
// the whole foreground process group (npm and the server). A request in flight at that moment
// (here: a releases query waiting on a table lock a database session holds) still completes with
// 200, then the database stops, nothing is logged at warn or above on the way, and within a
// generous while nothing of the group and no PostgreSQL of that data folder is left running.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { resolveDataRoot, stopLeftoverServer } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { troubleUntilStopped } from '../support/embedded-start.js';
import { alive, groupAlive, postmasterPid, processesNaming } from '../support/processes.js';

const SECRET = 'ctrl-c-secret-0123456789abcdef0123456789';
// A data folder of this file's own, outside the project's .data/.
const dataDir = mkdtempSync(path.join(tmpdir(), 'ops-ctrl-c-'));
const clusterDir = path.join(resolveDataRoot(dataDir), 'pg');
const pgPort = 20000 + Math.floor(Math.random() * 20000);
let child: ChildProcess | undefined;

afterAll(async () => {
  // Only when the test failed before everything stopped on its own.
  if (child?.pid && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
  await stopLeftoverServer(clusterDir).catch(() => {});
  rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

/** A GET on a connection of its own: the status, or the error code when none could be made. */
function freshGet(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const r = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
    r.end();
  });
}

it('SIGINT to the whole process group of `npm start`: the request in flight completes, then everything stops', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  // In a process group of its own, as a terminal runs a foreground job.
  child = spawn('npm', ['start'], {
    cwd: projectRoot,
    detached: true,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      SUPABASE_JWT_SECRET: SECRET,
      PORT: String(port),
      OPS_EMBEDDED_PG_PORT: String(pgPort),
      OPS_DATA_DIR: dataDir,
      LOG_LEVEL: 'info',
    },
  });
  const group = child.pid!;
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit');
  await expect
    .poll(
      async () => {
        if (child!.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
        return fetch(`${base}/readiness`).then(
          (r) => r.status,
          () => 'unreachable',
        );
      },
      { timeout: 180_000, interval: 200 },
    )
    .toBe(200);
  const serverPid = postmasterPid(clusterDir);
  expect(serverPid, 'the embedded server wrote its lock file').not.toBeNull();

  // A session of the owner holds the releases table, so the query below waits for it.
  const { password } = JSON.parse(readFileSync(path.join(resolveDataRoot(dataDir), 'pg.json'), 'utf8'));
  const holder = new pg.Client({
    connectionString: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/ops`,
  });
  holder.on('error', () => {}); // a database that stops under it ends this session
  await holder.connect();
  await holder.query('begin');
  await holder.query('lock table ops.releases in access exclusive mode');

  const token = await mintToken({ secret: SECRET, persona: 'audit_reader', sub: 'slow-reader' });
  const response = fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ releases(first: 1) { nodes { releaseName } } }' }),
  }).then(
    async (r) => ({ status: r.status, body: await r.text() }),
    (e: Error) => ({ status: 0, body: String(e) }),
  );
  // In flight: its query waits on the lock.
  await expect
    .poll(
      async () =>
        (
          await holder.query<{ n: number }>(
            "select count(*)::int as n from pg_locks where relation = 'ops.releases'::regclass and not granted",
          )
        ).rows[0]!.n,
      { timeout: 60_000, interval: 100 },
    )
    .toBeGreaterThan(0);

  // Ctrl-C: the terminal signals every process of the foreground group.
  const signalledAt = output.length;
  process.kill(-group, 'SIGINT');
  // The server has begun to stop once it refuses new connections (polled: a busy machine may take
  // a while to deliver the signal) ...
  await expect
    .poll(() => freshGet(`${base}/health`), { timeout: 60_000, interval: 100 })
    .toBe('ECONNREFUSED');
  // ... and the request in flight gets its answer once the lock is released.
  const released = await holder.query('commit').then(
    () => 'committed',
    (e: Error) => `the lock holder's session ended: ${e.message}`,
  );
  await holder.end().catch(() => {});
  const res = await response;
  expect({ status: res.status, released }, `${res.body}\n${output}`).toEqual({
    status: 200,
    released: 'committed',
  });
  expect(JSON.parse(res.body)).toEqual({ data: { releases: { nodes: [] } } });

  const [code] = await exited;
  expect(code, output).toBe(0);
  expect(output).toContain('"msg":"stopped"');
  // A clean stop says nothing went wrong: no session of the server was left for the database's
  // shutdown to terminate (test/server/clean-stop.test.ts decides that race on purpose).
  expect(troubleUntilStopped(output.slice(signalledAt)), output).toEqual([]);
  // Nothing of the group, and no PostgreSQL of this data folder (nor its supervisor), is left.
  await expect
    .poll(
      () => ({ group: groupAlive(group), server: alive(serverPid!), named: processesNaming(clusterDir) }),
      {
        timeout: 60_000,
        interval: 250,
      },
    )
    .toEqual({ group: false, server: false, named: [] });
}, 400_000);
