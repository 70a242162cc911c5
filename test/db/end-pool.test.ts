// endPool (src/db/pool.ts) resolves once the pool's connections have closed, not, as
// node-postgres' pool.end() does, once each has been asked to end: a database stopped right after
// endPool finds no session of the pool to terminate (a terminated session is logged as a lost
// connection). Here the sessions are stopped with SIGSTOP, so the pool's goodbye waits unread in
// their sockets until they run again.
import { afterAll, expect, it } from 'vitest';
import { createPool, endPool } from '../../src/db/pool.js';
import { useTestDatabase } from '../support/db.js';

const db = await useTestDatabase();
const held: number[] = [];
afterAll(() => {
  // Before the database is dropped: a stopped session would never end.
  for (const pid of held) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
});

const sessionsOf = async (pids: number[]) =>
  (
    await db.admin.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where pid = any($1)',
      [pids],
    )
  ).rows[0]!.n;

it('endPool resolves only once every connection of the pool has closed', async () => {
  const pool = createPool({ connectionString: db.adminUrl, max: 3, application_name: 'end-pool-test' });
  const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
  const pids = await Promise.all(
    clients.map(async (c) => (await c.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid),
  );
  for (const c of clients) c.release();
  for (const pid of pids) {
    process.kill(pid, 'SIGSTOP');
    held.push(pid);
  }

  let ended = false;
  const ending = endPool(pool).then(() => {
    ended = true;
  });
  // A round trip on another connection: pool.end() alone has resolved long before it returns.
  expect({ sessions: await sessionsOf(pids), ended }).toEqual({ sessions: 3, ended: false });

  for (const pid of pids) process.kill(pid, 'SIGCONT');
  await ending;
  expect(await sessionsOf(pids)).toBe(0);
});
