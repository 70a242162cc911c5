// Gates and what decides them: checks, evidence, approvals and the transition history; and the
// mutations that add checks, evidence and sign-offs.
import { z } from 'zod';
import { anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import {
  APPROVAL_DECISIONS,
  ARTIFACT_TYPES,
  CHECK_SOURCES,
  CHECK_STATUSES,
  GATE_CODES,
} from '../vocabulary.js';
import {
  ApprovalDecision,
  ApprovalScope,
  ArtifactType,
  CheckSource,
  CheckStatus,
  GateCode,
  GateStatus,
} from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { uuid } from './ids.js';
import { loadRows } from './loaders.js';
import {
  ApprovalRef,
  DeploymentRef,
  EvidenceArtifactRef,
  ExceptionRef,
  GateCheckRef,
  GateTransitionRef,
  ReleaseGateRef,
  ReleaseRef,
} from './refs.js';
import type { ApprovalRow, EvidenceArtifactRow, GateCheckRow } from './rows.js';
import { DateTime, JSONScalar } from './scalars.js';

ReleaseGateRef.implement({
  description:
    "One of a release's four gates; its status is computed by ops.evaluate_gate from the facts below.",
  fields: (t) => ({
    id: t.exposeID('gate_id'),
    gateCode: t.expose('gate_code', { type: GateCode }),
    gateName: t.exposeString('gate_name'),
    status: t.expose('status', { type: GateStatus }),
    enteredAt: t.field({ type: DateTime, nullable: true, resolve: (g) => g.entered_at }),
    resolvedAt: t.field({ type: DateTime, nullable: true, resolve: (g) => g.resolved_at }),
    resolvedBy: t.exposeString('resolved_by', { nullable: true }),
    release: t.withAuth(anyOf(TABLE_READERS.releases)).field({
      type: ReleaseRef,
      nullable: true,
      resolve: (g, _a, ctx) => loadRows(ctx, 'release', g.release_id),
    }),
    exception: t.withAuth(anyOf(TABLE_READERS.exceptions)).field({
      type: ExceptionRef,
      nullable: true,
      description: 'The exception that bypasses the gate, when it is bypassed.',
      resolve: (g, _a, ctx) => (g.exception_id ? loadRows(ctx, 'exception', g.exception_id) : null),
    }),
    checks: t.withAuth(anyOf(TABLE_READERS.gate_checks)).field({
      type: [GateCheckRef],
      description: 'Every reported result, oldest first; the latest per check name counts.',
      resolve: (g, _a, ctx) => loadRows(ctx, 'checksByGate', g.gate_id),
    }),
    evidence: t.withAuth(anyOf(TABLE_READERS.evidence_artifacts)).field({
      type: [EvidenceArtifactRef],
      resolve: (g, _a, ctx) => loadRows(ctx, 'evidenceByGate', g.gate_id),
    }),
    approvals: t.withAuth(anyOf(TABLE_READERS.approvals)).field({
      type: [ApprovalRef],
      description: "Every decision, oldest first; each approver's latest counts.",
      resolve: (g, _a, ctx) => loadRows(ctx, 'approvalsByGate', g.gate_id),
    }),
    transitions: t.withAuth(anyOf(TABLE_READERS.gate_transitions)).field({
      type: [GateTransitionRef],
      resolve: (g, _a, ctx) => loadRows(ctx, 'transitionsByGate', g.gate_id),
    }),
  }),
});

GateCheckRef.implement({
  fields: (t) => ({
    id: t.exposeID('check_id'),
    checkName: t.exposeString('check_name'),
    sourceSystem: t.expose('source_system', { type: CheckSource }),
    status: t.expose('status', { type: CheckStatus }),
    required: t.exposeBoolean('required'),
    artifactRef: t.exposeString('artifact_ref', { nullable: true }),
    metadata: t.field({ type: JSONScalar, resolve: (c) => c.metadata }),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    createdAt: t.field({ type: DateTime, resolve: (c) => c.created_at }),
    createdBy: t.exposeString('created_by'),
    gate: t.withAuth(anyOf(TABLE_READERS.release_gates)).field({
      type: ReleaseGateRef,
      nullable: true,
      resolve: (c, _a, ctx) => loadRows(ctx, 'gate', c.gate_id),
    }),
  }),
});

ApprovalRef.implement({
  fields: (t) => ({
    id: t.exposeID('approval_id'),
    approverId: t.exposeString('approver_id'),
    personaRole: t.exposeString('persona_role'),
    decision: t.expose('decision', { type: ApprovalDecision }),
    scope: t.expose('scope', { type: ApprovalScope }),
    rationaleText: t.exposeString('rationale_text', { nullable: true }),
    revision: t.exposeInt('revision', {
      description:
        'The release revision the decision was made for; it counts only while the release is at it.',
    }),
    rationaleStructured: t.field({ type: JSONScalar, resolve: (a) => a.rationale_structured }),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    createdAt: t.field({ type: DateTime, resolve: (a) => a.created_at }),
    release: t.withAuth(anyOf(TABLE_READERS.releases)).field({
      type: ReleaseRef,
      nullable: true,
      resolve: (a, _x, ctx) => loadRows(ctx, 'release', a.release_id),
    }),
    gate: t.withAuth(anyOf(TABLE_READERS.release_gates)).field({
      type: ReleaseGateRef,
      nullable: true,
      resolve: (a, _x, ctx) => (a.gate_id ? loadRows(ctx, 'gate', a.gate_id) : null),
    }),
    exception: t.withAuth(anyOf(TABLE_READERS.exceptions)).field({
      type: ExceptionRef,
      nullable: true,
      resolve: (a, _x, ctx) => (a.exception_id ? loadRows(ctx, 'exception', a.exception_id) : null),
    }),
  }),
});

EvidenceArtifactRef.implement({
  fields: (t) => ({
    id: t.exposeID('artifact_id'),
    artifactType: t.expose('artifact_type', { type: ArtifactType }),
    sourceSystem: t.exposeString('source_system'),
    artifactUrl: t.exposeString('artifact_url'),
    sha256: t.exposeString('sha256', { nullable: true }),
    metadata: t.field({ type: JSONScalar, resolve: (e) => e.metadata }),
    releaseId: t.exposeID('release_id', { nullable: true }),
    gateId: t.exposeID('gate_id', { nullable: true }),
    checkId: t.exposeID('check_id', { nullable: true }),
    deploymentId: t.exposeID('deployment_id', { nullable: true }),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    createdAt: t.field({ type: DateTime, resolve: (e) => e.created_at }),
    createdBy: t.exposeString('created_by'),
    deployment: t.withAuth(anyOf(TABLE_READERS.deployments)).field({
      type: DeploymentRef,
      nullable: true,
      resolve: (e, _a, ctx) => (e.deployment_id ? loadRows(ctx, 'deployment', e.deployment_id) : null),
    }),
  }),
});

GateTransitionRef.implement({
  description: "One change of a gate's status, with why and who (or which ingest) caused it.",
  fields: (t) => ({
    id: t.exposeID('transition_id'),
    fromStatus: t.expose('from_status', { type: GateStatus }),
    toStatus: t.expose('to_status', { type: GateStatus }),
    reason: t.exposeString('reason'),
    actor: t.exposeString('actor'),
    ingestId: t.exposeID('ingest_id', { nullable: true }),
    createdAt: t.field({ type: DateTime, resolve: (g) => g.created_at }),
  }),
});

// --- Mutations

const sha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a sha256 hex digest');

const RecordCheckInput = builder.inputType('RecordCheckInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    gateCode: t.field({ type: GateCode, required: true }),
    checkName: t.string({ required: true }),
    status: t.field({ type: CheckStatus, required: true }),
    sourceSystem: t.field({ type: CheckSource }),
    required: t.boolean(),
    artifactRef: t.string(),
    metadata: t.field({ type: JSONScalar }),
  }),
});

