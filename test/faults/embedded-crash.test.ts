// `npm start` in embedded mode, killed with SIGKILL (no chance to clean up): its PostgreSQL stops
// by itself (its supervisor sees the pipe from the dead process close) and the next start on the
// same data folder answers. A server left running in the data folder by something else (started
// by hand, or by an earlier version without the supervisor) is stopped by the next start, which
// then starts cleanly; a start that fails anyway says why (here: the PostgreSQL port is taken),
// not only "start-up failed".
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { postgresBinary, postgresIds, resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { processesNaming } from '../support/processes.js';

const SECRET = 'embedded-crash-secret-0123456789abcdef0123';
// A data folder of this file's own, outside the project's .data/.
const dataDir = mkdtempSync(path.join(tmpdir(), 'ops-crash-test-'));
const clusterDir = path.join(resolveDataRoot(dataDir), 'pg');
const pgPort = 20000 + Math.floor(Math.random() * 20000);
const children: ChildProcess[] = [];
let blocker: Server | undefined;

/** The pid in the cluster's lock file, when there is one. */
function postmasterPid(): number | null {
  const lock = path.join(clusterDir, 'postmaster.pid');
  if (!existsSync(lock)) return null;
  return Number(readFileSync(lock, 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  // Whatever server a failed run left behind is stopped (fast shutdown) before its folder goes.
  const pid = postmasterPid();
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGINT');
    await waitUntil('the leftover server stopped', () => !alive(pid), 60_000).catch(() => {
      process.kill(pid, 'SIGKILL');
    });
  }
  blocker?.close();
  rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<unknown[]>;
}

/** `npm start` (tsx src/main.ts) with an embedded PostgreSQL in dataDir. */
async function start(): Promise<Started> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'test',
      SUPABASE_JWT_SECRET: SECRET,
      PORT: String(port),
      OPS_EMBEDDED_PG_PORT: String(pgPort),
      OPS_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited: once(child, 'exit') };
}

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
