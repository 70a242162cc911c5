// The gate rule's reading of the evidence on a gate's checks by the check's gate stamped on the
// artifact (20261207500000) gives the rows the per-check reading before it gave, in every case.
// The previous ops.release_gate_evidence_up_to (the last definition in the migrations before
// 20261207500000) is put back in place of the current one, in a transaction rolled back at the
// end, and both are asked about the same generated histories: several gates, checks in several
// revisions, deployments (rolled back, superseded, of other revisions), artifacts of every type
// hanging on a gate, on a check alone, on a check and its own gate, on a check and another gate of
// the release, on the release, on the release and a gate, on a deployment, on a deployment and a
// check, in revisions inside and outside the counted ones; another release whose checks carry
// artifacts of every type; evidence requirements of every scope on every gate (the project's
// four, and twelve more). Compared: ops.release_gate_evidence_up_to with no limit (every column of
// every row), with limit 1 (every column; of the artifacts, the same count, one of those the
// unlimited reading names, and its type: which one is not specified), and
// ops.compute_release_gates (the whole rule, reasons included). Once more with every artifact
// stored unstamped, as rows written before 20261207500000 are, and that migration run again over
// them (it stamps what it finds). Two deliberately broken copies of the previous definition, and
// artifacts left unstamped, show the comparison can fail.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
/** The migration that reads check evidence by the stamped gate: the definition before it is the previous one. */
const BY_GATE = '20261207500000';
/** The migration itself, run again over artifacts stored without the stamp. */
const MIGRATION = readFileSync(
  path.join(MIGRATIONS, readdirSync(MIGRATIONS).find((f) => f.startsWith(BY_GATE))!),
  'utf8',
);

