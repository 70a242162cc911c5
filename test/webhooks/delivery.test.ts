// Webhook delivery end to end against a real local HTTP receiver: the outbox row of a committed
// gate change becomes one signed POST that the standardwebhooks library verifies; a rolled-back
// change sends nothing; a receiver that was down gets the delivery once back; two workers (two
// API instances) deliver each event exactly once; disallowed targets are refused.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { loadWebhookConfig } from '../../src/webhooks/config.js';
import { post } from '../../src/webhooks/deliver.js';
import { RefusedTargetError } from '../../src/webhooks/ssrf.js';
import { DELIVER_TASK, startWebhookWorker, type WebhookWorker } from '../../src/webhooks/worker.js';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually, type Receiver, startReceiver } from './receiver.js';

let db: TestDatabase;
let receiver: Receiver;
const workers: WebhookWorker[] = [];
const logger = createLogger({ level: 'silent' });
const config = {
  ...loadWebhookConfig({ OPS_WEBHOOK_ALLOW_LOOPBACK: 'true', OPS_WEBHOOK_MAX_ATTEMPTS: '6' }, 'test'),
  timeoutMs: 5_000,
};

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;

async function subscribe(
  url: string,
  project: string,
  secret = newSecret(),
): Promise<{ id: string; secret: string }> {
  const row = await db.as('release_manager', who.rm, async (c) => {
    const { rows } = await c.query<{ subscription_id: string }>(
      `select subscription_id from ops.add_webhook($1, '{gate.transition}', $2, null, $3)`,
      [url, project, secret],
    );
    return rows[0]!;
  });
  return { id: row.subscription_id, secret };
}

function bodiesFor(project: string) {
  return receiver.received
    .map((r) => ({ ...r, json: JSON.parse(r.body) as { type: string; data: Record<string, unknown> } }))
    .filter((r) => r.json.data.project === project);
}

