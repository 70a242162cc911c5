// The gate rule's reading of the check history by a skip scan over the gate's check names
// (20261207300000) gives the rows the DISTINCT ON reading before it gave, in every case. The
// previous ops.gate_findings (the last definition in the migrations before 20261207300000) is put
// back beside the current one as ops.gate_findings_previous, in a transaction rolled back at the
// end, and both are asked for the same release and counted revisions over generated histories:
// several gates, 0-40 check results per gate over 1-6 names (names differing only in case, by
// trailing spaces, non-ASCII, names sorting between others), results sharing a created_at (so
// check_id decides), results in several revisions with the counted revisions a subset of them
// (names reported only outside it, releases past revision 1 so stale checks are reported), required
// and not required results, and project check requirements naming some of the names. Every column
// of every row must be the same, arrays included: under the database's collation, and once more
// with the check names under a linguistic one (ICU), where the skip scan's `>` walks another order.
// Two deliberately broken copies of the previous definition show the comparison can fail.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
/** The migration that reads the check history by a skip scan: the definition before it is the previous one. */
const SKIP_SCAN = '20261207300000';

/** The last `create ... function ops.gate_findings(` before SKIP_SCAN, renamed to ops.gate_findings_previous. */
function previousDefinition(): string {
  const files = readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql') && f < SKIP_SCAN)
    .sort();
  let found: string | undefined;
  const start = /create (or replace )?function ops\.gate_findings\(/gi;
  for (const file of files) {
    const text = readFileSync(path.join(MIGRATIONS, file), 'utf8');
    for (const m of text.matchAll(start)) {
      const tag = /\$[a-z_]*\$/i.exec(text.slice(m.index))!;
      const bodyStart = m.index + tag.index + tag[0].length;
      const bodyEnd = text.indexOf(tag[0], bodyStart);
      found = text
        .slice(m.index, bodyEnd + tag[0].length)
        .replace(
          /^create (or replace )?function ops\.gate_findings\(/i,
          'create function ops.gate_findings_previous(',
        );
    }
  }
  if (!found) throw new Error(`no definition of ops.gate_findings before ${SKIP_SCAN}`);
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

/** Names that differ only in case, by trailing spaces, by accents, and that sort between others. */
const NAMES = [
  'build',
  'Build',
  'BUILD',
  'build ',
  'build  ',
  'buildx',
  'build-a',
  'lint',
  'tëst',
  'test',
  'tést',
  'é',
  'e',
  'Zeta',
  'a b',
  'b',
  'ß',
  'ss',
  '検査',
];
const GATES = ['G1', 'G2', 'G3', 'G4'] as const;
const STATUSES = ['pass', 'fail', 'warning', 'skipped'] as const;
const BASE = Date.parse('2026-12-01T00:00:00Z');

interface CheckRow {
  gate_code: string;
  check_name: string;
  status: string;
  required: boolean;
  revision: number;
  created_at: string;
  check_id: string;
}

interface Case {
  index: number;
  revision: number;
  revisions: number[];
  gates: string[];
  requirements: { gate_code: string; check_name: string }[];
  checks: CheckRow[];
}

function uuid(rnd: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rnd() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** One generated history: a release, its gates, check results and the project's requirements. */
function generate(rnd: () => number, index: number): Case {
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const revision = rnd() < 0.3 ? 1 : 2 + int(4);
  const revisions: number[] = [];
  for (let r = 1; r <= revision; r++) if (r === revision ? rnd() < 0.85 : rnd() < 0.4) revisions.push(r);
  if (rnd() < 0.05 && revisions.length > 0) revisions.push(revisions[0]!);
  const gates = GATES.filter(() => rnd() < 0.7);
  if (gates.length === 0) gates.push(pick(GATES));
  const checks: CheckRow[] = [];
  const requirements: { gate_code: string; check_name: string }[] = [];
  for (const gate of gates) {
    const names = Array.from({ length: 1 + int(6) }, () => pick(NAMES));
    // A few instants only, so that results share a created_at and check_id decides.
    const instants = 1 + int(4);
    const count = rnd() < 0.1 ? 0 : int(41);
    for (let i = 0; i < count; i++) {
      checks.push({
        gate_code: gate,
        check_name: pick(names),
        status: pick(STATUSES),
        required: rnd() < 0.6,
        revision: 1 + int(revision + (rnd() < 0.05 ? 1 : 0)),
        created_at: new Date(BASE + int(instants) * 1000).toISOString(),
        check_id: uuid(rnd),
      });
    }
    if (rnd() < 0.5) {
      for (const name of new Set(names))
        if (rnd() < 0.5) requirements.push({ gate_code: gate, check_name: name });
      if (rnd() < 0.2) {
        const other = pick(NAMES);
        if (!requirements.some((q) => q.gate_code === gate && q.check_name === other))
          requirements.push({ gate_code: gate, check_name: other });
      }
    }
  }
  return { index, revision, revisions, gates, requirements, checks };
}

/** Stores the case as the owner behind the triggers; returns its release. */
async function store(c: pg.ClientBase, k: Case): Promise<string> {
  const project = `check-history-${k.index}`;
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
    `insert into ops.check_requirements (project, gate_code, check_name, created_by)
     select $1, x.gate_code::public.ops_gate_code, x.check_name, 'rita'
     from jsonb_to_recordset($2::jsonb) x (gate_code text, check_name text)`,
    [project, JSON.stringify(k.requirements)],
  );
  const inserted = await c.query(
    `insert into ops.gate_checks (check_id, gate_id, check_name, source_system, status, required, revision,
                                  created_at, created_by)
     select x.check_id, g.gate_id, x.check_name, 'github_actions', x.status::public.ops_check_status,
            x.required, x.revision, x.created_at, 'ci'
     from jsonb_to_recordset($2::jsonb)
            x (gate_code text, check_name text, status text, required boolean, revision integer,
               created_at timestamptz, check_id uuid)
     join ops.release_gates g on g.release_id = $1 and g.gate_code = x.gate_code::public.ops_gate_code`,
    [release, JSON.stringify(k.checks)],
  );
  if (inserted.rowCount !== k.checks.length)
    throw new Error(`case ${k.index}: ${inserted.rowCount} checks stored`);
  return release;
}

/** Every row of both definitions for the release and the counted revisions, as JSON text. */
async function bothReadings(c: pg.ClientBase, release: string, revisions: number[]) {
  const read = (fn: string) =>
    `select coalesce(jsonb_agg(to_jsonb(f) order by f.gate_code), '[]')::text
     from ops.releases r cross join ${fn}(r, $2::integer[]) f where r.release_id = $1`;
  const { rows } = await c.query<{ now: string; was: string }>(
    `select (${read('ops.gate_findings')}) as now, (${read('ops.gate_findings_previous')}) as was`,
    [release, revisions],
  );
  return rows[0]!;
}

/** What a case exercises, for the test to show the generator reaches each kind of history. */
function coverage(k: Case) {
  const counted = (r: number) => k.revisions.includes(r);
  const key = (x: CheckRow) => `${x.gate_code}|${x.check_name}`;
  const tie = k.checks.some((x) =>
    k.checks.some(
      (y) =>
        y !== x &&
        key(x) === key(y) &&
        x.created_at === y.created_at &&
        counted(x.revision) &&
        counted(y.revision) &&
        x.status !== y.status,
    ),
  );
  const outsideOnly = k.checks.some(
    (x) => !counted(x.revision) && !k.checks.some((y) => key(x) === key(y) && counted(y.revision)),
  );
  const caseOnly = k.checks.some((x) =>
    k.checks.some(
      (y) =>
        x.gate_code === y.gate_code &&
        x.check_name !== y.check_name &&
        x.check_name.toLowerCase() === y.check_name.toLowerCase(),
    ),
  );
  return { tie, outsideOnly, caseOnly, emptyRevisions: k.revisions.length === 0 };
}

/**
 * Gives ops.gate_checks.check_name the collation (and its index the order) in the open transaction:
 * the views reading the column are dropped first (the transaction is rolled back after).
 */
async function collate(c: pg.ClientBase, collation: string): Promise<void> {
  const views = await c.query<{ view: string }>(
    `select distinct w.ev_class::regclass::text as view
     from pg_depend d join pg_rewrite w on w.oid = d.objid
     where d.classid = 'pg_rewrite'::regclass and d.refobjid = 'ops.gate_checks'::regclass
       and w.ev_class <> 'ops.gate_checks'::regclass`,
  );
  for (const { view } of views.rows) await c.query(`drop view if exists ${view} cascade`);
  await c.query(`alter table ops.gate_checks alter column check_name type text collate "${collation}"`);
  const { rows } = await c.query<{ names: string[] }>(
    `select array_agg(n order by n) as names
     from (select n::text collate "${collation}" as n from unnest(array['b', 'Build', 'build']) n) x`,
  );
  // Linguistic order, not the bytes': the skip scan walks names in this order.
  expect(rows[0]!.names).toEqual(['b', 'build', 'Build']);
}

interface Difference {
  k: Case;
  now: string;
  was: string;
}

/**
 * Runs CASES generated histories against ops.gate_findings and the given previous definition, in a
 * transaction rolled back after; returns the cases that differ, smallest first, and how many ran.
 */
async function compare(db: TestDatabase, previous: string, seed: number, cases: number, collation?: string) {
  const c = await db.admin.connect();
  const differences: Difference[] = [];
  let checked = 0;
  let stale = 0;
  const seen = { tie: 0, outsideOnly: 0, caseOnly: 0, emptyRevisions: 0 };
  try {
    await c.query('begin');
    await c.query(previous);
    await c.query('set local session_replication_role = replica');
    if (collation) await collate(c, collation);
    const rnd = seeded(seed);
    for (let i = 0; i < cases; i++) {
      const k = generate(rnd, i);
      const cover = coverage(k);
      for (const key of Object.keys(seen) as (keyof typeof seen)[]) if (cover[key]) seen[key]++;
      const release = await store(c, k);
      const { now, was } = await bothReadings(c, release, k.revisions);
      checked++;
      if (now.includes('release is now at')) stale++;
      if (now !== was) differences.push({ k, now, was });
    }
  } finally {
    await c.query('rollback');
    c.release();
  }
  differences.sort((a, b) => a.k.checks.length - b.k.checks.length || a.k.gates.length - b.k.gates.length);
  return { differences, checked, stale, seen };
}

let db: TestDatabase;
let previous: string;

beforeAll(async () => {
  db = await useTestDatabase();
  previous = previousDefinition();
});

describe('the gate rule reads the check history by check name', () => {
  it('puts the previous definition beside the current one, reading checks by DISTINCT ON', async () => {
    expect(previous).toMatch(/^create function ops\.gate_findings_previous\(/);
    expect(previous).toContain('select distinct on (c.check_name) c.check_name, c.status, c.required');
    const c = await db.admin.connect();
    try {
      const { rows } = await c.query<{ d: string }>(
        `select pg_get_functiondef('ops.gate_findings(ops.releases, integer[])'::regprocedure) as d`,
      );
      expect(rows[0]!.d).toContain('with recursive names');
      expect(rows[0]!.d).not.toContain('distinct on (c.check_name) c.check_name, c.status, c.required');
    } finally {
      c.release();
    }
  });

  it.each([
    [
      'breaks ties on check_id the other way',
      'c.created_at desc, c.check_id desc',
      'c.created_at desc, c.check_id',
    ],
    [
      'reads results of every revision',
      'where c.gate_id = g.gate_id and c.revision = any (p_revisions)',
      'where c.gate_id = g.gate_id',
    ],
  ])('finds a difference when the previous definition %s', async (_, from, to) => {
    const broken = previous.replace(from, to);
    expect(broken).not.toBe(previous);
    const { differences } = await compare(db, broken, 7, 40);
    expect(differences.length).toBeGreaterThan(0);
  });

  it('gives the rows the previous definition gives, over generated histories', async () => {
    const seed = Number(process.env.CHECK_HISTORY_SEED ?? 20261207);
    const cases = Number(process.env.CHECK_HISTORY_CASES ?? 300);
    const { differences, checked, stale, seen } = await compare(db, previous, seed, cases);
    expect(checked).toBe(cases);
    // Ties decided by check_id, names reported only outside the counted revisions, names differing
    // only in case, and no counted revision at all each occur.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
    console.log(`check history: ${checked} cases, ${stale} with stale checks, ${JSON.stringify(seen)}`);
    // The stale-checks part ran: some cases report checks of revisions outside the counted ones.
    expect(stale).toBeGreaterThan(0);
    const smallest = differences[0];
    expect(
      smallest && { count: differences.length, case: smallest.k, now: smallest.now, was: smallest.was },
    ).toBeUndefined();
  });

  it('gives the same rows when check names sort linguistically (ICU), not by their bytes', async () => {
    const { differences, checked, seen } = await compare(db, previous, 20261208, 300, 'und-x-icu');
    expect(checked).toBe(300);
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(0);
    const smallest = differences[0];
    expect(
      smallest && { count: differences.length, case: smallest.k, now: smallest.now, was: smallest.was },
    ).toBeUndefined();
  });
});
