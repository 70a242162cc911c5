// An embedded PostgreSQL that keeps dying at once is restarted less and less often: the first
// restart at once, then after 1 s, 2 s, 4 s, ... up to 60 s (RestartBackoff), and afresh once a
// server has stayed up a minute. The waits are read from what the server process says, never
// measured: a slow machine changes when the attempts happen, not their sequence.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RESTART_BACKOFF, RestartBackoff } from '../../src/db/embedded.js';
import { embeddedStartFixture, waitUntil } from '../support/embedded-start.js';
import { alive, postmasterPid, processesNaming } from '../support/processes.js';

describe('RestartBackoff', () => {
  it('waits 0, then doubles from 1 s to a cap of 60 s while the server keeps dying; a minute up starts afresh', () => {
    expect(RESTART_BACKOFF).toEqual({ firstMs: 1_000, capMs: 60_000, stableMs: 60_000 });
    const backoff = new RestartBackoff();
    // Killed after a few seconds up, then every attempt fails before the server is ready.
    const waits = [backoff.next(5_000), ...Array.from({ length: 9 }, () => backoff.next())];
    expect(waits).toEqual([0, 1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
    // Up, but not for long: still counted as dying at once.
    expect(backoff.next(59_999)).toBe(60_000);
    // Up for a minute: the next end is answered at once, and the sequence starts again.
    expect([backoff.next(60_000), backoff.next(), backoff.next(2_000), backoff.next()]).toEqual([
      0, 1_000, 2_000, 4_000,
    ]);
  });
});

const fx = embeddedStartFixture('ops-restart-backoff-', 'embedded-restart-backoff-secret-0123456789');
afterAll(() => fx.cleanup(), 120_000);

/** The waits (s) the server process announced after each failed restart, in order. */
function announcedWaits(output: string): number[] {
  return [...output.matchAll(/again failed \(attempt (\d+): [^\n]*\); next attempt in ([\d.]+) s\n/g)].map(
    (m) => Number(m[2]),
  );
}

it('a server that cannot start (a broken postgresql.conf) is retried after 1 s, 2 s, 4 s, and runs again once repaired', async () => {
  const { child, base, output, exited } = await fx.start();
  const readiness = () =>
    fetch(`${base}/readiness`)
      .then((r) => r.status)
      .catch(() => 0);
  await waitUntil('the server is ready', async () => {
    if (child.exitCode !== null) throw new Error(`the server exited early:\n${output()}`);
    return (await readiness()) === 200;
  });
  const server = postmasterPid(fx.clusterDir)!;
  expect(server).toBeGreaterThan(0);

  // From now on every start of the server fails at once, on its configuration file.
  const conf = path.join(fx.clusterDir, 'postgresql.conf');
  const original = readFileSync(conf, 'utf8');
  appendFileSync(conf, '\nthis line is not a setting\n');
  process.kill(server, 'SIGKILL');
  await waitUntil('the killed server is gone', () => !alive(server));

  await waitUntil(
    'three restarts have failed',
    () => {
      if (child.exitCode !== null) throw new Error(`the API exited:\n${output()}`);
      return announcedWaits(output()).length >= 3;
    },
    180_000,
  );
  const said = output();
  // The first restart came at once (no wait announced with it) ...
  expect(said, said).toMatch(/ended \([^)]*\) after running [\d.]+ s; starting it again\n/);
  // ... and the failed ones wait longer and longer; the failure is the configuration file's.
  expect(announcedWaits(said).slice(0, 3), said).toEqual([1, 2, 4]);
  expect(said, said).toMatch(/again failed \(attempt 3: [^\n]*(postgresql\.conf|syntax error)/);

  // Repaired: the next attempt (after its wait) starts it, and the API answers again.
  writeFileSync(conf, original);
  await waitUntil(
    'the repaired server answers through the API',
    async () => {
      if (child.exitCode !== null) throw new Error(`the API exited:\n${output()}`);
      return (await readiness()) === 200;
    },
    180_000,
  );
  expect(output()).toContain('runs again');
  const restarted = postmasterPid(fx.clusterDir)!;

  child.kill('SIGTERM');
  const [code] = await exited;
  expect(code, output()).toBe(0);
  await waitUntil('the restarted server is gone', () => !alive(restarted));
  await waitUntil('no process names the data folder', () => processesNaming(fx.clusterDir).length === 0);
}, 400_000);
