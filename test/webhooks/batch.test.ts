// The dispatcher hands a subscription the deliveries of a batch of events as one job. A receiver
// that refuses one of them must not cost the others a second request: only the refused delivery is
// retried (with the job library's backoff) until it is accepted, and each is delivered once.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { loadWebhookConfig } from '../../src/webhooks/config.js';
import { startWebhookWorker, type WebhookWorker } from '../../src/webhooks/worker.js';
import { createRelease, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from './receiver.js';

let db: TestDatabase;
let worker: WebhookWorker | undefined;
const requests: { releaseId: string; status: number }[] = [];
// Release whose deliveries the receiver refuses, and how many times it still will.
const refuse = { releaseId: '', times: 0 };
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { release_id: string } };
    const releaseId = body.data.release_id;
    const status = releaseId === refuse.releaseId && refuse.times > 0 ? 500 : 204;
    if (status === 500) refuse.times--;
    requests.push({ releaseId, status });
    res.writeHead(status).end();
  });
});

beforeAll(async () => {
  db = await useTestDatabase();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  worker = await startWebhookWorker({
    connectionString: db.adminUrl,
    config: loadWebhookConfig({ OPS_WEBHOOK_ALLOW_LOOPBACK: 'true', OPS_WEBHOOK_MAX_ATTEMPTS: '6' }, 'test'),
    logger: createLogger({ level: 'silent' }),
    pollIntervalMs: 300,
  });
});

afterAll(async () => {
  await worker?.stop();
  server.closeAllConnections();
  server.close();
});

describe('a batch of deliveries', () => {
  it('retries only the delivery the receiver refused, and delivers each once', async () => {
    const project = uniqueName('wh-batch');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    await db.as('release_manager', who.rm, (c) =>
      c.query(`select ops.add_webhook($1, '{gate.transition}', $2, null, $3)`, [
        url,
        project,
        `whsec_${randomBytes(32).toString('base64')}`,
      ]),
    );
    const releases = [
      await createRelease(db, { project }),
      await createRelease(db, { project }),
      await createRelease(db, { project }),
    ];
    refuse.releaseId = releases[1]!.release_id;
    refuse.times = 2;
    // One transaction: its events are dispatched together, as one job for the subscription.
    await db.as('ci_service_role', who.ci, async (c) => {
      for (const r of releases) {
        await c.query(
          `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'build',
             p_status => 'pass')`,
          [r.release_id],
        );
      }
    });
    const deliveries = await eventually(
      async () => {
        const { rows } = await db.admin.query<{ release_id: string; status: string; attempts: number }>(
          `select e.release_id, d.status, d.attempts from ops.webhook_deliveries d
           join ops.outbox_events e using (event_id) where e.project = $1 order by e.created_at`,
          [project],
        );
        return rows.length === 3 && rows.every((d) => d.status === 'delivered') && rows;
      },
      'every delivery delivered',
      90_000,
    );
    const attempts = Object.fromEntries(deliveries.map((d) => [d.release_id, d.attempts]));
    expect(attempts).toEqual({
      [releases[0]!.release_id]: 1,
      [releases[1]!.release_id]: 3,
      [releases[2]!.release_id]: 1,
    });
    const sent = (id: string) => requests.filter((r) => r.releaseId === id).map((r) => r.status);
    expect(sent(releases[0]!.release_id)).toEqual([204]);
    expect(sent(releases[1]!.release_id)).toEqual([500, 500, 204]);
    expect(sent(releases[2]!.release_id)).toEqual([204]);
  });
});
