// ops-gates webhook add|list|remove|deliveries against a real server: a release manager manages
// subscriptions (the secret shown once, never listed), an auditor reads them, others are refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { cli, type LiveServer, type Person, startServer, token } from './support.js';

let db: TestDatabase;
let server: LiveServer;

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
});
afterAll(async () => {
  await server?.close();
});

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) } };
}

describe('ops-gates webhook', () => {
  it('add shows the secret once; list and deliveries show the subscription without it; remove stops it', async () => {
    const added = await cli(
      [
        'webhook',
        'add',
        '--target',
        'https://hooks.example.com/ops',
        '--events',
        'gate.transition',
        '--project',
        'odoo-core',
        '--json',
      ],
      await as('rm'),
    );
    expect(added.code, added.stderr).toBe(0);
    const id = added.json.subscription.id as string;
    const secret = added.json.secret as string;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    const { rows } = await db.admin.query(
      'select secret from ops.webhook_secrets where subscription_id = $1',
      [id],
    );
    expect(rows[0].secret).toBe(secret);

    const listed = await cli(['webhook', 'list'], await as('auditor'));
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(id);
    expect(listed.stdout).toContain('gate.transition');
    expect(listed.stdout).not.toContain(secret);

    const deliveries = await cli(['webhook', 'deliveries', id, '--json'], await as('rm'));
    expect(deliveries.code, deliveries.stderr).toBe(0);
    expect(deliveries.json.deliveries).toEqual([]);

    const removed = await cli(['webhook', 'remove', id], await as('rm'));
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toContain(`webhook ${id} removed`);
    const again = await cli(['webhook', 'remove', id], await as('rm'));
    expect(again.code).toBe(1);
    const { rows: secrets } = await db.admin.query(
      'select 1 from ops.webhook_secrets where subscription_id = $1',
      [id],
    );
    expect(secrets).toEqual([]);
  });

  it('refusals: a persona other than release_manager (3), a bad URL or event kind (1 or 2), a bad id (2)', async () => {
    const qa = await cli(['webhook', 'add', '--target', 'https://hooks.example.com/x'], await as('qa'));
    expect(qa.code).toBe(3);
    const badUrl = await cli(['webhook', 'add', '--target', 'ftp://hooks.example.com/x'], await as('rm'));
    expect([1, 2]).toContain(badUrl.code);
    expect(badUrl.stderr).toMatch(/url/i);
    const badKind = await cli(
      ['webhook', 'add', '--target', 'https://hooks.example.com/x', '--events', 'gate.whatever'],
      await as('rm'),
    );
    expect([1, 2]).toContain(badKind.code);
    expect(badKind.stderr).toMatch(/gate\.transition/);
    const badId = await cli(['webhook', 'remove', 'not-a-uuid'], await as('rm'));
    expect(badId.code).toBe(2);
    const { rows } = await db.admin.query(
      `select count(*)::int as n from ops.webhook_subscriptions where url like '%/x'`,
    );
    expect(rows[0].n).toBe(0);
  });
});
