// The outbox's notifications come after the fact's commit, not from inside it (a NOTIFY in the
// fact's transaction would serialise every commit behind a database-wide lock): the commit notifies
// nobody; ops.outbox_announce (public.ops_outbox_announce for the API's login) then notifies channel 'ops_outbox' once per committed event, oldest
// first, with the row's own payload; concurrent announcers never announce an event twice; an
// announcer that rolls back leaves its events to the next one; a rolled-back fact is never
// announced; and an events listener announces by itself, so a change made by direct SQL still
// reaches it without anyone else announcing.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTBOX_CHANNEL, OutboxListener, type OutboxNotice } from '../../src/events/listener.js';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';

let db: TestDatabase;
let listening: pg.Client;
const heard: OutboxNotice[] = [];

beforeAll(async () => {
  db = await useTestDatabase();
  listening = new pg.Client({ connectionString: db.adminUrl });
  await listening.connect();
  listening.on('notification', (m) => {
    if (m.channel === OUTBOX_CHANNEL && m.payload) heard.push(JSON.parse(m.payload) as OutboxNotice);
  });
  await listening.query(`listen ${OUTBOX_CHANNEL}`);
});

afterAll(async () => {
  await listening?.end();
});

/**
 * Notifications sent by transactions that committed before this call have reached the listening
 * connection once it answers a statement: the sender signals at its commit, and the listener reads
 * its queue before it reports ready for the next query.
 */
async function settle(): Promise<void> {
  await listening.query('select 1');
  await listening.query('select 1');
}

const announce = async (pool: pg.Pool | pg.PoolClient, limit = 100) =>
  (await pool.query<{ n: number }>('select public.ops_outbox_announce($1) as n', [limit])).rows[0]!.n;

const events = async (releaseIds: string[]) =>
  (
    await db.admin.query<{ event_id: string; release_id: string; project: string; kind: string }>(
      `select event_id, release_id, project, kind from ops.outbox_events
       where release_id = any ($1::uuid[]) order by created_at, event_id`,
      [releaseIds],
    )
  ).rows;

/**
 * Waits until `notices` holds the announcement of an event committed after everything the caller
 * judges: the last event of a new release's passing G1 check. The announcer works oldest first and marks what it announced
 * in the same statement, so once this later event is heard, a second announcement of an earlier
 * event (one not marked) would have been heard before it; the caller may then judge exact counts.
 */
async function barrier(notices: OutboxNotice[], project: string): Promise<void> {
  const later = await createRelease(db, { project });
  await recordCheck(db, later.release_id, 'G1', 'build', 'pass');
  const [last] = (await events([later.release_id])).slice(-1);
  if (!last) throw new Error('the later change wrote no outbox event to wait for');
  await eventually(() => notices.some((n) => n.event_id === last.event_id), 'a later event to be announced');
}

/** Whether a notice names one of a release's events (a notice names nothing else to tell by). */
const ofRelease = (committed: { event_id: string }[], n: OutboxNotice) =>
  committed.some((e) => e.event_id === n.event_id);