async function outboxCount(project: string): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select count(*)::int as n from ops.outbox_events where project = $1 and kind = 'gate.transition'`,
    [project],
  );
  return rows[0]!.n;
}

/**
 * Resolves once no worker can send anything more: every outbox event is dispatched, and the job
 * library holds no delivery job that is running or may still run. Workers have no order between
 * them that a later delivery could stand as a barrier for, so an absence is judged after the work
 * itself is done: a dispatch adds an event's jobs in the transaction that marks it dispatched, and
 * never takes a dispatched event again; a job is locked while it runs and deleted once it has
 * succeeded, and one that failed stays until its attempts are used up; a job ends only after its
 * requests have been answered (or have failed), and the receiver records a request before it
 * answers. Read in one statement, so both hold at one moment; after it nothing is left to start
 * a request (no test adds events meanwhile).
 */
async function workersIdle(): Promise<void> {
  await eventually(async () => {
    const { rows } = await db.admin.query<{ undispatched: number; jobs: number }>(
      `select (select count(*)::int from ops.outbox_events where dispatched_at is null) as undispatched,
              (select count(*)::int from graphile_worker.jobs
                where task_identifier = $1 and (locked_at is not null or attempts < max_attempts)) as jobs`,
      [DELIVER_TASK],
    );
    return rows[0]!.undispatched === 0 && rows[0]!.jobs === 0;
  }, 'the webhook workers to have nothing left to run');
}

beforeAll(async () => {
  db = await useTestDatabase();
  receiver = await startReceiver();
  workers.push(
    await startWebhookWorker({ connectionString: db.adminUrl, config, logger, pollIntervalMs: 300 }),
  );
});

afterAll(async () => {
  for (const w of workers) await w.stop();
  await receiver?.close();
});

describe('webhook delivery', () => {
  it('a gate change delivers one signed webhook that verifies with the standard library', async () => {
    const project = uniqueName('wh-sign');
    const { secret } = await subscribe(receiver.url, project);
    const release = await createRelease(db, { project });
    await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
    // A blocking change: G1 fails again, and its event carries the blockers.
    await recordCheck(db, release.release_id, 'G1', 'build', 'fail');
    const events = await outboxCount(project);
    expect(events).toBeGreaterThanOrEqual(2);
    const got = await eventually(
      () => bodiesFor(project).length >= events && bodiesFor(project),
      'the gate change webhooks',
    );
    expect(got).toHaveLength(events);
    const wh = new Webhook(secret);
    for (const r of got) {
      const verified = wh.verify(r.body, r.headers as Record<string, string>) as {
        type: string;
        data: { release_id: string; change: { gate_code: string }; blockers: unknown[] | null };
      };
      expect(verified.type).toBe('gate.transition');
      expect(verified.data.release_id).toBe(release.release_id);
      expect(verified.data.blockers === null || Array.isArray(verified.data.blockers)).toBe(true);
    }
    const failed = got.find(
      (r) => (r.json.data.change as { to_status?: string } | undefined)?.to_status === 'failed',
    );
    expect((failed!.json.data.blockers as { gate_code: string }[]).map((b) => b.gate_code)).toContain('G1');
    expect(
      got.some((r) => r.json.data.change && (r.json.data.change as { gate_code: string }).gate_code === 'G1'),
    ).toBe(true);
    // A body changed in transit does not verify.
    expect(() => wh.verify(`${got[0]!.body} `, got[0]!.headers as Record<string, string>)).toThrow();
    // Each delivery is recorded with its attempt (once the worker has written it), readable by a
    // release manager.
    const deliveries = await eventually(async () => {
      const r = await db.as('release_manager', who.rm, (c) =>
        c.query<{ status: string; attempts: number }>(
          `select d.status, d.attempts from ops.webhook_deliveries d join ops.outbox_events e using (event_id)
           where e.project = $1`,
          [project],
        ),
      );
      return r.rows.every((d) => d.status === 'delivered') && r;
    }, 'the deliveries recorded');
    expect(deliveries.rows.map((d) => d.status)).toEqual(Array(events).fill('delivered'));
  });

  it('a rolled-back transaction leaves no event and delivers nothing', async () => {
    const project = uniqueName('wh-rollback');
    await subscribe(receiver.url, project);
    const doomed = await createRelease(db, { project });
    const client = await db.api.connect();
    try {
      await client.query('begin');
      await client.query(
        `select set_config('role', 'ci_service_role', true),
        set_config('request.jwt.claims', $1, true)`,
        [JSON.stringify({ sub: who.ci, role: 'ci_service_role' })],
      );
      await client.query(`select ops.record_check($1, 'G1', 'build', 'pass')`, [doomed.release_id]);
      await client.query('rollback');
    } finally {
      client.release();
    }
    // A committed change afterwards is delivered; the rolled-back one never is.
    const marker = await createRelease(db, { project });
    await recordCheck(db, marker.release_id, 'G1', 'build', 'pass');
    await eventually(
      () => bodiesFor(project).some((r) => r.json.data.release_id === marker.release_id),
      'the committed change',
    );
    await workers[0]!.dispatch();
    expect(bodiesFor(project).filter((r) => r.json.data.release_id === doomed.release_id)).toEqual([]);
    const { rows } = await db.admin.query(
      `select 1 from ops.outbox_events where release_id = $1 and kind = 'gate.transition'`,
      [doomed.release_id],
    );
    expect(rows).toEqual([]);
  });

  it('a receiver down for a while gets the delivery after it comes back (retried with backoff)', async () => {
    const late = await startReceiver('/late');
    try {
      const project = uniqueName('wh-down');
      const { id } = await subscribe(late.url, project);
      await late.down();
      const release = await createRelease(db, { project });
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
      // At least one attempt failed while it was down, and was scheduled again.
      await eventually(async () => {
        const { rows } = await db.admin.query(
          `select 1 from ops.webhook_attempts a join ops.webhook_deliveries d using (delivery_id)
           where d.subscription_id = $1 and a.outcome = 'retry'`,
          [id],
        );
        return rows.length > 0;
      }, 'a failed attempt');
      await late.up();
      const events = await outboxCount(project);
      await eventually(
        () => late.received.length >= events,
        'the delivery after the receiver came back',
        90_000,
      );
      const rows = await eventually(async () => {
        const r = await db.admin.query<{ status: string; attempts: number }>(
          'select status, attempts from ops.webhook_deliveries where subscription_id = $1',
          [id],
        );
        return r.rows.every((d) => d.status === 'delivered') && r.rows;
      }, 'the deliveries recorded');
      expect(rows.some((r) => r.attempts >= 2)).toBe(true);
      // The same delivery id across its attempts: a receiver de-duplicates on webhook-id.
      const ids = late.received.map((r) => r.headers['webhook-id']);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await late.close();
    }
  });

  it('two instances deliver each event exactly once', async () => {
    workers.push(
      await startWebhookWorker({ connectionString: db.adminUrl, config, logger, pollIntervalMs: 300 }),
    );
    const project = uniqueName('wh-twice');
    await subscribe(receiver.url, project);
    for (let i = 0; i < 3; i++) {
      const release = await createRelease(db, { project });
      await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
    }
    const events = await outboxCount(project);
    await eventually(() => bodiesFor(project).length >= events, 'every event');
    // Both workers dispatch again; nothing more arrives once neither has anything left to run.
    await Promise.all(workers.map((w) => w.dispatch()));
    await workersIdle();
    // One delivery per event, each sent once: one attempt recorded for each.
    const { rows: attempts } = await db.admin.query<{ attempts: number; recorded: number }>(
      `select d.attempts, (select count(*)::int from ops.webhook_attempts a where a.delivery_id = d.delivery_id) as recorded
       from ops.webhook_deliveries d join ops.outbox_events e using (event_id) where e.project = $1`,
      [project],
    );
    expect(attempts).toEqual(Array(events).fill({ attempts: 1, recorded: 1 }));
    const got = bodiesFor(project);
    expect(got).toHaveLength(events);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(events);
    expect(new Set(got.map((r) => r.json.data.event_id)).size).toBe(events);
  });

  it('a target on a disallowed address is refused and never contacted', async () => {
    const project = uniqueName('wh-ssrf');
    const { id } = await subscribe('http://169.254.169.254/latest/meta-data', project);
    const release = await createRelease(db, { project });
    await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
    const rows = await eventually(async () => {
      const r = await db.admin.query<{ status: string; error: string }>(
        `select d.status, a.error from ops.webhook_deliveries d join ops.webhook_attempts a using (delivery_id)
         where d.subscription_id = $1`,
        [id],
      );
      return r.rows.length > 0 && r.rows;
    }, 'the refusal');
    expect(rows[0]!.status).toBe('refused');
    expect(rows[0]!.error).toMatch(/linkLocal/);

    // A name resolving to loopback, when loopback is not allowed: refused before connecting.
    const before = receiver.received.length;
    const strict = { timeoutMs: 2_000, maxBytes: 1024, allowLoopback: false, allowPrivate: false };
    await expect(
      post(new URL(`http://localhost:${receiver.port}/hook`), '{}', {}, strict),
    ).rejects.toBeInstanceOf(RefusedTargetError);
    await expect(
      post(new URL(`http://127.0.0.1:${receiver.port}/hook`), '{}', {}, strict),
    ).rejects.toBeInstanceOf(RefusedTargetError);
    await expect(post(new URL('http://[::ffff:10.0.0.1]/'), '{}', {}, strict)).rejects.toBeInstanceOf(
      RefusedTargetError,
    );
    // IPv4-compatible IPv6 (::127.0.0.1 is ::7f00:1), which ipaddr.js calls unicast.
    await expect(
      post(new URL(`http://[::127.0.0.1]:${receiver.port}/hook`), '{}', {}, strict),
    ).rejects.toBeInstanceOf(RefusedTargetError);
    expect(receiver.received.length).toBe(before);
  });
});