/** The last `create ... function ops.release_gate_evidence_up_to(` before BY_GATE, as CREATE OR REPLACE. */
function previousDefinition(): string {
  const files = readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql') && f < BY_GATE)
    .sort();
  let found: string | undefined;
  const start = /create (or replace )?function ops\.release_gate_evidence_up_to\(/gi;
  for (const file of files) {
    const text = readFileSync(path.join(MIGRATIONS, file), 'utf8');
    for (const m of text.matchAll(start)) {
      const tag = /\$[a-z_]*\$/i.exec(text.slice(m.index))!;
      const bodyStart = m.index + tag.index + tag[0].length;
      const bodyEnd = text.indexOf(tag[0], bodyStart);
      found = text
        .slice(m.index, bodyEnd + tag[0].length)
        .replace(/^create (or replace )?function/i, 'create or replace function');
    }
  }
  if (!found) throw new Error(`no definition of ops.release_gate_evidence_up_to before ${BY_GATE}`);
  return found;
}

/** A small seeded generator, so that a difference found is found again. */
function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function uuid(rnd: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const GATES = ['G1', 'G2', 'G3', 'G4'] as const;
const TYPES = [
  'build_log',
  'test_result',
  'uat_summary',
  'approval_record',
  'rollback_plan',
  'health_check',
  'restore_drill',
  'incident_report',
  'reference',
] as const;
const ATTACHMENTS = [
  'gate',
  'check',
  'check+own gate',
  'check+other gate',
  'release',
  'release+gate',
  'deployment',
  'deployment+check',
] as const;
const BASE = Date.parse('2026-12-01T00:00:00Z');

interface Check {
  check_id: string;
  gate_code: string;
  revision: number;
  created_at: string;
}
interface Deployment {
  deployment_id: string;
  environment: string;
  status: string;
  revision: number;
  deployed_at: string;
  rollback_of: string | null;
}
interface Artifact {
  artifact_id: string;
  release: boolean;
  gate_code: string | null;
  check_id: string | null;
  deployment_id: string | null;
  artifact_type: string;
  revision: number;
  attachment: string;
}
interface Case {
  index: number;
  revision: number;
  revisions: number[];
  gates: string[];
  checks: Check[];
  deployments: Deployment[];
  artifacts: Artifact[];
}

/** One generated history: a release, its gates, checks, deployments and artifacts. */
function generate(rnd: () => number, index: number): Case {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const revision = rnd() < 0.3 ? 1 : 2 + int(3);
  const revisions: number[] = [];
  for (let r = 1; r <= revision; r++) if (r === revision ? rnd() < 0.85 : rnd() < 0.4) revisions.push(r);
  const gates = GATES.filter(() => rnd() < 0.75);
  if (gates.length === 0) gates.push(pick(GATES));
  const someRevision = () => 1 + int(revision + (rnd() < 0.05 ? 1 : 0));
  const at = () => new Date(BASE + int(4) * 1000).toISOString();
  const checks: Check[] = [];
  for (const gate of gates)
    for (let i = rnd() < 0.15 ? 0 : int(25); i > 0; i--)
      checks.push({ check_id: uuid(rnd), gate_code: gate, revision: someRevision(), created_at: at() });
  const deployments: Deployment[] = [];
  for (let i = int(4); i > 0; i--) {
    const earlier = deployments.filter((d) => d.rollback_of === null);
    deployments.push({
      deployment_id: uuid(rnd),
      environment: pick(['staging', 'production']),
      status: pick(['in_progress', 'succeeded', 'failed', 'rolled_back']),
      revision: someRevision(),
      deployed_at: at(),
      rollback_of: earlier.length > 0 && rnd() < 0.2 ? pick(earlier).deployment_id : null,
    });
  }
  const artifacts: Artifact[] = [];
  for (let i = int(30); i > 0; i--) {
    let attachment: string = pick(ATTACHMENTS);
    if (attachment.includes('check') && checks.length === 0) attachment = 'gate';
    if (attachment.startsWith('deployment') && deployments.length === 0) attachment = 'release';
    const check = attachment.includes('check') ? pick(checks) : null;
    const otherGates = check ? gates.filter((g) => g !== check.gate_code) : [];
    const gate_code =
      attachment === 'gate' || attachment === 'release+gate'
        ? pick(gates)
        : attachment === 'check+own gate'
          ? check!.gate_code
          : attachment === 'check+other gate' && otherGates.length > 0
            ? pick(otherGates)
            : null;
    artifacts.push({
      artifact_id: uuid(rnd),
      release: attachment.startsWith('release'),
      gate_code,
      check_id: check?.check_id ?? null,
      deployment_id: attachment.startsWith('deployment') ? pick(deployments).deployment_id : null,
      artifact_type: pick(TYPES),
      revision: someRevision(),
      attachment,
    });
  }
  return { index, revision, revisions, gates, checks, deployments, artifacts };
}

/** Stores the case as the owner (the ledger's and the rule's triggers off; the stamp's, ENABLE ALWAYS, on). */
async function store(c: pg.ClientBase, k: Case, project: string): Promise<string> {
  const release = (
    await c.query<{ release_id: string }>(
      `insert into ops.releases (project, release_name, revision, initiating_actor, created_by, status)
       values ($1, 'r', $2, 'dana', 'dana', 'in_progress') returning release_id`,
      [project, k.revision],
    )
  ).rows[0]!.release_id;
  await c.query(
    `insert into ops.release_revisions (release_id, revision, reason, revised_by, created_by)
     select $1, r, 'revision ' || r, 'rita', 'rita' from generate_series(1, $2) r`,
    [release, k.revision],
  );
  await c.query(
    `insert into ops.release_gates (release_id, gate_code, gate_name, created_by)
     select $1, g::public.ops_gate_code, g, 'dana' from unnest($2::text[]) g`,
    [release, k.gates],
  );
  await c.query(
    `insert into ops.gate_checks (check_id, gate_id, check_name, source_system, status, revision, created_at, created_by)
     select x.check_id, g.gate_id, 'suite', 'github_actions', 'pass', x.revision, x.created_at, 'ci'
     from jsonb_to_recordset($2::jsonb) x (check_id uuid, gate_code text, revision integer, created_at timestamptz)
     join ops.release_gates g on g.release_id = $1 and g.gate_code = x.gate_code::public.ops_gate_code`,
    [release, JSON.stringify(k.checks)],
  );
  // created_at apart (deployed_at may tie): the rule orders deployments by (deployed_at,
  // created_at) and nothing after, so a full tie would leave its choice to the plan.
  for (const [i, d] of k.deployments.entries())
    await c.query(
      `insert into ops.deployments (deployment_id, release_id, environment, status, revision, deployed_at,
                                    created_at, rollback_of, deployed_by, created_by)
       values ($1, $2, $3::public.ops_environment, $4::public.ops_deployment_status, $5, $6,
               $6::timestamptz + make_interval(secs => $8 / 1000.0), $7, 'sam', 'sam')`,
      [d.deployment_id, release, d.environment, d.status, d.revision, d.deployed_at, d.rollback_of, i + 1],
    );
  const inserted = await c.query(
    `insert into ops.evidence_artifacts (artifact_id, release_id, gate_id, check_id, deployment_id, artifact_type,
                                         source_system, artifact_url, revision, created_by)
     select x.artifact_id, case when x.release then $1::uuid end, g.gate_id, x.check_id, x.deployment_id,
            x.artifact_type::public.ops_artifact_type, 'github_actions', 'https://ci.example/' || x.artifact_id,
            x.revision, 'quinn'
     from jsonb_to_recordset($2::jsonb)
            x (artifact_id uuid, release boolean, gate_code text, check_id uuid, deployment_id uuid,
               artifact_type text, revision integer)
     left join ops.release_gates g on g.release_id = $1 and g.gate_code = x.gate_code::public.ops_gate_code`,
    [release, JSON.stringify(k.artifacts)],
  );
  if (inserted.rowCount !== k.artifacts.length)
    throw new Error(`case ${k.index}: ${inserted.rowCount} artifacts stored`);
  return release;
}

interface EvidenceRow {
  gate_id: string;
  requirement_id: string;
  artifact_types: string;
  attached_to: string;
  blocking: boolean;
  deployment_id: string | null;
  deployment_environment: string | null;
  artifact_ids: string[];
  present_types: string[];
}
interface Reading {
  all: EvidenceRow[];
  one: EvidenceRow[];
  gates: string;
}

/** The evidence with no limit and with limit 1, and the whole rule, for the release. */
async function read(c: pg.ClientBase, release: string, revisions: number[]): Promise<Reading> {
  const evidence = async (limit: number | null) =>
    (
      await c.query<EvidenceRow>(
        `select gate_id, requirement_id, artifact_types::text, attached_to::text, blocking, deployment_id,
                deployment_environment::text, artifact_ids::text[], present_types::text[]
         from ops.release_gate_evidence_up_to($1, $2::integer[], $3)`,
        [release, revisions, limit],
      )
    ).rows;
  const { rows } = await c.query<{ gates: string }>(
    `select coalesce(jsonb_agg(to_jsonb(r) order by r.gate_code), '[]')::text as gates
     from ops.compute_release_gates($1) r`,
    [release],
  );
  return { all: await evidence(null), one: await evidence(1), gates: rows[0]!.gates };
}

/** What differs between the two readings of one case (empty when nothing does). */
function differences(now: Reading, was: Reading, types: Map<string, string>): string[] {
  const found: string[] = [];
  if (JSON.stringify(now.all) !== JSON.stringify(was.all)) found.push('limit NULL');
  if (now.gates !== was.gates) found.push(`compute_release_gates: ${now.gates} was ${was.gates}`);
  const rest = ({ artifact_ids, present_types, ...r }: EvidenceRow) => ({ ...r, n: artifact_ids.length });
  if (JSON.stringify(now.one.map(rest)) !== JSON.stringify(was.one.map(rest))) found.push('limit 1');
  now.one.forEach((row, i) => {
    const named = row.artifact_ids[0];
    if (named === undefined) return;
    if (!was.all[i]?.artifact_ids.includes(named))
      found.push(`limit 1 row ${i}: ${named} not met by the previous`);
    if (JSON.stringify(row.present_types) !== JSON.stringify([types.get(named)]))
      found.push(`limit 1 row ${i}: present_types`);
  });
  return found;
}

/** Requirements of every scope on every gate, beside the project's four. */
const MORE_REQUIREMENTS = `
  insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to, blocking, created_by)
  select g::public.ops_gate_code, t.types::public.ops_artifact_type[], t.scope::public.ops_evidence_scope, t.blocking, 'rita'
  from unnest(array['G1', 'G2', 'G3', 'G4']) g
  cross join (values ('{build_log,test_result}', 'gate', true),
                     ('{rollback_plan,uat_summary,reference}', 'gate_or_release', false),
                     ('{health_check,incident_report}', 'latest_deployment', true)) t (types, scope, blocking)`;

/**
 * Stores CASES generated histories, reads each with the current definition, puts `previous` in its
 * place and reads each again, in a transaction rolled back after; returns the cases that differ,
 * smallest first, and what the cases exercised.
 */
async function compare(
  db: TestDatabase,
  previous: string,
  seed: number,
  cases: number,
  storedAs: 'stamped' | 'unstamped' | 'unstamped, then migrated' = 'stamped',
) {
  const c = await db.admin.connect();
  const found: { k: Case; what: string[] }[] = [];
  const seen = { byCheckOnly: 0, limitOneMet: 0, otherReleaseChecked: 0, attachments: new Set<string>() };
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    await c.query(MORE_REQUIREMENTS);
    if (storedAs !== 'stamped')
      await c.query('alter table ops.evidence_artifacts disable trigger evidence_artifacts_stamp_check_gate');
    const rnd = seeded(seed);
    // Another release, whose checks carry artifacts of every type in every revision.
    const other = generate(rnd, -1);
    other.gates = [...GATES];
    other.checks = GATES.map((g) => ({
      check_id: uuid(rnd),
      gate_code: g,
      revision: 1,
      created_at: new Date(BASE).toISOString(),
    }));
    other.artifacts = other.checks.flatMap((ch) =>
      TYPES.flatMap((t) =>
        [1, 2, 3, 4, 5].map((r) => ({
          artifact_id: uuid(rnd),
          release: false,
          gate_code: null,
          check_id: ch.check_id,
          deployment_id: null,
          artifact_type: t,
          revision: r,
          attachment: 'check',
        })),
      ),
    );
    other.deployments = [];
    await store(c, other, 'check-evidence-other');
    const stored: { k: Case; release: string; now?: Reading }[] = [];
    for (let i = 0; i < cases; i++) {
      const k = generate(rnd, i);
      const release = await store(c, k, `check-evidence-${i}`);
      for (const a of k.artifacts) seen.attachments.add(a.attachment);
      stored.push({ k, release });
    }
    if (storedAs === 'unstamped, then migrated') {
      const { rows } = await c.query<{ n: number }>(
        'select count(*)::int as n from ops.evidence_artifacts where check_id is not null and check_gate_id is null',
      );
      expect(rows[0]!.n).toBeGreaterThan(0);
      await c.query(MIGRATION);
    }
    for (const x of stored) x.now = await read(c, x.release, x.k.revisions);
    const { rows: typeRows } = await c.query<{ id: string; t: string }>(
      'select artifact_id::text as id, artifact_type::text as t from ops.evidence_artifacts',
    );
    const types = new Map(typeRows.map((r) => [r.id, r.t]));
    const { rows: checkOnly } = await c.query<{ release_id: string; n: number }>(
      `select g.release_id, count(*)::int as n
       from ops.evidence_artifacts a join ops.release_gates g on g.gate_id = a.check_gate_id
       where a.gate_id is distinct from a.check_gate_id
       group by g.release_id`,
    );
    const withCheckOnly = new Set(checkOnly.map((r) => r.release_id));
    await c.query(previous);
    for (const { k, release, now } of stored) {
      const was = await read(c, release, k.revisions);
      const what = differences(now!, was, types);
      if (what.length > 0) found.push({ k, what });
      if (withCheckOnly.has(release) && now!.all.some((r) => r.artifact_ids.length > 0)) seen.byCheckOnly++;
      if (now!.one.some((r) => r.artifact_ids.length > 0)) seen.limitOneMet++;
    }
    // The other release's check evidence is counted for it, by both definitions alike.
    const otherRelease = (
      await c.query<{ id: string }>(
        `select release_id as id from ops.releases where project = 'check-evidence-other'`,
      )
    ).rows[0]!.id;
    const was = await read(c, otherRelease, [1, 2, 3, 4, 5]);
    if (was.all.some((r) => r.artifact_ids.length > 0)) seen.otherReleaseChecked++;
  } finally {
    await c.query('rollback');
    c.release();
  }
  found.sort((a, b) => a.k.artifacts.length - b.k.artifacts.length || a.k.checks.length - b.k.checks.length);
  return { found, seen };
}

let db: TestDatabase;
let previous: string;

beforeAll(async () => {
  db = await useTestDatabase();
  previous = previousDefinition();
});

describe('the gate rule reads the evidence on checks by the stamped gate', () => {
  it('puts the previous definition in place of the current one, reading evidence check by check', async () => {
    expect(previous).toMatch(/^create or replace function ops\.release_gate_evidence_up_to\(/);
    expect(previous).toContain('where a1.check_id = c.check_id');
    const { rows } = await db.admin.query<{ d: string }>(
      `select pg_get_functiondef('ops.release_gate_evidence_up_to(uuid, integer[], integer)'::regprocedure) as d`,
    );
    expect(rows[0]!.d).toContain('a.check_gate_id = g.gate_id');
    expect(rows[0]!.d).not.toContain('from ops.gate_checks');
  });

  it.each([
    [
      'counts check evidence of every revision',
      'a1.check_id = c.check_id and a1.revision = any (p_revisions)',
      'a1.check_id = c.check_id',
    ],
    [
      'leaves out the evidence on checks',
      "where q.attached_to in ('gate', 'gate_or_release') and c.gate_id = g.gate_id",
      'where false and c.gate_id = g.gate_id',
    ],
  ])(
    'finds a difference when the previous definition %s',
    async (_, from, to) => {
      const broken = previous.replace(from, to);
      expect(broken).not.toBe(previous);
      const { found } = await compare(db, broken, 11, 30);
      expect(found.length).toBeGreaterThan(0);
    },
    120_000,
  );

  it('gives the rows the previous definition gives, over generated histories', async () => {
    const seed = Number(process.env.CHECK_EVIDENCE_SEED ?? 20261207);
    const cases = Number(process.env.CHECK_EVIDENCE_CASES ?? 400);
    const { found, seen } = await compare(db, previous, seed, cases);
    console.log(
      `check evidence: ${cases} cases, ${seen.byCheckOnly} with evidence only on checks, ` +
        `${seen.limitOneMet} with a requirement met at limit 1`,
    );
    // Every kind of attachment occurs; some requirements are met by evidence on checks alone; the
    // other release's check evidence was there to be (wrongly) counted.
    expect([...seen.attachments].sort()).toEqual([...ATTACHMENTS].sort());
    expect(seen.byCheckOnly).toBeGreaterThan(0);
    expect(seen.limitOneMet).toBeGreaterThan(0);
    expect(seen.otherReleaseChecked).toBe(1);
    const smallest = found[0];
    expect(smallest && { count: found.length, case: smallest.k, what: smallest.what }).toBeUndefined();
  }, 300_000);
});

describe('artifacts written before the stamp', () => {
  it('finds a difference when check evidence is left unstamped', async () => {
    const { found } = await compare(db, previous, 12, 30, 'unstamped');
    expect(found.length).toBeGreaterThan(0);
  }, 120_000);

  it('gives the previous rows once the migration has stamped them', async () => {
    const { found, seen } = await compare(db, previous, 20261208, 200, 'unstamped, then migrated');
    expect(seen.byCheckOnly).toBeGreaterThan(0);
    const smallest = found[0];
    expect(smallest && { count: found.length, case: smallest.k, what: smallest.what }).toBeUndefined();
  }, 300_000);
});
