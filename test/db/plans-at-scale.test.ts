// Plans at scale: on a database of thousands of releases and their facts (ANALYZEd), every
// statement the hot paths run, nested statements included, is planned to read the rows of the
// release it is about, never a whole fact table. The plans are captured with auto_explain, set on
// the test database itself (session_preload_libraries and its settings), so they arrive as NOTICE
// messages on the connection that ran them: the API's own pool (authenticator, SET ROLE to a
// persona) as the server uses it. Each hot path is driven by its persona through its real door:
// the ingest route for every event type, the GraphQL mutations and reads, and ops.promotion_blockers
// and the eligibility view as a persona's SQL.
//
// A plan that reads a whole table with at least MIN_ROWS rows (pg_class.reltuples after ANALYZE)
// fails the test, naming the step, the statement and the plan line. Tables of policy and
// definitions (a few rows) may be scanned. Nothing here measures time.
//
// The last test shows the check sees the kind of plan it exists for: the gate evaluation as it was
// before 20261204190000 (its computed gates joined to ops.release_gates by gate id only, planned
// for 1,000 rows) reads the whole gate table on one ingest event.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSql } from '../../bench/reads.js';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { withPersona } from '../../src/db/with-persona.js';
import {
  ApprovalRequestsDocument,
  ApproveExceptionDocument,
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  DeploymentHistoryDocument,
  EvidenceCompletenessDocument,
  ExceptionStatusDocument,
  ExceptionsDocument,
  IngestLogDocument,
  PromoteReleaseDocument,
  PromotionEligibilitiesDocument,
  PromotionEligibilityDocument,
  RecordCheckDocument,
  RecordHealthCheckDocument,
  ReleaseByNameDocument,
  ReleaseDashboardDocument,
  ReleaseEvidenceBundleDocument,
  ReleaseGateSummaryDocument,
  ReleaseHealthDocument,
  ReleaseIdsDocument,
  ReleaseTimelineDocument,
  ReleaseTimingDocument,
  RequestExceptionDocument,
  UpdateDeploymentDocument,
} from '../../src/gql/graphql.js';
import { INGEST_PATH } from '../../src/server.js';
import { EVENT_TYPES } from '../../src/vocabulary.js';
import { createTestApi, expectData, okData, TEST_SECRET, type TestApi } from '../graphql/client.js';
import { actAs, identity, type TestDatabase, useTestDatabase } from '../support/db.js';

/** Releases of other people: about 10,000 gates, 40,000 checks, 7,000 artifacts, 2,000 deployments. */
const RELEASES = 2_500;
/** A table with at least this many rows (reltuples) must never be read whole. */
const MIN_ROWS = 1_000;

const people = {
  developer: { persona: 'developer', sub: 'dev-dana' },
  ci: { persona: 'ci_service_role', sub: 'ci-github-actions' },
  qa: { persona: 'qa_tester', sub: 'qa-quinn' },
  rm: { persona: 'release_manager', sub: 'rm-rita' },
  rm2: { persona: 'release_manager', sub: 'rm-rob' },
  sre: { persona: 'sre', sub: 'sre-sam' },
  auditor: { persona: 'audit_reader', sub: 'audit-ada' },
} as const satisfies Record<string, { persona: Persona; sub: string }>;

/**
 * Facts the bench seed leaves out, set-based, for the seeded releases: their first revision, a
 * ledger chain of three entries each, two dispatched outbox events, an environment event, and the
 * live production deployments. (The seed runs with triggers off, so nothing writes these for it.)
 */
const EXTRA_SEED = [
  `insert into ops.release_revisions (release_id, revision, source_ref, reason, revised_by, created_at, created_by,
                                      created_persona)
   select r.release_id, 1, r.source_ref, 'created', r.created_by, r.created_at, r.created_by, 'developer'
   from ops.releases r`,
  `insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash)
   select r.release_id, r.release_id, 3, md5(r.release_id::text) || md5(r.release_name) from ops.releases r`,
  `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
   select r.release_id, k, 'releases', r.release_id, case when k = 1 then 'insert' else 'update' end,
          md5(k || r.release_id::text) || md5(r.release_name), md5((k - 1) || r.release_id::text) || md5(r.release_name),
          case when k = 3 then md5(r.release_id::text) || md5(r.release_name)
               else md5(k || r.release_name) || md5(r.release_id::text) end
   from ops.releases r cross join generate_series(1, 3) k`,
  `insert into ops.outbox_events (kind, release_id, project, source_table, source_id, actor, change, created_at,
                                  dispatched_at)
   select 'release.status_changed', r.release_id, r.project, 'releases', r.release_id, r.created_by,
          jsonb_build_object('status', r.status), r.created_at + k * interval '1 minute',
          r.created_at + k * interval '1 minute'
   from ops.releases r cross join generate_series(1, 2) k`,
  `insert into ops.environment_events (environment, event_type, source_system, release_id, payload, idempotency_key,
                                       created_at, created_by, created_persona)
   select 'staging', 'maintenance', 'monitoring', r.release_id, '{}', 'seed/' || r.release_id, r.created_at,
          'sre-bench', 'sre'
   from ops.releases r`,
  `insert into ops.live_production_deployments (release_id, deployment_id)
   select distinct on (d.release_id) d.release_id, d.deployment_id
   from ops.deployments d
   where d.environment = 'production' and d.rollback_of is null and d.status in ('in_progress', 'succeeded')
     and not exists (select 1 from ops.deployments r where r.rollback_of = d.deployment_id)
   order by d.release_id, d.deployed_at desc, d.created_at desc`,
];

