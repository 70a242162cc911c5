// Reports: the reporting views of 20261126004000_ops_reporting_views.sql as keyset-paginated
// queries, a release's timeline (ops.release_timeline) and its evidence bundle with a digest an
// auditor can recompute. Every figure comes from SQL; this file only filters, pages and shapes.
import DataLoader from 'dataloader';
import { anyOf, REPORT_FUNCTION_CALLERS, VIEW_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { fromDatabaseError, ValidationError } from '../errors.js';
import { payloadHash } from '../ingest/envelope.js';
import {
  ArtifactType,
  DeployEnvironment,
  DeploymentStatus,
  Environment,
  ExceptionType,
  G4Status,
  GateCode,
  GateStatus,
  PostReviewStatus,
  ReleaseStatus,
} from './enums.js';
import {
  connectionType,
  cursorAt,
  decodeCursor,
  encodeCursor,
  pageSize,
  toPage,
  uuid,
} from './pagination.js';
import { DateTime, JSONScalar } from './scalars.js';

// ---- Row shapes of the views (snake_case, as node-postgres returns them) -----------------------

/**
 * Every query below also selects `cursor_at`: the row's keyset timestamp as text with its
 * microseconds. A JavaScript Date keeps milliseconds only, and a cursor made from one would skip
 * rows stamped later within the same millisecond.
 */
interface Keyed {
  cursor_at: string;
}

interface GateSummaryRow extends Keyed {
  release_id: string;
  project: string;
  release_name: string;
  release_status: string;
  gate_id: string;
  gate_code: string;
  gate_name: string;
  status: string;
  entered_at: Date | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  exception_id: string | null;
  checks_pass: number;
  checks_fail: number;
  checks_warning: number;
  checks_skipped: number;
  check_runs: number;
  evidence_count: number;
  approvals: number;
  rejections: number;
  changes_requested: number;
}

interface EligibilityRow extends Keyed {
  release_id: string;
  project: string;
  release_name: string;
  release_status: string;
  environment_target: string;
  created_at: Date;
  eligible_for_staging: boolean;
  eligible_for_production: boolean;
  staging_blockers: number;
  production_blockers: number;
}

interface EvidenceCompletenessRow extends Keyed {
  release_id: string;
  project: string;
  release_name: string;
  gate_id: string;
  gate_code: string;
  gate_status: string;
  required: string[];
  optional: string[];
  present: string[];
  missing: string[];
  evidence_count: number;
  waived: boolean;
  complete: boolean;
}

interface ExceptionStatusRow extends Keyed {
  exception_id: string;
  release_id: string;
  project: string;
  release_name: string;
  exception_type: string;
  impacted_gates: string[];
  state: string;
  post_review_status: string;
  time_left_seconds: number | null;
  requested_by: string;
  approver_id: string | null;
  approved_at: Date | null;
  effective_from: Date;
  expires_at: Date;
  reason: string;
}

interface DeploymentHistoryRow extends Keyed {
  deployment_id: string;
  release_id: string;
  environment: string;
  kind: string;
  status: string;
  rollback_of: string | null;
  rolled_back_by: string | null;
  deployed_at: Date;
  deployed_by: string;
  source_ref: string | null;
  g4_status: string;
  g4_resolved_at: Date | null;
  time_to_g4_seconds: number | null;
}

interface TimelineRow {
  seq: string;
  at: Date;
  kind: string;
  actor: string | null;
  persona: string | null;
  source_system: string | null;
  ingest_id: string | null;
  gate_code: string | null;
  summary: string;
  entity_id: string;
}

export interface EvidenceBundle {
  releaseId: string;
  bundle: unknown;
  bundleSha256: string;
}

// ---- Keyset pages ------------------------------------------------------------------------------

/** A WHERE clause from the filters that are set: absent ones add nothing, so indexes stay usable. */
class Conditions {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds `condition($n)`, $n holding value, when value is set. */
  when(value: unknown, condition: (p: string) => string): this {
    if (value !== null && value !== undefined) this.parts.push(condition(this.param(value)));
    return this;
  }

  add(condition: string): this {
    this.parts.push(condition);
    return this;
  }

  get sql(): string {
    return this.parts.length ? `where ${this.parts.join(' and ')}` : '';
  }
}

function requireUuid(value: string | number | null | undefined, name: string): string | null {
  if (value === null || value === undefined) return null;
  if (!uuid.safeParse(String(value)).success) throw new ValidationError(`${name} must be a UUID`);
  return String(value);
}

async function query<T extends object>(ctx: Context, sql: string, params: unknown[]): Promise<T[]> {
  try {
    return await ctx.withPersona(async (c) => (await c.query<T>(sql, params)).rows);
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

// ---- ops.v_release_gate_summary ----------------------------------------------------------------

const ReleaseGateSummary = builder.objectRef<GateSummaryRow>('ReleaseGateSummary');

ReleaseGateSummary.implement({
  description:
    'One gate of one release (ops.v_release_gate_summary). Check counts are over the latest result per check name, the one that decides the gate; checkRuns counts every result. Approvals, rejections and changesRequested count each approver by their latest decision on the gate.',
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    releaseStatus: t.field({ type: ReleaseStatus, resolve: (r) => r.release_status as never }),
    gateId: t.exposeID('gate_id'),
    gateCode: t.field({ type: GateCode, resolve: (r) => r.gate_code as never }),
    gateName: t.exposeString('gate_name'),
    status: t.field({ type: GateStatus, resolve: (r) => r.status as never }),
    enteredAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.entered_at }),
    resolvedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.resolved_at }),
    resolvedBy: t.exposeString('resolved_by', { nullable: true }),
    exceptionId: t.exposeID('exception_id', {
      nullable: true,
      description: 'The exception that bypasses the gate, when it is bypassed.',
    }),
    checksPass: t.exposeInt('checks_pass'),
    checksFail: t.exposeInt('checks_fail'),
    checksWarning: t.exposeInt('checks_warning'),
    checksSkipped: t.exposeInt('checks_skipped'),
    checkRuns: t.exposeInt('check_runs'),
    evidenceCount: t.exposeInt('evidence_count', { description: 'Artifacts attached to the gate itself.' }),
    approvals: t.exposeInt('approvals'),
    rejections: t.exposeInt('rejections'),
    changesRequested: t.exposeInt('changes_requested'),
  }),
});

