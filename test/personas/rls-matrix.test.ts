// The access matrix of supabase/migrations/20261126001000_ops_personas_rls.sql, as data, and a test
// for every cell: persona × ops table × {select, insert, update, delete}.
//
// What a refusal looks like, precisely:
//   deny  → SQLSTATE 42501 "permission denied for table <t>" (no GRANT: refused before any row is read)
//   own   → the owner succeeds; another subject of the same persona sees/updates no rows (RLS USING
//           filters silently), or is refused with 42501 "new row violates row-level security policy"
//           when it inserts a row naming someone else (RLS WITH CHECK). Where a governance trigger
//           refuses the forged row first, the table names that SQLSTATE, and the policy is also
//           proven on its own with triggers switched off.
//   allow → the statement succeeds on the arranged row.
// Every attempt is rolled back, so cells never see each other's writes.
import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  adminAs,
  attempt,
  attemptAsRole,
  claimsOf,
  expectPermissionDenied,
  expectRlsViolation,
  expectRows,
} from './helpers.js';

// ---------------------------------------------------------------------------------------------
// The matrix: the one place that says who may do what. A cell not listed is 'deny'.
// ---------------------------------------------------------------------------------------------

const TABLES = [
  'gate_definitions',
  'gate_requirements',
  'gate_policies',
  'check_requirements',
  'event_ingest_log',
  'releases',
  'release_gates',
  'gate_checks',
  'approvals',
  'exceptions',
  'deployments',
  'evidence_artifacts',
  'environment_events',
  'incidents',
  'recovery_drills',
  'gate_transitions',
] as const;
type Table = (typeof TABLES)[number];

const OPS = ['select', 'insert', 'update', 'delete'] as const;
type Op = (typeof OPS)[number];

/** allow: any row; own: only rows whose owner column is the JWT subject; deny: no privilege. */
type Access = 'allow' | 'own' | 'deny';
type Cells = Partial<Record<Op, Access>>;

const READ_ALL = Object.fromEntries(TABLES.map((t) => [t, { select: 'allow' }])) as Record<Table, Cells>;

const MATRIX: Record<Persona, Partial<Record<Table, Cells>>> = {
  ci_service_role: {
    releases: { select: 'allow' },
    release_gates: { select: 'allow' },
    gate_checks: { select: 'allow', insert: 'allow' },
    // The ingest log is written only by the ingest functions (owner's rights), never directly.
    environment_events: { insert: 'allow' },
  },
  release_manager: {
    ...READ_ALL,
    // As itself (approver_id = sub, persona_role = release_manager).
    approvals: { select: 'allow', insert: 'own' },
    // Requested as itself (requested_by = sub); approved and reviewed only through
    // ops.approve_exception / ops.review_exception, never by a direct UPDATE.
    exceptions: { select: 'allow', insert: 'own' },
    // Stored gate status is written by the evaluator only.
    release_gates: { select: 'allow' },
  },
  qa_tester: {
    releases: { select: 'allow' },
    gate_checks: { select: 'allow' },
    evidence_artifacts: { select: 'allow', insert: 'own' },
    approvals: { insert: 'own' },
  },
  sre: {
    // UPDATE: the status columns of its own deployments.
    deployments: { select: 'allow', insert: 'own', update: 'own' },
    environment_events: { select: 'allow' },
    recovery_drills: { select: 'allow', insert: 'own' },
  },
  developer: {
    // Own release: initiating_actor or created_by is the subject; its checks likewise.
    releases: { select: 'own' },
    gate_checks: { select: 'own', insert: 'own' },
  },
  audit_reader: READ_ALL,
};

const access = (persona: Persona, table: Table, op: Op): Access => MATRIX[persona][table]?.[op] ?? 'deny';

/** The owner and another subject of the same persona. */
const ownerOf = (persona: Persona) => `${persona}-a`;
const otherOf = (persona: Persona) => `${persona}-b`;

// ---------------------------------------------------------------------------------------------
// The arranged rows and, per table, the statements each cell runs.
// ---------------------------------------------------------------------------------------------

interface Fixture {
  releaseId: string;
  gates: Record<'G1' | 'G2' | 'G3' | 'G4', string>;
  ids: Record<Table, string>;
}