/** auto_explain for every session of the database, its plans sent to the client as NOTICEs. */
const AUTO_EXPLAIN: [string, string][] = [
  ['session_preload_libraries', 'auto_explain'],
  ['auto_explain.log_min_duration', '0'],
  ['auto_explain.log_nested_statements', 'on'],
  ['auto_explain.log_verbose', 'on'],
  ['auto_explain.log_level', 'notice'],
];

interface Plan {
  step: string;
  text: string;
}

interface Offender {
  step: string;
  table: string;
  rows: number;
  line: string;
  statement: string;
}

const SEQ_SCAN = /\b(?:Parallel )?Seq Scan on (\w+)\.(\w+)/;

/** The whole-table reads of big ops tables in the plans, with the statement each came from. */
function offenders(plans: readonly Plan[], big: ReadonlyMap<string, number>): Offender[] {
  const found: Offender[] = [];
  for (const plan of plans) {
    const statement = /Query Text: ([\s\S]*?)\n(?=\S)/.exec(plan.text)?.[1]?.trim() ?? '(no query text)';
    for (const line of plan.text.split('\n')) {
      const m = SEQ_SCAN.exec(line);
      if (m?.[1] !== 'ops') continue;
      const rows = big.get(m[2]!);
      if (rows === undefined) continue;
      found.push({ step: plan.step, table: m[2]!, rows, line: line.trim(), statement });
    }
  }
  return found;
}

function report(found: readonly Offender[]): string {
  return found
    .map(
      (o) =>
        `[${o.step}] reads all of ops.${o.table} (${o.rows} rows): ${o.line}\n    statement: ${o.statement
          .replace(/\s+/g, ' ')
          .slice(0, 600)}`,
    )
    .join('\n');
}

let db: TestDatabase;
let api: TestApi;
let sqlPool: pg.Pool;
let big: Map<string, number>;
const plans: Plan[] = [];
let step = 'setup';

/** Collects the plans a pool's connections receive, labelled with the step that ran them. */
function capture(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    client.on('notice', (n) => {
      if (n.message?.includes('Query Text:')) plans.push({ step, text: n.message });
    });
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    for (const sql of [...seedSql(RELEASES), ...EXTRA_SEED]) await c.query(sql);
    await c.query('commit');
    await c.query('analyze');
    for (const [name, value] of AUTO_EXPLAIN)
      await c.query(`alter database "${db.name}" set ${name} = '${value}'`);
    const { rows } = await c.query<{ relname: string; reltuples: number }>(
      `select c.relname, c.reltuples::float8 as reltuples from pg_catalog.pg_class c
       join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'ops' and c.relkind in ('r', 'p', 'm') and c.reltuples >= $1`,
      [MIN_ROWS],
    );
    big = new Map(rows.map((r) => [r.relname, Math.round(r.reltuples)]));
  } finally {
    c.release();
  }
  // The server's pool and a persona pool for SQL, both the API's login, connected from here on.
  const apiPool = new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  capture(apiPool);
  api = createTestApi(db, { pool: apiPool });
  sqlPool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
  capture(sqlPool);
}, 180_000);

afterAll(async () => {
  await api?.close();
  await api?.pool.end();
  await sqlPool?.end();
});

type Who = { persona: Persona; sub: string };

