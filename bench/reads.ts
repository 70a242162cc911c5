// The reads a release-health dashboard makes, over HTTP against the real server, on a database of
// 10,000 releases: the first page of releases with their gates and eligibility, one release's
// timeline, and exception status. Prints p50/p99 per query and the SQL statements each request
// runs (counted on the server's pool), and whether the dashboard's first page meets its target.
//
//   npm run bench:reads               10,000 releases (about 40,000 gates, 200,000 checks)
//   npm run bench:reads -- --short    500 releases, a few seconds (CI; also BENCH_SHORT=1)
//   npm run bench:reads -- --growth   the dashboard page at 10,000 and at 100,000 releases, in two
//                                     databases of one embedded cluster, alternating request by
//                                     request; prints the ratio (with --short: 1,000 and 10,000)
//
// The database: an embedded PostgreSQL under .data/bench-reads-<pid> (removed afterwards), or
// DATABASE_URL when set (a superuser: seeding switches triggers off; the rows stay, under projects
// named bench-<run>-*). No assertion here: the numbers are printed for people to read.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { print } from 'graphql';
import pg from 'pg';
import { mintToken } from '../src/auth/dev-tokens.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, prepareDatabase, withCredentials } from '../src/db/database.js';
import { resolveDataRoot } from '../src/db/embedded.js';
import { projectRoot } from '../src/db/migrate.js';
import {
  ExceptionStatusDocument,
  ReleaseDashboardDocument,
  ReleaseTimelineDocument,
} from '../src/gql/graphql.js';
import { createLogger } from '../src/logger.js';
import { createServer, type Route } from '../src/server.js';
import { asUnanswered, benchPool, machine, throwIfUnanswered, Unanswered } from './lib.js';

const short = process.argv.includes('--short') || process.env.BENCH_SHORT === '1';
const growthMode = process.argv.includes('--growth');
const RELEASES = short ? 500 : 10_000;
const ITERATIONS = short ? 40 : 300;
const WARMUP = short ? 10 : 30;
const PAGE = 20;
const TARGET_P50_MS = 50;
const SECRET = randomBytes(32).toString('hex');
const run = randomBytes(3).toString('hex');

const log = (line: string) => process.stdout.write(`${line}\n`);

// ---- The in-project baseline: the same answers from one hand-written SQL statement each, over
// the same HTTP stack (router, token check, persona switch), so GraphQL/baseline is what the
// GraphQL layer costs above the least the database must do.

/** The dashboard page (ReleaseDashboard): releases, eligibility and their gates summarised. */
const BASELINE_LIST_SQL = `
  select coalesce(json_agg(json_build_object(
           'releaseId', p.release_id, 'project', p.project, 'releaseName', p.release_name,
           'releaseStatus', p.release_status, 'eligibleForStaging', p.eligible_for_staging,
           'eligibleForProduction', p.eligible_for_production, 'stagingBlockers', p.staging_blockers,
           'productionBlockers', p.production_blockers, 'gates', p.gates)
         order by p.created_at desc, p.release_id desc), '[]') as nodes
  from (select v.*, (select json_agg(json_build_object('gateCode', g.gate_code, 'status', g.status,
                       'checksPass', g.checks_pass, 'checksFail', g.checks_fail,
                       'evidenceCount', g.evidence_count, 'approvals', g.approvals) order by g.gate_code)
                     from ops.v_release_gate_summary g where g.release_id = v.release_id) as gates
        from ops.v_promotion_eligibility v order by v.created_at desc, v.release_id desc limit $1) p`;

/** One release with its gates, their checks, approvals and evidence (ONE_RELEASE below). */
export const BASELINE_RELEASE_SQL = `
  select json_build_object('id', r.release_id, 'project', r.project, 'releaseName', r.release_name,
           'status', r.status, 'gates', (
             select json_agg(json_build_object('gateCode', g.gate_code, 'status', g.status,
               'checks', (select coalesce(json_agg(json_build_object('checkName', c.check_name, 'status', c.status)
                            order by c.created_at, c.check_id), '[]') from ops.gate_checks c where c.gate_id = g.gate_id),
               'approvals', (select coalesce(json_agg(json_build_object('approverId', a.approver_id, 'decision', a.decision)
                            order by a.created_at, a.approval_id), '[]') from ops.approvals a where a.gate_id = g.gate_id),
               'evidence', (select coalesce(json_agg(json_build_object('artifactType', e.artifact_type)
                            order by e.created_at, e.artifact_id), '[]') from ops.evidence_artifacts e where e.gate_id = g.gate_id))
             order by g.gate_code) from ops.release_gates g where g.release_id = r.release_id)) as release
  from ops.releases r where r.release_id = $1`;

