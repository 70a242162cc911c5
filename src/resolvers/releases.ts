// Releases: the Release type, its queries (by id, by name, a keyset-paginated list), promotion
// eligibility, and createRelease / promoteRelease.
import { z } from 'zod';
import { ALL_PERSONAS, anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import { fromDatabaseError } from '../errors.js';
import type { EnvironmentValue } from '../vocabulary.js';
import { DeployEnvironment, Environment, GateCode, GateStatus, ReleaseStatus } from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { uuid, uuidArg } from './ids.js';
import { type BlockerRow, loaders, loadRows } from './loaders.js';
import { connectionArgs, connectionType } from './pagination.js';
import { readReleaseTree } from './prefetch.js';
import { Conditions, keysetPage } from './read.js';
import {
  ApprovalRef,
  DeploymentRef,
  EvidenceArtifactRef,
  ExceptionRef,
  ReleaseGateRef,
  ReleaseRef,
  ReleaseRevisionRef,
} from './refs.js';
import { type DeploymentRow, RELEASE, type ReleaseRevisionRow, type ReleaseRow } from './rows.js';
import { DateTime, JSONScalar } from './scalars.js';

ReleaseRef.implement({
  description: 'A release of a project and the record of its way to production.',
  fields: (t) => ({
    id: t.exposeID('release_id', { description: 'The row UUID (ops.releases.release_id).' }),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    environmentTarget: t.expose('environment_target', { type: Environment }),
    sourceRef: t.exposeString('source_ref', {
      nullable: true,
      description: 'The revision the release ships: changed only by reviseRelease.',
    }),
    artifactDigest: t.exposeString('artifact_digest', {
      nullable: true,
      description: 'The artifact of the current revision (sha256:…), when one was recorded.',
    }),
    revision: t.exposeInt('revision', {
      description:
        'The current revision number (1 at creation). Checks, evidence, approvals and deployments of earlier revisions no longer count.',
    }),
    revisions: t.withAuth(anyOf(TABLE_READERS.release_revisions)).field({
      type: [ReleaseRevisionRef],
      description: 'Every revision the release was bound to, first to current, with who moved it and why.',
      resolve: (r, _a, ctx) => loadRows(ctx, 'revisionsByRelease', r.release_id),
    }),
    scopeMetadata: t.field({ type: JSONScalar, resolve: (r) => r.scope_metadata }),
    initiatingActor: t.exposeString('initiating_actor'),
    status: t.expose('status', { type: ReleaseStatus }),
    createdAt: t.field({ type: DateTime, resolve: (r) => r.created_at }),
    createdBy: t.exposeString('created_by'),
    gates: t.withAuth(anyOf(TABLE_READERS.release_gates)).field({
      type: [ReleaseGateRef],
      description: 'G1-G4, in order.',
      resolve: (r, _a, ctx) => loadRows(ctx, 'gatesByRelease', r.release_id),
    }),
    approvals: t.withAuth(anyOf(TABLE_READERS.approvals)).field({
      type: [ApprovalRef],
      description: 'Every approval on the release, its gates and its exceptions, oldest first.',
      resolve: (r, _a, ctx) => loadRows(ctx, 'approvalsByRelease', r.release_id),
    }),
    evidence: t.withAuth(anyOf(TABLE_READERS.evidence_artifacts)).field({
      type: [EvidenceArtifactRef],
      resolve: (r, _a, ctx) => loadRows(ctx, 'evidenceByRelease', r.release_id),
    }),
    exceptions: t.withAuth(anyOf(TABLE_READERS.exceptions)).field({
      type: [ExceptionRef],
      resolve: (r, _a, ctx) => loadRows(ctx, 'exceptionsByRelease', r.release_id),
    }),
    deployments: t.withAuth(anyOf(TABLE_READERS.deployments)).field({
      type: [DeploymentRef],
      resolve: (r, _a, ctx) => loadRows(ctx, 'deploymentsByRelease', r.release_id),
    }),
    eligibility: t.withAuth(anyOf(ALL_PERSONAS)).field({
      type: PromotionEligibility,
      args: { environment: t.arg({ type: Environment, required: true }) },
      resolve: (r, args, ctx) => loadEligibility(ctx, r.release_id, args.environment),
    }),
  }),
});

ReleaseRevisionRef.implement({
  description:
    'One revision of a release: the source_ref (and artifact digest) it was bound to, from when, by whom and why.',
  fields: (t) => ({
    id: t.exposeID('revision_id'),
    releaseId: t.exposeID('release_id'),
    revision: t.exposeInt('revision'),
    sourceRef: t.exposeString('source_ref', { nullable: true }),
    artifactDigest: t.exposeString('artifact_digest', { nullable: true }),
    previousSourceRef: t.exposeString('previous_source_ref', { nullable: true }),
    previousArtifactDigest: t.exposeString('previous_artifact_digest', { nullable: true }),
    reason: t.exposeString('reason'),
    revisedBy: t.exposeString('revised_by'),
    createdAt: t.field({ type: DateTime, resolve: (v) => v.created_at }),
  }),
});

type Blocker = Pick<BlockerRow, 'gate_code' | 'status' | 'reason'>;

interface Eligibility {
  releaseId: string;
  environment: EnvironmentValue;
  eligible: boolean;
  blockers: Blocker[];
}

const PromotionBlocker = builder.objectRef<Blocker>('PromotionBlocker').implement({
  description: 'One unmet requirement, in words a release manager understands.',
  fields: (t) => ({
    gateCode: t.expose('gate_code', { type: GateCode }),
    status: t.expose('status', { type: GateStatus }),
    reason: t.exposeString('reason'),
  }),
});

const PromotionEligibility = builder.objectRef<Eligibility>('PromotionEligibility').implement({
  description: 'Whether the release may be promoted to the environment now, and if not, why not.',
  fields: (t) => ({
    releaseId: t.exposeID('releaseId'),
    environment: t.expose('environment', { type: Environment }),
    eligible: t.exposeBoolean('eligible'),
    blockers: t.field({ type: [PromotionBlocker], resolve: (e) => e.blockers }),
  }),
});

/**
 * Eligibility comes from ops.promotion_blockers: the rule is SQL's, never re-derived here. Loaded
 * per page (one statement for every release asked about), then read per environment.
 */
async function loadEligibility(
  ctx: Parameters<typeof loaders>[0],
  releaseId: string,
  environment: EnvironmentValue,
): Promise<Eligibility> {
  const all = await loaders(ctx)
    .blockersByRelease.load(releaseId)
    // An unknown (or, for a developer, someone else's) release is NotFound, not a server error.
    .catch((err: unknown) => {
      throw fromDatabaseError(err);
    });
  const blockers = all.filter((b) => b.target_env === environment);
  return { releaseId, environment, eligible: blockers.length === 0, blockers };
}

builder.queryFields((t) => ({
  release: t.withAuth(anyOf(TABLE_READERS.releases)).field({
    type: ReleaseRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    description: 'The release with the relations the query selects under it, read in one statement.',
    resolve: (_r, args, ctx, info) =>
      readReleaseTree(ctx, info, 't0.release_id = $1', [uuidArg(args.id, 'id')]),
  }),
  releaseByName: t.withAuth(anyOf(TABLE_READERS.releases)).field({
    type: ReleaseRef,
    nullable: true,
    args: { project: t.arg.string({ required: true }), name: t.arg.string({ required: true }) },
    resolve: (_r, args, ctx, info) =>
      readReleaseTree(ctx, info, 't0.project = $1 and t0.release_name = $2', [args.project, args.name]),
  }),
  promotionEligibility: t.withAuth(anyOf(ALL_PERSONAS)).field({
    type: PromotionEligibility,
    description:
      'May the release go to the environment now? Computed at read time: an expired exception stops helping the instant it expires.',
    args: {
      releaseId: t.arg.id({ required: true }),
      environment: t.arg({ type: Environment, required: true }),
    },
    resolve: (_r, args, ctx) => loadEligibility(ctx, uuidArg(args.releaseId, 'releaseId'), args.environment),
  }),
}));

const ReleaseConnection = connectionType<ReleaseRow>('Release', ReleaseRef);

const ReleaseFilter = builder.inputType('ReleaseFilter', {
  fields: (t) => ({
    project: t.string(),
    status: t.field({ type: ReleaseStatus }),
    environmentTarget: t.field({ type: Environment }),
    createdAfter: t.field({ type: DateTime }),
    createdBefore: t.field({ type: DateTime }),
  }),
});

builder.queryField('releases', (t) =>
  t.withAuth(anyOf(TABLE_READERS.releases)).field({
    type: ReleaseConnection,
    description: 'Releases, newest first; at most 100 per page.',
    args: connectionArgs(t.arg, ReleaseFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<ReleaseRow>(ctx, args, {
        columns: RELEASE.list('r'),
        from: 'ops.releases r',
        where: new Conditions()
          .when(f.project, (p) => `r.project = ${p}`)
          .when(f.status, (p) => `r.status = ${p}::ops_release_status`)
          .when(f.environmentTarget, (p) => `r.environment_target = ${p}::ops_environment`)
          .when(f.createdAfter, (p) => `r.created_at >= ${p}::timestamptz`)
          .when(f.createdBefore, (p) => `r.created_at < ${p}::timestamptz`),
        at: 'r.created_at',
        id: 'r.release_id',
        direction: 'desc',
        idOf: (r) => r.release_id,
      });
    },
  }),
);

// --- Mutations

const CreateReleaseInput = builder.inputType('CreateReleaseInput', {
  fields: (t) => ({
    project: t.string({ required: true }),
    releaseName: t.string({ required: true }),
    environmentTarget: t.field({ type: Environment }),
    sourceRef: t.string(),
    scopeMetadata: t.field({ type: JSONScalar }),
    initiatingActor: t.string({ description: 'Only a ci_service_role names someone else.' }),
  }),
});

export const createReleaseSchema = z.object({
  project: z.string().trim().min(1).max(200),
  releaseName: z.string().trim().min(1).max(200),
  environmentTarget: z.enum(['dev', 'staging', 'production']).nullish(),
  sourceRef: z.string().max(500).nullish(),
  scopeMetadata: z.record(z.string(), z.unknown()).nullish(),
  initiatingActor: z.string().min(1).max(200).nullish(),
});

builder.mutationField('createRelease', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.createRelease)).field({
    type: ReleaseRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: CreateReleaseInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, createReleaseSchema, input, (c, i) =>
        callRow<ReleaseRow>(c, 'ops.create_release', {
          p_project: i.project,
          p_release_name: i.releaseName,
          p_environment_target: i.environmentTarget ?? undefined,
          p_source_ref: i.sourceRef ?? undefined,
          p_scope_metadata: i.scopeMetadata ?? undefined,
          p_initiating_actor: i.initiatingActor ?? undefined,
        }),
      ),
  }),
);

