// Attacks on the caller's stamp (ops.caller_stamp, 20261204120000) and the stamps it feeds, as
// data, through the raw SQL door (a login that may SET ROLE to any persona and publish any claims):
// the stamp asked for directly with claims of the caller's choosing, and facts inserted directly
// past the functions with created_by, created_persona, created_at, ingest_id and revision of the
// caller's choosing. Each row fails when a stamp says anything but the assumed role and the claims'
// own sub, or when a refusal is a raw PostgreSQL error rather than the rule's own.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { createRelease, gateId, type Release, reviseRelease, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type Claims, tryAsRole } from './sql-door.js';

let db: TestDatabase;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  // At revision 2, so a fact claiming revision 1 (or 7) differs from its stamp.
  await reviseRelease(
    db,
    release.release_id,
    'refs/heads/hotfix',
    'stamp attacks',
    'release_manager',
    who.rm3,
  );
});

interface StampAttack {
  name: string;
  claims: (persona: Persona) => Claims | string | null;
  /** The actor the stamp must carry, or an SQLSTATE the stamp must be refused with. */
  expect: { actor: string } | { refused: string };
}

const OTHER: Record<Persona, Persona> = {
  ci_service_role: 'release_manager',
  release_manager: 'ci_service_role',
  qa_tester: 'sre',
  sre: 'qa_tester',
  developer: 'audit_reader',
  audit_reader: 'developer',
};

const STAMP_ATTACKS: StampAttack[] = [
  { name: 'a plain sub', claims: () => ({ sub: 'stamp-subject' }), expect: { actor: 'stamp-subject' } },
  {
    name: 'claims naming another persona as role',
    claims: (p) => ({ sub: 'stamp-subject', role: OTHER[p] }),
    expect: { refused: 'OPS03' },
  },
  {
    name: 'claims naming another persona as app_metadata.ops_role',
    claims: (p) => ({ sub: 'stamp-subject', app_metadata: { ops_role: OTHER[p] } }),
    expect: { refused: 'OPS03' },
  },
  { name: 'no claims at all', claims: () => null, expect: { refused: 'OPS03' } },
  { name: 'claims without sub', claims: () => ({ role: 'authenticated' }), expect: { refused: 'OPS03' } },
  { name: 'an empty sub', claims: () => ({ sub: '' }), expect: { refused: 'OPS03' } },
  { name: 'a null sub', claims: () => ({ sub: null }), expect: { refused: 'OPS03' } },
  {
    name: 'a sub of quotes and backslashes',
    claims: () => ({ sub: `a'b"c\\d` }),
    expect: { actor: `a'b"c\\d` },
  },
  {
    name: 'a sub that reads like db:<login>',
    claims: () => ({ sub: 'db:postgres' }),
    expect: { actor: 'db:postgres' },
  },
  { name: 'a numeric sub', claims: () => ({ sub: 42 }), expect: { actor: '42' } },
  { name: 'a sub that is an object', claims: () => ({ sub: { id: 'x' } }), expect: { actor: '{"id": "x"}' } },
  { name: 'empty claims text', claims: () => '', expect: { refused: 'OPS03' } },
  {
    name: 'a sub with a control character',
    claims: () => ({ sub: 'a\u0001b' }),
    expect: { actor: 'a\u0001b' },
  },
  // Claims that are not a JSON object (text that is not JSON, a NUL escape jsonb cannot hold, an
  // array, a string) are refused as unreadable identity, never with a raw cast error
  // (claims-not-json-attacks.test.ts covers every door).
  { name: 'a sub with a NUL escape', claims: () => ({ sub: 'a\u0000b' }), expect: { refused: 'OPS03' } },
  { name: 'claims that are not JSON', claims: () => '{"sub":', expect: { refused: 'OPS03' } },
  { name: 'claims that are a JSON array', claims: () => '[{"sub":"x"}]', expect: { refused: 'OPS03' } },
  { name: 'claims that are a JSON string', claims: () => '"x"', expect: { refused: 'OPS03' } },
];

async function stampAs(persona: Persona, claims: Claims | string | null) {
  return tryAsRole(db, persona, null, async (c) => {
    if (claims !== null) {
      await c.query(`select set_config('request.jwt.claims', $1, true)`, [
        typeof claims === 'string' ? claims : JSON.stringify(claims),
      ]);
    }
    return (await c.query<{ actor: string; persona: string | null }>('select * from ops.caller_stamp()'))
      .rows[0]!;
  });
}