/** One event through the ingest route (POST /functions/v1/ops-event-ingest) with the persona's token. */
async function ingest(
  who: Who,
  body: Record<string, unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const token = await mintToken({ secret: TEST_SECRET, persona: who.persona, sub: who.sub });
  const res = await api.server.fetch(
    new Request(`http://ops.test${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    }),
  );
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

let key = 0;
function envelope(releaseId: string, eventType: string, payload: Record<string, unknown>, gate?: string) {
  return {
    schema_version: 'v1.0',
    idempotency_key: `plans-at-scale/${releaseId}/${eventType}/${key++}`,
    event_type: eventType,
    source_system: 'github_actions',
    release_id: releaseId,
    ...(gate ? { gate_code: gate } : {}),
    payload,
    emitted_at: new Date().toISOString(),
  };
}

/** The event types sent through the ingest route. */
const sentTypes = new Set<unknown>();

/** Sends the event and expects it accepted (or, for a resend, answered as a duplicate). */
async function accepted(who: Who, body: Record<string, unknown>, expected = 'accepted') {
  sentTypes.add(body.event_type);
  const reply = await ingest(who, body);
  expect(reply.status, JSON.stringify(reply.body)).toBeLessThan(300);
  expect(reply.body.status, JSON.stringify(reply.body)).toBe(expected);
  return reply.body as { status: string; detail?: Record<string, unknown> };
}

const ONE_RELEASE = parse(`query OneRelease($id: ID!) {
  release(id: $id) {
    id project releaseName status
    gates { gateCode status checks { checkName status } approvals { approverId decision } evidence { artifactType } }
  }
}`);

async function createRelease(name: string): Promise<string> {
  const r = await api.executeOperation({
    operation: CreateReleaseDocument,
    variables: { input: { project: 'odoo-scale', releaseName: name, sourceRef: `refs/tags/${name}` } },
    ...people.developer,
  });
  return okData(r.data?.createRelease).id!;
}

describe('plans on a database of thousands of releases', () => {
  it('seeded: the fact tables are big enough to be judged', () => {
    for (const table of [
      'releases',
      'release_gates',
      'gate_checks',
      'approvals',
      'evidence_artifacts',
      'deployments',
      'event_ingest_log',
      'ledger_entries',
      'outbox_events',
    ])
      expect(big.get(table), table).toBeGreaterThanOrEqual(MIN_ROWS);
  });

  it('every statement of the hot paths reads only the rows it is about', async () => {
    // ---- A release walked to production, each step by its persona through its door.
    step = 'graphql createRelease';
    const releaseId = await createRelease('scale-walk');

    step = 'ingest build_complete';
    const build = envelope(
      releaseId,
      'build_complete',
      { status: 'pass', check_name: 'build', log_url: 'https://ci.example/build/1' },
      'G1',
    );
    await accepted(people.ci, build);
    step = 'ingest build_complete resent';
    await accepted(people.ci, build, 'duplicate');
    step = 'ingest check_result';
    await accepted(
      people.ci,
      envelope(releaseId, 'check_result', { check_name: 'lint', status: 'pass' }, 'G1'),
    );
    step = 'graphql recordCheck';
    okData(
      (
        await api.executeOperation({
          operation: RecordCheckDocument,
          variables: { input: { releaseId, gateCode: 'G1', checkName: 'unit-tests', status: 'pass' } },
          ...people.ci,
        })
      ).data?.recordCheck,
    );
    step = 'ingest evidence_attached';
    await accepted(
      people.qa,
      envelope(
        releaseId,
        'evidence_attached',
        { artifact_type: 'test_result', artifact_url: 'https://ci.example/junit.xml' },
        'G2',
      ),
    );
    step = 'ingest gate_signoff';
    await accepted(people.qa, envelope(releaseId, 'gate_signoff', { decision: 'approved' }, 'G2'));
    step = 'graphql attachEvidence';
    okData(
      (
        await api.executeOperation({
          operation: AttachEvidenceDocument,
          variables: {
            input: {
              releaseId,
              gateCode: 'G3',
              artifactType: 'rollback_plan',
              artifactUrl: 'https://wiki.example/rollback',
            },
          },
          ...people.rm,
        })
      ).data?.attachEvidence,
    );
    step = 'graphql approveGate';
    okData(
      (
        await api.executeOperation({
          operation: ApproveGateDocument,
          variables: { input: { releaseId, gateCode: 'G3', decision: 'approved' } },
          ...people.rm,
        })
      ).data?.approveGate,
    );

    step = 'graphql promoteRelease';
    const staging = okData(
      (
        await api.executeOperation({
          operation: PromoteReleaseDocument,
          variables: { input: { releaseId, environment: 'staging' } },
          ...people.rm,
        })
      ).data?.promoteRelease,
    ).id!;
    step = 'ingest deployment_event (update)';
    await accepted(
      people.ci,
      envelope(releaseId, 'deployment_event', { deployment_id: staging, status: 'succeeded' }),
    );
    step = 'ingest health_check';
    await accepted(
      people.sre,
      envelope(releaseId, 'health_check', { environment: 'staging', status: 'pass' }),
    );
    step = 'ingest deployment_event (new)';
    const production = (
      await accepted(
        people.ci,
        envelope(releaseId, 'deployment_event', { environment: 'production', status: 'in_progress' }),
      )
    ).detail?.deployment_id as string;
    expect(production).toMatch(/^[0-9a-f-]{36}$/);
    step = 'graphql updateDeployment';
    okData(
      (
        await api.executeOperation({
          operation: UpdateDeploymentDocument,
          variables: { input: { deploymentId: production, status: 'succeeded' } },
          ...people.ci,
        })
      ).data?.updateDeployment,
    );
    step = 'graphql recordHealthCheck';
    const health = okData(
      (
        await api.executeOperation({
          operation: RecordHealthCheckDocument,
          variables: { input: { deploymentId: production, status: 'pass', checkName: 'smoke' } },
          ...people.sre,
        })
      ).data?.recordHealthCheck,
    );
    expect(health.g4Status).toBe('passed');
    step = 'ingest environment_event';
    await accepted(
      people.sre,
      envelope(releaseId, 'environment_event', { environment: 'production', kind: 'maintenance' }),
    );

    // ---- An exception, requested and approved.
    step = 'graphql createRelease';
    const other = await createRelease('scale-exception');
    step = 'graphql requestException';
    const exceptionId = okData(
      (
        await api.executeOperation({
          operation: RequestExceptionDocument,
          variables: {
            input: {
              releaseId: other,
              exceptionType: 'gate_bypass',
              impactedGates: ['G2'],
              reason: 'flaky suite',
              riskStatement: 'low',
              expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
            },
          },
          ...people.qa,
        })
      ).data?.requestException,
    ).id!;
    step = 'graphql approveException';
    okData(
      (
        await api.executeOperation({
          operation: ApproveExceptionDocument,
          variables: { input: { exceptionId } },
          ...people.rm2,
        })
      ).data?.approveException,
    );

    // ---- Eligibility as a persona's SQL: the blockers and the view.
    step = 'sql ops.promotion_blockers';
    await withPersona(sqlPool, identity('release_manager', 'rm-rita'), async (c) => {
      await c.query('select * from ops.promotion_blockers($1)', [other]);
      await c.query('select * from ops.promotion_blockers($1, $2)', [other, 'production']);
    });
    step = 'sql v_promotion_eligibility';
    await withPersona(sqlPool, identity('audit_reader', 'audit-ada'), async (c) => {
      const { rows } = await c.query('select * from ops.v_promotion_eligibility where release_id = $1', [
        releaseId,
      ]);
      expect(rows).toHaveLength(1);
    });

    // ---- The reads.
    const reads: [string, () => Promise<unknown>][] = [
      [
        'graphql promotionEligibility',
        () =>
          api.executeOperation({
            operation: PromotionEligibilityDocument,
            variables: { releaseId: other, environment: 'production' },
            ...people.auditor,
          }),
      ],
      [
        'graphql dashboard page',
        () =>
          api.executeOperation({
            operation: ReleaseDashboardDocument,
            variables: { first: 20 },
            ...people.rm,
          }),
      ],
      [
        'graphql dashboard page of a project',
        () =>
          api.executeOperation({
            operation: ReleaseDashboardDocument,
            variables: { first: 20, filter: { project: 'bench-x-3' } },
            ...people.rm,
          }),
      ],
      [
        'graphql releases, as a developer',
        () =>
          api.executeOperation({
            operation: ReleaseIdsDocument,
            variables: { first: 20 },
            ...people.developer,
          }),
      ],
      [
        'graphql releases of a project',
        () =>
          api.executeOperation({
            operation: ReleaseIdsDocument,
            variables: { first: 20, filter: { project: 'odoo-scale' } },
            ...people.qa,
          }),
      ],
      [
        'graphql release health',
        () =>
          api.executeOperation({
            operation: ReleaseHealthDocument,
            variables: { id: releaseId },
            ...people.ci,
          }),
      ],
      [
        'graphql release by name',
        () =>
          api.executeOperation({
            operation: ReleaseByNameDocument,
            variables: { project: 'odoo-scale', name: 'scale-walk' },
            ...people.auditor,
          }),
      ],
      [
        'graphql release timing',
        () =>
          api.executeOperation({ operation: ReleaseTimingDocument, variables: { releaseId }, ...people.rm }),
      ],
      [
        'graphql approval requests',
        () =>
          api.executeOperation({
            operation: ApprovalRequestsDocument,
            variables: { releaseId },
            ...people.rm,
          }),
      ],
      [
        'graphql evidence bundle',
        () =>
          api.executeOperation({
            operation: ReleaseEvidenceBundleDocument,
            variables: { releaseId },
            ...people.auditor,
          }),
      ],
      [
        'graphql one release',
        () => api.executeOperation({ operation: ONE_RELEASE, variables: { id: releaseId }, ...people.rm }),
      ],
      [
        'graphql timeline',
        () =>
          api.executeOperation({
            operation: ReleaseTimelineDocument,
            variables: { releaseId },
            ...people.rm,
          }),
      ],
      [
        'graphql exception status',
        () =>
          api.executeOperation({
            operation: ExceptionStatusDocument,
            variables: { first: 50 },
            ...people.rm,
          }),
      ],
      [
        'graphql exceptions of a release',
        () =>
          api.executeOperation({
            operation: ExceptionsDocument,
            variables: { releaseId: other },
            ...people.rm,
          }),
      ],
      [
        'graphql promotionEligibilities',
        () =>
          api.executeOperation({
            operation: PromotionEligibilitiesDocument,
            variables: { first: 20 },
            ...people.rm,
          }),
      ],
      [
        'graphql releaseGateSummary',
        () =>
          api.executeOperation({
            operation: ReleaseGateSummaryDocument,
            variables: { first: 20 },
            ...people.rm,
          }),
      ],
      [
        'graphql evidenceCompleteness',
        () =>
          api.executeOperation({
            operation: EvidenceCompletenessDocument,
            variables: { first: 20 },
            ...people.rm,
          }),
      ],
      [
        'graphql deploymentHistory',
        () =>
          api.executeOperation({
            operation: DeploymentHistoryDocument,
            variables: { first: 20 },
            ...people.sre,
          }),
      ],
      [
        'graphql ingestLog',
        () => api.executeOperation({ operation: IngestLogDocument, variables: { first: 20 }, ...people.rm }),
      ],
    ];
    for (const [name, read] of reads) {
      step = name;
      expectData((await read()) as Parameters<typeof expectData>[0]);
    }

    // Every event type the ingest accepts went through it; every step left plans, the gate
    // evaluation's among them.
    expect([...sentTypes].sort()).toEqual([...EVENT_TYPES].sort());
    const steps = new Set(plans.map((p) => p.step));
    for (const name of ['ingest build_complete', 'graphql approveException', 'graphql dashboard page'])
      expect(steps.has(name), `no plans captured for ${name}`).toBe(true);
    expect(
      plans.some((p) => /ops\.release_gates/.test(p.text) && /evaluate|compute_release_gates/.test(p.text)),
    ).toBe(true);

    const found = offenders(plans, big);
    expect(found, `whole-table reads of big ops tables:\n${report(found)}`).toEqual([]);
  }, 300_000);

  it('sees a whole-table read: the gate evaluation joined by gate id alone (before 20261204190000)', async () => {
    const file = readFileSync(
      path.join(
        projectRoot,
        'supabase/migrations/20261201000100_ops_ingest_hot_path_plans_and_blockers_once.sql',
      ),
      'utf8',
    );
    const previous = /create or replace function ops\.evaluate_release\([\s\S]*?\n\$\$;/.exec(file)?.[0];
    expect(previous).toContain('join ops.release_gates g on g.gate_id = x.gate_id;');
    const releaseId = await createRelease('scale-previous');
    // A new session of the database (auto_explain loaded), the change rolled back afterwards.
    const client = new pg.Client({ connectionString: db.adminUrl });
    const seen: Plan[] = [];
    client.on('notice', (n) => {
      if (n.message?.includes('Query Text:')) seen.push({ step: 'previous evaluation', text: n.message });
    });
    await client.connect();
    try {
      await client.query('begin');
      await client.query(previous!);
      await client.query('alter function ops.compute_release_gates(uuid) rows 1000');
      await actAs(client, 'ci_service_role', 'ci-github-actions');
      const { rows } = await client.query('select ops.ingest_event($1::jsonb) as r', [
        JSON.stringify(envelope(releaseId, 'check_result', { check_name: 'lint', status: 'pass' }, 'G1')),
      ]);
      expect(rows[0].r.status).toBe('accepted');
      await client.query('rollback');
    } finally {
      await client.end();
    }
    const found = offenders(seen, big);
    expect(found.map((o) => o.table)).toContain('release_gates');
  }, 120_000);
});