const recordCheckSchema = z.object({
  releaseId: uuid,
  gateCode: z.enum(GATE_CODES),
  checkName: z.string().trim().min(1).max(200),
  status: z.enum(CHECK_STATUSES),
  sourceSystem: z.enum(CHECK_SOURCES).nullish(),
  required: z.boolean().nullish(),
  artifactRef: z.string().max(2048).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
});

builder.mutationField('recordCheck', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordCheck)).field({
    type: GateCheckRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordCheckInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, recordCheckSchema, input, (c, i) =>
        callRow<GateCheckRow>(c, 'ops.record_check', {
          p_release_id: i.releaseId,
          p_gate_code: i.gateCode,
          p_check_name: i.checkName,
          p_status: i.status,
          p_source_system: i.sourceSystem ?? undefined,
          p_required: i.required ?? undefined,
          p_artifact_ref: i.artifactRef ?? undefined,
          p_metadata: i.metadata ?? undefined,
        }),
      ),
  }),
);

const AttachEvidenceInput = builder.inputType('AttachEvidenceInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    artifactType: t.field({ type: ArtifactType, required: true }),
    artifactUrl: t.string({ required: true }),
    gateCode: t.field({ type: GateCode }),
    sha256: t.string(),
    sourceSystem: t.string(),
    metadata: t.field({ type: JSONScalar }),
    checkId: t.id(),
    deploymentId: t.id(),
  }),
});

