// Listening to the outbox channel as a persona (20261206100000). PostgreSQL lets any login LISTEN on
// any channel and applies no privilege or policy to what it hears, so the API's login, switched to
// a persona with claims of its choosing, hears every notification on 'ops_outbox'. A notification
// must then tell it nothing it may not read: each names only a committed event's id. A developer who
// hears another developer's release's events learns no release id, project or kind, and reading the
// event by its id through the raw SQL door returns nothing (RLS on ops.outbox_events).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OUTBOX_CHANNEL } from '../../src/events/listener.js';
import { createRelease, recordCheck, uniqueName } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';

let db: TestDatabase;
let listening: pg.Client;
const payloads: string[] = [];

beforeAll(async () => {
  db = await useTestDatabase();
  // The API's login, as a developer with claims it chose, in a session of its own.
  listening = new pg.Client({ connectionString: db.apiUrl });
  await listening.connect();
  listening.on('notification', (m) => {
    if (m.channel === OUTBOX_CHANNEL && m.payload !== undefined) payloads.push(m.payload);
  });
  await listening.query(
    `select set_config('role', 'developer', false),
            set_config('request.jwt.claims', '{"sub":"dev-listener","role":"developer"}', false)`,
  );
  await listening.query(`listen ${OUTBOX_CHANNEL}`);
});

afterAll(async () => {
  await listening?.end();
});

describe('the outbox channel heard by a persona that may not read the events', () => {
  it('names each event by its id alone, and the id reads as nothing to that persona', async () => {
    const project = uniqueName('listen-secret-project');
    const theirs = await createRelease(db, { project, sub: 'dev-owner-elsewhere' });
    await recordCheck(db, theirs.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, theirs.release_id, 'G1', 'unit', 'fail');
    const { rows: events } = await db.admin.query<{ event_id: string }>(
      'select event_id from ops.outbox_events where release_id = $1 order by created_at, event_id',
      [theirs.release_id],
    );
    expect(events.length).toBeGreaterThanOrEqual(2);
    await db.api.query('select public.ops_outbox_announce(1000)');
    const ids = events.map((e) => e.event_id);
    await eventually(
      () => ids.every((id) => payloads.some((p) => p.includes(id))),
      'the developer’s session to hear the events',
    );
    const heard = payloads.filter((p) => ids.some((id) => p.includes(id)));
    for (const payload of heard) {
      expect(Object.keys(JSON.parse(payload))).toEqual(['event_id']);
      expect(payload).not.toContain(theirs.release_id);
      expect(payload).not.toContain(project);
      expect(payload).not.toMatch(/gate\.transition|release\.status_changed|"kind"/);
    }
    // The id names a row the developer may not read.
    const { rows } = await listening.query(
      'select * from ops.outbox_events where event_id = any ($1::uuid[])',
      [ids],
    );
    expect(rows).toEqual([]);
  });
});