const PromoteReleaseInput = builder.inputType('PromoteReleaseInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    environment: t.field({ type: DeployEnvironment, required: true }),
    sourceRef: t.string(),
  }),
});

const promoteSchema = z.object({
  releaseId: uuid,
  environment: z.enum(['staging', 'production']),
  sourceRef: z.string().max(500).nullish(),
});

builder.mutationField('promoteRelease', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.promoteRelease)).field({
    type: DeploymentRef,
    description: 'Deploys the release if it is eligible now; refused with its blockers otherwise.',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: PromoteReleaseInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, promoteSchema, input, (c, i) =>
        callRow<DeploymentRow>(c, 'ops.promote_release', {
          p_release_id: i.releaseId,
          p_target_env: i.environment,
          p_source_ref: i.sourceRef ?? undefined,
        }),
      ),
  }),
);

const ReviseReleaseInput = builder.inputType('ReviseReleaseInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    sourceRef: t.string({ required: true, description: 'The commit, tag or branch the release now ships.' }),
    artifactDigest: t.string({ description: 'sha256:<64 hex> of the artifact built from it, if known.' }),
    reason: t.string({ required: true, description: "Why: it makes the release's approvals stale." }),
  }),
});

const reviseSchema = z.object({
  releaseId: uuid,
  sourceRef: z.string().trim().min(1).max(500),
  artifactDigest: z
    .string()
    .regex(/^(sha256:)?[0-9a-fA-F]{64}$/, 'must be sha256:<64 hexadecimal digits>')
    .nullish(),
  reason: z.string().trim().min(1).max(2000),
});

builder.mutationField('reviseRelease', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.reviseRelease)).field({
    type: ReleaseRevisionRef,
    description:
      "Binds the release to another revision (ops.revise_release): its checks, evidence and approvals so far stop counting and its gates are re-evaluated. A release_manager or the release's own developer; never a release in production.",
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ReviseReleaseInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, reviseSchema, input, (c, i) =>
        callRow<ReleaseRevisionRow>(c, 'ops.revise_release', {
          p_release_id: i.releaseId,
          p_source_ref: i.sourceRef,
          p_artifact_digest: i.artifactDigest ?? undefined,
          p_reason: i.reason,
        }),
      ),
  }),
);
