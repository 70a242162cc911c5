// A start never stops a PostgreSQL that is not its own leftover. A second `npm start` on a data
// folder whose server a running start supervises refuses, saying the folder is in use, and the
// first start's server keeps running and answering. A lock file naming a process that merely has
// "postgres" in its command line (a pid reused by another program after a crash) is stale: it is
// removed and that process is not signalled.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { stopLeftoverServer } from '../../src/db/embedded.js';
import { embeddedStartFixture, type Started, waitUntil } from '../support/embedded-start.js';
import { alive, postmasterPid } from '../support/processes.js';

const fx = embeddedStartFixture('ops-in-use-', 'data-folder-in-use-secret-0123456789abcdef');
const { clusterDir, pgPort } = fx;
const start = () => fx.start();
afterAll(() => fx.cleanup(), 120_000);

const readiness = (s: Started) =>
  fetch(`${s.base}/readiness`)
    .then((r) => r.status)
    .catch(() => 0);

it('a second start on a data folder in use refuses, and the first keeps its database', async () => {
  const first = await start();
  await waitUntil('the first start is ready', async () => {
    if (first.child.exitCode !== null) throw new Error(`the first start exited early:\n${first.output()}`);
    return (await readiness(first)) === 200;
  });
  const server = postmasterPid(clusterDir);
  expect(server).toBeGreaterThan(0);

  const second = await start();
  // It either gives up or (taking the folder over) becomes ready itself.
  await waitUntil(
    'the second start exits or answers',
    async () => second.child.exitCode !== null || (await readiness(second)) === 200,
  );
  expect(second.child.exitCode, second.output()).toBe(1);
  expect(second.output()).toContain(`the data folder ${clusterDir} is in use`);
  expect(second.output()).not.toContain('stopping the server left running');

  // The first start's server was never stopped: the same process, still answering.
  expect(alive(server!), 'the first start’s PostgreSQL is still running').toBe(true);
  expect(postmasterPid(clusterDir)).toBe(server);
  expect(await readiness(first)).toBe(200);

  first.child.kill('SIGTERM');
  const [firstCode] = await first.exited;
  expect(firstCode).toBe(0);
  await waitUntil('the first start’s PostgreSQL is gone', () => !alive(server!));
}, 300_000);

it('a lock file naming a process that is not this folder’s server: removed, and the process is not signalled', async () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'ops-stale-lock-'));
  const cluster = path.join(folder, 'pg');
  mkdirSync(cluster);
  // Another program that happens to have "postgres" in its command line, under the pid the lock
  // file names (as after a crash, once the pid has been reused).
  const other = spawn('sleep', ['600'], { argv0: 'postgres', stdio: 'ignore' });
  fx.track(other);
  await once(other, 'spawn');
  const lock = path.join(cluster, 'postmaster.pid');
  writeFileSync(lock, `${other.pid}\n${cluster}\n1700000000\n${pgPort}\n${cluster}\n127.0.0.1\n0 0\nready\n`);
  try {
    await stopLeftoverServer(cluster, 5_000, 1_000);
    expect(existsSync(lock), 'the stale lock file is removed').toBe(false);
    expect(other.exitCode, 'the other program was not stopped').toBeNull();
    expect(other.signalCode, 'the other program was not signalled').toBeNull();
    expect(alive(other.pid!)).toBe(true);
  } finally {
    other.kill('SIGKILL');
    rmSync(folder, { recursive: true, force: true });
  }
}, 60_000);

it('a server whose supervisor outlived its start (the start was killed) is stopped as left running, not refused', async () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'ops-orphan-supervisor-'));
  // A stand-in server named postgres running in the folder (a Node process), under a shell named as
  // the supervisor is, whose own parent has exited (as the Node process of a killed start has).
  const launcher = spawn(
    'bash',
    [
      '-c',
      // An asynchronous command starts with SIGINT ignored: the stand-in handles it, as PostgreSQL does.
      `bash -c 'cd "$1"; (exec -a postgres "$2" -e "process.on(\\"SIGINT\\", () => process.exit(0)); setInterval(() => {}, 1e6)") & wait' postgres-supervisor "$0" "$1" >/dev/null 2>&1 & echo $!`,
      folder,
      process.execPath,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  launcher.stdout?.on('data', (d) => {
    out += d;
  });
  await waitUntil('the stand-in supervisor is started', () => out.endsWith('\n'));
  const supervisor = Number(out.trim());
  let server = 0;
  await waitUntil('the stand-in server runs', () => {
    const children = readFileSync(`/proc/${supervisor}/task/${supervisor}/children`, 'utf8').trim();
    server = Number(children.split(' ')[0]);
    return server > 0 && readFileSync(`/proc/${server}/cmdline`, 'utf8').startsWith('postgres');
  });
  writeFileSync(path.join(folder, 'postmaster.pid'), `${server}\n${folder}\n`);
  try {
    await stopLeftoverServer(folder, 10_000, 60_000);
    expect(alive(server), 'the left-running server was stopped').toBe(false);
  } finally {
    for (const pid of [server, supervisor]) if (pid > 0 && alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(folder, { recursive: true, force: true });
  }
}, 120_000);