interface TableSpec {
  /** The primary key column the statements address rows by. */
  key: string;
  /** The arranged row the SELECT/UPDATE/DELETE cells address. */
  id: (f: Fixture) => string;
  /** An INSERT whose ownership column (if any) names `owner`; valid for a caller who may write. */
  insert: (f: Fixture, owner: string, persona: Persona) => [string, unknown[]];
  /** The SET clause the UPDATE cells run (for column-granted tables, a granted column). */
  set: string;
  /** For 'own' INSERT cells: how a row naming someone else is refused in the real request path. */
  forged?: { column: string; stamped?: boolean; refusedBy?: { code: string; message: RegExp } };
}

const uniq = () => randomUUID().slice(0, 8);

const SPECS: Record<Table, TableSpec> = {
  gate_definitions: {
    key: 'gate_code',
    id: () => 'G1',
    insert: () => [
      `insert into ops.gate_definitions (gate_code, gate_name, position) values ('G1', 'Forged', 99)`,
      [],
    ],
    set: `gate_name = 'Renamed'`,
  },
  gate_requirements: {
    key: 'requirement_id',
    id: (f) => f.ids.gate_requirements,
    insert: () => [`insert into ops.gate_requirements (target_env, gate_code) values ('dev', 'G1')`, []],
    set: `target_env = 'dev'`,
  },
  gate_policies: {
    key: 'policy_id',
    id: (f) => f.ids.gate_policies,
    insert: () => [`insert into ops.gate_policies (gate_code, min_approvals) values ('G1', 0)`, []],
    set: 'min_approvals = 0',
  },
  check_requirements: {
    key: 'requirement_id',
    id: (f) => f.ids.check_requirements,
    insert: () => [
      `insert into ops.check_requirements (project, gate_code, check_name) values ('odoo-addons', 'G1', $1)`,
      [`lint-${uniq()}`],
    ],
    set: `check_name = 'renamed'`,
  },
  event_ingest_log: {
    key: 'ingest_id',
    id: (f) => f.ids.event_ingest_log,
    insert: () => [
      `insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, processing_status)
       values ('github_actions', 'build_complete', $1, 'v1.0', 'accepted')`,
      [`github_actions/run-${uniq()}/build_complete`],
    ],
    set: `processing_status = 'rejected'`,
  },
  releases: {
    key: 'release_id',
    id: (f) => f.releaseId,
    insert: () => [
      `insert into ops.releases (project, release_name) values ('odoo-core', $1)`,
      [`r-${uniq()}`],
    ],
    set: `status = 'promoted'`,
  },
  release_gates: {
    key: 'gate_id',
    // G3 is pending, so a status change to in_progress is a real change the governance guard allows.
    id: (f) => f.gates.G3,
    insert: (f) => [
      `insert into ops.release_gates (release_id, gate_code, gate_name) values ($1, 'G1', 'Build Integrity')`,
      [f.releaseId],
    ],
    set: `status = 'in_progress'`,
  },
  gate_checks: {
    key: 'check_id',
    id: (f) => f.ids.gate_checks,
    // The owner's release's G1; the developer's "own" is the release, so the forger is refused on it.
    insert: (f) => [
      `insert into ops.gate_checks (gate_id, check_name, source_system, status) values ($1, $2, 'github_actions', 'pass')`,
      [f.gates.G1, `unit-${uniq()}`],
    ],
    set: `status = 'fail'`,
    forged: { column: 'gate_id (a gate of a release the caller does not own)' },
  },
  approvals: {
    key: 'approval_id',
    id: (f) => f.ids.approvals,
    // A gate the persona signs off (G2 qa_tester, G3 release_manager), as the persona itself.
    insert: (f, owner, persona) => [
      `insert into ops.approvals (release_id, gate_id, approver_id, persona_role, decision, scope)
       values ($1, $2, $3, $4, 'approved', 'gate')`,
      [f.releaseId, persona === 'release_manager' ? f.gates.G3 : f.gates.G2, owner, persona],
    ],
    set: `decision = 'rejected'`,
    // ops.approvals_guard (BEFORE INSERT, governance) refuses an approval on behalf of someone else
    // before the RLS WITH CHECK runs.
    forged: {
      column: 'approver_id',
      refusedBy: { code: 'OPS03', message: /not on behalf of/ },
    },
  },
  exceptions: {
    key: 'exception_id',
    id: (f) => f.ids.exceptions,
    insert: (f, owner) => [
      `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement, requested_by,
                                   expires_at)
       values ($1, 'evidence_waiver', '{G3}', 'vendor outage', 'low', $2, now() + interval '1 day')`,
      [f.releaseId, owner],
    ],
    set: `post_review_status = 'complete'`,
    forged: { column: 'requested_by' },
  },
  deployments: {
    key: 'deployment_id',
    id: (f) => f.ids.deployments,
    // The arranged release is eligible for staging, so the promotion block lets the row through.
    insert: (f, owner) => [
      `insert into ops.deployments (release_id, environment, deployed_by) values ($1, 'staging', $2)`,
      [f.releaseId, owner],
    ],
    set: `status = 'succeeded'`,
    forged: { column: 'deployed_by' },
  },
  evidence_artifacts: {
    key: 'artifact_id',
    id: (f) => f.ids.evidence_artifacts,
    insert: (f, owner) => [
      `insert into ops.evidence_artifacts (release_id, artifact_type, source_system, artifact_url, created_by)
       values ($1, 'test_result', 'manual', $2, $3)`,
      [f.releaseId, `https://qa.example/${uniq()}`, owner],
    ],
    set: `artifact_url = 'https://forged.example/x'`,
    // created_by is stamped from the token by a trigger: a forged value is overwritten, not refused.
    forged: { column: 'created_by', stamped: true },
  },
  environment_events: {
    key: 'event_id',
    id: (f) => f.ids.environment_events,
    insert: () => [
      `insert into ops.environment_events (environment, event_type, source_system, idempotency_key)
       values ('staging', 'maintenance_window', 'monitoring', $1)`,
      [`env-${uniq()}`],
    ],
    set: `payload = '{"forged": true}'`,
  },
  incidents: {
    key: 'incident_id',
    id: (f) => f.ids.incidents,
    insert: (f) => [
      `insert into ops.incidents (deployment_id, severity) values ($1, 'sev3')`,
      [f.ids.deployments],
    ],
    set: `root_cause = 'forged'`,
  },
  recovery_drills: {
    key: 'drill_id',
    id: (f) => f.ids.recovery_drills,
    insert: (_f, owner) => [
      `insert into ops.recovery_drills (environment, drill_type, executed_by, outcome)
       values ('staging', 'restore', $1, 'success')`,
      [owner],
    ],
    set: `outcome = 'failed'`,
    forged: { column: 'executed_by' },
  },
  gate_transitions: {
    key: 'transition_id',
    id: (f) => f.ids.gate_transitions,
    insert: (f) => [
      `insert into ops.gate_transitions (gate_id, from_status, to_status, reason)
       values ($1, 'pending', 'in_progress', 'forged')`,
      [f.gates.G3],
    ],
    set: `reason = 'forged'`,
  },
};

