// Hostile request.jwt.claims through every function and relation a persona may reach, found in
// the catalog (so a function granted later is swept too). The raw SQL door: a login that assumes a
// persona and sets the claims to any text. Each call is made twice in one rolled-back transaction,
// once with well-formed claims naming the persona and once with the hostile text; the hostile
// call must end as the well-formed one did (the claims were never read, so they changed nothing)
// or with OPS03, never with another SQLSTATE the claims caused (22P02, 22P05, 54001, 42704 ...),
// and nothing it did may be written: a write entry point (ops.create_release and the ingest, with
// real arguments) refuses before writing. Duplicate keys are read as jsonb reads them (the last
// one wins) by every reading, so a duplicate `role` naming another persona is refused, and a
// duplicate naming the persona itself is the persona.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
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

/** Hostile claims texts; %persona% is the assumed persona, %other% another one. */
const HOSTILE: [string, string][] = [
  ['not JSON', 'not json'],
  ['a JSON array', '[{"sub":"x","role":"%persona%"}]'],
  ['a JSON string', '"%persona%"'],
  ['a JSON number', '1e400'],
  ['JSON null', 'null'],
  ['JSON true', 'true'],
  [
    'nested past the stack’s depth',
    `{"sub":"x","role":"%persona%","n":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
  ],
  ['a NUL escape in a key', '{"sub":"x","role":"%persona%","a\\u0000":1}'],
  ['a lone surrogate escape', '{"sub":"\\ud800","role":"%persona%"}'],
  ['a duplicate role naming another persona last', '{"sub":"x","role":"%persona%","role":"%other%"}'],
  [
    'app_metadata.ops_role naming another persona',
    '{"sub":"x","role":"%persona%","app_metadata":{"ops_role":"%other%"}}',
  ],
  [
    'a duplicate app_metadata naming another persona last',
    '{"sub":"x","app_metadata":{"ops_role":"%persona%"},"app_metadata":{"ops_role":"%other%"}}',
  ],
  ['an empty object', '{}'],
  ['a role that is no persona', '{"sub":"x","role":"postgres"}'],
  ['a role of another type', '{"sub":"x","role":["%other%"],"app_metadata":"%other%"}'],
  ['a sub of another type', '{"sub":{"id":"x"},"role":"%persona%"}'],
  ['a huge object', `{"sub":"x","role":"%persona%","pad":"${'p'.repeat(200_000)}"}`],
  ['only whitespace', '   '],
  ['a byte-order mark before the object', '\ufeff{"sub":"x","role":"%persona%"}'],
];

/** The claims text with the assumed persona and another one filled in. */
function fill(text: string, persona: Persona): string {
  const other = PERSONAS.find((p) => p !== persona)!;
  return text.replaceAll('%persona%', persona).replaceAll('%other%', other);
}

interface Target {
  name: string;
  sql: string;
}

/** Every function and relation in ops the persona may execute or read; functions called with nulls. */
async function targets(persona: Persona): Promise<Target[]> {
  const { rows: fns } = await db.admin.query<{ name: string; sql: string }>(
    `select p.oid::regprocedure::text as name,
            case when p.prokind = 'p' then 'call ' else 'select * from ' end
              || p.oid::regproc::text || '('
              || coalesce((select string_agg(format('null::%s', t::regtype), ', ' order by i)
                           from unnest(p.proargtypes) with ordinality a(t, i)), '')
              || ')' as sql
     from pg_proc p
     where p.pronamespace = 'ops'::regnamespace
       and p.prorettype <> 'trigger'::regtype
       and p.prokind in ('f', 'p')
       and has_function_privilege($1, p.oid, 'execute')
     order by 1`,
    [persona],
  );
  const { rows: rels } = await db.admin.query<{ name: string; sql: string }>(
    `select c.oid::regclass::text as name, format('select count(*) from %s', c.oid::regclass) as sql
     from pg_class c
     where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'v', 'm', 'p')
       and has_table_privilege($1, c.oid, 'select')
     order by 1`,
    [persona],
  );
  return [...fns, ...rels];
}

/** The SQLSTATE a statement ends with inside a savepoint ('ok' when it succeeds). */
async function outcome(c: pg.ClientBase, sql: string, params: unknown[] = []): Promise<string> {
  await c.query('savepoint t');
  try {
    await c.query(sql, params);
    await c.query('release savepoint t');
    return 'ok';
  } catch (err) {
    await c.query('rollback to savepoint t');
    return (err as { code?: string }).code ?? 'error';
  }
}

describe('hostile claims through every function and relation a persona may reach', () => {
  it.each(PERSONAS.map((p) => [p] as const))(
    '%s: each hostile claims text ends every call as well-formed claims do, or with OPS03',
    async (persona) => {
      const all = await targets(persona);
      expect(all.length).toBeGreaterThan(10);
      const wrong: string[] = [];
      const identityRead = new Map<string, string>();
      const c = await db.api.connect();
      try {
        await c.query('begin');
        await c.query(`select set_config('role', $1, true)`, [persona]);
        const setClaims = (text: string) =>
          c.query(`select set_config('request.jwt.claims', $1, true)`, [text]);
        await setClaims(JSON.stringify({ sub: `sweep-${persona}`, role: persona }));
        const baseline = new Map<string, string>();
        for (const t of all) baseline.set(t.name, await outcome(c, t.sql));
        for (const [what, text] of HOSTILE) {
          await setClaims(fill(text, persona));
          for (const t of all) {
            const got = await outcome(c, t.sql);
            if (t.name === 'ops.caller_identity()') identityRead.set(what, got);
            if (got !== 'OPS03' && got !== baseline.get(t.name)) {
              wrong.push(`${what} · ${t.name}: ${got} (well-formed claims: ${baseline.get(t.name)})`);
            }
          }
        }
      } finally {
        await c.query('rollback').catch(() => {});
        c.release();
      }
      expect(wrong).toEqual([]);
      // The hostile texts were in effect: the identity reader refused the malformed ones.
      for (const what of [
        'not JSON',
        'a JSON array',
        'JSON null',
        'a NUL escape in a key',
        'a duplicate role naming another persona last',
      ]) {
        expect(identityRead.get(what), what).toBe('OPS03');
      }
      expect(identityRead.get('an empty object')).toBe('ok');
    },
    300_000,
  );
});

/** Rows written by a call carrying the key (releases by name, the ingest log by key). */
async function written(key: string): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select ((select count(*) from ops.releases r where r.release_name = $1)
          + (select count(*) from ops.event_ingest_log l where l.idempotency_key = $1)
          + (select count(*) from ops.gate_checks g where g.check_name = $1))::int as n`,
    [key],
  );
  return Number(rows[0]!.n);
}