export const ONE_RELEASE = `query OneRelease($id: ID!) {
  release(id: $id) {
    id project releaseName status
    gates { gateCode status checks { checkName status } approvals { approverId decision } evidence { artifactType } }
  }
}`;

const baselineRoutes: Route[] = [
  {
    method: 'POST',
    path: '/bench/baseline',
    handler: async (request, ctx) => {
      const { kind, arg } = (await request.json()) as { kind: 'list' | 'release'; arg: unknown };
      const data = await ctx.withPersona(async (c) => {
        const { rows } = await c.query(kind === 'list' ? BASELINE_LIST_SQL : BASELINE_RELEASE_SQL, [arg]);
        return rows[0];
      });
      return new Response(JSON.stringify({ data }), { headers: { 'content-type': 'application/json' } });
    },
  },
];

/**
 * The API server the read benchmarks measure, on the given pool, with tokens signed by `secret`,
 * logging nothing, and the hand-written baseline route at /bench/baseline (`{ kind, arg }`: 'list'
 * a page size, 'release' a release id). Returns the Node HTTP server, not yet listening, and
 * close(), which ends its connections and the server (not the pool).
 */
export function readsServer(pool: pg.Pool, secret: string): { http: HttpServer; close: () => Promise<void> } {
  const app = createServer({
    // As deployed (bench:ingest's server too): production settings, with npm's NODE_ENV=production.
    config: loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: secret, LOG_LEVEL: 'silent' }),
    pool,
    logger: createLogger({ level: 'silent' }),
    routes: baselineRoutes,
  });
  const http = createHttpServer();
  http.on('request', app.handle);
  return {
    http,
    close: async () => {
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
      await app.close();
    },
  };
}

// ---- Seeding: bulk SQL as the owner, triggers off, then plausible gate states -------------------

/**
 * Every release gets a stage (how far it got), and the facts that stage implies, so that the
 * stored gate statuses are the ones ops.compute_release_gates computes (checked on a sample):
 *   0 draft · 1 G1 failing or in progress · 2 G1 passed, G2 evidence · 3 G2 passed, G3 rollback plan
 *   4 G3 passed · 5 staging deployed and healthy · 6 promoted to production · 7 production failed,
 *   rolled back.
 */