describe('the outbox announced after the commit', () => {
  it('commits without notifying; one announcement per committed event, in order, never for a rollback', async () => {
    const release = await createRelease(db, { project: uniqueName('announce') });
    await expect(
      db.as('ci_service_role', who.ci, async (c) => {
        await c.query(
          `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'build',
             p_status => 'fail', p_required => true)`,
          [release.release_id],
        );
        throw new Error('rolled back on purpose');
      }),
    ).rejects.toThrow('rolled back on purpose');
    await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, release.release_id, 'G1', 'unit', 'fail');
    const committed = await events([release.release_id]);
    expect(committed.length).toBeGreaterThanOrEqual(2);

    await settle();
    expect(heard).toEqual([]);

    // As the API's login, outside any persona (what each instance's events listener does).
    expect(await announce(db.api)).toBe(committed.length);
    await settle();
    // Each notice names its event and nothing more (20261206100000): any login may LISTEN.
    expect(heard).toEqual(committed.map((e) => ({ event_id: e.event_id })));
    expect(await announce(db.api)).toBe(0);
    await settle();
    expect(heard).toHaveLength(committed.length);
    heard.length = 0;
  });

  it('announces each event once across concurrent announcers, and leaves a rolled-back batch to the next', async () => {
    const project = uniqueName('announce-many');
    const releases = await Promise.all([1, 2, 3].map(() => createRelease(db, { project })));
    for (const r of releases) {
      await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
      await recordCheck(db, r.release_id, 'G1', 'lint', 'fail');
    }
    const committed = await events(releases.map((r) => r.release_id));

    // An announcer that takes a batch and rolls back announces nothing; while it holds the batch,
    // another announcer passes it by instead of waiting or announcing it too.
    const held = await db.api.connect();
    try {
      await held.query('begin');
      expect(await announce(held, 2)).toBe(2);
      const meanwhile = await inTransaction(db.api, (c) => announce(c, 1000));
      expect(meanwhile).toBe(committed.length - 2);
      await held.query('rollback');
    } finally {
      held.release();
    }
    await settle();
    expect(heard.map((n) => n.event_id).sort()).toEqual(
      committed
        .slice(2)
        .map((e) => e.event_id)
        .sort(),
    );

    // The two left over, taken by two announcers at once, one event each call.
    const drain = async () => {
      let total = 0;
      for (;;) {
        const n = await announce(db.api, 1);
        if (n === 0) return total;
        total += n;
      }
    };
    const [a, b] = await Promise.all([drain(), drain()]);
    expect(a + b).toBe(2);
    await settle();
    const ids = heard.map((n) => n.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(committed.map((e) => e.event_id).sort());
    heard.length = 0;
  });

  it('refuses a batch size below one', async () => {
    await expect(announce(db.api, 0)).rejects.toMatchObject({ code: 'OPS22' });
  });

  it('is announced by an events listener itself: a change by direct SQL reaches it with no one else announcing', async () => {
    const listener = new OutboxListener({ connectionString: db.apiUrl });
    const notices: OutboxNotice[] = [];
    listener.on('notice', (n: OutboxNotice) => notices.push(n));
    try {
      await listener.ready();
      const release = await createRelease(db, { project: uniqueName('announce-listener') });
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
      const committed = await events([release.release_id]);
      await eventually(() => notices.length >= committed.length, 'the listener to announce the events');
      await barrier(notices, uniqueName('announce-listener-later'));
      expect(notices.filter((n) => ofRelease(committed, n))).toEqual(
        committed.map((e) => ({ event_id: e.event_id })),
      );
      const { rows } = await db.admin.query<{ n: number }>(
        'select count(*)::int as n from ops.outbox_events where release_id = $1 and announced_at is null',
        [release.release_id],
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await listener.close();
      heard.length = 0;
    }
  });

  it('is announced by one listener per process and database: the first connected, then the next when it closes', async () => {
    // The API's and the webhook worker's listeners in one process, here with different logins.
    const first = new OutboxListener({ connectionString: db.apiUrl, application_name: 'announce-first' });
    const second = new OutboxListener({ connectionString: db.adminUrl, application_name: 'announce-second' });
    const notices: OutboxNotice[] = [];
    second.on('notice', (n: OutboxNotice) => notices.push(n));
    const lastStatement = async (name: string) =>
      (
        await db.admin.query<{ query: string }>(
          'select query from pg_stat_activity where application_name = $1 and datname = current_database()',
          [name],
        )
      ).rows[0]?.query;
    try {
      await first.ready();
      await second.ready();
      expect([first.announces, second.announces]).toEqual([true, false]);
      // The first has announced at least once; the second's connection has run nothing since its LISTEN.
      await eventually(
        async () => (await lastStatement('announce-first'))?.includes('ops_outbox_announce') === true,
        'the first listener to announce',
      );
      expect(await lastStatement('announce-second')).toBe(`listen ${OUTBOX_CHANNEL}`);

      await first.close();
      expect(second.announces).toBe(true);
      const release = await createRelease(db, { project: uniqueName('announce-handover') });
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
      const committed = await events([release.release_id]);
      await eventually(
        () => notices.filter((n) => ofRelease(committed, n)).length >= committed.length,
        'the second listener to announce once the first has closed',
      );
      await barrier(notices, uniqueName('announce-handover-later'));
      expect(notices.filter((n) => ofRelease(committed, n))).toEqual(
        committed.map((e) => ({ event_id: e.event_id })),
      );
    } finally {
      await first.close();
      await second.close();
      heard.length = 0;
    }
  });
});