const GATE_SUMMARY_COLUMNS = `v.*, ${cursorAt('v.release_created_at')}`;

/**
 * Keyset condition for rows ordered by (release created_at desc, release_id desc, gate_code): the
 * cursor names a gate, whose release and code place it.
 */
function afterGate(w: Conditions, after: [string, string] | null, createdAt: string): void {
  if (!after) return;
  const at = w.param(after[0]);
  const gate = w.param(after[1]);
  const release = `(select g.release_id from ops.release_gates g where g.gate_id = ${gate}::uuid)`;
  const code = `(select g.gate_code from ops.release_gates g where g.gate_id = ${gate}::uuid)`;
  // The first condition bounds the index scan; the second skips the cursor's release's earlier gates.
  w.add(`(${createdAt}, v.release_id) <= (${at}::timestamptz, ${release})`);
  w.add(`((${createdAt}, v.release_id) < (${at}::timestamptz, ${release}) or v.gate_code > ${code})`);
}

const ReleaseGateSummaryFilter = builder.inputType('ReleaseGateSummaryFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseId: t.id(),
    gateCode: t.field({ type: GateCode }),
    status: t.field({ type: GateStatus }),
  }),
});

builder.queryField('releaseGateSummary', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_release_gate_summary)).field({
    type: connectionType<GateSummaryRow>('ReleaseGateSummary', ReleaseGateSummary),
    description:
      'Every gate of every release with its checks, evidence and approvals counted: newest release first, G1-G4 within it; at most 100 per page.',
    args: {
      filter: t.arg({ type: ReleaseGateSummaryFilter }),
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_r, args, ctx) => {
      const size = pageSize(args.first);
      const f = args.filter ?? {};
      const w = new Conditions()
        .when(f.project, (p) => `v.project = ${p}`)
        .when(requireUuid(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
        .when(f.gateCode, (p) => `v.gate_code = ${p}::ops_gate_code`)
        .when(f.status, (p) => `v.status = ${p}::ops_gate_status`);
      afterGate(w, decodeCursor(args.after), 'v.release_created_at');
      const rows = await query<GateSummaryRow>(
        ctx,
        `select ${GATE_SUMMARY_COLUMNS} from ops.v_release_gate_summary v ${w.sql}
         order by v.release_created_at desc, v.release_id desc, v.gate_code
         limit ${w.param(size + 1)}`,
        w.params,
      );
      return toPage(rows, size, (r) => encodeCursor(r.cursor_at, r.gate_id));
    },
  }),
);

/** The gate summaries of many releases in one statement, whatever the number of releases. */
const gateSummaries = new WeakMap<Context, DataLoader<string, GateSummaryRow[]>>();

function gateSummariesOf(ctx: Context): DataLoader<string, GateSummaryRow[]> {
  let loader = gateSummaries.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const rows = await query<GateSummaryRow>(
        ctx,
        `select ${GATE_SUMMARY_COLUMNS} from ops.v_release_gate_summary v
         where v.release_id = any($1::uuid[]) order by v.release_id, v.gate_code`,
        [ids],
      );
      const byRelease = new Map<string, GateSummaryRow[]>(ids.map((id) => [id, []]));
      for (const row of rows) byRelease.get(row.release_id)?.push(row);
      return ids.map((id) => byRelease.get(id) ?? []);
    });
    gateSummaries.set(ctx, loader);
  }
  return loader;
}

