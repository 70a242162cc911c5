// The gate rule's parts answered by one query (20261204110000) change no result. Over generated
// sequences of facts on generated releases (checks, ingest events, evidence on the gate, a check,
// the release and the deployment, sign-offs and rejections, exceptions requested, approved, opening
// later, expiring on their own and moved into the past, deployments with their outcomes and health,
// a G4 deadline that passes, freezes, revisions, and time moving between steps), every step runs
// twice in one transaction: once with the previous definitions of the rule put back in place (taken
// from the migrations before 20261204110000, rolled back to a savepoint afterwards) and once with
// the current ones, which is the run committed. Both runs must leave the same stored gates, release
// status, gate transitions and outbox events (blockers included), refuse the same statements, and
// compute the same gates with the same reasons. The current rule is also the one without the
// always-empty timing hook (20261204150100), so the comparison covers its removal too.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { uniqueName, who } from './scenario.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
/** The migration that folded the parts into ops.gate_findings: the definitions before it are the previous rule. */
const FOLDED = '20261204110000';
const PREVIOUS_RULE = [
  // Dropped by 20261204150100 (it always returned no rows); the previous composition joins it.
  'ops.gate_timing_findings',
  'ops.compute_release_gates',
  'ops.gate_check_findings',
  'ops.gate_deployment_findings',
  'ops.gate_evidence_findings',
  'ops.gate_approval_findings',
  'ops.gate_exception_findings',
];

/** The last definition of the function in the migrations before FOLDED, as `create or replace`. */
function previousDefinition(name: string): string {
  const files = readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql') && f < FOLDED)
    .sort();
  let found: string | undefined;
  const start = new RegExp(`create (or replace )?function ${name.replace('.', '\\.')}\\(`, 'gi');
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
  if (!found) throw new Error(`no definition of ${name} before ${FOLDED}`);
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

/** One statement of a step: as a persona (with its claims) or, with persona null, as the owner. */
interface Statement {
  persona: Persona | null;
  sub?: string;
  sql: string;
  params?: unknown[];
}

interface Step {
  what: string;
  statements: Statement[];
}

/** An ingest event of the release, sent by the CI producer through ops.ingest_event. */
function ingestStatement(
  releaseId: string,
  eventType: string,
  gate: string | undefined,
  payload: Record<string, unknown>,
): Statement {
  return {
    persona: 'ci_service_role',
    sub: who.ci,
    sql: 'select ops.ingest_event($1::jsonb)',
    params: [
      JSON.stringify({
        schema_version: 'v1.0',
        idempotency_key: uniqueName('one-query'),
        source_system: 'github_actions',
        release_id: releaseId,
        emitted_at: new Date().toISOString(),
        event_type: eventType,
        ...(gate === undefined ? {} : { gate_code: gate }),
        payload,
      }),
    ],
  };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const INSTANT = /\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?/g;

/**
 * The outcome as text, with the ids a run generated named by their first appearance and instants
 * taken from the clock left out (a second run of a step gets new ids and a later clock; instants
 * the rule compares are still compared through the statuses and reasons they decide).
 */
function normalised(outcome: unknown): string {
  const ids = new Map<string, string>();
  return JSON.stringify(outcome)
    .replace(UUID, (id) => {
      if (!ids.has(id)) ids.set(id, `id${ids.size}`);
      return ids.get(id)!;
    })
    .replace(INSTANT, '<instant>');
}

/** Runs the step's statements in the open transaction; each refusal is kept (its SQLSTATE), not thrown. */
async function runStep(c: pg.ClientBase, step: Step): Promise<string[]> {
  const results: string[] = [];
  for (const s of step.statements) {
    await c.query('savepoint statement');
    try {
      if (s.persona) {
        await c.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
          s.persona,
          JSON.stringify({ sub: s.sub, role: s.persona }),
        ]);
      }
      await c.query(s.sql, s.params ?? []);
      results.push('ok');
      await c.query(`select set_config('role', 'none', true)`);
      await c.query('release savepoint statement');
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string') throw err;
      results.push(code);
      await c.query('rollback to savepoint statement');
    }
  }
  return results;
}

