// `npm start` in embedded mode, killed with SIGKILL: its PostgreSQL child outlives it, holding the
// data folder's lock file. The next start stops that leftover server and starts cleanly; a start
// that fails anyway says why (here: the PostgreSQL port is taken), not only "start-up failed".
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';

const SECRET = 'embedded-crash-secret-0123456789abcdef0123';
const dataDir = mkdtempSync(path.join(projectRoot, '.data', 'crash-test-'));
const pgPort = 20000 + Math.floor(Math.random() * 20000);
const children: ChildProcess[] = [];
let blocker: Server | undefined;

/** The pid in the cluster's lock file, when there is one. */
function postmasterPid(): number | null {
  const lock = path.join(resolveDataRoot(dataDir), 'pg', 'postmaster.pid');
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

it('kill -9 of the embedded-mode server: the next start stops the leftover PostgreSQL and succeeds', async () => {
  const first = await start();
  await ready(first);
  const leftover = postmasterPid();
  expect(leftover).toBeGreaterThan(0);

  first.child.kill('SIGKILL');
  await first.exited;
  // The fault as it happens: the server's PostgreSQL outlives it.
  expect(alive(leftover!), 'PostgreSQL outlives a SIGKILLed parent').toBe(true);

  const second = await start();
  await ready(second);
  expect(second.output()).toContain(`stopping the server left running`);
  expect(alive(leftover!), 'the leftover server was stopped').toBe(false);
  const own = postmasterPid();
  expect(own).not.toBe(leftover);

  // A clean stop leaves nothing running.
  second.child.kill('SIGTERM');
  const [code] = await second.exited;
  expect(code).toBe(0);
  expect(alive(own!)).toBe(false);
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
