// A second `npm start` on a data folder whose embedded database a running start is using: it
// refuses, says why and what to do, and leaves the running server and its database alone. (It
// used to take that database for one left running by a killed start, stop it, then fail on the
// HTTP port, leaving the first server answering 503 until restarted.)
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { resolveDataRoot, stopLeftoverServer } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { alive, groupAlive, postmasterPid, processesNaming } from '../support/processes.js';

const SECRET = 'second-start-secret-0123456789abcdef0123';
const dataDir = mkdtempSync(path.join(tmpdir(), 'ops-second-start-'));
const clusterDir = path.join(resolveDataRoot(dataDir), 'pg');
const pgPort = 20000 + Math.floor(Math.random() * 20000);
const started: ChildProcess[] = [];

afterAll(async () => {
  for (const c of started) if (c.pid && groupAlive(c.pid)) process.kill(-c.pid, 'SIGKILL');
  await stopLeftoverServer(clusterDir).catch(() => {});
  rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

/** `npm start` in a process group of its own on this file's data folder; its output collected. */
function npmStart(port: number): { child: ChildProcess; output: () => string; exited: Promise<unknown> } {
  let output = '';
  const child = spawn('npm', ['start'], {
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
  started.push(child);
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, output: () => output, exited: once(child, 'exit') };
}

it('a second start on the same data folder refuses and leaves the running server serving', async () => {
  const port = await freePort();
  const first = npmStart(port);
  await expect
    .poll(
      async () => {
        if (first.child.exitCode !== null) throw new Error(`npm start exited early:\n${first.output()}`);
        return fetch(`http://127.0.0.1:${port}/readiness`).then(
          (r) => r.status,
          () => 'unreachable',
        );
      },
      { timeout: 180_000, interval: 200 },
    )
    .toBe(200);
  const serverPid = postmasterPid(clusterDir);
  expect(serverPid).not.toBeNull();

  const second = npmStart(await freePort());
  // It ends on its own, with an error (a second start that took the database over would run on).
  await expect.poll(() => second.child.exitCode, { timeout: 120_000, interval: 200 }).not.toBeNull();
  expect(second.child.exitCode, second.output()).not.toBe(0);
  expect(second.output()).toMatch(/in use by another running start/);
  expect(second.output()).toMatch(/OPS_DATA_DIR/);
  expect(second.output(), 'it did not stop the running database').not.toMatch(
    /stopping the server left running/,
  );

  // The first server and its database are untouched: same server process, ready, answering.
  expect(postmasterPid(clusterDir)).toBe(serverPid);
  expect(alive(serverPid!)).toBe(true);
  expect((await fetch(`http://127.0.0.1:${port}/readiness`)).status).toBe(200);
  const token = await mintToken({ secret: SECRET, persona: 'audit_reader', sub: 'second-start' });
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: '{ viewer { persona } }' }),
  });
  expect(await res.json()).toEqual({ data: { viewer: { persona: 'audit_reader' } } });

  // Stopped as a terminal would, nothing is left.
  process.kill(-first.child.pid!, 'SIGINT');
  await first.exited;
  await expect
    .poll(() => ({ server: alive(serverPid!), named: processesNaming(clusterDir) }), {
      timeout: 60_000,
      interval: 250,
    })
    .toEqual({ server: false, named: [] });
}, 400_000);
