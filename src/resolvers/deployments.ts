// Deployments and what happens around them: health checks (G4), incidents, recovery drills and
// environment events.
import { z } from 'zod';
import { anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import {
  CHECK_SOURCES,
  CHECK_STATUSES,
  DEPLOYMENT_STATUSES,
  DRILL_OUTCOMES,
  INCIDENT_SEVERITIES,
  POSTMORTEM_STATUSES,
} from '../vocabulary.js';
import {
  CheckSource,
  CheckStatus,
  DeployEnvironment,
  DeploymentStatus,
  DrillOutcome,
  Environment,
  G4Status,
  IncidentSeverity,
  PostmortemStatus,
} from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { uuid, uuidArg } from './ids.js';
import { loadRows } from './loaders.js';
import { readRows } from './read.js';
import {
  DeploymentRef,
  EnvironmentEventRef,
  EvidenceArtifactRef,
  IncidentRef,
  RecoveryDrillRef,
  ReleaseRef,
} from './refs.js';
import { type DeploymentRow, type IncidentRow, RECOVERY_DRILL, type RecoveryDrillRow } from './rows.js';
import { DateTime, JSONScalar } from './scalars.js';

DeploymentRef.implement({
  fields: (t) => ({
    id: t.exposeID('deployment_id'),
    environment: t.expose('environment', { type: Environment }),
    deployedAt: t.field({ type: DateTime, resolve: (d) => d.deployed_at }),
    deployedBy: t.exposeString('deployed_by'),
    sourceRef: t.exposeString('source_ref', { nullable: true }),
    revision: t.exposeInt('revision', { description: 'The release revision deployed; it never changes.' }),
    artifactDigest: t.exposeString('artifact_digest', { nullable: true }),
    status: t.expose('status', { type: DeploymentStatus }),
    rollbackOf: t.exposeID('rollback_of', { nullable: true }),
    g4Status: t.expose('g4_status', { type: G4Status }),
    g4ResolvedAt: t.field({ type: DateTime, nullable: true, resolve: (d) => d.g4_resolved_at }),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    release: t.withAuth(anyOf(TABLE_READERS.releases)).field({
      type: ReleaseRef,
      nullable: true,
      resolve: (d, _a, ctx) => loadRows(ctx, 'release', d.release_id),
    }),
    incidents: t.withAuth(anyOf(TABLE_READERS.incidents)).field({
      type: [IncidentRef],
      resolve: (d, _a, ctx) => loadRows(ctx, 'incidentsByDeployment', d.deployment_id),
    }),
    evidence: t.withAuth(anyOf(TABLE_READERS.evidence_artifacts)).field({
      type: [EvidenceArtifactRef],
      resolve: (d, _a, ctx) => loadRows(ctx, 'evidenceByDeployment', d.deployment_id),
    }),
  }),
});

IncidentRef.implement({
  fields: (t) => ({
    id: t.exposeID('incident_id'),
    severity: t.expose('severity', { type: IncidentSeverity }),
    detectedAt: t.field({ type: DateTime, resolve: (i) => i.detected_at }),
    resolvedAt: t.field({ type: DateTime, nullable: true, resolve: (i) => i.resolved_at }),
    timeline: t.field({ type: JSONScalar, resolve: (i) => i.timeline }),
    rootCause: t.exposeString('root_cause', { nullable: true }),
    postmortemStatus: t.expose('postmortem_status', { type: PostmortemStatus }),
    createdBy: t.exposeString('created_by'),
    deployment: t.withAuth(anyOf(TABLE_READERS.deployments)).field({
      type: DeploymentRef,
      nullable: true,
      resolve: (i, _a, ctx) => loadRows(ctx, 'deployment', i.deployment_id),
    }),
  }),
});

RecoveryDrillRef.implement({
  fields: (t) => ({
    id: t.exposeID('drill_id'),
    environment: t.expose('environment', { type: Environment }),
    drillType: t.exposeString('drill_type'),
    executedBy: t.exposeString('executed_by'),
    executedAt: t.field({ type: DateTime, resolve: (d) => d.executed_at }),
    outcome: t.expose('outcome', { type: DrillOutcome }),
    restoreValidated: t.exposeBoolean('restore_validated'),
    evidenceArtifactId: t.exposeID('evidence_artifact_id', { nullable: true }),
  }),
});

EnvironmentEventRef.implement({
  fields: (t) => ({
    id: t.exposeID('event_id'),
    environment: t.exposeString('environment'),
    eventType: t.exposeString('event_type'),
    sourceSystem: t.exposeString('source_system'),
    releaseId: t.exposeID('release_id', { nullable: true }),
    payload: t.field({ type: JSONScalar, resolve: (e) => e.payload }),
    idempotencyKey: t.exposeString('idempotency_key'),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    createdAt: t.field({ type: DateTime, resolve: (e) => e.created_at }),
  }),
});

builder.queryFields((t) => ({
  deployment: t.withAuth(anyOf(TABLE_READERS.deployments)).field({
    type: DeploymentRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) => loadRows(ctx, 'deployment', uuidArg(args.id, 'id')),
  }),
  recoveryDrills: t.withAuth(anyOf(TABLE_READERS.recovery_drills)).field({
    type: [RecoveryDrillRef],
    description: 'The latest 100 recovery drills, newest first.',
    args: { environment: t.arg({ type: Environment }) },
    resolve: (_r, args, ctx) =>
      readRows<RecoveryDrillRow>(
        ctx,
        `select ${RECOVERY_DRILL.list('d')} from ops.recovery_drills d where ($1::ops_environment is null or d.environment = $1)
         order by executed_at desc, drill_id desc limit 100`,
        [args.environment ?? null],
      ),
  }),
}));

