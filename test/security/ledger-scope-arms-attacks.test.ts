// Attacks on the ledger's stored release scope arms (20261205100000; read like the registry,
// 20261205200100), the definition one release's
// verification reads its facts through: an arm that selected fewer rows would hide facts written
// behind the ledger from that release's verification. Every persona, through the raw SQL door (the
// API's login, SET ROLE to the persona, claims of its choosing, the claims naming another persona
// or the owner), tries to read, add, change, remove and empty the arms, to register a fact table,
// and to call the owner-only check; through RPC, the only function of theirs that reads the arms
// (ops.verify_ledger, with arguments of their choosing) answers what it answered before and never
// shows an arm; through GraphQL, a registry whose arms were changed behind the guards makes the
// verification fail, not say ok. Each attempt must be refused and change nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { createRelease, passG1, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { graphqlAs, type ServedApi, serveApi } from '../support/loopback.js';
import { type Claims, tryAsRole } from './sql-door.js';

const SECRET = 'test-secret-ledger-scope-arms-0123456789abcdef0123';

let db: TestDatabase;
let api: ServedApi;
let release: Release;
let before: { table_name: string; arm_no: number; arm: string }[];

async function arms() {
  return (
    await db.admin.query<{ table_name: string; arm_no: number; arm: string }>(
      'select table_name, arm_no, arm from ops.ledger_release_scope_arms order by table_name, arm_no',
    )
  ).rows;
}

/** The claims an attacker may publish with each persona: its own, another's, the owner's. */
function claimsFor(persona: Persona): Claims[] {
  return [
    { sub: `atk-${persona}`, role: persona },
    { sub: `atk-${persona}`, role: 'release_manager', app_metadata: { ops_role: 'audit_reader' } },
    { sub: 'postgres', role: 'postgres' },
  ];
}

/** Read like the registry they belong to (20261205200100): by these two, whatever their claims say. */
const READERS: readonly Persona[] = ['release_manager', 'audit_reader'];
const READS: [string, unknown[]][] = [
  ['select * from ops.ledger_release_scope_arms', []],
  ['select count(*) from ops.ledger_release_scope_arms', []],
];
const STATEMENTS: [string, unknown[]][] = [
  [
    `insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ('evidence_artifacts', 5, 'false')`,
    [],
  ],
  [`update ops.ledger_release_scope_arms set arm = 'false' where table_name = 'gate_checks'`, []],
  [`delete from ops.ledger_release_scope_arms where table_name = 'evidence_artifacts' and arm_no = 4`, []],
  ['truncate ops.ledger_release_scope_arms', []],
  [
    `insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ('approvals2', 'id', 'false')`,
    [],
  ],
  [`select ops.ledger_release_scope_arms_verify('gate_checks')`, []],
  ['select ops.ledger_findings(null)', []],
];

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  await passG1(db, release);
  before = await arms();
  api = await serveApi(db, SECRET);
});

afterAll(async () => {
  await api?.close();
});