const WRITES: [string, string][] = [
  ['ops.create_release', `select * from ops.create_release(p_project => 'odoo-core', p_release_name => $1)`],
  [
    'ops.ingest_event',
    `select ops.ingest_event(pg_catalog.jsonb_build_object(
       'schema_version', 'v1.0', 'idempotency_key', $1::text, 'source_system', 'github_actions',
       'release_id', $2::uuid, 'emitted_at', pg_catalog.now(), 'event_type', 'check_result',
       'gate_code', 'G2', 'payload', pg_catalog.jsonb_build_object('check_name', $1::text, 'status', 'pass')))`,
  ],
];

describe('hostile claims on the write entry points with real arguments', () => {
  const refused = HOSTILE.filter(
    ([what]) => !/empty object|no persona|another type|huge|duplicate app/.test(what),
  );
  it.each(
    PERSONAS.flatMap((persona) =>
      refused.flatMap(([what, text]) =>
        WRITES.map(([door, sql]) => [`${persona} · ${what} · ${door}`, persona, text, door, sql] as const),
      ),
    ),
  )('%s: OPS03, nothing written', async (_n, persona, text, door, sql) => {
    const key = `claims-${randomUUID()}`;
    const r = await tryAsRole(db, persona, null, async (c) => {
      await c.query(`select set_config('request.jwt.claims', $1, true)`, [fill(text, persona)]);
      return c.query(sql, door === 'ops.ingest_event' ? [key, release.release_id] : [key]);
    });
    expect(r.ok ? 'accepted' : r.code).toBe('OPS03');
    expect(await written(key)).toBe(0);
  });

  it('a duplicate role naming the persona itself last is the persona: the write is accepted', async () => {
    const key = `claims-${randomUUID()}`;
    const r = await tryAsRole(db, 'developer', null, async (c) => {
      await c.query(`select set_config('request.jwt.claims', $1, true)`, [
        '{"sub":"dup-dev","role":"release_manager","role":"developer"}',
      ]);
      return c.query(WRITES[0]![1], [key]);
    });
    expect(r.ok ? 'ok' : `${r.code} ${r.message}`).toBe('ok');
    expect(await written(key)).toBe(1);
  });
});
