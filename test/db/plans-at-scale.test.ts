// Plans at scale: on a database of thousands of releases and their facts (ANALYZEd), every
// statement the hot paths run, nested statements included, is planned to read the rows of the
// release it is about, never a whole fact table. The plans are captured with auto_explain, set on
// the test database itself (session_preload_libraries and its settings), so they arrive as NOTICE
// messages on the connection that ran them: the API's own pool (authenticator, SET ROLE to a
// persona) as the server uses it, and the owner's pool as the jobs use it. Each path is driven by
// its persona through its real door: the ingest route for every event type, every GraphQL
// mutation of the schema (the test fails if one is not sent) and the reads, a subscription's event
// stream, ops.promotion_blockers and the eligibility view as a persona's SQL, and the deadline
// sweep, the webhook dispatcher and the batch delivery job as the worker runs them.
//
// A plan that reads a whole table with at least MIN_ROWS rows (pg_class.reltuples after ANALYZE)
// fails the test, naming the step, the statement and the plan line: a sequential read, or a read
// through an index that took at least half the table's rows (the rows each node actually read,
// auto_explain's log_analyze without timing). Tables of policy and definitions (a few rows) may be
// read whole. Nothing here measures time.
//
// The last tests show the check sees the kinds of plan it exists for: the gate evaluation as it
// was before 20261204190000 (its computed gates joined to ops.release_gates by gate id only,
// planned for 1,000 rows) reads the whole gate table on one ingest event, sequentially, or through
// an index once sequential reads are priced out.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, type DocumentNode, parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedSql } from '../../bench/reads.js';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { withPersona } from '../../src/db/with-persona.js';
import {
  AddFreezeWindowDocument,
  AddWebhookDocument,
  ApprovalRequestsDocument,
  ApproveExceptionDocument,
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  DeploymentByIdDocument,
  DeploymentHistoryDocument,
  EndFreezeWindowDocument,
  EvidenceCompletenessDocument,
  ExceptionStatusDocument,
  ExceptionsDocument,
  IngestEventDocument,
  IngestLogDocument,
  InstallPolicyPackDocument,
  LedgerVerificationDocument,
  PromoteReleaseDocument,
  PromotionEligibilitiesDocument,
  PromotionEligibilityDocument,
  RecordCheckDocument,
  RecordDeploymentDocument,
  RecordHealthCheckDocument,
  RecordIncidentDocument,
  RecordRecoveryDrillDocument,
  RecordReleaseScopeDocument,
  RecoveryDrillsDocument,
  ReleaseByNameDocument,
  ReleaseDashboardDocument,
  ReleaseEventsDocument,
  ReleaseEvidenceBundleDocument,
  ReleaseGateSummaryDocument,
  ReleaseHealthDocument,
  ReleaseIdsDocument,
  ReleaseRevisionsDocument,
  ReleaseTimelineDocument,
  ReleaseTimingDocument,
  RemoveWebhookDocument,
  RequestApprovalDocument,
  RequestExceptionDocument,
  ReviewExceptionDocument,
  ReviseReleaseDocument,
  SetDeadlinePolicyDocument,
  SetSoakPolicyDocument,
  SignedEvidenceBundleDocument,
  UpdateDeploymentDocument,
  WebhookDeliveriesDocument,
} from '../../src/gql/graphql.js';
import { createLogger } from '../../src/logger.js';
import { INGEST_PATH } from '../../src/server.js';
import { recordDeadlineTransitions } from '../../src/timing/deadline-job.js';
import { EVENT_TYPES } from '../../src/vocabulary.js';
import { loadWebhookConfig } from '../../src/webhooks/config.js';
import { DELIVER_TASK, deliverTask, dispatchOutbox, installWorkerSchema } from '../../src/webhooks/worker.js';
import { subscribeSse } from '../events/sse.js';
import {
  createTestApi,
  type ExecuteOptions,
  expectData,
  okData,
  TEST_SECRET,
  type TestApi,
} from '../graphql/client.js';
import { actAs, identity, type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually, type Receiver, startReceiver } from '../webhooks/receiver.js';

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
 * ledger chain of three entries each, twenty dispatched outbox events (50,000 in all, with a
 * delivery and an attempt each: a batch of a hundred is then a small part of each table on every
 * server version, as in production, so a whole-table read of them is a plan for the table's size,
 * not for a test-sized table), an environment event, and the live production deployments. (The seed runs with triggers off, so nothing writes these for it.)
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
   from ops.releases r cross join generate_series(1, 20) k`,
  `insert into ops.environment_events (environment, event_type, source_system, release_id, payload, idempotency_key,
                                       created_at, created_by, created_persona)
   select 'staging', 'maintenance', 'monitoring', r.release_id, '{}', 'seed/' || r.release_id, r.created_at,
          'sre-bench', 'sre'
   from ops.releases r`,
  // The facts of the other paths, so that each of their tables is big enough to be judged: an
  // approval request per release (due, its expiry recorded by the sweep), an exception expired,
  // reviewed and recorded as expired on every other release, a decision's decider, a scope change
  // per release, an incident per production deployment, recovery drills, and a delivered webhook
  // delivery (with its attempt) per outbox event.
  `insert into ops.timing_approval_requests (release_id, gate_code, revision, requested_by, requested_at, due_at,
                                             created_at, created_by, created_persona)
   select r.release_id, 'G2', 1, r.created_by, r.created_at, r.created_at + interval '1 hour', r.created_at,
          r.created_by, 'developer'
   from ops.releases r`,
  `insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at,
                                         created_at, created_by)
   select 'approval_request', q.request_id, q.release_id, q.gate_code, 'expired', 'not decided in time', q.due_at,
          q.due_at, 'postgres'
   from ops.timing_approval_requests q`,
  `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement, requested_by,
                               approver_id, approved_at, effective_from, expires_at, post_review_status, created_at,
                               created_by, created_persona)
   select r.release_id, 'gate_bypass', '{G2}', 'flaky suite', 'low', 'qa-seed', 'rm-seed',
          r.created_at - interval '10 days', r.created_at - interval '10 days', r.created_at - interval '9 days',
          'complete', r.created_at - interval '10 days', 'qa-seed', 'qa_tester'
   from ops.releases r where r.release_name ~ '[13579]$'`,
  `insert into ops.exception_reviews (exception_id, release_id, post_review_status, reviewed_by, reviewer_persona,
                                      reviewed_at)
   select e.exception_id, e.release_id, 'complete', 'rm-seed', 'release_manager', e.expires_at + interval '1 hour'
   from ops.exceptions e where e.post_review_status = 'complete'`,
  `insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at,
                                         created_at, created_by)
   select 'exception', e.exception_id, e.release_id, 'G2', 'expired', 'expired', e.expires_at, e.expires_at, 'postgres'
   from ops.exceptions e where e.post_review_status = 'complete'`,
  `insert into ops.release_deciders (release_id, approver_id, gate_code, persona_role, decision, approval_id, created_at)
   select distinct on (a.release_id, a.approver_id) a.release_id, a.approver_id, g.gate_code, a.persona_role,
          a.decision, a.approval_id, a.created_at
   from ops.approvals a join ops.release_gates g on g.gate_id = a.gate_id
   where g.gate_code in ('G2', 'G3')
   order by a.release_id, a.approver_id, a.created_at`,
  `insert into ops.release_scope_changes (release_id, scope_key, new_value, created_at, created_by, created_persona)
   select r.release_id, 'odoo_modules', '["sale"]', r.created_at, r.created_by, 'developer' from ops.releases r`,
  `insert into ops.incidents (deployment_id, severity, detected_at, resolved_at, root_cause, postmortem_status,
                              created_at, created_by, created_persona)
   select d.deployment_id, 'sev4', d.deployed_at + interval '1 hour', d.deployed_at + interval '2 hours', 'cache',
          'complete', d.deployed_at + interval '1 hour', 'sre-bench', 'sre'
   from ops.deployments d where d.rollback_of is null`,
  `insert into ops.recovery_drills (environment, drill_type, executed_by, executed_at, outcome, restore_validated,
                                    created_at, created_by, created_persona)
   select (case when k % 2 = 0 then 'staging' else 'production' end)::public.ops_environment, 'restore', 'sre-bench',
          now() - k * interval '1 day', 'success', true, now() - k * interval '1 day', 'sre-bench', 'sre'
   from generate_series(1, 1500) k`,
  `insert into ops.webhook_subscriptions (subscription_id, url, project, active, created_at, created_by, removed_at,
                                         removed_by)
   values ('00000000-0000-4000-8000-00000000000a', 'https://hooks.example.com/seed', null, false,
           now() - interval '1 year', 'rm-seed', now() - interval '1 day', 'rm-seed')`,
  `insert into ops.webhook_deliveries (subscription_id, event_id, status, attempts, created_at, last_attempt_at,
                                       delivered_at)
   select '00000000-0000-4000-8000-00000000000a', e.event_id, 'delivered', 1, e.dispatched_at, e.dispatched_at,
          e.dispatched_at
   from ops.outbox_events e`,
  `insert into ops.webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, outcome)
   select d.delivery_id, 1, d.delivered_at, 12, 204, 'delivered' from ops.webhook_deliveries d`,
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
  // The rows each node actually read (no clock readings: the counts are what is judged), as JSON.
  ['auto_explain.log_analyze', 'on'],
  ['auto_explain.log_timing', 'off'],
  ['auto_explain.log_format', 'json'],
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

/** A plan node as auto_explain's JSON format gives it (the fields read here). */
interface PlanNode {
  'Node Type': string;
  Schema?: string;
  'Relation Name'?: string;
  Alias?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  'Recheck Cond'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

const INDEX_SCANS = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Heap Scan']);

/** The rows a scan node read in all its loops (those it returned and those its filters removed). */
function rowsRead(node: PlanNode): number {
  const perLoop =
    (node['Actual Rows'] ?? 0) +
    (node['Rows Removed by Filter'] ?? 0) +
    (node['Rows Removed by Index Recheck'] ?? 0);
  return perLoop * (node['Actual Loops'] ?? 1);
}

/**
 * Why this node reads a whole big table, or null: a sequential scan of it, or an index-driven scan
 * (index, index-only, bitmap heap) that read at least half of its rows, whether it had no index
 * condition at all (a full index scan, e.g. for an ordering) or a condition every row meets.
 */
function wholeTableRead(node: PlanNode, rows: number): string | null {
  const type = node['Node Type'];
  if (type === 'Seq Scan') return 'Seq Scan';
  if (!INDEX_SCANS.has(type)) return null;
  const read = rowsRead(node);
  if (read < MIN_ROWS || read * 2 < rows) return null;
  const cond = node['Index Cond'] ?? node['Recheck Cond'];
  return `${type}${node['Index Name'] ? ` using ${node['Index Name']}` : ''} ${
    cond ? `(cond ${cond})` : '(no condition)'
  } read ${read} rows`;
}

/** The whole-table reads of big ops tables in the plans, with the statement each came from. */
function offenders(plans: readonly Plan[], big: ReadonlyMap<string, number>): Offender[] {
  const found: Offender[] = [];
  for (const plan of plans) {
    const json = plan.text.slice(plan.text.indexOf('{'));
    const explained = JSON.parse(json) as { 'Query Text'?: string; Plan: PlanNode };
    const statement = explained['Query Text']?.trim() ?? '(no query text)';
    const walk = (node: PlanNode): void => {
      const rows = node.Schema === 'ops' ? big.get(node['Relation Name'] ?? '') : undefined;
      const why = rows === undefined ? null : wholeTableRead(node, rows);
      if (why)
        found.push({
          step: plan.step,
          table: node['Relation Name']!,
          rows: rows!,
          line: `${why} on ops.${node['Relation Name']} ${node.Alias ?? ''}`.trim(),
          statement,
        });
      for (const child of node.Plans ?? []) walk(child);
    };
    walk(explained.Plan);
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
/** The owner's pool, as the deadline sweep and the webhook dispatcher and delivery jobs connect. */
let ownerPool: pg.Pool;
let receiver: Receiver;
let big: Map<string, number>;
const plans: Plan[] = [];
let step = 'setup';

/** Collects the plans a pool's connections receive, labelled with the step that ran them. */
function capture(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    client.on('notice', (n) => {
      if (n.message?.includes('"Query Text":')) plans.push({ step, text: n.message });
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
  // The job library's schema (ops.webhook_dispatch queues its jobs there), before the plans are read.
  await installWorkerSchema(db.adminUrl);
  const apiPool = new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  capture(apiPool);
  const server = createTestApi(db, { pool: apiPool });
  // Every GraphQL mutation sent is noted, so that the test knows which ones it has driven.
  api = {
    ...server,
    executeOperation: <TData, TVariables>(options: ExecuteOptions<TData, TVariables>) => {
      for (const name of mutationsOf(options.operation)) drivenMutations.add(name);
      return server.executeOperation(options);
    },
  };
  sqlPool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
  capture(sqlPool);
  ownerPool = new pg.Pool({ connectionString: db.adminUrl, max: 2 });
  capture(ownerPool);
  receiver = await startReceiver();
}, 180_000);

afterAll(async () => {
  await api?.close();
  await api?.pool.end();
  await sqlPool?.end();
  await ownerPool?.end();
  await receiver?.close();
});

/** The GraphQL mutations sent through the server, by their root field. */
const drivenMutations = new Set<string>();

/** The root fields of a document's mutations. */
function mutationsOf(document: DocumentNode): string[] {
  return document.definitions.flatMap((d) =>
    d.kind === 'OperationDefinition' && d.operation === 'mutation'
      ? d.selectionSet.selections.flatMap((f) => (f.kind === 'Field' ? [f.name.value] : []))
      : [],
  );
}

/** The mutations of the schema as printed (schema/schema.graphql). */
function schemaMutations(): string[] {
  const sdl = readFileSync(path.join(projectRoot, 'schema/schema.graphql'), 'utf8');
  return Object.keys(buildSchema(sdl).getMutationType()?.getFields() ?? {});
}

/** The walked release of the first case (promoted to production), for the paths that need one. */
let walked: { releaseId: string; production: string } | undefined;

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
      'timing_approval_requests',
      'deadline_transitions',
      'exceptions',
      'exception_reviews',
      'release_deciders',
      'release_scope_changes',
      'incidents',
      'recovery_drills',
      'webhook_deliveries',
      'webhook_attempts',
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
    walked = { releaseId, production };
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

  it('every statement of the other paths reads only the rows it is about', async () => {
    expect(walked, 'the first case walked a release to production').toBeDefined();
    const { releaseId: walkedId, production } = walked!;
    const at = plans.length;
    const mutate = async <T extends { __typename: string } | null | undefined>(
      name: string,
      run: () => Promise<{ data?: Record<string, T> | null }>,
    ) => {
      step = `graphql ${name}`;
      return okData((await run()).data?.[name] as Parameters<typeof okData>[0]) as Record<string, unknown>;
    };
    const project = 'odoo-scale';
    const hour = 3_600_000;

    // ---- Timing policies and a freeze window, as a release manager.
    await mutate('setSoakPolicy', () =>
      api.executeOperation({
        operation: SetSoakPolicyDocument,
        variables: {
          input: { fromEnvironment: 'staging', toEnvironment: 'production', minSoakSeconds: 0, project },
        },
        ...people.rm,
      }),
    );
    for (const input of [
      { gateCode: 'G2' as const, withinSeconds: 3_600, project },
      { gateCode: 'G4' as const, environment: 'staging' as const, withinSeconds: 3_600, project },
    ])
      await mutate('setDeadlinePolicy', () =>
        api.executeOperation({ operation: SetDeadlinePolicyDocument, variables: { input }, ...people.rm }),
      );
    const freeze = await mutate('addFreezeWindow', () =>
      api.executeOperation({
        operation: AddFreezeWindowDocument,
        variables: {
          input: {
            name: 'year end',
            environment: 'production',
            reason: 'books closing',
            startsAt: new Date(Date.now() + 30 * 24 * hour).toISOString(),
            endsAt: new Date(Date.now() + 31 * 24 * hour).toISOString(),
            project,
          },
        },
        ...people.sre,
      }),
    );
    await mutate('endFreezeWindow', () =>
      api.executeOperation({
        operation: EndFreezeWindowDocument,
        variables: { input: { windowId: freeze.id as string, reason: 'books closed early' } },
        ...people.rm,
      }),
    );
    await mutate('installPolicyPack', () =>
      api.executeOperation({
        operation: InstallPolicyPackDocument,
        variables: { input: { project, pack: 'odoo' } },
        ...people.rm,
      }),
    );

    // ---- A webhook for the project, and a subscriber to one release's events.
    const hook = await mutate('addWebhook', () =>
      api.executeOperation({
        operation: AddWebhookDocument,
        variables: { input: { url: receiver.url, project } },
        ...people.rm,
      }),
    );
    const subscriptionId = (hook.subscription as { id: string }).id;
    step = 'graphql createRelease';
    const releaseId = await createRelease('scale-other');
    step = 'graphql subscription releaseEvents';
    const stream = await subscribeSse(
      api.server,
      ReleaseEventsDocument,
      { releaseId },
      people.rm.persona,
      people.rm.sub,
    );
    try {
      // ---- The release's scope, an approval request, an event through the mutation, a revision.
      await mutate('recordReleaseScope', () =>
        api.executeOperation({
          operation: RecordReleaseScopeDocument,
          variables: { input: { releaseId, key: 'odoo_modules', value: ['sale', 'stock'] } },
          ...people.developer,
        }),
      );
      const request = await mutate('requestApproval', () =>
        api.executeOperation({
          operation: RequestApprovalDocument,
          variables: { input: { releaseId, gateCode: 'G2', note: 'suite ready' } },
          ...people.developer,
        }),
      );
      await mutate('ingestEvent', () =>
        api.executeOperation({
          operation: IngestEventDocument,
          variables: {
            input: {
              schemaVersion: 'v1.0',
              idempotencyKey: `plans-at-scale/${releaseId}/mutation/${key++}`,
              eventType: 'check_result',
              sourceSystem: 'github_actions',
              releaseId,
              gateCode: 'G1',
              payload: { check_name: 'lint', status: 'pass' },
              emittedAt: new Date().toISOString(),
            },
          },
          ...people.ci,
        }),
      );
      // The stream's statements: the announcement (as the API's listener makes it) and the
      // subscriber's re-read of each event.
      step = 'sql ops_outbox_announce';
      await sqlPool.query('select public.ops_outbox_announce($1) as n', [100]);
      step = 'graphql subscription releaseEvents';
      await eventually(() => stream.events.length > 0, 'an event of the subscribed release', 30_000);
      expect(stream.errors).toEqual([]);

      // ---- An exception, approved, then revised past and reviewed.
      step = 'graphql requestException';
      const exceptionId = okData(
        (
          await api.executeOperation({
            operation: RequestExceptionDocument,
            variables: {
              input: {
                releaseId,
                exceptionType: 'gate_bypass',
                impactedGates: ['G2'],
                reason: 'flaky suite',
                riskStatement: 'low',
                expiresAt: new Date(Date.now() + 24 * hour).toISOString(),
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
      await mutate('reviseRelease', () =>
        api.executeOperation({
          operation: ReviseReleaseDocument,
          variables: { input: { releaseId, sourceRef: 'refs/tags/scale-other.1', reason: 'hotfix' } },
          ...people.developer,
        }),
      );

      // ---- A rollback of the walked release's production deployment, an incident, a recovery drill.
      await mutate('recordDeployment', () =>
        api.executeOperation({
          operation: RecordDeploymentDocument,
          variables: {
            input: {
              releaseId: walkedId,
              environment: 'production',
              rollbackOf: production,
              status: 'succeeded',
            },
          },
          ...people.sre,
        }),
      );
      await mutate('recordIncident', () =>
        api.executeOperation({
          operation: RecordIncidentDocument,
          variables: {
            input: { deploymentId: production, severity: 'sev3', rootCause: 'slow cache warm-up' },
          },
          ...people.sre,
        }),
      );
      await mutate('recordRecoveryDrill', () =>
        api.executeOperation({
          operation: RecordRecoveryDrillDocument,
          variables: { input: { environment: 'staging', drillType: 'restore', outcome: 'success' } },
          ...people.sre,
        }),
      );

      // ---- The deadline sweep, as the job runs it: the approval request and the exception, each
      // past its deadline (moved into the past by the owner, with the fact tables' triggers off),
      // are recorded, and the release re-evaluated; the walked release's staging deployment, its G4
      // pending again a day later, is judged by its health checks.
      step = 'setup';
      await db.admin.query(
        `begin;
         set local session_replication_role = replica;
         update ops.timing_approval_requests set requested_at = now() - interval '2 hours',
                due_at = now() - interval '1 hour' where request_id = '${request.id as string}';
         update ops.exceptions set effective_from = now() - interval '3 days', approved_at = now() - interval '3 days',
                expires_at = now() - interval '1 day' where exception_id = '${exceptionId}';
         update ops.deployments set deployed_at = now() - interval '1 day', g4_status = 'pending'
          where release_id = '${walkedId}' and environment = 'staging';
         commit;`,
      );
      step = 'job record_deadline_transitions';
      const recorded = await (async () => {
        const c = await ownerPool.connect();
        try {
          return await recordDeadlineTransitions(c);
        } finally {
          c.release();
        }
      })();
      expect(recorded).toBeGreaterThanOrEqual(2);
      await mutate('reviewException', () =>
        api.executeOperation({
          operation: ReviewExceptionDocument,
          variables: { input: { exceptionId, postReviewStatus: 'complete' } },
          ...people.rm,
        }),
      );

      // ---- The webhook dispatcher and its batch delivery job, as the worker runs them.
      step = 'job webhook dispatch';
      expect(await dispatchOutbox(ownerPool, 3)).toBeGreaterThan(0);
      step = 'setup';
      const { rows: jobs } = await db.admin.query<{
        payload: unknown;
        attempts: number;
        max_attempts: number;
      }>(
        `select j.payload, j.attempts, j.max_attempts from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id where t.identifier = $1`,
        [DELIVER_TASK],
      );
      expect(jobs.length).toBeGreaterThan(0);
      step = 'job webhook delivery';
      const config = loadWebhookConfig({ OPS_WEBHOOK_ALLOW_LOOPBACK: 'true' }, 'test');
      const task = deliverTask(ownerPool, config, createLogger({ level: 'silent' }));
      for (const job of jobs) {
        const results = await task(
          job.payload as never,
          { job: { attempts: 1, max_attempts: job.max_attempts } } as never,
        );
        if (Array.isArray(results)) await Promise.all(results);
      }
      expect(receiver.received.length).toBeGreaterThan(0);
      step = 'graphql webhookDeliveries';
      expectData(
        await api.executeOperation({
          operation: WebhookDeliveriesDocument,
          variables: { subscriptionId, first: 20 },
          ...people.auditor,
        }),
      );
      await mutate('removeWebhook', () =>
        api.executeOperation({
          operation: RemoveWebhookDocument,
          variables: { id: subscriptionId },
          ...people.rm,
        }),
      );
    } finally {
      stream.close();
    }

    // ---- One release's ledger verification and attestation, and the other paths' reads.
    const reads: [string, () => Promise<unknown>][] = [
      [
        'graphql ledgerVerification of one release',
        () =>
          api.executeOperation({
            operation: LedgerVerificationDocument,
            variables: { releaseId: walkedId },
            ...people.auditor,
          }),
      ],
      [
        'graphql signed evidence bundle (attestation)',
        () =>
          api.executeOperation({
            operation: SignedEvidenceBundleDocument,
            variables: { releaseId: walkedId },
            ...people.auditor,
          }),
      ],
      [
        'graphql release revisions',
        () =>
          api.executeOperation({
            operation: ReleaseRevisionsDocument,
            variables: { id: releaseId },
            ...people.rm,
          }),
      ],
      [
        'graphql deployment by id',
        () =>
          api.executeOperation({
            operation: DeploymentByIdDocument,
            variables: { id: production },
            ...people.sre,
          }),
      ],
      [
        'graphql recovery drills',
        () =>
          api.executeOperation({
            operation: RecoveryDrillsDocument,
            variables: { environment: 'staging' },
            ...people.sre,
          }),
      ],
    ];
    for (const [name, read] of reads) {
      step = name;
      expectData((await read()) as Parameters<typeof expectData>[0]);
    }

    // Every mutation of the schema was sent through the server, in this case or the first one;
    // the sweep and the jobs left plans.
    expect([...drivenMutations].sort()).toEqual(schemaMutations().sort());
    const steps = new Set(plans.slice(at).map((p) => p.step));
    for (const name of [
      'job record_deadline_transitions',
      'job webhook dispatch',
      'job webhook delivery',
      'graphql subscription releaseEvents',
      'graphql ledgerVerification of one release',
      'graphql signed evidence bundle (attestation)',
    ])
      expect(steps.has(name), `no plans captured for ${name}`).toBe(true);

    const found = offenders(plans.slice(at), big);
    expect(found, `whole-table reads of big ops tables:\n${report(found)}`).toEqual([]);
  }, 300_000);

  it('sees a whole-table read: the gate evaluation joined by gate id alone (before 20261204190000)', async () => {
    const seen = await previousEvaluationPlans('scale-previous', []);
    const found = offenders(seen, big);
    expect(found.map((o) => o.table)).toContain('release_gates');
  }, 120_000);

  it('sees a whole-table read behind an index: the same evaluation with sequential reads priced out', async () => {
    // Sequential reads, nested loops and merge joins priced out: the join by gate id alone can only
    // hash the gate table, which the planner then reads whole through an index (no condition, all
    // 10,000 rows; a merge join could stop early, wherever the release's gate ids fall), a plan a
    // check for `Seq Scan` alone would pass. Small tables read whole (the gate catalogue and
    // policies) are not reported.
    const seen = await previousEvaluationPlans('scale-previous-index', [
      'set local enable_seqscan = off',
      'set local enable_nestloop = off',
      'set local enable_mergejoin = off',
    ]);
    const found = offenders(seen, big).filter((o) => o.table === 'release_gates');
    expect(found.length, report(offenders(seen, big))).toBeGreaterThan(0);
    for (const o of found) expect(o.line).toMatch(/^(Index Scan|Index Only Scan|Bitmap Heap Scan) /);
    const small = seen.filter((p) => /"Relation Name": "gate_(definitions|policies)"/.test(p.text));
    expect(small.length).toBeGreaterThan(0);
    expect(offenders(small, big).filter((o) => /^gate_(definitions|policies)$/.test(o.table))).toEqual([]);
  }, 120_000);
});

/**
 * The plans of one ingest event on a new release, with the gate evaluation as 20261201000100
 * defined it and ops.compute_release_gates planned for 1,000 rows (the state before
 * 20261204190000), after the given settings; in a new session of the database (auto_explain
 * loaded), everything rolled back afterwards.
 */
async function previousEvaluationPlans(name: string, settings: readonly string[]): Promise<Plan[]> {
  const file = readFileSync(
    path.join(
      projectRoot,
      'supabase/migrations/20261201000100_ops_ingest_hot_path_plans_and_blockers_once.sql',
    ),
    'utf8',
  );
  const previous = /create or replace function ops\.evaluate_release\([\s\S]*?\n\$\$;/.exec(file)?.[0];
  expect(previous).toContain('join ops.release_gates g on g.gate_id = x.gate_id;');
  step = 'graphql createRelease';
  const releaseId = await createRelease(name);
  const client = new pg.Client({ connectionString: db.adminUrl });
  const seen: Plan[] = [];
  client.on('notice', (n) => {
    if (n.message?.includes('"Query Text":')) seen.push({ step: 'previous evaluation', text: n.message });
  });
  await client.connect();
  try {
    await client.query('begin');
    await client.query(previous!);
    await client.query('alter function ops.compute_release_gates(uuid) rows 1000');
    for (const sql of settings) await client.query(sql);
    await actAs(client, 'ci_service_role', 'ci-github-actions');
    const { rows } = await client.query('select ops.ingest_event($1::jsonb) as r', [
      JSON.stringify(envelope(releaseId, 'check_result', { check_name: 'lint', status: 'pass' }, 'G1')),
    ]);
    expect(rows[0].r.status).toBe('accepted');
    await client.query('rollback');
  } finally {
    await client.end();
  }
  return seen;
}