export function seedSql(n: number): string[] {
  const p = `'bench-${run}-'`;
  return [
    `create temp table bench_r on commit drop as
     select gen_random_uuid() as release_id, i,
            ${p} || (i % 20) as project,
            'r' || i as release_name,
            'dev-' || (i % 25) as dev,
            now() - ((${n} - i) * interval '13 minutes') - (random() * interval '1 second') as at,
            case when h < 5 then 0 when h < 15 then 1 when h < 25 then 2 when h < 40 then 3 when h < 50 then 4
                 when h < 65 then 5 when h < 95 then 6 else 7 end as stage
     from (select i, (i * 7919) % 100 as h from generate_series(1, ${n}) i) s`,
    `insert into ops.releases (release_id, project, release_name, environment_target, source_ref, initiating_actor,
                               status, created_at, created_by, created_persona)
     select release_id, project, release_name, 'production', 'refs/tags/' || release_name, dev,
            (case when stage = 0 then 'draft' when stage = 6 then 'promoted' when stage = 7 then 'rolled_back'
                  else 'in_progress' end)::public.ops_release_status,
            at, dev, 'developer'
     from bench_r`,
    `create temp table bench_g on commit drop as
     select gen_random_uuid() as gate_id, r.release_id, r.i, r.stage, r.at, d.gate_code, d.gate_name, d.position,
            case d.gate_code
              when 'G1' then case when r.stage = 0 then 'pending' when r.stage = 1 and r.i % 2 = 0 then 'failed'
                                  when r.stage = 1 then 'in_progress' else 'passed' end
              when 'G2' then case when r.stage <= 1 then 'pending' when r.stage = 2 then 'in_progress' else 'passed' end
              when 'G3' then case when r.stage <= 2 then 'pending' when r.stage = 3 then 'in_progress' else 'passed' end
              else case when r.stage <= 4 then 'pending' when r.stage = 7 then 'failed' else 'passed' end
            end::public.ops_gate_status as status
     from bench_r r cross join ops.gate_definitions d`,
    `insert into ops.release_gates (gate_id, release_id, gate_code, gate_name, status, entered_at, resolved_at,
                                    resolved_by, created_at, created_by, created_persona)
     select gate_id, release_id, gate_code, gate_name, status,
            case when status <> 'pending' then at + position * interval '1 minute' end,
            case when status in ('passed', 'failed') then at + position * interval '2 minutes' end,
            case when status in ('passed', 'failed') then 'ci-bench' end,
            at, 'dev-bench', 'developer'
     from bench_g`,
    // One accepted ingest attempt per build report, and a retry for every tenth.
    `create temp table bench_i on commit drop as
     select gen_random_uuid() as ingest_id, r.release_id, r.i, r.at from bench_r r where r.stage >= 1`,
    `insert into ops.event_ingest_log (ingest_id, source_system, event_type, idempotency_key, schema_version, release_id,
                                       gate_code, payload_hash, envelope, received_at, processing_status, http_status,
                                       result, created_at, created_by, created_persona)
     select ingest_id, 'github_actions', 'build_complete', 'github_actions/' || release_id || '/build_complete/1', 'v1.0',
            release_id, 'G1', md5(ingest_id::text) || md5(release_id::text), '{}'::jsonb, at + interval '1 minute',
            'accepted', 200, '{}'::jsonb, at + interval '1 minute', 'ci-bench', 'ci_service_role'
     from bench_i`,
    `insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                       payload_hash, envelope, received_at, processing_status, http_status, result,
                                       duplicate_of, created_at, created_by, created_persona)
     select 'github_actions', 'build_complete', 'github_actions/' || release_id || '/build_complete/1', 'v1.0',
            release_id, 'G1', md5(ingest_id::text) || md5(release_id::text), '{}'::jsonb, at + interval '2 minutes',
            'duplicate', 200, '{}'::jsonb, ingest_id, at + interval '2 minutes', 'ci-bench', 'ci_service_role'
     from bench_i where i % 10 = 0`,
    // Checks: G1 four (a third rerun their build after a flaky failure), G2 sixteen, G3 two, G4 one
    // health check per deployment.
    `insert into ops.gate_checks (gate_id, check_name, source_system, status, required, ingest_id, created_at, created_by,
                                  created_persona)
     select g.gate_id, c.name, 'github_actions',
            (case when g.stage = 1 and g.i % 2 = 0 and c.name = 'build' then 'fail'
                  when g.stage = 1 and c.name = 'unit-tests' then 'warning' else 'pass' end)::public.ops_check_status,
            true, case when c.name = 'build' then i.ingest_id end,
            g.at + interval '1 minute' + c.k * interval '1 second', 'ci-bench', 'ci_service_role'
     from bench_g g
     cross join (values ('build', 1), ('lint', 2), ('unit-tests', 3), ('type-check', 4)) c(name, k)
     left join bench_i i on i.release_id = g.release_id
     where g.gate_code = 'G1' and g.stage >= 1`,
    `insert into ops.gate_checks (gate_id, check_name, source_system, status, required, created_at, created_by,
                                  created_persona)
     select g.gate_id, 'build', 'github_actions', 'fail', true, g.at + interval '30 seconds', 'ci-bench', 'ci_service_role'
     from bench_g g where g.gate_code = 'G1' and g.stage >= 2 and g.i % 3 = 0`,
    `insert into ops.gate_checks (gate_id, check_name, source_system, status, required, created_at, created_by,
                                  created_persona)
     select g.gate_id, 'e2e-' || k, 'agent', 'pass', true, g.at + interval '5 minutes' + k * interval '1 second',
            'qa-bot', 'ci_service_role'
     from bench_g g cross join generate_series(1, 16) k
     where g.gate_code = 'G2' and g.stage >= 2`,
    `insert into ops.gate_checks (gate_id, check_name, source_system, status, required, created_at, created_by,
                                  created_persona)
     select g.gate_id, c.name, 'github_actions', 'pass', true, g.at + interval '10 minutes', 'ci-bench', 'ci_service_role'
     from bench_g g cross join (values ('security-scan'), ('change-window')) c(name)
     where g.gate_code = 'G3' and g.stage >= 3`,
    `insert into ops.approvals (release_id, gate_id, approver_id, persona_role, decision, scope, rationale_text,
                                created_at, created_by, created_persona)
     select g.release_id, g.gate_id, 'qa-' || (g.i % 7), 'qa_tester', 'approved', 'gate', 'suite green',
            g.at + interval '6 minutes', 'qa-' || (g.i % 7), 'qa_tester'
     from bench_g g where g.gate_code = 'G2' and g.stage >= 3`,
    `insert into ops.approvals (release_id, gate_id, approver_id, persona_role, decision, scope, rationale_text,
                                created_at, created_by, created_persona)
     select g.release_id, g.gate_id, 'rm-' || (g.i % 5), 'release_manager', 'approved', 'gate', 'window agreed',
            g.at + interval '11 minutes', 'rm-' || (g.i % 5), 'release_manager'
     from bench_g g where g.gate_code = 'G3' and g.stage >= 4`,
    `insert into ops.evidence_artifacts (release_id, gate_id, artifact_type, source_system, artifact_url, sha256,
                                         created_at, created_by, created_persona)
     select g.release_id, g.gate_id,
            (case g.gate_code when 'G1' then 'build_log' when 'G2' then 'test_result' else 'rollback_plan' end)
              ::public.ops_artifact_type,
            'github_actions', 'https://ci.example/' || g.gate_id, encode(sha256(g.gate_id::text::bytea), 'hex'),
            g.at + g.position * interval '3 minutes', 'ci-bench', 'ci_service_role'
     from bench_g g
     where (g.gate_code = 'G1' and g.stage >= 1) or (g.gate_code = 'G2' and g.stage >= 2)
        or (g.gate_code = 'G3' and g.stage >= 3)`,
    // Deployments: staging from stage 5, production from stage 6, a rollback at stage 7.
    `create temp table bench_d on commit drop as
     select gen_random_uuid() as deployment_id, r.release_id, r.i, r.stage, e.env, r.at + e.k * interval '20 minutes' as at
     from bench_r r cross join (values ('staging'::public.ops_environment, 1), ('production', 2)) e(env, k)
     where (e.env = 'staging' and r.stage >= 5) or (e.env = 'production' and r.stage >= 6)`,
    `insert into ops.deployments (deployment_id, release_id, environment, deployed_at, deployed_by, source_ref, status,
                                  g4_status, g4_resolved_at, created_at, created_by, created_persona)
     select deployment_id, release_id, env, at, 'sre-' || (i % 4), 'refs/tags/r' || i,
            (case when stage = 7 and env = 'production' then 'failed' else 'succeeded' end)::public.ops_deployment_status,
            (case when stage = 7 and env = 'production' then 'failed' else 'passed' end)::public.ops_g4_status,
            at + interval '4 minutes', at, 'sre-' || (i % 4), 'sre'
     from bench_d`,
    `insert into ops.deployments (release_id, environment, deployed_at, deployed_by, source_ref, status, rollback_of,
                                  g4_status, created_at, created_by, created_persona)
     select release_id, env, at + interval '10 minutes', 'sre-' || (i % 4), 'refs/tags/previous', 'succeeded',
            deployment_id, 'pending', at + interval '10 minutes', 'sre-' || (i % 4), 'sre'
     from bench_d where stage = 7 and env = 'production'`,
    `insert into ops.deployment_transitions (deployment_id, from_status, to_status, from_g4_status, to_g4_status, actor,
                                             created_at, created_by, created_persona)
     select deployment_id, 'in_progress',
            (case when stage = 7 and env = 'production' then 'failed' else 'succeeded' end)::public.ops_deployment_status,
            'pending', 'pending', 'ci-bench', at + interval '2 minutes', 'ci-bench', 'ci_service_role'
     from bench_d`,
    `create temp table bench_h on commit drop as
     select gen_random_uuid() as check_id, d.*, g.gate_id
     from bench_d d join bench_g g on g.release_id = d.release_id and g.gate_code = 'G4'`,
    `insert into ops.gate_checks (check_id, gate_id, check_name, source_system, status, required, metadata, created_at,
                                  created_by, created_persona)
     select check_id, gate_id, 'health_check', 'monitoring',
            (case when stage = 7 and env = 'production' then 'fail' else 'pass' end)::public.ops_check_status, true,
            jsonb_build_object('deployment_id', deployment_id, 'environment', env), at + interval '4 minutes',
            'sre-' || (i % 4), 'sre'
     from bench_h`,
    `insert into ops.evidence_artifacts (release_id, gate_id, check_id, deployment_id, artifact_type, source_system,
                                         artifact_url, created_at, created_by, created_persona)
     select release_id, gate_id, check_id, deployment_id, 'health_check', 'monitoring',
            'ops://deployments/' || deployment_id || '/health', at + interval '4 minutes', 'sre-' || (i % 4), 'sre'
     from bench_h`,
    // The gate transitions that led to the stored statuses.
    `insert into ops.gate_transitions (gate_id, from_status, to_status, reason, actor, created_at, created_by,
                                       created_persona)
     select gate_id, 'pending', status, 'recomputed from the gate''s checks, evidence, approvals and exceptions',
            'ci-bench', at + position * interval '2 minutes', 'ci-bench', 'ci_service_role'
     from bench_g where status <> 'pending'`,
    // Exceptions on three releases in a hundred: active, expired, awaiting approval, scheduled.
    `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement, requested_by,
                                 approver_id, approved_at, effective_from, expires_at, created_at, created_by,
                                 created_persona)
     select release_id, 'timing_override', '{G4}', 'deploy in the freeze', 'low', 'rm-req',
            case when k % 4 = 2 then null else 'rm-approver' end,
            case when k % 4 = 2 then null else now() - interval '1 hour' end,
            case k % 4 when 3 then now() + interval '1 day' when 1 then now() - interval '3 days'
                 else now() - interval '2 hours' end,
            case k % 4 when 1 then now() - interval '1 day' when 3 then now() + interval '2 days' + (k % 48) * interval '1 hour'
                 else now() + (k % 48 + 2) * interval '1 hour' end,
            now() - interval '3 days', 'rm-req', 'release_manager'
     from (select release_id, i as k from bench_r where i % 33 = 0) x`,
  ];
}