// ---- ops.v_promotion_eligibility ---------------------------------------------------------------

const ReleaseEligibility = builder.objectRef<EligibilityRow>('ReleaseEligibility');

ReleaseEligibility.implement({
  description:
    'Whether a release may go to staging and to production now (ops.v_promotion_eligibility, from ops.promotion_blockers), and how many blockers stand in the way of each.',
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    releaseStatus: t.field({ type: ReleaseStatus, resolve: (r) => r.release_status as never }),
    environmentTarget: t.field({ type: Environment, resolve: (r) => r.environment_target as never }),
    createdAt: t.field({ type: DateTime, resolve: (r) => r.created_at }),
    eligibleForStaging: t.exposeBoolean('eligible_for_staging'),
    eligibleForProduction: t.exposeBoolean('eligible_for_production'),
    stagingBlockers: t.exposeInt('staging_blockers'),
    productionBlockers: t.exposeInt('production_blockers'),
    gates: t.withAuth(anyOf(VIEW_READERS.v_release_gate_summary)).field({
      type: [ReleaseGateSummary],
      description: 'G1-G4 of the release, summarised; one statement for the whole page.',
      resolve: (r, _a, ctx) => gateSummariesOf(ctx).load(r.release_id),
    }),
  }),
});

const PromotionEligibilityFilter = builder.inputType('PromotionEligibilityFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseStatus: t.field({ type: ReleaseStatus }),
    environmentTarget: t.field({ type: Environment }),
    eligibleForStaging: t.boolean({
      description: 'Computed per release while paging: a rare value makes a page scan many releases.',
    }),
    eligibleForProduction: t.boolean({
      description: 'Computed per release while paging: a rare value makes a page scan many releases.',
    }),
  }),
});

