// A clean stop of `npm start` (SIGINT to its process group, as Ctrl-C in a terminal) logs no
// warning or error between the signal and `stopped`: every connection of the process has closed
// before the embedded database stops, so its shutdown terminates no session of the process (which
// the process would report as a lost connection, SQLSTATE 57P01).
//
// A pool's end alone does not wait for that (node-postgres resolves it once each client has been
// asked to end), and whether the database then reaches a session first depends on scheduling.
// Here the race is decided against the process, every time: the sessions of the API's pool
// (application_name ops-release-gates, idle after a readiness check) are stopped with SIGSTOP, so
// they read nothing, and are let go on only once the database has begun its shutdown (it refuses
// new sessions) or, when it never does while they are held, once they are the only sessions left
// (the process is then waiting for them; a while is given for a shutdown that would come
// regardless). A process that stopped the database with those sessions open gets them terminated.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { embeddedStartFixture, troubleUntilStopped, waitUntil } from '../support/embedded-start.js';
import { alive, groupAlive } from '../support/processes.js';

const fx = embeddedStartFixture('ops-clean-stop-', 'clean-stop-secret-0123456789abcdef0123');
const held: number[] = [];
afterAll(async () => {
  // Held sessions must run again, or a failed run would leave stopped backends behind.
  for (const pid of held) if (alive(pid)) process.kill(pid, 'SIGCONT');
  await fx.cleanup();
}, 120_000);

/** How long the held sessions stay held once nothing else of the process is connected, ms. */
const HOLD_AFTER_OTHERS_GONE_MS = 15_000;

/** The client sessions of the database other than the probe's, or 'stopping' when it refuses one. */
async function sessions(
  ownerUrl: string,
): Promise<'stopping' | { pid: number; app: string; state: string }[]> {
  const probe = new pg.Client({ connectionString: ownerUrl });
  probe.on('error', () => {});
  try {
    await probe.connect();
  } catch (err) {
    const code = (err as { code?: string }).code;
    // 57P03: the database system is shutting down; ECONNREFUSED: it has.
    if (code === '57P03' || code === 'ECONNREFUSED') return 'stopping';
    throw err;
  }
  try {
    const { rows } = await probe.query<{ pid: number; app: string; state: string }>(
      `select pid, application_name as app, coalesce(state, '') as state from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    );
    return rows;
  } catch (err) {
    if ((err as { code?: string }).code === '57P01') return 'stopping';
    throw err;
  } finally {
    await probe.end().catch(() => {});
  }
}

it('SIGINT to the group: the API pool sessions close before the database stops, nothing is logged at warn or above', async () => {
  const { child, base, output, exited } = await fx.start({ detached: true });
  await waitUntil('the server is ready', async () => {
    if (child.exitCode !== null) throw new Error(`the server exited early:\n${output()}`);
    return (
      (await fetch(`${base}/readiness`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    );
  });
  const { password } = JSON.parse(readFileSync(path.join(fx.root, 'pg.json'), 'utf8')) as {
    password: string;
  };
  const ownerUrl = `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${fx.pgPort}/ops`;

  // The readiness check leaves an idle session in the API's pool.
  let apiSessions: number[] = [];
  await waitUntil('the API pool holds an idle session', async () => {
    await fetch(`${base}/readiness`).catch(() => {});
    const now = await sessions(ownerUrl);
    if (now === 'stopping') throw new Error(`the database is stopping:\n${output()}`);
    apiSessions = now.filter((s) => s.app === 'ops-release-gates' && s.state === 'idle').map((s) => s.pid);
    return apiSessions.length > 0;
  });
  for (const pid of apiSessions) {
    process.kill(pid, 'SIGSTOP');
    held.push(pid);
  }

  const signalledAt = output().length;
  process.kill(-child.pid!, 'SIGINT');
  let othersGoneSince: number | null = null;
  let databaseStopping = false;
  await waitUntil(
    'the database stops, or only the held sessions are left',
    async () => {
      const now = await sessions(ownerUrl);
      if (now === 'stopping') {
        databaseStopping = true;
        return true;
      }
      if (now.some((s) => !held.includes(s.pid))) {
        othersGoneSince = null;
        return false;
      }
      othersGoneSince ??= Date.now();
      return Date.now() - othersGoneSince >= HOLD_AFTER_OTHERS_GONE_MS;
    },
    180_000,
    200,
  );
  for (const pid of held) if (alive(pid)) process.kill(pid, 'SIGCONT');

  const [code] = await exited;
  const said = output().slice(signalledAt);
  expect(code, said).toBe(0);
  const loud = troubleUntilStopped(said);
  // The database stopped only after the held sessions had closed.
  expect({ loud, databaseStoppedWhileHeld: databaseStopping }, said).toEqual({
    loud: [],
    databaseStoppedWhileHeld: false,
  });
  await waitUntil('nothing of the group is left', () => !groupAlive(child.pid!));
}, 400_000);
