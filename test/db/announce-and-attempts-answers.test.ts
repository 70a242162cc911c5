// The outbox announcer and the webhook delivery job's record of attempts as 20261205000000 defines
// them (the rows they join read by primary key) answer as the definitions they replaced
// (20261203100000, 20261203100100): run on the same events and deliveries, the previous one as a
// temporary function of the session, they announce the same events in the same order (each notice
// the event's id alone since 20261206100000), count the same, write the same delivery and attempt
// rows, and refuse the same bad batch.
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { OUTBOX_CHANNEL } from '../../src/events/listener.js';
import { installWorkerSchema } from '../../src/webhooks/worker.js';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let owner: pg.Client;
let listening: pg.Client;
const heard: string[] = [];
let deliveries: string[] = [];

/** A function as an earlier migration defined it, created as pg_temp.previous_<name> for this session. */
function previous(file: string, name: string): string {
  const text = readFileSync(path.join(projectRoot, 'supabase/migrations', file), 'utf8');
  const header = new RegExp(`create function ops\\.${name}\\(`);
  const definition = new RegExp(`${header.source}[\\s\\S]*?\\n\\$\\$;`).exec(text)?.[0];
  expect(definition, `${name} in ${file}`).toBeDefined();
  return definition!.replace(header, `create function pg_temp.previous_${name}(`);
}

beforeAll(async () => {
  db = await useTestDatabase();
  await installWorkerSchema(db.adminUrl);
  owner = new pg.Client({ connectionString: db.adminUrl });
  await owner.connect();
  await owner.query(previous('20261203100000_ops_outbox_announced_after_commit.sql', 'outbox_announce'));
  await owner.query(
    previous(
      '20261203100100_ops_webhook_batch_targets_and_attempts_in_one_statement.sql',
      'webhook_record_attempts',
    ),
  );
  listening = new pg.Client({ connectionString: db.adminUrl });
  await listening.connect();
  listening.on('notification', (m) => {
    if (m.channel === OUTBOX_CHANNEL && m.payload) heard.push(m.payload);
  });
  await listening.query(`listen ${OUTBOX_CHANNEL}`);

  const project = uniqueName('answers');
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.add_webhook('https://hooks.example.com/in', '{}', $1, null, $2)`, [
      project,
      `whsec_${randomBytes(32).toString('base64')}`,
    ]),
  );
  for (let i = 0; i < 3; i++) {
    const release = await createRelease(db, { project });
    await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
  }
  await owner.query('select ops.webhook_dispatch(1000, 3)');
  const { rows } = await owner.query<{ delivery_id: string }>(
    `select d.delivery_id from ops.webhook_deliveries d join ops.outbox_events e on e.event_id = d.event_id
     where e.project = $1 order by e.created_at, e.event_id`,
    [project],
  );
  deliveries = rows.map((r) => r.delivery_id);
}, 120_000);

afterAll(async () => {
  await owner?.end();
  await listening?.end();
});

/**
 * The notifications of one committed announcement: those sent before it reached the listening
 * connection once it answers a statement (the sender signals at its commit, and the listener reads
 * its queue before it reports ready for the next query).
 */
async function announced(fn: string): Promise<{ n: number; notices: string[] }> {
  heard.length = 0;
  const { rows } = await owner.query<{ n: number }>(`select ${fn}(100) as n`);
  await listening.query('select 1');
  await listening.query('select 1');
  return { n: rows[0]!.n, notices: [...heard] };
}

describe('the announcer and the record of attempts, read by primary key', () => {
  it('announce the same events, in the same order, with the same notices', async () => {
    const { rows } = await owner.query<{ event_id: string }>(
      'select event_id from ops.outbox_events where announced_at is null',
    );
    expect(rows.length).toBeGreaterThanOrEqual(6);
    const before = await announced('pg_temp.previous_outbox_announce');
    // The same events unannounced again (the owner, the outbox's triggers off).
    await owner.query('begin');
    await owner.query('set local session_replication_role = replica');
    await owner.query('update ops.outbox_events set announced_at = null where event_id = any ($1::uuid[])', [
      rows.map((r) => r.event_id),
    ]);
    await owner.query('commit');
    const now = await announced('ops.outbox_announce');
    // The same events in the same order; since 20261206100000 each notice names the event's id
    // alone (the previous one also named its release, project and kind).
    const ids = (notices: string[]) => notices.map((n) => (JSON.parse(n) as { event_id: string }).event_id);
    expect(now.n).toBe(before.n);
    expect(ids(now.notices)).toEqual(ids(before.notices));
    expect(now.notices.map((n) => Object.keys(JSON.parse(n)))).toEqual(now.notices.map(() => ['event_id']));
    expect(now.n).toBe(rows.length);
    expect(now.notices).toHaveLength(rows.length);
  });

  it('record the same attempts on the same deliveries, and refuse the same bad batch', async () => {
    expect(deliveries.length).toBeGreaterThanOrEqual(3);
    const batch = deliveries.slice(0, 3);
    const args = [
      batch,
      batch.map(() => '2026-12-01T00:00:00Z'),
      batch.map(() => 12),
      [204, 503, null],
      [null, 'answered 503', 'timed out'],
      ['delivered', 'retry', 'failed'],
    ];
    const run = async (fn: string, values: unknown[]) => {
      await owner.query('begin');
      try {
        const { rows } = await owner.query(`select ${fn}($1, $2, $3, $4, $5, $6) as n`, values);
        const written = await owner.query(
          `select d.delivery_id, d.status, d.attempts, d.last_attempt_at, d.delivered_at is not null as delivered,
                  a.attempt, a.started_at, a.duration_ms, a.status_code, a.error, a.outcome
           from ops.webhook_deliveries d left join ops.webhook_attempts a on a.delivery_id = d.delivery_id
           where d.delivery_id = any ($1::uuid[]) order by d.delivery_id, a.attempt`,
          [deliveries],
        );
        return { n: rows[0].n, written: written.rows };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { code: e.code, message: e.message };
      } finally {
        await owner.query('rollback');
      }
    };
    const before = await run('pg_temp.previous_webhook_record_attempts', args);
    const now = await run('ops.webhook_record_attempts', args);
    expect(now).toEqual(before);
    expect(now).toMatchObject({ n: 3 });
    // An unknown delivery among them: the same refusal, nothing written.
    const unknown: unknown[] = [...args];
    unknown[0] = [batch[0], batch[1], randomUUID()];
    const refusedBefore = await run('pg_temp.previous_webhook_record_attempts', unknown);
    expect(await run('ops.webhook_record_attempts', unknown)).toEqual(refusedBefore);
    expect(refusedBefore).toMatchObject({ code: 'OPS04' });
  });
});
