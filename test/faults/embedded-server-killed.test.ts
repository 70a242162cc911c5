// The embedded PostgreSQL of a running `npm start` killed under it (kill -9 of the postmaster, or of
// its supervisor, which makes the supervisor's watcher stop the server): the server is started
// again by the Node process, the API answers again (its pool survives a database restart), and a
// later stop still leaves nothing running.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { alive, postmasterPid, processesNaming } from '../support/processes.js';

const SECRET = 'embedded-server-killed-secret-0123456789ab';
// A data folder of this file's own, outside the project's .data/.
const dataDir = mkdtempSync(path.join(tmpdir(), 'ops-server-killed-'));
const clusterDir = path.join(resolveDataRoot(dataDir), 'pg');
const pgPort = 20000 + Math.floor(Math.random() * 20000);
const children: ChildProcess[] = [];

async function waitUntil(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  const pid = postmasterPid(clusterDir);
  if (pid && alive(pid)) {
    process.kill(pid, 'SIGINT');
    await waitUntil('the leftover server stopped', () => !alive(pid), 60_000).catch(() => {
      process.kill(pid, 'SIGKILL');
    });
  }
  rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
}, 120_000);

/** The parent of a process (from /proc). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

it.each([
  ['the postmaster', (server: number) => server],
  ['its supervisor', (server: number) => parentOf(server)],
])(
  'kill -9 of %s: the server is started again and the API answers again',
  async (_, victim) => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
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
    const exited = once(child, 'exit');
    const readiness = () =>
      fetch(`${base}/readiness`)
        .then((r) => r.status)
        .catch(() => 0);
    await waitUntil('the server is ready', async () => {
      if (child.exitCode !== null) throw new Error(`the server exited early:\n${output}`);
      return (await readiness()) === 200;
    });
    const server = postmasterPid(clusterDir)!;
    expect(server).toBeGreaterThan(0);

    process.kill(victim(server), 'SIGKILL');
    await waitUntil('the killed server is gone', () => !alive(server));
    await waitUntil(
      'a new server answers through the API',
      async () => {
        if (child.exitCode !== null) throw new Error(`the API exited:\n${output}`);
        const now = postmasterPid(clusterDir);
        return now !== null && now !== server && alive(now) && (await readiness()) === 200;
      },
      90_000,
    );
    expect(output).toContain('starting it again');
    const restarted = postmasterPid(clusterDir)!;

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code, output).toBe(0);
    await waitUntil('the restarted server is gone', () => !alive(restarted));
    await waitUntil('no process names the data folder', () => processesNaming(clusterDir).length === 0);
  },
  300_000,
);