export async function seed(adminUrl: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    for (const sql of seedSql(n)) await c.query(sql);
    await c.query('commit');
    await c.query('analyze');
    // Plausible means consistent: the stored statuses are what the rules compute, on a sample.
    const { rows } = await c.query<{ checked: number; differ: number }>(
      `select count(distinct r.release_id)::int as checked,
              count(*) filter (where c.status is distinct from g.status)::int as differ
       from (select release_id from ops.releases where project like $1 order by random() limit 200) r
       cross join lateral ops.compute_release_gates(r.release_id) c
       join ops.release_gates g on g.gate_id = c.gate_id`,
      [`bench-${run}-%`],
    );
    log(
      `  sample of ${rows[0]!.checked} releases: ${rows[0]!.differ} gate statuses differ from ops.compute_release_gates`,
    );
  } finally {
    await c.end();
  }
}

async function counts(adminUrl: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    const { rows } = await c.query(
      `select (select count(*) from ops.releases) as releases, (select count(*) from ops.release_gates) as gates,
              (select count(*) from ops.gate_checks) as checks, (select count(*) from ops.approvals) as approvals,
              (select count(*) from ops.evidence_artifacts) as evidence, (select count(*) from ops.deployments) as deployments,
              (select count(*) from ops.exceptions) as exceptions, (select count(*) from ops.event_ingest_log) as ingest`,
    );
    return Object.entries(rows[0] as Record<string, string>)
      .map(([k, v]) => `${Number(v).toLocaleString('en-US')} ${k}`)
      .join(', ');
  } finally {
    await c.end();
  }
}