// --- Mutations

const RecordDeploymentInput = builder.inputType('RecordDeploymentInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    environment: t.field({ type: DeployEnvironment, required: true }),
    status: t.field({ type: DeploymentStatus }),
    sourceRef: t.string(),
    rollbackOf: t.id({ description: 'The deployment this one rolls back.' }),
    deployedAt: t.field({ type: DateTime }),
  }),
});

const recordDeploymentSchema = z.object({
  releaseId: uuid,
  environment: z.enum(['staging', 'production']),
  status: z.enum(DEPLOYMENT_STATUSES).nullish(),
  sourceRef: z.string().max(500).nullish(),
  rollbackOf: uuid.nullish(),
  deployedAt: z.date().nullish(),
});

builder.mutationField('recordDeployment', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordDeployment)).field({
    type: DeploymentRef,
    description:
      'Record a deployment a pipeline made; refused for a release not eligible for the environment.',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordDeploymentInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, recordDeploymentSchema, input, (c, i) =>
        callRow<DeploymentRow>(c, 'ops.record_deployment', {
          p_release_id: i.releaseId,
          p_environment: i.environment,
          p_status: i.status ?? undefined,
          p_source_ref: i.sourceRef ?? undefined,
          p_rollback_of: i.rollbackOf ?? undefined,
          p_deployed_at: i.deployedAt ?? undefined,
        }),
      ),
  }),
);

const UpdateDeploymentInput = builder.inputType('UpdateDeploymentInput', {
  fields: (t) => ({
    deploymentId: t.id({ required: true }),
    status: t.field({ type: DeploymentStatus, required: true }),
  }),
});

const updateDeploymentSchema = z.object({ deploymentId: uuid, status: z.enum(DEPLOYMENT_STATUSES) });

builder.mutationField('updateDeployment', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.updateDeployment)).field({
    type: DeploymentRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: UpdateDeploymentInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, updateDeploymentSchema, input, (c, i) =>
        callRow<DeploymentRow>(c, 'ops.update_deployment', {
          p_deployment_id: i.deploymentId,
          p_status: i.status,
        }),
      ),
  }),
);

const RecordHealthCheckInput = builder.inputType('RecordHealthCheckInput', {
  fields: (t) => ({
    deploymentId: t.id({ required: true }),
    status: t.field({ type: CheckStatus, required: true }),
    artifactUrl: t.string(),
    sha256: t.string(),
    checkName: t.string(),
    sourceSystem: t.field({ type: CheckSource }),
    metadata: t.field({ type: JSONScalar }),
  }),
});

