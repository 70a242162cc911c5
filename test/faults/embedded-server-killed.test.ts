// The embedded PostgreSQL of a running `npm start` killed under it (kill -9 of the postmaster, or of
// its supervisor, which makes the supervisor's watcher stop the server): the server is started
// again by the Node process (at once: the first restart waits for no back-off), the API answers
// again (its pool survives a database restart), the lost connections are logged as warnings, and
// a later stop still leaves nothing running.
import { readFileSync } from 'node:fs';
import { afterAll, expect, it } from 'vitest';
import { embeddedStartFixture, waitUntil } from '../support/embedded-start.js';
import { alive, postmasterPid, processesNaming } from '../support/processes.js';

const fx = embeddedStartFixture('ops-server-killed-', 'embedded-server-killed-secret-0123456789ab');
const { clusterDir } = fx;
afterAll(() => fx.cleanup(), 120_000);

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
    const { child, base, output, exited } = await fx.start();
    const readiness = () =>
      fetch(`${base}/readiness`)
        .then((r) => r.status)
        .catch(() => 0);
    await waitUntil('the server is ready', async () => {
      if (child.exitCode !== null) throw new Error(`the server exited early:\n${output()}`);
      return (await readiness()) === 200;
    });
    const server = postmasterPid(clusterDir)!;
    expect(server).toBeGreaterThan(0);

    process.kill(victim(server), 'SIGKILL');
    await waitUntil('the killed server is gone', () => !alive(server));
    await waitUntil(
      'a new server answers through the API',
      async () => {
        if (child.exitCode !== null) throw new Error(`the API exited:\n${output()}`);
        const now = postmasterPid(clusterDir);
        return now !== null && now !== server && alive(now) && (await readiness()) === 200;
      },
      90_000,
    );
    expect(output()).toContain('starting it again');
    // A database lost while running is said: the sessions it ended are logged as lost connections.
    expect(output()).toMatch(/"level":"warn"[^\n]*connection lost/);
    const restarted = postmasterPid(clusterDir)!;

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code, output()).toBe(0);
    await waitUntil('the restarted server is gone', () => !alive(restarted));
    await waitUntil('no process names the data folder', () => processesNaming(clusterDir).length === 0);
  },
  300_000,
);