/** What the step left, read as the owner: stored gates, release status, transitions, outbox, computed gates. */
async function outcome(c: pg.ClientBase, releaseId: string, results: string[]): Promise<string> {
  const { rows } = await c.query(
    `select
       (select json_agg(json_build_object('gate', g.gate_code, 'status', g.status, 'exception', g.exception_id,
                'entered', g.entered_at is not null, 'resolved', g.resolved_at is not null,
                'resolved_by', g.resolved_by) order by g.gate_code)
        from ops.release_gates g where g.release_id = $1) as gates,
       (select r.status from ops.releases r where r.release_id = $1) as release,
       (select json_agg(json_build_object('gate', g.gate_code, 'from', t.from_status, 'to', t.to_status,
                'reason', t.reason, 'actor', t.actor)
                order by t.created_at, g.gate_code, t.from_status, t.to_status, t.reason)
        from ops.gate_transitions t join ops.release_gates g on g.gate_id = t.gate_id
        where g.release_id = $1) as transitions,
       (select json_agg(json_build_object('kind', e.kind, 'table', e.source_table, 'actor', e.actor,
                'environment', e.environment, 'change', e.change, 'blockers', e.blockers)
                order by e.created_at, e.kind)
        from ops.outbox_events e where e.release_id = $1) as outbox,
       (select json_agg(json_build_object('gate', x.gate_code, 'status', x.status, 'reasons', x.reasons,
                'exception', x.exception_id))
        from ops.compute_release_gates($1) x) as computed`,
    [releaseId],
  );
  return normalised({ results, ...rows[0] });
}

let db: TestDatabase;
let previous: string[];

/**
 * Runs the step with the given previous definitions of the rule and then with the current ones, in
 * one transaction (so both see the same facts and the same now()); commits the current run. Returns
 * both outcomes when they differ (over several pairs of runs: a window or deadline may have passed
 * between the two of a pair), else only the current one.
 */
async function compareStep(
  definitions: string[],
  releaseId: string,
  step: Step,
): Promise<{ now: string; was?: string }> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    const run = async (rule: 'previous' | 'current') => {
      await c.query('savepoint step');
      if (rule === 'previous') for (const sql of definitions) await c.query(sql);
      const results = await runStep(c, step);
      return outcome(c, releaseId, results);
    };
    let was = await run('previous');
    await c.query('rollback to savepoint step');
    let now = await run('current');
    // Windows open and close and deadlines pass by the clock, and a busy machine can take long
    // enough over a pair of runs that the pair straddles one, then the next: a difference counts
    // only when it stays over several pairs (the boundaries in reach of a step are few).
    for (let pair = 1; pair < 5 && now !== was; pair++) {
      await c.query('rollback to savepoint step');
      was = await run('previous');
      await c.query('rollback to savepoint step');
      now = await run('current');
    }
    await c.query('commit');
    return now === was ? { now } : { now, was };
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

const createRelease = async (project: string) =>
  (
    await db.as('developer', who.dev, (c) =>
      c.query<{ release_id: string }>(
        `select release_id from ops.create_release(p_project => $1, p_release_name => $2, p_source_ref => 'refs/heads/main')`,
        [project, uniqueName()],
      ),
    )
  ).rows[0]!.release_id;

beforeAll(async () => {
  db = await useTestDatabase();
  previous = PREVIOUS_RULE.map(previousDefinition);
});

