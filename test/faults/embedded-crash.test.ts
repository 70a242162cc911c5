// `npm start` in embedded mode, killed with SIGKILL (no chance to clean up): its PostgreSQL stops
// by itself (its supervisor sees the pipe from the dead process close) and the next start on the
// same data folder answers. A server left running in the data folder by something else (started
// by hand, or by an earlier version without the supervisor) is stopped by the next start, which
// then starts cleanly; a start that fails anyway says why (here: the PostgreSQL port is taken),
// not only "start-up failed".
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { postgresBinary, postgresIds } from '../../src/db/embedded.js';
import { embeddedStartFixture, type Started, waitUntil } from '../support/embedded-start.js';
import { alive, postmasterPid as lockPid, processesNaming } from '../support/processes.js';

const fx = embeddedStartFixture('ops-crash-test-', 'embedded-crash-secret-0123456789abcdef0123');
const { clusterDir, pgPort } = fx;
const start = () => fx.start();
/** The pid in the cluster's lock file, when there is one. */
const postmasterPid = () => lockPid(clusterDir);
let blocker: Server | undefined;

afterAll(async () => {
  await fx.cleanup();
  blocker?.close();
}, 120_000);

async function ready(s: Started): Promise<void> {
  await waitUntil('the server is ready', async () => {
    if (s.child.exitCode !== null) throw new Error(`the server exited early:\n${s.output()}`);
    return fetch(`${s.base}/readiness`)
      .then((r) => r.ok)
      .catch(() => false);
  });
}

it('kill -9 of the embedded-mode server: its PostgreSQL stops by itself, and the next start answers', async () => {
  const first = await start();
  await ready(first);
  const server = postmasterPid();
  expect(server).toBeGreaterThan(0);

  first.child.kill('SIGKILL');
  await first.exited;
  // Polled with a generous bound: the server's fast shutdown takes what the machine gives it.
  await waitUntil('the PostgreSQL of the killed server is gone', () => !alive(server!));
  await waitUntil('no process names the data folder', () => processesNaming(clusterDir).length === 0);

  const second = await start();
  await ready(second);
  expect(second.output()).not.toContain('stopping the server left running');
  const own = postmasterPid();
  expect(own).not.toBe(server);

  // A clean stop leaves nothing running.
  second.child.kill('SIGTERM');
  const [code] = await second.exited;
  expect(code).toBe(0);
  await waitUntil('the PostgreSQL of the stopped server is gone', () => !alive(own!));
}, 300_000);

it('a PostgreSQL left running in the data folder by something else: the next start stops it and succeeds', async () => {
  // Started by hand from the same binary, in a session of its own and with nobody watching it.
  const leftover = spawn(
    await postgresBinary(),
    [
      '-D',
      clusterDir,
      '-p',
      String(pgPort),
      '-c',
      `unix_socket_directories=${clusterDir}`,
      '-c',
      'listen_addresses=127.0.0.1',
    ],
    { detached: true, stdio: 'ignore', ...(userInfo().uid === 0 ? postgresIds() : {}) },
  );
  leftover.unref();
  await waitUntil('the leftover server is ready', () => {
    const lock = path.join(clusterDir, 'postmaster.pid');
    return existsSync(lock) && readFileSync(lock, 'utf8').split('\n')[7]?.trim() === 'ready';
  });
  const pid = postmasterPid();
  expect(pid).toBe(leftover.pid);

  const s = await start();
  await ready(s);
  expect(s.output()).toContain('stopping the server left running');
  expect(alive(pid!), 'the leftover server was stopped').toBe(false);

  s.child.kill('SIGTERM');
  const [code] = await s.exited;
  expect(code).toBe(0);
}, 300_000);

it('a start that fails says why: the PostgreSQL port is taken', async () => {
  blocker = createServer();
  await new Promise<void>((resolve) => blocker!.listen(pgPort, '127.0.0.1', resolve));
  const s = await start();
  const [code] = await s.exited;
  expect(code).toBe(1);
  const fatal = s
    .output()
    .split('\n')
    .find((l) => l.includes('start-up failed'));
  expect(fatal, s.output()).toBeDefined();
  // The cause is in the log line itself: PostgreSQL's own words about the port.
  expect(fatal).toMatch(/embedded PostgreSQL did not start/);
  expect(fatal).toMatch(/could not bind|could not create listen socket|Address already in use/i);
}, 300_000);