// ---------------------------------------------------------------------------------------------
// Arrangement: one release owned by developer-a, made eligible for staging (G1 and G2 passed),
// with a row in every table. Rows are written by the superuser with the claims of their author,
// so created_by is stamped the way a request stamps it.
// ---------------------------------------------------------------------------------------------

let db: TestDatabase;
let f: Fixture;

async function arrange(): Promise<Fixture> {
  const releaseId = await adminAs(db, claimsOf('developer', ownerOf('developer')), async (c) => {
    const { rows } = await c.query(
      `insert into ops.releases (project, release_name, environment_target)
       values ('odoo-core', 'matrix-1', 'staging') returning release_id`,
    );
    return rows[0].release_id as string;
  });
  const { rows: gateRows } = await db.admin.query(
    'select gate_code, gate_id from ops.release_gates where release_id = $1',
    [releaseId],
  );
  const gates = Object.fromEntries(gateRows.map((r) => [r.gate_code, r.gate_id])) as Fixture['gates'];

  const one = async (claims: Record<string, unknown> | null, sql: string, params: unknown[] = []) =>
    adminAs(db, claims, async (c) => {
      const { rows } = await c.query(sql, params);
      return Object.values(rows[0] as Record<string, string>)[0]!;
    });

  const ci = claimsOf('ci_service_role', ownerOf('ci_service_role'));
  const qa = claimsOf('qa_tester', ownerOf('qa_tester'));
  const sre = claimsOf('sre', ownerOf('sre'));

  const ingest = await one(
    null,
    `insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, processing_status)
     values ('github_actions', 'build_complete', 'matrix/fixture', 'v1.0', 'accepted') returning ingest_id`,
  );
  const check = await one(
    ci,
    `insert into ops.gate_checks (gate_id, check_name, source_system, status)
     values ($1, 'build', 'github_actions', 'pass') returning check_id`,
    [gates.G1],
  );
  const artifact = await one(
    qa,
    `insert into ops.evidence_artifacts (release_id, gate_id, artifact_type, source_system, artifact_url)
     values ($1, $2, 'test_result', 'manual', 'https://qa.example/uat-1') returning artifact_id`,
    [releaseId, gates.G2],
  );
  const approval = await one(
    qa,
    `insert into ops.approvals (release_id, gate_id, persona_role, decision, scope)
     values ($1, $2, 'qa_tester', 'approved', 'gate') returning approval_id`,
    [releaseId, gates.G2],
  );
  const eligible = await db.admin.query(`select ops.is_eligible_for_promotion($1, 'staging') as ok`, [
    releaseId,
  ]);
  expect(eligible.rows[0].ok, 'the arranged release must be eligible for staging').toBe(true);

  const deployment = await one(
    sre,
    `insert into ops.deployments (release_id, environment) values ($1, 'staging') returning deployment_id`,
    [releaseId],
  );
  const exception = await one(
    claimsOf('release_manager', 'release_manager-requester'),
    `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement, expires_at)
     values ($1, 'gate_bypass', '{G3}', 'hotfix', 'low', now() + interval '1 day') returning exception_id`,
    [releaseId],
  );
  const event = await one(
    ci,
    `insert into ops.environment_events (environment, event_type, source_system, idempotency_key, release_id)
     values ('staging', 'maintenance_window', 'monitoring', 'matrix/env-1', $1) returning event_id`,
    [releaseId],
  );
  const incident = await one(
    sre,
    `insert into ops.incidents (deployment_id, severity) values ($1, 'sev4') returning incident_id`,
    [deployment],
  );
  const drill = await one(
    sre,
    `insert into ops.recovery_drills (environment, drill_type, outcome) values ('staging', 'restore', 'success')
     returning drill_id`,
  );
  const transition = await one(
    null,
    `insert into ops.gate_transitions (gate_id, from_status, to_status, reason)
     values ($1, 'pending', 'pending', 'matrix fixture') returning transition_id`,
    [gates.G3],
  );
  const checkRequirement = await one(
    null,
    `insert into ops.check_requirements (project, gate_code, check_name) values ('odoo-addons', 'G1', 'build')
     returning requirement_id`,
  );
  const gateRequirement = await one(
    null,
    `select requirement_id from ops.gate_requirements where target_env = 'staging' and gate_code = 'G1'`,
  );
  const policy = await one(null, `select policy_id from ops.gate_policies where gate_code = 'G2'`);

  return {
    releaseId,
    gates,
    ids: {
      gate_definitions: 'G1',
      gate_requirements: gateRequirement,
      gate_policies: policy,
      check_requirements: checkRequirement,
      event_ingest_log: ingest,
      releases: releaseId,
      release_gates: gates.G3,
      gate_checks: check,
      approvals: approval,
      exceptions: exception,
      deployments: deployment,
      evidence_artifacts: artifact,
      environment_events: event,
      incidents: incident,
      recovery_drills: drill,
      gate_transitions: transition,
    },
  };
}