describe('the stored release scope arms, attacked by every persona', () => {
  it('holds every registered table’s arms', () => {
    expect(before.length).toBeGreaterThanOrEqual(20);
    expect(before.filter((a) => a.table_name === 'evidence_artifacts').map((a) => a.arm_no)).toEqual([
      1, 2, 3, 4,
    ]);
  });

  it('grants the registry’s readers SELECT and nothing more, every other persona or login nothing', async () => {
    for (const role of [...PERSONAS, 'authenticator', 'anon', 'authenticated']) {
      const reader = (READERS as readonly string[]).includes(role);
      const { rows } = await db.admin.query(
        `select p, has_table_privilege($1, 'ops.ledger_release_scope_arms', p) as granted
         from unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p`,
        [role],
      );
      expect(
        rows.filter((r) => r.granted).map((r) => r.p),
        role,
      ).toEqual(reader ? ['SELECT'] : []);
      const { rows: cols } = await db.admin.query(
        `select has_any_column_privilege($1, 'ops.ledger_release_scope_arms', 'INSERT, UPDATE, REFERENCES') as granted`,
        [role],
      );
      expect(cols[0].granted, role).toBe(false);
      for (const fn of [
        'ops.ledger_release_scope_arms_verify(text)',
        'ops.ledger_release_scope_arms_check()',
      ]) {
        const { rows: f } = await db.admin.query('select has_function_privilege($1, $2, $3) as ok', [
          role,
          fn,
          'execute',
        ]);
        expect(f[0].ok, `${role} ${fn}`).toBe(false);
      }
    }
    // RLS on, and its one policy a read by the registry's readers: nothing a later grant of a
    // write could pass through.
    const { rows } = await db.admin.query(
      `select c.relrowsecurity as rls,
              (select array_agg(p.polcmd::text || ':' || array_to_string(array(select r.rolname from pg_roles r
                                 where r.oid = any (p.polroles) order by r.rolname), ',')) from pg_policy p
               where p.polrelid = c.oid) as policies
       from pg_class c where c.oid = 'ops.ledger_release_scope_arms'::regclass`,
    );
    expect(rows[0]).toEqual({ rls: true, policies: ['r:audit_reader,release_manager'] });
  });

  it('refuses every write of the arms, and every read but the registry’s readers’, through the raw SQL door, and changes nothing', async () => {
    for (const persona of PERSONAS) {
      for (const claims of claimsFor(persona)) {
        for (const [sql, params] of READS) {
          const out = await tryAsRole(db, persona, claims, (c) => c.query(sql, params));
          if (READERS.includes(persona))
            expect(out, `${persona} ${JSON.stringify(claims)} ${sql}`).toMatchObject({ ok: true });
          else
            expect(out, `${persona} ${JSON.stringify(claims)} ${sql}`).toMatchObject({
              ok: false,
              code: '42501',
            });
        }
        for (const [sql, params] of STATEMENTS) {
          const out = await tryAsRole(db, persona, claims, (c) => c.query(sql, params));
          expect(out, `${persona} ${JSON.stringify(claims)} ${sql}`).toMatchObject({
            ok: false,
            code: '42501',
          });
        }
      }
    }
    expect(await arms()).toEqual(before);
  });

  it('answers ops.verify_ledger as before, with no arm in it, for any argument a reader chooses', async () => {
    for (const persona of ['release_manager', 'audit_reader'] as const) {
      for (const arg of [release.release_id, '00000000-0000-0000-0000-000000000000', null]) {
        const out = await tryAsRole(db, persona, { sub: `rpc-${persona}`, role: persona }, (c) =>
          arg === null
            ? c.query('select ops.verify_ledger() as r')
            : c.query('select ops.verify_ledger($1::uuid) as r', [arg]),
        );
        if (arg === '00000000-0000-0000-0000-000000000000') {
          // No such release (nothing is on the global chain yet): refused as before.
          expect(out, persona).toMatchObject({ ok: false, code: 'OPS04' });
          continue;
        }
        expect(out.ok, `${persona} ${arg}`).toBe(true);
        if (!out.ok) continue;
        const text = JSON.stringify(out.value.rows[0].r);
        expect(text).not.toMatch(/select|release_gates g/);
        if (arg === release.release_id) expect(out.value.rows[0].r).toMatchObject({ ok: true, findings: [] });
      }
    }
    expect(await arms()).toEqual(before);
  });

  it('makes verification fail, through every door, once an arm was changed behind the guards', async () => {
    // The owner narrows gate_checks' arm with the guard disabled: this release's unrecorded checks
    // would no longer be looked for.
    const tamper = async (arm: string) => {
      const c = await db.admin.connect();
      try {
        await c.query('begin');
        await c.query(
          'alter table ops.ledger_release_scope_arms disable trigger ledger_release_scope_arms_fixed',
        );
        await c.query(`update ops.ledger_release_scope_arms set arm = $1 where table_name = 'gate_checks'`, [
          arm,
        ]);
        await c.query(
          'alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_fixed',
        );
        await c.query('commit');
      } finally {
        c.release();
      }
    };
    const original = before.find((a) => a.table_name === 'gate_checks')!.arm;
    await tamper('false');
    try {
      for (const persona of ['release_manager', 'audit_reader'] as const) {
        for (const arg of [release.release_id, null]) {
          const out = await tryAsRole(db, persona, { sub: `rpc-${persona}`, role: persona }, (c) =>
            arg === null
              ? c.query('select ops.verify_ledger() as r')
              : c.query('select ops.verify_ledger($1::uuid) as r', [arg]),
          );
          expect(out, `${persona} ${arg}`).toMatchObject({ ok: false, code: 'XX001' });
          if (!out.ok) {
            expect(out.message).toContain('gate_checks');
            expect(out.message).not.toContain('false');
          }
        }
        const json = await graphqlAs(
          api,
          SECRET,
          persona,
          `gql-${persona}`,
          'query($id: ID) { ledgerVerification(releaseId: $id) { ok findings { kind } } }',
          { id: release.release_id },
        );
        expect(json.data?.ledgerVerification ?? null, persona).toBeNull();
        expect(json.errors?.length, persona).toBeGreaterThan(0);
        expect(JSON.stringify(json)).not.toContain('release_gates g');
      }
    } finally {
      await tamper(original);
    }
    expect(await arms()).toEqual(before);
    const ok = await db.as(
      'audit_reader',
      'after',
      async (c) => (await c.query('select ops.verify_ledger($1::uuid) as r', [release.release_id])).rows[0].r,
    );
    expect(ok.ok).toBe(true);
  });
});
