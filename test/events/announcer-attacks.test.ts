// Attacks on the process's one outbox announcer (src/events/listener.ts), as data: each row brings
// two listeners of one process on one database (the API's and the webhook worker's) through a
// sequence of killed connections (pg_terminate_backend), closes and a login refused for a while;
// every listener still open must listen again, and then hear the events of a fact committed after
// (someone of the process announces them). The row fails when a listener stays away for good or
// nobody announces any more.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseOf, OutboxListener, type OutboxNotice } from '../../src/events/listener.js';
import { createRelease, recordCheck, uniqueName } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';

let db: TestDatabase;
/** A login of its own for the listeners, so that it alone can be refused for a while. */
const login = `announce_attack_${randomBytes(4).toString('hex')}`;
const password = randomBytes(12).toString('hex');
/** A login that may listen but not announce (no EXECUTE on public.ops_outbox_announce). */
const mute = `announce_mute_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  db = await useTestDatabase();
  await db.admin.query(`create role ${login} login password '${password}'`);
  await db.admin.query(`grant execute on function public.ops_outbox_announce(integer) to ${login}`);
  await db.admin.query(`create role ${mute} login password '${password}'`);
});

afterAll(async () => {
  await db.admin.query(`drop owned by ${login}`);
  await db.admin.query(`drop role ${login}`);
  await db.admin.query(`drop role ${mute}`);
});

type Name = 'a' | 'b';
type Step = { kill: Name[] } | { close: Name } | { refuseLogin: number };

interface AnnouncerAttack {
  name: string;
  steps: Step[];
  /** The first listener connects with a login that may not announce. */
  firstMute?: boolean;
}

const ATTACKS: AnnouncerAttack[] = [
  {
    name: 'the first listener’s login may not announce: the other takes the turn',
    steps: [],
    firstMute: true,
  },
  {
    name: 'the first listener’s login may not announce, and the other is killed',
    steps: [{ kill: ['b'] }],
    firstMute: true,
  },
  {
    name: 'the announcing listener’s connection killed: the other announces, the first comes back',
    steps: [{ kill: ['a'] }],
  },
  { name: 'the waiting listener’s connection killed', steps: [{ kill: ['b'] }] },
  { name: 'both connections killed at once', steps: [{ kill: ['a', 'b'] }] },
  {
    name: 'the announcer killed, then the other closed before it is back',
    steps: [{ kill: ['a'] }, { close: 'b' }],
  },
  { name: 'the waiting one closed, then the announcer killed', steps: [{ close: 'b' }, { kill: ['a'] }] },
  { name: 'the announcer closed, then the other killed', steps: [{ close: 'a' }, { kill: ['b'] }] },
  {
    name: 'the announcer killed while the database refuses the login past the reconnect delay',
    steps: [{ close: 'b' }, { refuseLogin: 3_000 }],
  },
  {
    name: 'both killed while the login is refused, then one closed',
    steps: [{ refuseLogin: 3_000 }, { close: 'a' }],
  },
];

const backends = async (app: string) =>
  (
    await db.admin.query<{ pid: number }>(
      'select pid from pg_stat_activity where application_name = $1 and datname = current_database()',
      [app],
    )
  ).rows.map((r) => r.pid);

describe('one outbox announcer per process and database', () => {
  it.each(ATTACKS.map((a) => [a.name, a] as const))('%s', async (_name, attack) => {
    const url = new URL(db.apiUrl);
    url.username = login;
    url.password = password;
    const muteUrl = new URL(url);
    muteUrl.username = mute;
    const tag = randomBytes(4).toString('hex');
    const apps: Record<Name, string> = { a: `announce-a-${tag}`, b: `announce-b-${tag}` };
    const listeners: Record<Name, OutboxListener> = {
      a: new OutboxListener({
        connectionString: (attack.firstMute ? muteUrl : url).toString(),
        application_name: apps.a,
      }),
      b: new OutboxListener({ connectionString: url.toString(), application_name: apps.b }),
    };
    const open = new Set<Name>(['a', 'b']);
    const heard: Record<Name, OutboxNotice[]> = { a: [], b: [] };
    listeners.a.on('notice', (n: OutboxNotice) => heard.a.push(n));
    listeners.b.on('notice', (n: OutboxNotice) => heard.b.push(n));
    const killed: number[] = [];
    const kill = async (names: Name[]) => {
      for (const n of names) {
        const pids = await backends(apps[n]);
        expect(pids.length, `${n} is connected`).toBe(1);
        // Waits (up to 10 s) until the backend has exited.
        await db.admin.query('select pg_terminate_backend(pid, 10000) from unnest($1::int[]) pid', [pids]);
        killed.push(...pids);
      }
    };
    try {
      await listeners.a.ready();
      await listeners.b.ready();
      if (!attack.firstMute) expect([listeners.a.announces, listeners.b.announces]).toEqual([true, false]);
      for (const step of attack.steps) {
        if ('kill' in step) await kill(step.kill);
        else if ('close' in step) {
          open.delete(step.close);
          await listeners[step.close].close();
        } else {
          // The login refused while the open listeners lose their connections, for longer than
          // the reconnect delay; then allowed again.
          await db.admin.query(`alter role ${login} nologin`);
          try {
            await kill([...open]);
            await new Promise((r) => setTimeout(r, step.refuseLogin));
          } finally {
            await db.admin.query(`alter role ${login} login`);
          }
        }
      }
      // Every open listener listens again (a notification sent while it is away is not kept for it).
      for (const n of open) {
        await eventually(
          async () => {
            const pids = await backends(apps[n]);
            return pids.length === 1 && !killed.includes(pids[0]!);
          },
          `${n} to connect again`,
          30_000,
        );
        await listeners[n].ready();
      }
      const release = await createRelease(db, { project: uniqueName('announce-attack') });
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
      const { rows: committed } = await db.admin.query<{ event_id: string }>(
        'select event_id from ops.outbox_events where release_id = $1',
        [release.release_id],
      );
      expect(committed.length).toBeGreaterThan(0);
      // Every open listener hears every event: someone in the process announced them.
      for (const n of open) {
        await eventually(
          () => committed.every((e) => heard[n].some((h) => h.event_id === e.event_id)),
          `listener ${n} to hear the events (someone to announce them)`,
          30_000,
        );
      }
      expect(open.size === 0 || [...open].some((n) => listeners[n].announces)).toBe(true);
    } finally {
      await listeners.a.close();
      await listeners.b.close();
    }
  });
});

describe('the database listeners share an announcer for', () => {
  it.each([
    ['socket directories', 'postgresql://u@/ops?host=/run/a', 'postgresql://u@/ops?host=/run/b'],
    [
      'ports given as parameters',
      'postgresql://u@/ops?host=/run/a&port=5433',
      'postgresql://u@/ops?host=/run/a',
    ],
    ['hosts', 'postgresql://u@db-a:5432/ops', 'postgresql://u@db-b:5432/ops'],
  ])('differs for different %s', (_what, one, other) => {
    expect(databaseOf({ connectionString: one })).not.toBe(databaseOf({ connectionString: other }));
  });

  it('differs for databases named after their users (no database given)', () => {
    expect(databaseOf({ host: 'db', port: 5432, user: 'alpha' })).not.toBe(
      databaseOf({ host: 'db', port: 5432, user: 'beta' }),
    );
  });

  it('is the same for one database reached with different logins, as a URL or as fields', () => {
    expect(databaseOf({ connectionString: 'postgresql://api:x@db:5433/ops' })).toBe(
      databaseOf({ host: 'db', port: 5433, database: 'ops', user: 'owner', password: 'y' }),
    );
  });
});