beforeAll(async () => {
  db = await useTestDatabase();
  f = await arrange();
});

// ---------------------------------------------------------------------------------------------
// One test per cell.
// ---------------------------------------------------------------------------------------------

const selectSql = (t: Table) => `select ${SPECS[t].key} from ops.${t} where ${SPECS[t].key} = $1`;
const updateSql = (t: Table) => `update ops.${t} set ${SPECS[t].set} where ${SPECS[t].key} = $1`;
const deleteSql = (t: Table) => `delete from ops.${t} where ${SPECS[t].key} = $1`;

async function checkRowCell(persona: Persona, table: Table, sql: string, cell: Access): Promise<void> {
  const id = SPECS[table].id(f);
  const mine = await attempt(db, persona, ownerOf(persona), sql, [id]);
  if (cell === 'deny') return expectPermissionDenied(mine, table);
  expectRows(mine, 1);
  // Another subject of the same persona: for 'allow' the row is there too; for 'own' it is not
  // refused, the row is simply not there for it.
  expectRows(await attempt(db, persona, otherOf(persona), sql, [id]), cell === 'own' ? 0 : 1);
}

async function checkInsertCell(persona: Persona, table: Table, cell: Access): Promise<void> {
  const spec = SPECS[table];
  const [sql, params] = spec.insert(f, ownerOf(persona), persona);
  const mine = await attempt(db, persona, ownerOf(persona), sql, params);
  if (cell === 'deny') return expectPermissionDenied(mine, table);
  expectRows(mine, 1);
  if (cell === 'allow') {
    // Not an ownership rule: another subject writes the same row just as well.
    return expectRows(await attempt(db, persona, otherOf(persona), sql, params), 1);
  }

  // Another subject of the same persona, writing the owner's id (or onto the owner's release).
  const forger = otherOf(persona);
  const forged = spec.forged;
  if (!forged) throw new Error(`no forging strategy for the own INSERT cell ${persona}/${table}`);
  if (forged.stamped) {
    const r = await attempt(db, persona, forger, `${sql} returning ${forged.column}`, params);
    expectRows(r, 1);
    if (r.ok) expect(r.rows[0]).toEqual({ [forged.column]: forger });
  } else {
    const r = await attempt(db, persona, forger, sql, params);
    if (forged.refusedBy) {
      expect(r).toMatchObject({ ok: false, code: forged.refusedBy.code });
      if (!r.ok) expect(r.message).toMatch(forged.refusedBy.message);
    } else {
      expectRlsViolation(r, table);
    }
  }
  // The policy on its own (governance and stamping triggers off): the forged row violates RLS,
  // the owner's row does not.
  const policyOnly = (sub: string) =>
    attemptAsRole(db, persona, claimsOf(persona, sub), sql, params, { triggers: false });
  expectRows(await policyOnly(ownerOf(persona)), 1);
  expectRlsViolation(await policyOnly(forger), table);
}

