// Claims that are not a JSON object, published through the raw SQL door (a login that may assume
// any persona and set request.jwt.claims to any text): text that is not JSON, a JSON array, a JSON
// string, a number, JSON null, JSON nested past the stack's depth and a NUL escape jsonb cannot hold. Every reading of the claims refuses them
// with OPS03 and a message that names request.jwt.claims and never the claims' content, whichever
// function a persona reaches them through; nothing is written.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { createRelease, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { tryAsRole } from './sql-door.js';

let db: TestDatabase;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
});

/** Claims text as set_config receives it, and a marker of its content the message must not carry. */
const BAD_CLAIMS: [string, string, string][] = [
  ['text that is not JSON', 'not json marker-1', 'marker-1'],
  ['JSON cut short', '{"sub":"marker-2",', 'marker-2'],
  ['a JSON array', '["marker-3"]', 'marker-3'],
  ['a JSON string', '"marker-4"', 'marker-4'],
  ['a JSON number', '12345', '12345'],
  ['JSON null', 'null', 'marker-never-there'],
  [
    'JSON nested past the stack’s depth',
    `{"sub":"marker-7","x":${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
    'marker-7',
  ],
  ['a sub with a NUL escape', '{"sub":"marker-6\\u0000","role":"%persona%"}', 'marker-6'],
];

/** What each persona may execute that reads the claims; $1 a unique key where a statement takes one. */
const DOORS: [string, string][] = [
  ['ops.caller_stamp()', 'select * from ops.caller_stamp()'],
  ['ops.current_claims()', 'select ops.current_claims()'],
  ['ops.current_actor()', 'select ops.current_actor()'],
  [
    'ops.ingest_event',
    `select ops.ingest_event(pg_catalog.jsonb_build_object(
       'schema_version', 'v1.0', 'idempotency_key', $1::text, 'source_system', 'github_actions',
       'release_id', $2::uuid, 'emitted_at', pg_catalog.now(), 'event_type', 'check_result',
       'gate_code', 'G2', 'payload', pg_catalog.jsonb_build_object('check_name', $1::text, 'status', 'pass')))`,
  ],
];

/** Rows anywhere in the schema that carry the key (ingest log, environment events, checks). */
async function rowsWithKey(key: string): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select ((select count(*) from ops.event_ingest_log l where l.idempotency_key = $1)
          + (select count(*) from ops.environment_events e where e.idempotency_key = $1)
          + (select count(*) from ops.gate_checks c where c.check_name = $1))::int as n`,
    [key],
  );
  return Number(rows[0]!.n);
}

describe('claims that are not a JSON object, through the raw SQL door', () => {
  it('a well-formed call of each door is accepted, so the refusals below are the claims’ doing', async () => {
    for (const persona of PERSONAS) {
      for (const [, sql] of DOORS.filter(([name]) => name !== 'ops.ingest_event')) {
        const r = await tryAsRole(db, persona, { sub: `claims-${persona}`, role: persona }, (c) =>
          c.query(sql),
        );
        expect(r.ok ? 'ok' : `${r.code} ${r.message}`, `${persona}: ${sql}`).toBe('ok');
      }
    }
    const key = randomUUID();
    const r = await tryAsRole(db, 'ci_service_role', { sub: 'claims-ci', role: 'ci_service_role' }, (c) =>
      c.query(DOORS[3]![1], [key, release.release_id]),
    );
    expect(r.ok ? 'ok' : `${r.code} ${r.message}`).toBe('ok');
    expect(await rowsWithKey(key)).toBeGreaterThan(0);
  });

  const rows = PERSONAS.flatMap((persona: Persona) =>
    BAD_CLAIMS.flatMap(([what, text, marker]) =>
      DOORS.map(
        ([door, sql]) => [`${persona} · ${what} · ${door}`, persona, text, marker, door, sql] as const,
      ),
    ),
  );
  it.each(rows)(
    '%s: OPS03, the setting named, its content not, nothing written',
    async (_n, persona, text, marker, door, sql) => {
      const key = randomUUID();
      const r = await tryAsRole(db, persona, null, async (c) => {
        await c.query(`select set_config('request.jwt.claims', $1, true)`, [
          text.replace('%persona%', persona),
        ]);
        return c.query(sql, door === 'ops.ingest_event' ? [key, release.release_id] : []);
      });
      expect(r.ok ? 'accepted' : r.code).toBe('OPS03');
      if (!r.ok) {
        expect(r.message).toContain('request.jwt.claims');
        expect(r.message).not.toContain(marker);
      }
      expect(await rowsWithKey(key)).toBe(0);
    },
  );
});