builder.queryField('promotionEligibilities', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_promotion_eligibility)).field({
    type: connectionType<EligibilityRow>('ReleaseEligibility', ReleaseEligibility),
    description:
      'Releases with their staging and production eligibility, computed at read time; newest first, at most 100 per page. A developer sees their own releases.',
    args: {
      filter: t.arg({ type: PromotionEligibilityFilter }),
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_r, args, ctx) => {
      const size = pageSize(args.first);
      const after = decodeCursor(args.after);
      const f = args.filter ?? {};
      const w = new Conditions()
        .when(f.project, (p) => `v.project = ${p}`)
        .when(f.releaseStatus, (p) => `v.release_status = ${p}::ops_release_status`)
        .when(f.environmentTarget, (p) => `v.environment_target = ${p}::ops_environment`)
        .when(f.eligibleForStaging, (p) => `v.eligible_for_staging = ${p}::boolean`)
        .when(f.eligibleForProduction, (p) => `v.eligible_for_production = ${p}::boolean`);
      if (after) w.add(`(v.created_at, v.release_id) < (${w.param(after[0])}, ${w.param(after[1])}::uuid)`);
      const rows = await query<EligibilityRow>(
        ctx,
        `select v.*, ${cursorAt('v.created_at')} from ops.v_promotion_eligibility v ${w.sql}
         order by v.created_at desc, v.release_id desc
         limit ${w.param(size + 1)}`,
        w.params,
      );
      return toPage(rows, size, (r) => encodeCursor(r.cursor_at, r.release_id));
    },
  }),
);

// ---- ops.v_evidence_completeness ---------------------------------------------------------------

const EvidenceCompleteness = builder.objectRef<EvidenceCompletenessRow>('EvidenceCompleteness');

EvidenceCompleteness.implement({
  description:
    "The evidence one gate of one release needs (ops.gate_evidence_requirements), what is present, and what is missing (ops.v_evidence_completeness). A requirement with alternatives reads 'test_result or uat_summary'.",
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    gateId: t.exposeID('gate_id'),
    gateCode: t.field({ type: GateCode, resolve: (r) => r.gate_code as never }),
    gateStatus: t.field({ type: GateStatus, resolve: (r) => r.gate_status as never }),
    required: t.exposeStringList('required', { description: 'Requirements that hold the gate.' }),
    optional: t.exposeStringList('optional', {
      description: 'Expected evidence that never holds the gate (G1: the build log).',
    }),
    present: t.field({
      type: [ArtifactType],
      description: 'Artifact types present that meet one of the requirements.',
      resolve: (r) => r.present as never[],
    }),
    missing: t.exposeStringList('missing', { description: 'Requirements that hold the gate and are unmet.' }),
    evidenceCount: t.exposeInt('evidence_count', { description: 'Artifacts meeting a requirement.' }),
    waived: t.exposeBoolean('waived', {
      description: 'An active evidence_waiver exception covers the gate.',
    }),
    complete: t.exposeBoolean('complete', { description: 'Nothing missing, or waived.' }),
  }),
});

const EvidenceCompletenessFilter = builder.inputType('EvidenceCompletenessFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseId: t.id(),
    gateCode: t.field({ type: GateCode }),
    complete: t.boolean(),
  }),
});