const recordHealthCheckSchema = z.object({
  deploymentId: uuid,
  status: z.enum(CHECK_STATUSES),
  artifactUrl: z.string().min(1).max(2048).nullish(),
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be a sha256 hex digest')
    .nullish(),
  checkName: z.string().min(1).max(200).nullish(),
  sourceSystem: z.enum(CHECK_SOURCES).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

builder.mutationField('recordHealthCheck', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordHealthCheck)).field({
    type: DeploymentRef,
    description: "A post-deploy health check: a G4 check, its evidence, and the deployment's G4 outcome.",
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordHealthCheckInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, recordHealthCheckSchema, input, (c, i) =>
        callRow<DeploymentRow>(c, 'ops.record_health_check', {
          p_deployment_id: i.deploymentId,
          p_status: i.status,
          p_artifact_url: i.artifactUrl ?? undefined,
          p_sha256: i.sha256 ?? undefined,
          p_check_name: i.checkName ?? undefined,
          p_source_system: i.sourceSystem ?? undefined,
          p_metadata: i.metadata ?? undefined,
        }),
      ),
  }),
);

const RecordIncidentInput = builder.inputType('RecordIncidentInput', {
  fields: (t) => ({
    deploymentId: t.id({ required: true }),
    severity: t.field({ type: IncidentSeverity, required: true }),
    rootCause: t.string(),
    detectedAt: t.field({ type: DateTime }),
    resolvedAt: t.field({ type: DateTime }),
    timeline: t.field({ type: JSONScalar }),
    postmortemStatus: t.field({ type: PostmortemStatus }),
  }),
});

const recordIncidentSchema = z.object({
  deploymentId: uuid,
  severity: z.enum(INCIDENT_SEVERITIES),
  rootCause: z.string().max(10_000).nullish(),
  detectedAt: z.date().nullish(),
  resolvedAt: z.date().nullish(),
  timeline: z.array(z.unknown()).nullish(),
  postmortemStatus: z.enum(POSTMORTEM_STATUSES).nullish(),
});

builder.mutationField('recordIncident', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordIncident)).field({
    type: IncidentRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordIncidentInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, recordIncidentSchema, input, (c, i) =>
        callRow<IncidentRow>(c, 'ops.record_incident', {
          p_deployment_id: i.deploymentId,
          p_severity: i.severity,
          p_root_cause: i.rootCause ?? undefined,
          p_detected_at: i.detectedAt ?? undefined,
          p_resolved_at: i.resolvedAt ?? undefined,
          p_timeline: i.timeline ? JSON.stringify(i.timeline) : undefined,
          p_postmortem_status: i.postmortemStatus ?? undefined,
        }),
      ),
  }),
);

const RecordRecoveryDrillInput = builder.inputType('RecordRecoveryDrillInput', {
  fields: (t) => ({
    environment: t.field({ type: Environment, required: true }),
    drillType: t.string({ required: true }),
    outcome: t.field({ type: DrillOutcome, required: true }),
    restoreValidated: t.boolean(),
    executedAt: t.field({ type: DateTime }),
    evidenceArtifactId: t.id(),
  }),
});

const recordRecoveryDrillSchema = z.object({
  environment: z.enum(['dev', 'staging', 'production']),
  drillType: z.string().trim().min(1).max(200),
  outcome: z.enum(DRILL_OUTCOMES),
  restoreValidated: z.boolean().nullish(),
  executedAt: z.date().nullish(),
  evidenceArtifactId: uuid.nullish(),
});

builder.mutationField('recordRecoveryDrill', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordRecoveryDrill)).field({
    type: RecoveryDrillRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordRecoveryDrillInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, recordRecoveryDrillSchema, input, (c, i) =>
        callRow<RecoveryDrillRow>(c, 'ops.record_recovery_drill', {
          p_environment: i.environment,
          p_drill_type: i.drillType,
          p_outcome: i.outcome,
          p_restore_validated: i.restoreValidated ?? undefined,
          p_executed_at: i.executedAt ?? undefined,
          p_evidence_artifact_id: i.evidenceArtifactId ?? undefined,
        }),
      ),
  }),
);