// ---- Measuring ---------------------------------------------------------------------------------

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Measured {
  name: string;
  p50: number;
  p99: number;
  statements: number[];
}

async function main(): Promise<void> {
  const started = performance.now();
  const external = process.env.DATABASE_URL;
  const dataDir = path.join(projectRoot, '.data', `bench-reads-${process.pid}`);
  log(`read benchmark${short ? ' (short)' : ''}: ${RELEASES.toLocaleString('en-US')} releases`);
  // npm run sets NODE_ENV=production, as deployed: graphql-js then skips its development-only checks.
  log(`  NODE_ENV=${process.env.NODE_ENV ?? '(unset)'}, server configured for production`);
  const db = await openDatabase({
    databaseUrl: external,
    dataDir,
    embeddedPort: 30000 + Math.floor(Math.random() * 20000),
    databaseName: 'ops_bench',
  });
  const pool = benchPool(db.apiUrl, 4);
  const seen: string[] = [];
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      seen.push(typeof args[0] === 'string' ? args[0] : '?');
      return query(...args);
    };
  });
  const server = readsServer(pool, SECRET);
  const http = server.http;
  try {
    const seedStart = performance.now();
    await seed(db.adminUrl, RELEASES);
    log(`  seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s: ${await counts(db.adminUrl)}`);

    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-dashboard' });
    const post = async (query: string, variables: Record<string, unknown>) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      throwIfUnanswered(response.status, 'graphql');
      const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
      if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    const baseline = async (kind: 'list' | 'release', arg: unknown) => {
      const response = await fetch(url.replace(/\/graphql$/, '/bench/baseline'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ kind, arg }),
      });
      throwIfUnanswered(response.status, 'baseline');
      if (response.status !== 200) throw new Error(`baseline answered ${response.status}`);
      return ((await response.json()) as { data: unknown }).data;
    };

    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    const promoted = (
      await admin.query<{ release_id: string }>(
        `select release_id from ops.releases where project like $1 and status = 'promoted' order by random() limit 50`,
        [`bench-${run}-%`],
      )
    ).rows.map((r) => r.release_id);
    await admin.end();

    // A request that got no answer in time (a busy machine) is left out and counted; a wrong
    // answer ends the run (bench/lib.ts, Unanswered).
    let unanswered = 0;
    const attempt = async (call: () => Promise<unknown>): Promise<boolean> => {
      try {
        await call();
        return true;
      } catch (caught) {
        const err = asUnanswered(caught);
        if (!(err instanceof Unanswered)) throw err;
        unanswered++;
        return false;
      }
    };
    const timed = async (call: () => Promise<unknown>, into: { times: number[]; statements: number[] }) => {
      seen.length = 0;
      const t0 = performance.now();
      if (!(await attempt(call))) return;
      into.times.push(performance.now() - t0);
      into.statements.push(seen.length);
    };
    const summary = (name: string, m: { times: number[]; statements: number[] }): Measured => {
      const times = [...m.times].sort((a, b) => a - b);
      return { name, p50: percentile(times, 50), p99: percentile(times, 99), statements: m.statements };
    };
    const measure = async (name: string, call: (i: number) => Promise<unknown>): Promise<Measured> => {
      for (let i = 0; i < WARMUP; i++) await attempt(() => call(i));
      const m = { times: [] as number[], statements: [] as number[] };
      for (let i = 0; i < ITERATIONS; i++) await timed(() => call(i), m);
      return summary(name, m);
    };
    // GraphQL and its baseline alternate request by request (each going first every other time),
    // so both see the same load on a shared machine and their ratio stays meaningful.
    const measurePair = async (
      names: [string, string],
      graphql: (i: number) => Promise<unknown>,
      base: (i: number) => Promise<unknown>,
    ): Promise<[Measured, Measured]> => {
      for (let i = 0; i < WARMUP; i++) {
        await attempt(() => graphql(i));
        await attempt(() => base(i));
      }
      const g = { times: [] as number[], statements: [] as number[] };
      const b = { times: [] as number[], statements: [] as number[] };
      for (let i = 0; i < ITERATIONS; i++) {
        if (i % 2 === 0) {
          await timed(() => graphql(i), g);
          await timed(() => base(i), b);
        } else {
          await timed(() => base(i), b);
          await timed(() => graphql(i), g);
        }
      }
      return [summary(names[0], g), summary(names[1], b)];
    };

    const dashboard = print(ReleaseDashboardDocument);
    const [dashboardPage, dashboardBaseline] = await measurePair(
      [`dashboard: ${PAGE} releases, gates, eligibility`, 'baseline SQL: dashboard page'],
      () => post(dashboard, { first: PAGE }),
      () => baseline('list', PAGE),
    );
    const [oneRelease, oneReleaseBaseline] = await measurePair(
      ['one release: gates, checks, approvals, evidence', 'baseline SQL: one release'],
      (i) => post(ONE_RELEASE, { id: promoted[i % promoted.length] }),
      (i) => baseline('release', promoted[i % promoted.length]),
    );
    const results = [
      dashboardPage,
      await measure('one release timeline', (i) =>
        post(print(ReleaseTimelineDocument), { releaseId: promoted[i % promoted.length] }),
      ),
      await measure('exception status, first 50', () => post(print(ExceptionStatusDocument), { first: 50 })),
      oneRelease,
      dashboardBaseline,
      oneReleaseBaseline,
    ];

    // The same page at 5 and at 100 releases: constant statements means no query per release.
    const statementsFor = async (first: number) => {
      seen.length = 0;
      return (await attempt(() => post(dashboard, { first }))) ? seen.length : Number.NaN;
    };
    const [few, many] = [await statementsFor(5), await statementsFor(100)];

    log('');
    log(`${'query'.padEnd(44)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}  statements/request`);
    for (const r of results) {
      const lo = Math.min(...r.statements);
      const hi = Math.max(...r.statements);
      log(
        `${r.name.padEnd(44)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)}  ${lo === hi ? lo : `${lo}-${hi}`}`,
      );
    }
    const d = results[0]!;
    const constant = few === many && Math.min(...d.statements) === Math.max(...d.statements);
    // A query that completed no request measured nothing: "not measured", never "met".
    const measured = d.statements.length > 0;
    const met = measured && d.p50 < TARGET_P50_MS && constant;
    log('');
    log(
      `dashboard first page with ${RELEASES.toLocaleString('en-US')} releases: p50 ${d.p50.toFixed(1)} ms ` +
        `(target < ${TARGET_P50_MS} ms), ${d.statements[0]} statements per request ` +
        `(${few} for 5 releases, ${many} for 100: ${constant ? 'constant' : 'NOT constant'}) -> target ${
          !measured ? 'not measured (no request completed)' : met ? 'met' : 'NOT met'
        }`,
    );
    // Throughput ratios (baseline p50 / GraphQL p50, measured alternately): 1.0 means GraphQL costs nothing above the
    // one hand-written statement; the goal is >= 0.8.
    const ratio = (graphql: Measured, base: Measured) =>
      graphql.statements.length && base.statements.length
        ? (base.p50 / graphql.p50).toFixed(2)
        : 'not measured';
    log(
      `GraphQL/baseline (throughput, from p50): dashboard page ${ratio(d, results[4]!)}, one release ${ratio(results[3]!, results[5]!)}`,
    );
    if (unanswered)
      log(`${unanswered} requests got no answer in time (busy machine); left out of the figures`);
    log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    await server.close();
    await pool.end();
    await db.stop();
    if (!external) {
      rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

// ---- Growth: the same page at ten times the releases -------------------------------------------

/**
 * The dashboard page (GraphQL) at SMALL and at LARGE releases: two databases in one embedded
 * cluster, each seeded as above and served by its own server, measured alternately request by
 * request. Prints p50 of each and small/large as a throughput ratio (1.0: flat; the goal >= 0.9).
 */
async function growth(): Promise<void> {
  const started = performance.now();
  const SMALL = short ? 1_000 : 10_000;
  const LARGE = short ? 10_000 : 100_000;
  const dataDir = path.join(projectRoot, '.data', `bench-reads-growth-${process.pid}`);
  log(
    `read benchmark, growth: the dashboard page at ${SMALL.toLocaleString('en-US')} and ${LARGE.toLocaleString('en-US')} releases`,
  );
  log(`  machine: ${machine()}`);
  if (process.env.DATABASE_URL) {
    log('  growth mode needs the embedded PostgreSQL (two databases of its own): unset DATABASE_URL');
    return;
  }
  const port = 30000 + Math.floor(Math.random() * 20000);
  const small = await openDatabase({ dataDir, embeddedPort: port, databaseName: 'ops_bench_small' });
  // The second database in the same cluster, migrated the same way, the same request role.
  const large = await (async () => {
    const admin = new pg.Client({ connectionString: small.adminUrl });
    await admin.connect();
    try {
      await admin.query('create database ops_bench_large');
    } finally {
      await admin.end();
    }
    const api = new URL(small.apiUrl);
    const password = decodeURIComponent(api.password);
    const adminUrl = withCredentials(
      small.adminUrl,
      'postgres',
      decodeURIComponent(new URL(small.adminUrl).password),
      'ops_bench_large',
    );
    await prepareDatabase(adminUrl, password);
    return {
      adminUrl,
      apiUrl: withCredentials(small.apiUrl, decodeURIComponent(api.username), password, 'ops_bench_large'),
    };
  })();
  const servers: { close: () => Promise<void> }[] = [];
  try {
    for (const [db, n] of [
      [small, SMALL],
      [large, LARGE],
    ] as const) {
      const t0 = performance.now();
      await seed(db.adminUrl, n);
      log(`  seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${await counts(db.adminUrl)}`);
    }
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-dashboard' });
    const serve = async (apiUrl: string) => {
      const pool = benchPool(apiUrl, 4);
      const server = readsServer(pool, SECRET);
      const http = server.http;
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      servers.push({
        close: async () => {
          await server.close();
          await pool.end();
        },
      });
      return `http://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
    };
    const urls = [await serve(small.apiUrl), await serve(large.apiUrl)] as const;
    const dashboard = print(ReleaseDashboardDocument);
    let unanswered = 0;
    const page = async (url: string): Promise<number | null> => {
      const t0 = performance.now();
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ query: dashboard, variables: { first: PAGE } }),
        });
        throwIfUnanswered(response.status, 'graphql');
        const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
        if (body.errors?.length) throw new Error(JSON.stringify(body.errors));
        return performance.now() - t0;
      } catch (caught) {
        const err = asUnanswered(caught);
        if (!(err instanceof Unanswered)) throw err;
        unanswered++;
        return null;
      }
    };
    for (let i = 0; i < WARMUP; i++) for (const url of urls) await page(url);
    const times: [number[], number[]] = [[], []];
    for (let i = 0; i < ITERATIONS; i++) {
      const order = i % 2 === 0 ? [0, 1] : [1, 0];
      for (const k of order) {
        const t = await page(urls[k]!);
        if (t !== null) times[k]!.push(t);
      }
    }
    const p50 = times.map((t) =>
      percentile(
        [...t].sort((a, b) => a - b),
        50,
      ),
    );
    const p99 = times.map((t) =>
      percentile(
        [...t].sort((a, b) => a - b),
        99,
      ),
    );
    log('');
    log(`${'dashboard page (first 20)'.padEnd(36)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
    log(
      `${`at ${SMALL.toLocaleString('en-US')} releases`.padEnd(36)} ${p50[0]!.toFixed(1).padStart(8)} ${p99[0]!.toFixed(1).padStart(8)}`,
    );
    log(
      `${`at ${LARGE.toLocaleString('en-US')} releases`.padEnd(36)} ${p50[1]!.toFixed(1).padStart(8)} ${p99[1]!.toFixed(1).padStart(8)}`,
    );
    const measured = times[0]!.length > 0 && times[1]!.length > 0;
    log(
      `growth (throughput at ${LARGE.toLocaleString('en-US')} / at ${SMALL.toLocaleString('en-US')}, from p50): ${
        measured ? (p50[0]! / p50[1]!).toFixed(2) : 'not measured'
      } (goal >= 0.9)`,
    );
    if (unanswered)
      log(`${unanswered} requests got no answer in time (busy machine); left out of the figures`);
    log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    for (const s of servers) await s.close();
    await small.stop();
    rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// Run when executed (npm run bench:reads), not when imported.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await (growthMode ? growth() : main());