builder.queryField('evidenceCompleteness', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_evidence_completeness)).field({
    type: connectionType<EvidenceCompletenessRow>('EvidenceCompleteness', EvidenceCompleteness),
    description:
      'Evidence required, present and missing per release and gate: newest release first, G1-G4 within it; at most 100 per page.',
    args: {
      filter: t.arg({ type: EvidenceCompletenessFilter }),
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_r, args, ctx) => {
      const size = pageSize(args.first);
      const f = args.filter ?? {};
      const w = new Conditions()
        .when(f.project, (p) => `v.project = ${p}`)
        .when(requireUuid(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
        .when(f.gateCode, (p) => `v.gate_code = ${p}::ops_gate_code`)
        .when(f.complete, (p) => `v.complete = ${p}::boolean`);
      afterGate(w, decodeCursor(args.after), 'v.release_created_at');
      const rows = await query<EvidenceCompletenessRow>(
        ctx,
        `select v.release_id, v.project, v.release_name, v.gate_id, v.gate_code, v.gate_status, v.required,
                v.optional, v.present::text[] as present, v.missing, v.evidence_count, v.waived, v.complete,
                ${cursorAt('v.release_created_at')}
         from ops.v_evidence_completeness v ${w.sql}
         order by v.release_created_at desc, v.release_id desc, v.gate_code
         limit ${w.param(size + 1)}`,
        w.params,
      );
      return toPage(rows, size, (r) => encodeCursor(r.cursor_at, r.gate_id));
    },
  }),
);

// ---- ops.v_exception_status --------------------------------------------------------------------

const EXCEPTION_WINDOW_STATES = ['active', 'expired', 'pending_approval', 'scheduled'] as const;

const ExceptionWindowState = builder.enumType('ExceptionWindowState', {
  values: EXCEPTION_WINDOW_STATES,
  description:
    'active: approved and inside its window; expired: past expires_at; pending_approval: not approved yet; scheduled: approved, window not open yet. Computed at read time.',
});

const ExceptionStatus = builder.objectRef<ExceptionStatusRow>('ExceptionStatus');

ExceptionStatus.implement({
  description: 'An exception and where it stands now (ops.v_exception_status).',
  fields: (t) => ({
    exceptionId: t.exposeID('exception_id'),
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    exceptionType: t.field({ type: ExceptionType, resolve: (r) => r.exception_type as never }),
    impactedGates: t.field({ type: [GateCode], resolve: (r) => r.impacted_gates as never[] }),
    state: t.field({ type: ExceptionWindowState, resolve: (r) => r.state as never }),
    postReviewStatus: t.field({ type: PostReviewStatus, resolve: (r) => r.post_review_status as never }),
    timeLeftSeconds: t.exposeInt('time_left_seconds', {
      nullable: true,
      description: 'Whole seconds until it expires, while active; null otherwise.',
    }),
    requestedBy: t.exposeString('requested_by'),
    approverId: t.exposeString('approver_id', { nullable: true }),
    approvedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.approved_at }),
    effectiveFrom: t.field({ type: DateTime, resolve: (r) => r.effective_from }),
    expiresAt: t.field({ type: DateTime, resolve: (r) => r.expires_at }),
    reason: t.exposeString('reason'),
  }),
});

const ExceptionStatusFilter = builder.inputType('ExceptionStatusFilter', {
  fields: (t) => ({
    state: t.field({ type: ExceptionWindowState }),
    releaseId: t.id(),
    postReviewStatus: t.field({ type: PostReviewStatus }),
    exceptionType: t.field({ type: ExceptionType }),
  }),
});

builder.queryField('exceptionStatus', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_exception_status)).field({
    type: connectionType<ExceptionStatusRow>('ExceptionStatus', ExceptionStatus),
    description: 'Exceptions with their state computed now, soonest expiry first; at most 100 per page.',
    args: {
      filter: t.arg({ type: ExceptionStatusFilter }),
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_r, args, ctx) => {
      const size = pageSize(args.first);
      const after = decodeCursor(args.after);
      const f = args.filter ?? {};
      const w = new Conditions()
        .when(f.state, (p) => `v.state = ${p}`)
        .when(requireUuid(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
        .when(f.postReviewStatus, (p) => `v.post_review_status = ${p}::ops_post_review_status`)
        .when(f.exceptionType, (p) => `v.exception_type = ${p}::ops_exception_type`);
      if (after) w.add(`(v.expires_at, v.exception_id) > (${w.param(after[0])}, ${w.param(after[1])}::uuid)`);
      const rows = await query<ExceptionStatusRow>(
        ctx,
        `select v.exception_id, v.release_id, v.project, v.release_name, v.exception_type,
                v.impacted_gates::text[] as impacted_gates, v.state, v.post_review_status,
                floor(extract(epoch from v.time_left))::int as time_left_seconds, v.requested_by, v.approver_id,
                v.approved_at, v.effective_from, v.expires_at, v.reason, ${cursorAt('v.expires_at')}
         from ops.v_exception_status v ${w.sql}
         order by v.expires_at, v.exception_id
         limit ${w.param(size + 1)}`,
        w.params,
      );
      return toPage(rows, size, (r) => encodeCursor(r.cursor_at, r.exception_id));
    },
  }),
);

// ---- ops.v_deployment_history ------------------------------------------------------------------

const DeploymentKind = builder.enumType('DeploymentKind', {
  values: ['deployment', 'rollback'] as const,
  description: 'rollback: a deployment that undoes an earlier one of the same release (rollbackOf).',
});

const DeploymentHistoryEntry = builder.objectRef<DeploymentHistoryRow>('DeploymentHistoryEntry');

DeploymentHistoryEntry.implement({
  description: 'A deployment or rollback with its G4 outcome (ops.v_deployment_history).',
  fields: (t) => ({
    deploymentId: t.exposeID('deployment_id'),
    releaseId: t.exposeID('release_id'),
    environment: t.field({ type: DeployEnvironment, resolve: (r) => r.environment as never }),
    kind: t.field({ type: DeploymentKind, resolve: (r) => r.kind as never }),
    status: t.field({ type: DeploymentStatus, resolve: (r) => r.status as never }),
    rollbackOf: t.exposeID('rollback_of', { nullable: true }),
    rolledBackBy: t.exposeID('rolled_back_by', {
      nullable: true,
      description: 'The first rollback that undid this deployment.',
    }),
    deployedAt: t.field({ type: DateTime, resolve: (r) => r.deployed_at }),
    deployedBy: t.exposeString('deployed_by'),
    sourceRef: t.exposeString('source_ref', { nullable: true }),
    g4Status: t.field({ type: G4Status, resolve: (r) => r.g4_status as never }),
    g4ResolvedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.g4_resolved_at }),
    timeToG4Seconds: t.exposeFloat('time_to_g4_seconds', {
      nullable: true,
      description: 'From deployment to the health check verdict (g4ResolvedAt - deployedAt).',
    }),
  }),
});