const attachEvidenceSchema = z.object({
  releaseId: uuid,
  artifactType: z.enum(ARTIFACT_TYPES),
  artifactUrl: z.string().trim().min(1).max(2048),
  gateCode: z.enum(GATE_CODES).nullish(),
  sha256: sha256.nullish(),
  sourceSystem: z.string().min(1).max(100).nullish(),
  metadata: z.record(z.string(), z.unknown()).nullish(),
  checkId: uuid.nullish(),
  deploymentId: uuid.nullish(),
});

builder.mutationField('attachEvidence', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.attachEvidence)).field({
    type: EvidenceArtifactRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: AttachEvidenceInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, attachEvidenceSchema, input, (c, i) =>
        callRow<EvidenceArtifactRow>(c, 'ops.attach_evidence', {
          p_release_id: i.releaseId,
          p_artifact_type: i.artifactType,
          p_artifact_url: i.artifactUrl,
          p_gate_code: i.gateCode ?? undefined,
          p_sha256: i.sha256 ?? undefined,
          p_source_system: i.sourceSystem ?? undefined,
          p_metadata: i.metadata ?? undefined,
          p_check_id: i.checkId ?? undefined,
          p_deployment_id: i.deploymentId ?? undefined,
        }),
      ),
  }),
);

const ApproveGateInput = builder.inputType('ApproveGateInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    gateCode: t.field({ type: GateCode, required: true }),
    decision: t.field({ type: ApprovalDecision, required: true }),
    rationaleText: t.string(),
    rationaleStructured: t.field({ type: JSONScalar }),
  }),
});

const approveGateSchema = z.object({
  releaseId: uuid,
  gateCode: z.enum(GATE_CODES),
  decision: z.enum(APPROVAL_DECISIONS),
  rationaleText: z.string().max(10_000).nullish(),
  rationaleStructured: z.record(z.string(), z.unknown()).nullish(),
});

builder.mutationField('approveGate', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.approveGate)).field({
    type: ApprovalRef,
    description: 'Approve, reject or request changes on a gate (G2: qa_tester, G3: release_manager).',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ApproveGateInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, approveGateSchema, input, (c, i) =>
        callRow<ApprovalRow>(c, 'ops.submit_approval', {
          p_release_id: i.releaseId,
          p_decision: i.decision,
          p_gate_code: i.gateCode,
          p_rationale_text: i.rationaleText ?? undefined,
          p_rationale_structured: i.rationaleStructured ?? undefined,
        }),
      ),
  }),
);
