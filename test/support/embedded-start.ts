// `npm start` on an embedded PostgreSQL in a data folder of a test file's own, for the tests that
// start, signal, kill and restart it (test/faults/embedded-*.test.ts): the folder, the start, a
// poll, and the cleanup that leaves nothing running whatever the test did.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { alive, groupAlive, postmasterPid } from './processes.js';

/**
 * Polls check every intervalMs until it returns true; throws "timed out waiting until <what>" after
 * timeoutMs (generous: the machines are shared, and this waits on a condition, never for a time).
 */
export async function waitUntil(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 120_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * The lines of a server's output, from its start up to its `stopped` line, that say something went
 * wrong: logged at warn or above, or naming a lost connection or SQLSTATE 57P01 (a session the
 * database terminated). Throws when the output has no `stopped` line. For the clean stops, which
 * say nothing of the kind.
 */
export function troubleUntilStopped(output: string): string[] {
  const stoppedAt = output.indexOf('"msg":"stopped"');
  if (stoppedAt < 0) throw new Error(`the server never said "stopped":\n${output}`);
  return output
    .slice(0, stoppedAt)
    .split('\n')
    .filter(
      (line) =>
        /"level":"(warn|error|fatal)"/.test(line) ||
        line.includes('57P01') ||
        line.includes('connection lost'),
    );
}

/** A started server: its process, its base URL, everything it printed so far, its exit. */
export interface Started {
  child: ChildProcess;
  base: string;
  output: () => string;
  exited: Promise<unknown[]>;
}

export interface EmbeddedStartFixture {
  /** The folder given as OPS_DATA_DIR (a fresh temporary one). */
  dataDir: string;
  /** Where the cluster's files are (resolveDataRoot(dataDir)) and the cluster itself (`pg`). */
  root: string;
  clusterDir: string;
  /** The embedded PostgreSQL's port, the same for every start of the fixture. */
  pgPort: number;
  /**
   * `npm start` (node --import tsx src/main.ts) on the folder, NODE_ENV=test, on a free HTTP port;
   * `detached` puts it in a process group of its own (as a terminal runs a foreground job).
   */
  start(options?: { detached?: boolean }): Promise<Started>;
  /** A process the test started by other means, killed at cleanup if still running. */
  track(child: ChildProcess): void;
  /**
   * For afterAll: kills what is still running (a detached start's whole group), stops a server the
   * folder's lock file names (fast shutdown, then SIGKILL), removes the folders.
   */
  cleanup(): Promise<void>;
}

/** A data folder named after prefix, and starts on it with tokens signed by secret. */
export function embeddedStartFixture(prefix: string, secret: string): EmbeddedStartFixture {
  const dataDir = mkdtempSync(path.join(tmpdir(), prefix));
  const root = resolveDataRoot(dataDir);
  const clusterDir = path.join(root, 'pg');
  const pgPort = 20000 + Math.floor(Math.random() * 20000);
  const children: ChildProcess[] = [];
  const groups: number[] = [];
  return {
    dataDir,
    root,
    clusterDir,
    pgPort,
    track: (child) => {
      children.push(child);
    },
    async start(options = {}) {
      const port = await freePort();
      let output = '';
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: projectRoot,
        detached: options.detached ?? false,
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          NODE_ENV: 'test',
          SUPABASE_JWT_SECRET: secret,
          PORT: String(port),
          OPS_EMBEDDED_PG_PORT: String(pgPort),
          OPS_DATA_DIR: dataDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      if (options.detached) groups.push(child.pid!);
      else children.push(child);
      child.stdout?.on('data', (d) => {
        output += d;
      });
      child.stderr?.on('data', (d) => {
        output += d;
      });
      return { child, base: `http://127.0.0.1:${port}`, output: () => output, exited: once(child, 'exit') };
    },
    async cleanup() {
      for (const g of groups) if (groupAlive(g)) process.kill(-g, 'SIGKILL');
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      // Whatever server a failed run left behind is stopped (fast shutdown) before its folder goes.
      const pid = postmasterPid(clusterDir);
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGINT');
        await waitUntil('the leftover server stopped', () => !alive(pid), 60_000).catch(() => {
          process.kill(pid, 'SIGKILL');
        });
      }
      rmSync(root, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