const DeploymentHistoryFilter = builder.inputType('DeploymentHistoryFilter', {
  fields: (t) => ({
    environment: t.field({ type: DeployEnvironment }),
    releaseId: t.id(),
    kind: t.field({ type: DeploymentKind }),
    status: t.field({ type: DeploymentStatus }),
    g4Status: t.field({ type: G4Status }),
  }),
});

builder.queryField('deploymentHistory', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_deployment_history)).field({
    type: connectionType<DeploymentHistoryRow>('DeploymentHistoryEntry', DeploymentHistoryEntry),
    description: 'Deployments and rollbacks, newest first; at most 100 per page.',
    args: {
      filter: t.arg({ type: DeploymentHistoryFilter }),
      first: t.arg.int({ defaultValue: 20 }),
      after: t.arg.string(),
    },
    resolve: async (_r, args, ctx) => {
      const size = pageSize(args.first);
      const after = decodeCursor(args.after);
      const f = args.filter ?? {};
      const w = new Conditions()
        .when(f.environment, (p) => `v.environment = ${p}::ops_environment`)
        .when(requireUuid(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
        .when(f.kind, (p) => `v.kind = ${p}`)
        .when(f.status, (p) => `v.status = ${p}::ops_deployment_status`)
        .when(f.g4Status, (p) => `v.g4_status = ${p}::ops_g4_status`);
      if (after)
        w.add(`(v.deployed_at, v.deployment_id) < (${w.param(after[0])}, ${w.param(after[1])}::uuid)`);
      const rows = await query<DeploymentHistoryRow>(
        ctx,
        `select v.deployment_id, v.release_id, v.environment, v.kind, v.status, v.rollback_of, v.rolled_back_by,
                v.deployed_at, v.deployed_by, v.source_ref, v.g4_status, v.g4_resolved_at,
                extract(epoch from v.time_to_g4)::float8 as time_to_g4_seconds, ${cursorAt('v.deployed_at')}
         from ops.v_deployment_history v ${w.sql}
         order by v.deployed_at desc, v.deployment_id desc
         limit ${w.param(size + 1)}`,
        w.params,
      );
      return toPage(rows, size, (r) => encodeCursor(r.cursor_at, r.deployment_id));
    },
  }),
);

// ---- ops.release_timeline ----------------------------------------------------------------------

export const TIMELINE_KINDS = [
  'release_created',
  'revision',
  'ingest_attempt',
  'check',
  'health_check',
  'evidence',
  'approval',
  'rejection',
  'changes_requested',
  'exception_requested',
  'exception_approval',
  'exception_rejection',
  'exception_changes_requested',
  'exception_expired',
  'gate_transition',
  'deployment',
  'rollback',
  'deployment_transition',
  'incident',
  'environment_event',
  // timing (ops.timing_timeline, 20261130002200)
  'freeze_started',
  'freeze_ended',
  'override_used',
  'approval_requested',
  'approval_request_expired',
  'g4_deadline_missed',
] as const;

const TimelineKind = builder.enumType('TimelineKind', { values: TIMELINE_KINDS });

const TimelineEntry = builder.objectRef<TimelineRow>('TimelineEntry').implement({
  description: 'One fact about a release, from ops.release_timeline.',
  fields: (t) => ({
    seq: t.int({ description: 'Position in the timeline, from 1.', resolve: (e) => Number(e.seq) }),
    at: t.field({
      type: DateTime,
      description:
        'When the database recorded the fact (an ingest attempt: when it arrived; an expiry: expiresAt).',
      resolve: (e) => e.at,
    }),
    kind: t.field({ type: TimelineKind, resolve: (e) => e.kind as never }),
    actor: t.exposeString('actor', { nullable: true, description: 'Who did it: the JWT subject.' }),
    persona: t.exposeString('persona', { nullable: true }),
    sourceSystem: t.exposeString('source_system', { nullable: true }),
    ingestId: t.exposeID('ingest_id', { nullable: true, description: 'The ingest attempt that caused it.' }),
    gateCode: t.field({ type: GateCode, nullable: true, resolve: (e) => e.gate_code as never }),
    summary: t.exposeString('summary'),
    entityId: t.exposeID('entity_id', { description: 'The row the fact is (its table follows from kind).' }),
  }),
});

builder.queryField('releaseTimeline', (t) =>
  t.withAuth(anyOf(REPORT_FUNCTION_CALLERS.release_timeline)).field({
    type: [TimelineEntry],
    description:
      'Every fact about the release in the order it happened, each with its actor, persona, source and ingest attempt: the decision chain, rebuilt from the database alone (ops.release_timeline).',
    args: { releaseId: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) =>
      query<TimelineRow>(ctx, 'select * from ops.release_timeline($1) order by seq', [
        requireUuid(args.releaseId, 'releaseId'),
      ]),
  }),
);

// ---- ops.release_evidence_bundle ---------------------------------------------------------------

/** sha256 (hex) of the bundle in canonical JSON (RFC 8785), as ingest payloads are hashed. */
export function bundleDigest(bundle: unknown): string {
  return payloadHash(bundle);
}

export const EvidenceBundleRef = builder.objectRef<EvidenceBundle>('EvidenceBundle').implement({
  description:
    'Everything an auditor archives about a release: the release, its gates, every evidence artifact reference with its sha256, and the timeline (ops.release_evidence_bundle).',
  fields: (t) => ({
    releaseId: t.exposeID('releaseId'),
    bundle: t.field({ type: JSONScalar, resolve: (b) => b.bundle }),
    bundleSha256: t.exposeString('bundleSha256', {
      description:
        'sha256 (hex) of `bundle` in canonical JSON (RFC 8785, JSON Canonicalization Scheme): canonicalise the archived bundle and hash it to verify it.',
    }),
  }),
});

builder.queryField('releaseEvidenceBundle', (t) =>
  t.withAuth(anyOf(REPORT_FUNCTION_CALLERS.release_evidence_bundle)).field({
    type: EvidenceBundleRef,
    args: { releaseId: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const releaseId = requireUuid(args.releaseId, 'releaseId')!;
      const [row] = await query<{ bundle: unknown }>(
        ctx,
        'select ops.release_evidence_bundle($1) as bundle',
        [releaseId],
      );
      return { releaseId, bundle: row!.bundle, bundleSha256: bundleDigest(row!.bundle) };
    },
  }),
);