describe('the gate rule in one query', () => {
  it('puts the previous definitions back in a savepoint, and they are not the current ones', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      const before = await c.query(
        `select pg_get_functiondef('ops.compute_release_gates(uuid)'::regprocedure) as d`,
      );
      expect(before.rows[0].d).toContain('ops.gate_findings(');
      await c.query('savepoint rule');
      for (const sql of previous) await c.query(sql);
      const swapped = await c.query(
        `select pg_get_functiondef('ops.compute_release_gates(uuid)'::regprocedure) as d`,
      );
      expect(swapped.rows[0].d).not.toContain('ops.gate_findings(');
      expect(swapped.rows[0].d).toContain('ops.gate_check_findings(');
      await c.query('rollback to savepoint rule');
      const after = await c.query(
        `select pg_get_functiondef('ops.compute_release_gates(uuid)'::regprocedure) as d`,
      );
      expect(after.rows[0].d).toBe(before.rows[0].d);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('finds the difference when the previous rule words one reason otherwise', async () => {
    const project = uniqueName('one-query-meta');
    await db.admin.query(
      `insert into ops.check_requirements (project, gate_code, check_name) values ($1, 'G2', 'e2e')`,
      [project],
    );
    const reworded = previous.map((sql) =>
      sql.startsWith('create or replace function ops.gate_check_findings(')
        ? sql.replace('has not reported', 'has not yet reported')
        : sql,
    );
    expect(reworded).not.toEqual(previous);
    const r = await createRelease(project);
    const step: Step = {
      what: 'check G1 build pass',
      statements: [
        {
          persona: 'ci_service_role',
          sub: who.ci,
          sql: `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'build',
                  p_status => 'pass')`,
          params: [r],
        },
      ],
    };
    const { now, was } = await compareStep(reworded, r, step);
    expect(now).toContain('has not reported');
    expect(was).toContain('has not yet reported');
    expect((await compareStep(previous, r, { what: 'nothing', statements: [] })).was).toBeUndefined();
  });

  it('leaves what the previous definitions leave, step by step, with time moving', async () => {
    const seed = Number(process.env.GATE_RULE_SEED ?? 20261204);
    const rnd = seeded(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

    const project = uniqueName('one-query');
    const bare = uniqueName('one-query-bare');
    await db.admin.query(
      `insert into ops.check_requirements (project, gate_code, check_name) values
         ($1, 'G1', 'build'), ($1, 'G2', 'e2e'), ($1, 'G2', 'lint'), ($1, 'G3', 'sbom')`,
      [project],
    );
    // G4 of a staging deployment is due within two seconds in both projects: deadlines pass in the run.
    for (const p of [project, bare]) {
      await db.as('release_manager', who.rm, (c) =>
        c.query(`select ops.set_deadline_policy('G4', interval '2 seconds', 'staging', $1)`, [p]),
      );
    }

    const differences: string[] = [];
    const seen = new Map<string, number>();
    const count = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1);

    const names = ['build', 'lint', 'e2e', 'sbom'] as const;
    const gates = ['G1', 'G2', 'G3'] as const;
    const types = ['build_log', 'test_result', 'uat_summary', 'rollback_plan', 'health_check'] as const;
    const evidence = (
      releaseId: string,
      type: string,
      gate: string | null,
      checkId: string | null,
      dep: string | null,
    ) =>
      ({
        persona: pick(['release_manager', 'qa_tester', 'ci_service_role', 'sre'] as const),
        sub: 'one-query-evidence',
        sql: `select ops.attach_evidence(p_release_id => $1, p_artifact_type => $2::public.ops_artifact_type,
                p_artifact_url => $3, p_gate_code => $4::public.ops_gate_code, p_check_id => $5, p_deployment_id => $6)`,
        params: [releaseId, type, `https://evidence.example/${uniqueName('a')}`, gate, checkId, dep],
      }) satisfies Statement;
    const check = (releaseId: string, gate: string, name: string, status: string, required = true) =>
      ({
        persona: 'ci_service_role',
        sub: who.ci,
        sql: `select ops.record_check(p_release_id => $1, p_gate_code => $2::public.ops_gate_code, p_check_name => $3,
                p_status => $4::public.ops_check_status, p_required => $5)`,
        params: [releaseId, gate, name, status, required],
      }) satisfies Statement;
    const signOff = (releaseId: string, gate: 'G2' | 'G3', decision = 'approved') =>
      ({
        persona: gate === 'G2' ? 'qa_tester' : 'release_manager',
        sub: gate === 'G2' ? who.qa : who.rm,
        sql: `select ops.submit_approval(p_release_id => $1, p_decision => $2::public.ops_approval_decision,
                p_gate_code => $3::public.ops_gate_code, p_rationale_text => 'scenario')`,
        params: [releaseId, decision, gate],
      }) satisfies Statement;
    const latest = async (sql: string, releaseId: string) =>
      (await db.admin.query<{ id: string }>(sql, [releaseId])).rows[0]?.id ?? null;

    for (let n = 0; n < 8; n++) {
      const p = n % 2 === 0 ? project : bare;
      const r = await createRelease(p);
      for (let i = 0; i < 22; i++) {
        const op = Math.floor(rnd() * 16);
        let step: Step;
        if (op <= 1 || op === 15) {
          const [gate, name, status, required] = [
            pick(gates),
            pick(names),
            pick(['pass', 'pass', 'fail', 'warning', 'skipped'] as const),
            rnd() < 0.7,
          ];
          step = {
            what: `check ${gate} ${name} ${status}`,
            statements: [check(r, gate, name, status, required)],
          };
        } else if (op === 2) {
          const status = pick(['pass', 'pass', 'fail'] as const);
          step = {
            what: `ingest build_complete ${status}`,
            statements: [
              ingestStatement(r, 'build_complete', undefined, {
                status,
                check_name: pick(names),
                log_url: `https://ci.example/${uniqueName('l')}`,
              }),
            ],
          };
        } else if (op === 3) {
          const [type, gate] = [pick(types), pick([...gates, null])];
          step = {
            what: `evidence ${type} on ${gate ?? 'the release'}`,
            statements: [evidence(r, type, gate, null, null)],
          };
        } else if (op === 4) {
          const c = await latest(
            `select c.check_id as id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
             where g.release_id = $1 order by c.created_at desc limit 1`,
            r,
          );
          step = {
            what: 'evidence on a check',
            statements: c ? [evidence(r, pick(types), null, c, null)] : [],
          };
        } else if (op === 5) {
          const d = await latest(
            'select deployment_id as id from ops.deployments where release_id = $1 order by created_at desc limit 1',
            r,
          );
          step = {
            what: 'evidence on the deployment',
            statements: d ? [evidence(r, 'health_check', null, null, d)] : [],
          };
        } else if (op === 6) {
          const gate = pick(['G2', 'G3'] as const);
          const decision = pick(['approved', 'approved', 'approved', 'rejected', 'request_changes']);
          step = { what: `sign-off ${gate} ${decision}`, statements: [signOff(r, gate, decision)] };
        } else if (op === 7 || op === 8) {
          // An exception: a bypass or a waiver, in force for a few seconds or a day, from now or a
          // little later, approved in the same step or left pending.
          const type = pick(['gate_bypass', 'gate_bypass', 'evidence_waiver'] as const);
          const gate = pick([...gates, 'G4'] as const);
          const from = rnd() < 0.3 ? at(400 + rnd() * 1200) : null;
          const until = rnd() < 0.6 ? at(1500 + rnd() * 2500) : at(86_400_000);
          const approve = rnd() < 0.75;
          step = {
            what: `exception ${type} of ${gate}${from ? ' opening later' : ''}${approve ? ' approved' : ''}`,
            statements: [
              {
                persona: 'release_manager',
                sub: who.rm2,
                sql: `select ops.request_exception(p_release_id => $1, p_exception_type => $2::public.ops_exception_type,
                        p_impacted_gates => $3::public.ops_gate_code[], p_reason => 'scenario',
                        p_risk_statement => 'low', p_expires_at => $4::timestamptz, p_effective_from => $5::timestamptz)`,
                params: [r, type, `{${gate}}`, until, from],
              },
              ...(approve
                ? [
                    {
                      persona: 'release_manager' as const,
                      sub: who.rm3,
                      sql: `select ops.approve_exception((select e.exception_id from ops.exceptions e
                              where e.release_id = $1 and e.approver_id is null order by e.created_at desc limit 1),
                              'risk accepted')`,
                      params: [r],
                    },
                  ]
                : []),
            ],
          };
        } else if (op === 9) {
          const e = await latest(
            'select exception_id as id from ops.exceptions where release_id = $1 order by random() limit 1',
            r,
          );
          step = {
            what: 'exception moved into the past',
            statements: e
              ? [
                  {
                    persona: null,
                    sql: `update ops.exceptions set effective_from = now() - interval '2 hours',
                            expires_at = now() - interval '1 hour' where exception_id = $1`,
                    params: [e],
                  },
                ]
              : [],
          };
        } else if (op === 10) {
          // Time moves: windows open and close, deadlines pass; the sweep records them.
          await sleep(300 + rnd() * 1500);
          step = {
            what: 'sweep after time moved',
            statements: [{ persona: null, sql: 'select ops.record_deadline_transitions()' }],
          };
        } else if (op === 11) {
          const outcome = pick([
            'succeeded',
            'succeeded',
            'failed',
            'rolled_back',
            'in_progress',
            'health pass',
            'health fail',
          ]);
          const ready = rnd() < 0.5;
          const d = await latest(
            'select deployment_id as id from ops.deployments where release_id = $1 order by created_at desc limit 1',
            r,
          );
          const statements: Statement[] = [];
          if (ready) {
            for (const gate of gates) for (const name of names) statements.push(check(r, gate, name, 'pass'));
            statements.push(
              evidence(r, 'test_result', 'G2', null, null),
              evidence(r, 'rollback_plan', 'G3', null, null),
            );
            statements.push(signOff(r, 'G2'), signOff(r, 'G3'));
          }
          if (ready || !d) {
            statements.push({
              persona: 'sre',
              sub: who.sre,
              sql: `select ops.promote_release($1, 'staging')`,
              params: [r],
            });
          }
          const target = `coalesce($1::uuid, (select deployment_id from ops.deployments where release_id = $2
                            order by created_at desc limit 1))`;
          if (outcome.startsWith('health')) {
            statements.push({
              persona: 'sre',
              sub: who.sre,
              sql: `select ops.record_health_check(${target}, $3::public.ops_check_status)`,
              params: [ready ? null : d, r, outcome === 'health pass' ? 'pass' : 'fail'],
            });
          } else {
            statements.push({
              persona: 'sre',
              sub: who.sre,
              sql: `select ops.update_deployment(${target}, $3::public.ops_deployment_status)`,
              params: [ready ? null : d, r, outcome],
            });
          }
          step = { what: `deployment${ready ? ' made ready,' : ''} ${outcome}`, statements };
        } else if (op === 12) {
          const ref = pick(['refs/heads/main', 'refs/heads/hotfix']);
          step = {
            what: `revision to ${ref}`,
            statements: [
              {
                persona: 'developer',
                sub: who.dev,
                sql: 'select ops.revise_release($1, $2, null, $3)',
                params: [r, ref, 'scenario revision'],
              },
            ],
          };
        } else if (op === 13) {
          step = {
            what: 'freeze of staging for a second',
            statements: [
              {
                persona: 'release_manager',
                sub: who.rm,
                sql: `select ops.add_freeze_window($1, 'staging', 'scenario freeze', $2::timestamptz, $3::timestamptz, $4)`,
                params: [uniqueName('freeze'), at(0), at(1000), p],
              },
            ],
          };
        } else {
          step = {
            what: 'ingest check_result',
            statements: [
              ingestStatement(r, 'check_result', pick(gates), {
                check_name: pick(names),
                status: pick(['pass', 'fail']),
              }),
            ],
          };
        }
        const { now, was } = await compareStep(previous, r, step);
        if (was !== undefined)
          differences.push(`seed ${seed}, release ${n} step ${i}: ${step.what}\n now ${now}\n was ${was}`);
        const kind = step.what.split(' ')[0]!;
        const parsed = JSON.parse(now) as {
          results: string[];
          transitions: { to: string }[] | null;
          outbox: unknown[] | null;
        };
        for (const result of parsed.results) count(result === 'ok' ? kind : 'refused');
        for (const t of parsed.transitions ?? []) count(`to ${t.to}`);
        if ((parsed.outbox ?? []).length > 0) count('outbox');
      }
    }

    if (differences.length > 0) console.error(differences.slice(0, 3).join('\n\n'));
    expect(differences).toEqual([]);
    // The sequences must have reached what they are meant to compare, or the comparison proves little.
    for (const what of [
      'check',
      'ingest',
      'evidence',
      'sign-off',
      'exception',
      'deployment',
      'revision',
      'sweep',
      'freeze',
      'refused',
      'outbox',
      'to passed',
      'to failed',
      'to bypassed',
      'to in_progress',
    ])
      expect([...seen.keys()], `the sequences never reached "${what}"`).toContain(what);
  }, 600_000);
});
