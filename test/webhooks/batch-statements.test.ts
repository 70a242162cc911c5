// A batch job reads its deliveries' targets and records their attempts in one statement each
// (ops.webhook_delivery_targets, ops.webhook_record_attempts): the body read is the message of the
// one-delivery read, as the text that is signed; each attempt is counted on its delivery and
// recorded under its number; and a bad batch (an unknown delivery, one named twice, arrays of
// different lengths, an unknown outcome) records nothing at all.
import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWorkerSchema } from '../../src/webhooks/worker.js';
import { createRelease, recordCheck, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let deliveries: string[];

beforeAll(async () => {
  db = await useTestDatabase();
  await installWorkerSchema(db.adminUrl);
  const project = uniqueName('wh-statements');
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.add_webhook('https://hooks.example.com/in', '{}', $1, null, $2)`, [
      project,
      `whsec_${randomBytes(32).toString('base64')}`,
    ]),
  );
  const release = await createRelease(db, { project });
  await recordCheck(db, release.release_id, 'G1', 'build', 'pass');
  await recordCheck(db, release.release_id, 'G1', 'build', 'fail');
  await db.admin.query('select ops.webhook_dispatch(1000, 3)');
  const { rows } = await db.admin.query<{ delivery_id: string }>(
    `select d.delivery_id from ops.webhook_deliveries d join ops.outbox_events e on e.event_id = d.event_id
     where e.project = $1 order by e.created_at, e.event_id`,
    [project],
  );
  deliveries = rows.map((r) => r.delivery_id);
});

const attemptsOf = async (ids: string[]) =>
  (
    await db.admin.query<{ delivery_id: string; attempt: number; outcome: string }>(
      `select delivery_id, attempt, outcome from ops.webhook_attempts where delivery_id = any ($1::uuid[])
       order by delivery_id, attempt`,
      [ids],
    )
  ).rows;

const record = (ids: string[], outcomes: string[], extra: { lengths?: number } = {}) =>
  db.admin.query('select ops.webhook_record_attempts($1, $2, $3, $4, $5, $6) as n', [
    ids,
    ids.map(() => new Date()),
    ids.slice(0, extra.lengths ?? ids.length).map(() => 12),
    ids.map((_, i) => (outcomes[i] === 'delivered' ? 204 : 503)),
    ids.map((_, i) => (outcomes[i] === 'delivered' ? null : 'answered 503')),
    outcomes,
  ]);

describe('a batch job’s statements', () => {
  it('read the targets with the message of the one-delivery read, as the text that is signed', async () => {
    expect(deliveries.length).toBeGreaterThanOrEqual(2);
    const { rows } = await db.admin.query<{ delivery_id: string; body: string; url: string; status: string }>(
      'select * from ops.webhook_delivery_targets($1::uuid[])',
      [[...deliveries, randomUUID()].reverse()],
    );
    // In the order asked, an unknown delivery absent.
    expect(rows.map((r) => r.delivery_id)).toEqual([...deliveries].reverse());
    for (const r of rows) {
      const one = await db.admin.query<{ body: unknown; url: string; status: string }>(
        'select body, url, status from ops.webhook_delivery_target($1)',
        [r.delivery_id],
      );
      expect(typeof r.body).toBe('string');
      expect(JSON.parse(r.body)).toEqual(one.rows[0]!.body);
      expect([r.url, r.status]).toEqual([one.rows[0]!.url, one.rows[0]!.status]);
    }
  });

  it('record every attempt in one statement, or none of a bad batch', async () => {
    const [first, second] = deliveries as [string, string];
    const refusals: [string[], string[], { lengths?: number }, string][] = [
      [[first, randomUUID()], ['delivered', 'delivered'], {}, 'OPS04'],
      [[first, first], ['delivered', 'retry'], {}, 'OPS22'],
      [[first, second], ['delivered', 'maybe'], {}, 'OPS22'],
      [[first, second], ['delivered', 'retry'], { lengths: 1 }, 'OPS22'],
    ];
    for (const [ids, outcomes, extra, code] of refusals) {
      await expect(record(ids, outcomes, extra)).rejects.toMatchObject({ code });
    }
    expect(await attemptsOf([first, second])).toEqual([]);

    expect((await record([first, second], ['retry', 'delivered'])).rows[0]!.n).toBe(2);
    expect((await record([first], ['failed'])).rows[0]!.n).toBe(1);
    const attempts = await attemptsOf([first, second]);
    expect(attempts).toEqual(
      [
        { delivery_id: first, attempt: 1, outcome: 'retry' },
        { delivery_id: first, attempt: 2, outcome: 'failed' },
        { delivery_id: second, attempt: 1, outcome: 'delivered' },
      ].sort((a, b) => a.delivery_id.localeCompare(b.delivery_id) || a.attempt - b.attempt),
    );
    const { rows } = await db.admin.query<{ delivery_id: string; status: string; attempts: number }>(
      'select delivery_id, status, attempts from ops.webhook_deliveries where delivery_id = any ($1::uuid[])',
      [[first, second]],
    );
    expect(new Map(rows.map((r) => [r.delivery_id, [r.status, r.attempts]]))).toEqual(
      new Map([
        [first, ['failed', 2]],
        [second, ['delivered', 1]],
      ]),
    );
  });
});