describe('ops.caller_stamp through RPC, as each persona', () => {
  const rows = STAMP_ATTACKS.flatMap((a) => PERSONAS.map((p) => [`${p} · ${a.name}`, p, a] as const));
  it.each(rows)('%s', async (_name, persona, attack) => {
    const r = await stampAs(persona, attack.claims(persona));
    if ('refused' in attack.expect) {
      expect(r.ok ? r.value : null).toBeNull();
      if (!r.ok) expect(r.code).toBe(attack.expect.refused);
    } else {
      expect(r.ok ? r.value : r).toEqual({ actor: attack.expect.actor, persona });
    }
  });
});

interface InsertAttack {
  name: string;
  persona: Persona;
  sub: string;
  table: string;
  key: string;
  /** The INSERT with its own stamps; $1 the row's key, $2 the release (G1's gate for checks), $3 G2's gate (approvals). */
  sql: string;
}

const FORGED = `'someone-else', 'release_manager', '2001-01-01T00:00:00Z', 7`;

const INSERT_ATTACKS: InsertAttack[] = [
  {
    name: 'a gate check with forged stamps, revision and a made-up ingest attempt',
    persona: 'ci_service_role',
    sub: who.ci,
    table: 'gate_checks',
    key: 'check_id',
    sql: `insert into ops.gate_checks (check_id, gate_id, check_name, source_system, status, ingest_id,
            created_by, created_persona, created_at, revision)
          values ($1, $2, 'forged-stamps', 'github_actions', 'pass', gen_random_uuid(), ${FORGED})`,
  },
  {
    name: 'a developer’s gate check with forged stamps',
    persona: 'developer',
    sub: who.dev,
    table: 'gate_checks',
    key: 'check_id',
    sql: `insert into ops.gate_checks (check_id, gate_id, check_name, source_system, status, ingest_id,
            created_by, created_persona, created_at, revision)
          values ($1, $2, 'forged-dev', 'github_actions', 'pass', null, ${FORGED})`,
  },
  {
    name: 'a QA approval with forged stamps and the previous revision',
    persona: 'qa_tester',
    sub: who.qa,
    table: 'approvals',
    key: 'approval_id',
    sql: `insert into ops.approvals (approval_id, release_id, gate_id, approver_id, persona_role, decision, scope,
            ingest_id, created_by, created_persona, created_at, revision)
          values ($1, $2, $3,
                  '${who.qa}', 'qa_tester', 'approved', 'gate', null, 'someone-else', 'release_manager',
                  '2001-01-01T00:00:00Z', 1)`,
  },
  {
    name: 'an exception with forged stamps and revision',
    persona: 'release_manager',
    sub: who.rm,
    table: 'exceptions',
    key: 'exception_id',
    sql: `insert into ops.exceptions (exception_id, release_id, exception_type, impacted_gates, reason, risk_statement,
            requested_by, expires_at, created_by, created_persona, created_at, revision)
          values ($1, $2, 'gate_bypass', '{G2}', 'forged', 'forged', '${who.rm}', now() + interval '1 day',
                  ${FORGED})`,
  },
];

describe('facts inserted directly, past the functions, with stamps of the caller’s choosing', () => {
  it.each(INSERT_ATTACKS.map((a) => [`${a.persona} · ${a.name}`, a] as const))(
    '%s',
    async (_name, attack) => {
      const key = randomUUID();
      const params =
        attack.table === 'gate_checks'
          ? [key, await gateId(db, release.release_id, 'G1')]
          : attack.table === 'approvals'
            ? [key, release.release_id, await gateId(db, release.release_id, 'G2')]
            : [key, release.release_id];
      const r = await tryAsRole(db, attack.persona, { sub: attack.sub }, (c) => c.query(attack.sql, params));
      const { rows } = await db.admin.query(
        `select created_by, created_persona::text, ${attack.table === 'exceptions' ? 'null::uuid as ' : ''}ingest_id, revision, created_at > now() - interval '1 hour' as now_ish
       from ops.${attack.table} where ${attack.key} = $1`,
        [key],
      );
      if (!r.ok) {
        // Refused by a rule of its own (never a raw error), and nothing stored.
        expect(r.code, r.message).toMatch(/^OPS/);
        expect(rows).toEqual([]);
        return;
      }
      expect(rows).toEqual([
        {
          created_by: attack.sub,
          created_persona: attack.persona,
          ingest_id: null,
          revision: 2,
          now_ish: true,
        },
      ]);
    },
  );
});