describe.each(PERSONAS)('%s', (persona) => {
  for (const table of TABLES) {
    describe(table, () => {
      it(`select: ${access(persona, table, 'select')}`, () =>
        checkRowCell(persona, table, selectSql(table), access(persona, table, 'select')));
      it(`insert: ${access(persona, table, 'insert')}`, () =>
        checkInsertCell(persona, table, access(persona, table, 'insert')));
      it(`update: ${access(persona, table, 'update')}`, () =>
        checkRowCell(persona, table, updateSql(table), access(persona, table, 'update')));
      it(`delete: ${access(persona, table, 'delete')}`, () =>
        checkRowCell(persona, table, deleteSql(table), access(persona, table, 'delete')));
    });
  }
});

// ---------------------------------------------------------------------------------------------
// The catalog agrees with the matrix, and nobody outside the personas holds anything in ops.
// ---------------------------------------------------------------------------------------------

describe('privileges in the catalog', () => {
  it('every ops table named by the matrix exists and has row-level security enabled', async () => {
    const { rows } = await db.admin.query(
      `select c.relname, c.relrowsecurity from pg_class c
       where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'p') order by 1`,
    );
    const names = rows.map((r) => r.relname);
    expect(names).toEqual(expect.arrayContaining([...TABLES]));
    expect(rows.filter((r) => !r.relrowsecurity).map((r) => r.relname)).toEqual([]);
  });

  it('each persona holds exactly the privileges the matrix gives it, and none to DELETE or TRUNCATE', async () => {
    const expected: Record<string, Record<string, boolean>> = {};
    const actual: Record<string, Record<string, boolean>> = {};
    for (const persona of PERSONAS) {
      for (const table of TABLES) {
        const key = `${persona} ${table}`;
        expected[key] = {
          select: access(persona, table, 'select') !== 'deny',
          insert: access(persona, table, 'insert') !== 'deny',
          update: access(persona, table, 'update') !== 'deny',
          delete: false,
          truncate: false,
          references: false,
          trigger: false,
        };
        const { rows } = await db.admin.query(
          `select has_any_column_privilege($1, $2, 'SELECT') as select,
                  has_any_column_privilege($1, $2, 'INSERT') as insert,
                  has_any_column_privilege($1, $2, 'UPDATE') as update,
                  has_table_privilege($1, $2, 'DELETE') as delete,
                  has_table_privilege($1, $2, 'TRUNCATE') as truncate,
                  has_any_column_privilege($1, $2, 'REFERENCES') as references,
                  has_table_privilege($1, $2, 'TRIGGER') as trigger`,
          [persona, `ops.${table}`],
        );
        actual[key] = rows[0];
      }
    }
    expect(actual).toEqual(expected);
  });

  it('anon, authenticated and authenticator hold no privilege on any ops relation, nor USAGE on the schema', async () => {
    const { rows } = await db.admin.query(
      `select r.rolname, c.relname, p.priv
       from pg_class c
       cross join (values ('anon'), ('authenticated'), ('authenticator')) r(rolname)
       cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) p(priv)
       where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
         and (has_table_privilege(r.rolname, c.oid, p.priv)
              or (p.priv in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                  and has_any_column_privilege(r.rolname, c.oid, p.priv)))`,
    );
    expect(rows).toEqual([]);
    const schema = await db.admin.query(
      `select r as role, has_schema_privilege(r, 'ops', 'USAGE') as usage
       from unnest(array['anon', 'authenticated', 'authenticator']) r`,
    );
    expect(schema.rows.filter((r) => r.usage)).toEqual([]);
  });

  it('no ops relation or column grants anything to PUBLIC, and no policy names PUBLIC, anon or authenticated', async () => {
    const tables = await db.admin.query(
      `select c.relname, a.privilege_type from pg_class c, aclexplode(c.relacl) a
       where c.relnamespace = 'ops'::regnamespace and a.grantee = 0`,
    );
    expect(tables.rows).toEqual([]);
    const columns = await db.admin.query(
      `select c.relname, att.attname, a.privilege_type
       from pg_attribute att join pg_class c on c.oid = att.attrelid, aclexplode(att.attacl) a
       where c.relnamespace = 'ops'::regnamespace and a.grantee = 0`,
    );
    expect(columns.rows).toEqual([]);
    const policies = await db.admin.query(
      `select tablename, policyname, roles::text[] as roles from pg_policies
       where schemaname = 'ops' and roles && array['public', 'anon', 'authenticated']::name[]`,
    );
    expect(policies.rows).toEqual([]);
  });

  it.each(['anon', 'authenticated'])('%s is refused at the schema: SELECT raises 42501', async (role) => {
    for (const table of TABLES) {
      const r = await attemptAsRole(db, role, { sub: 'someone', role }, `select 1 from ops.${table} limit 1`);
      expect(r).toMatchObject({ ok: false, code: '42501', message: 'permission denied for schema ops' });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The seed plan's named checks, and the column-level edges of the matrix.
// ---------------------------------------------------------------------------------------------

describe('named checks', () => {
  it('ci_service_role cannot INSERT into approvals (permission denied)', async () => {
    const r = await attempt(
      db,
      'ci_service_role',
      'github_actions',
      `insert into ops.approvals (release_id, gate_id, persona_role, decision, scope)
       values ($1, $2, 'qa_tester', 'approved', 'gate')`,
      [f.releaseId, f.gates.G2],
    );
    expectPermissionDenied(r, 'approvals');
  });

  it('qa_tester cannot UPDATE exceptions, neither its approval columns nor its review status', async () => {
    for (const set of [`approver_id = 'qa_tester-a', approved_at = now()`, `post_review_status = 'waived'`]) {
      const r = await attempt(
        db,
        'qa_tester',
        'qa_tester-a',
        `update ops.exceptions set ${set} where exception_id = $1`,
        [f.ids.exceptions],
      );
      expectPermissionDenied(r, 'exceptions');
    }
  });

  it('audit_reader can SELECT every table and view in ops and cannot INSERT, UPDATE or DELETE any', async () => {
    const { rows: relations } = await db.admin.query<{ relname: string; relkind: string; col: string }>(
      `select c.relname, c.relkind,
              (select a.attname from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               order by a.attnum limit 1) as col
       from pg_class c where c.relnamespace = 'ops'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f')
       order by c.relname`,
    );
    expect(relations.map((r) => r.relname)).toEqual(expect.arrayContaining([...TABLES]));
    for (const { relname, relkind, col } of relations) {
      // Webhook signing secrets are read by no persona (only the owner-rights delivery path).
      if (relname === 'webhook_secrets') {
        expectPermissionDenied(
          await attempt(db, 'audit_reader', 'auditor-1', `select * from ops.${relname}`),
          relname,
        );
        continue;
      }
      const read = await attempt(db, 'audit_reader', 'auditor-1', `select * from ops.${relname} limit 5`);
      if (!read.ok) throw new Error(`audit_reader cannot read ops.${relname}: ${read.code} ${read.message}`);
      if (relkind === 'm') continue; // a materialized view cannot be written by anyone
      for (const sql of [
        `insert into ops.${relname} default values`,
        `update ops.${relname} set ${col} = ${col}`,
        `delete from ops.${relname}`,
      ]) {
        expectPermissionDenied(await attempt(db, 'audit_reader', 'auditor-1', sql), relname);
      }
    }
    // The arranged rows are really visible, not just readable-and-empty.
    const seen = await attempt(
      db,
      'audit_reader',
      'auditor-1',
      `select (select count(*) from ops.approvals)::int as approvals,
              (select count(*) from ops.deployments)::int as deployments,
              (select count(*) from ops.event_ingest_log)::int as ingest`,
    );
    expect(seen).toMatchObject({ ok: true, rows: [{ approvals: 1, deployments: 1, ingest: 1 }] });
  });

  it('release_manager can INSERT approvals as itself, with persona_role release_manager', async () => {
    const r = await attempt(
      db,
      'release_manager',
      'release_manager-a',
      `insert into ops.approvals (release_id, gate_id, persona_role, decision, scope, rationale_text)
       values ($1, $2, 'release_manager', 'approved', 'gate', 'rollback plan reviewed')
       returning approver_id, persona_role, created_by, created_persona`,
      [f.releaseId, f.gates.G3],
    );
    expect(r).toMatchObject({
      ok: true,
      rows: [
        {
          approver_id: 'release_manager-a',
          persona_role: 'release_manager',
          created_by: 'release_manager-a',
          created_persona: 'release_manager',
        },
      ],
    });
  });

  it('release_manager may not INSERT an approval under another persona_role (RLS, with governance off)', async () => {
    const sql = `insert into ops.approvals (release_id, approver_id, persona_role, decision, scope)
                 values ($1, 'release_manager-a', 'qa_tester', 'approved', 'release')`;
    // In the request path the governance guard refuses it first (OPS03) ...
    const real = await attempt(db, 'release_manager', 'release_manager-a', sql, [f.releaseId]);
    expect(real).toMatchObject({ ok: false, code: 'OPS03' });
    // ... and the policy refuses it on its own.
    expectRlsViolation(
      await attemptAsRole(
        db,
        'release_manager',
        claimsOf('release_manager', 'release_manager-a'),
        sql,
        [f.releaseId],
        {
          triggers: false,
        },
      ),
      'approvals',
    );
  });

  it('release_manager updates no column of exceptions directly: approval and review go through their functions', async () => {
    for (const set of [
      `approver_id = 'release_manager-a', approved_at = now()`,
      `post_review_status = 'waived'`,
      `reason = 'changed'`,
      `expires_at = now() + interval '1 year'`,
      `requested_by = 'release_manager-a'`,
      `impacted_gates = '{G1,G2,G3,G4}'`,
    ]) {
      const r = await attempt(
        db,
        'release_manager',
        'release_manager-a',
        `update ops.exceptions set ${set} where exception_id = $1`,
        [f.ids.exceptions],
      );
      expectPermissionDenied(r, 'exceptions');
    }
  });

  it('release_manager updates no column of release_gates: stored status is written by the evaluator only', async () => {
    for (const set of [
      `status = 'passed'`,
      `status = 'failed'`,
      `resolved_by = 'release_manager-a'`,
      'exception_id = null',
      `gate_name = 'x'`,
    ]) {
      const r = await attempt(
        db,
        'release_manager',
        'release_manager-a',
        `update ops.release_gates set ${set} where gate_id = $1`,
        [f.gates.G3],
      );
      expectPermissionDenied(r, 'release_gates');
    }
  });

  it('sre may update the status columns of its own deployments only', async () => {
    const sql = `update ops.deployments set status = 'succeeded' where deployment_id = $1`;
    expectRows(await attempt(db, 'sre', 'sre-a', sql, [f.ids.deployments]), 1);
    expectRows(await attempt(db, 'sre', 'sre-b', sql, [f.ids.deployments]), 0);
    // A deployment's revision never changes: the column is not writable, and ops.deployments_guard
    // refuses the change for whoever could write it.
    // G4's verdict on a deployment is written by ops.record_health_check only.
    for (const set of [
      `source_ref = 'v1.2.3'`,
      `g4_status = 'passed'`,
      `g4_resolved_at = now()`,
      `deployed_by = 'sre-b'`,
      `environment = 'production'`,
      `created_by = 'sre-b'`,
    ]) {
      const r = await attempt(
        db,
        'sre',
        'sre-a',
        `update ops.deployments set ${set} where deployment_id = $1`,
        [f.ids.deployments],
      );
      expectPermissionDenied(r, 'deployments');
    }
  });

  it('sre INSERT on deployments of an ineligible release is refused by the promotion block, not by permissions', async () => {
    const ineligible = await adminAs(db, claimsOf('developer', 'developer-a'), async (c) => {
      const { rows } = await c.query(
        `insert into ops.releases (project, release_name) values ('odoo-core', 'matrix-ineligible') returning release_id`,
      );
      return rows[0].release_id as string;
    });
    const sql = `insert into ops.deployments (release_id, environment) values ($1, 'production')`;
    const r = await attempt(db, 'sre', 'sre-a', sql, [ineligible]);
    expect(r).toMatchObject({ ok: false, code: 'OPS09' });
    for (const persona of PERSONAS.filter((p) => p !== 'sre')) {
      expectPermissionDenied(await attempt(db, persona, ownerOf(persona), sql, [ineligible]), 'deployments');
    }
  });

  it('developer "own" is initiating_actor or created_by', async () => {
    const [initiated, created, neither] = await adminAs(
      db,
      claimsOf('ci_service_role', 'github_actions'),
      async (c) => {
        const ids: string[] = [];
        for (const [name, initiator] of [
          ['dev-initiated', 'developer-c'],
          ['dev-none', 'developer-z'],
        ] as const) {
          const { rows } = await c.query(
            `insert into ops.releases (project, release_name, initiating_actor) values ('odoo-core', $1, $2)
             returning release_id`,
            [name, initiator],
          );
          ids.push(rows[0].release_id);
        }
        await c.query(`select set_config('request.jwt.claims', $1, true)`, [
          JSON.stringify(claimsOf('developer', 'developer-c')),
        ]);
        const { rows } = await c.query(
          `insert into ops.releases (project, release_name, initiating_actor) values ('odoo-core', 'dev-created', 'bot')
           returning release_id`,
        );
        return [ids[0]!, rows[0].release_id as string, ids[1]!];
      },
    );
    const r = await attempt(
      db,
      'developer',
      'developer-c',
      'select release_id from ops.releases where release_id = any($1::uuid[])',
      [[initiated, created, neither]],
    );
    expect(r.ok && r.rows.map((x) => x.release_id).sort()).toEqual([initiated, created].sort());
    // And their checks: visible on both owned releases, not on the other.
    const checkIds = await adminAs(db, claimsOf('ci_service_role', 'github_actions'), async (c) => {
      const { rows } = await c.query(
        `insert into ops.gate_checks (gate_id, check_name, source_system, status)
         select gate_id, 'build', 'github_actions', 'pass' from ops.release_gates
         where release_id = any($1::uuid[]) and gate_code = 'G1'
         returning check_id, (select release_id from ops.release_gates g where g.gate_id = gate_checks.gate_id)`,
        [[initiated, created, neither]],
      );
      return new Map(rows.map((x) => [x.release_id as string, x.check_id as string]));
    });
    const checks = await attempt(
      db,
      'developer',
      'developer-c',
      'select check_id from ops.gate_checks where check_id = any($1::uuid[])',
      [[...checkIds.values()]],
    );
    expect(checks.ok && checks.rows.map((x) => x.check_id).sort()).toEqual(
      [checkIds.get(initiated), checkIds.get(created)].sort(),
    );
  });
});
