// Exceptions: time-bounded, attributable waivers of gates. Requested by one person, approved by a
// different release manager, reviewed afterwards; whether one is active is computed in SQL.
import { z } from 'zod';
import { anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import {
  EXCEPTION_TYPES,
  type EXCEPTION_WINDOW_STATES,
  GATE_CODES,
  POST_REVIEW_STATUSES,
} from '../vocabulary.js';
import { ExceptionState, ExceptionType, GateCode, PostReviewStatus } from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { optionalUuidArg, uuid } from './ids.js';
import { loadRows } from './loaders.js';
import { readRows } from './read.js';
import { ApprovalRef, ExceptionRef, ReleaseRef } from './refs.js';
import { EXCEPTION, type ExceptionRow, pgArray } from './rows.js';
import { DateTime, JSONScalar } from './scalars.js';

ExceptionRef.implement({
  description: 'A time-bounded waiver of one or more gates of a release.',
  fields: (t) => ({
    id: t.exposeID('exception_id'),
    exceptionType: t.expose('exception_type', { type: ExceptionType }),
    impactedGates: t.field({ type: [GateCode], resolve: (e) => pgArray(e.impacted_gates) }),
    reason: t.exposeString('reason'),
    riskStatement: t.exposeString('risk_statement'),
    requestedBy: t.exposeString('requested_by'),
    approverId: t.exposeString('approver_id', { nullable: true }),
    approvedAt: t.field({ type: DateTime, nullable: true, resolve: (e) => e.approved_at }),
    effectiveFrom: t.field({ type: DateTime, resolve: (e) => e.effective_from }),
    expiresAt: t.field({ type: DateTime, resolve: (e) => e.expires_at }),
    compensatingControls: t.field({ type: JSONScalar, resolve: (e) => e.compensating_controls }),
    postReviewStatus: t.expose('post_review_status', { type: PostReviewStatus }),
    createdAt: t.field({ type: DateTime, resolve: (e) => e.created_at }),
    release: t.withAuth(anyOf(TABLE_READERS.releases)).field({
      type: ReleaseRef,
      nullable: true,
      resolve: (e, _a, ctx) => loadRows(ctx, 'release', e.release_id),
    }),
    approvals: t.withAuth(anyOf(TABLE_READERS.approvals)).field({
      type: [ApprovalRef],
      resolve: (e, _a, ctx) => loadRows(ctx, 'approvalsByException', e.exception_id),
    }),
  }),
});

// Which exceptions a state selects. Whether one is active or expired is the rule of
// ops.v_exception_status (its state column, over ops.exception_is_active and the window, computed
// by SQL at read time, so an exception is EXPIRED the instant its window closes); PENDING_REVIEW is
// the stored post-review status. The view's readers are the exceptions' readers (access.ts).
const STATE_SELECTS = {
  ACTIVE: { state: 'active', postReviewStatus: null },
  EXPIRED: { state: 'expired', postReviewStatus: null },
  PENDING_REVIEW: { state: null, postReviewStatus: 'pending' },
} as const satisfies Record<
  string,
  {
    state: (typeof EXCEPTION_WINDOW_STATES)[number] | null;
    postReviewStatus: (typeof POST_REVIEW_STATUSES)[number] | null;
  }
>;

builder.queryField('exceptions', (t) =>
  t.withAuth(anyOf(TABLE_READERS.exceptions)).field({
    type: [ExceptionRef],
    description: 'Exceptions in a state (all when omitted), soonest expiry first; at most 500.',
    args: { state: t.arg({ type: ExceptionState }), releaseId: t.arg.id() },
    resolve: (_r, args, ctx) => {
      const releaseId = optionalUuidArg(args.releaseId, 'releaseId');
      const select = args.state ? STATE_SELECTS[args.state] : { state: null, postReviewStatus: null };
      return readRows<ExceptionRow>(
        ctx,
        `select ${EXCEPTION.list('e')} from ops.exceptions e
         join ops.v_exception_status s on s.exception_id = e.exception_id
         where ($1::text is null or s.state = $1)
           and ($2::public.ops_post_review_status is null or e.post_review_status = $2)
           and ($3::uuid is null or e.release_id = $3)
         order by e.expires_at, e.exception_id limit 500`,
        [select.state, select.postReviewStatus, releaseId],
      );
    },
  }),
);

const RequestExceptionInput = builder.inputType('RequestExceptionInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    exceptionType: t.field({ type: ExceptionType, required: true }),
    impactedGates: t.field({ type: [GateCode], required: true }),
    reason: t.string({ required: true }),
    riskStatement: t.string({ required: true }),
    expiresAt: t.field({ type: DateTime, required: true }),
    effectiveFrom: t.field({ type: DateTime }),
    compensatingControls: t.field({ type: JSONScalar }),
  }),
});

const requestExceptionSchema = z.object({
  releaseId: uuid,
  exceptionType: z.enum(EXCEPTION_TYPES),
  impactedGates: z.array(z.enum(GATE_CODES)).min(1, 'name at least one gate'),
  reason: z.string().trim().min(1).max(5000),
  riskStatement: z.string().trim().min(1).max(5000),
  expiresAt: z.date(),
  effectiveFrom: z.date().nullish(),
  compensatingControls: z.unknown().nullish(),
});

builder.mutationField('requestException', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.requestException)).field({
    type: ExceptionRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RequestExceptionInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, requestExceptionSchema, input, (c, i) =>
        callRow<ExceptionRow>(c, 'ops.request_exception', {
          p_release_id: i.releaseId,
          p_exception_type: i.exceptionType,
          p_impacted_gates: i.impactedGates,
          p_reason: i.reason,
          p_risk_statement: i.riskStatement,
          p_expires_at: i.expiresAt,
          p_effective_from: i.effectiveFrom ?? undefined,
          p_compensating_controls:
            i.compensatingControls === undefined || i.compensatingControls === null
              ? undefined
              : JSON.stringify(i.compensatingControls),
        }),
      ),
  }),
);

const ApproveExceptionInput = builder.inputType('ApproveExceptionInput', {
  fields: (t) => ({ exceptionId: t.id({ required: true }), rationale: t.string() }),
});

const approveExceptionSchema = z.object({ exceptionId: uuid, rationale: z.string().max(5000).nullish() });

builder.mutationField('approveException', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.approveException)).field({
    type: ExceptionRef,
    description: 'Approve an exception someone else requested.',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ApproveExceptionInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, approveExceptionSchema, input, (c, i) =>
        callRow<ExceptionRow>(c, 'ops.approve_exception', {
          p_exception_id: i.exceptionId,
          p_rationale: i.rationale ?? undefined,
        }),
      ),
  }),
);

const ReviewExceptionInput = builder.inputType('ReviewExceptionInput', {
  fields: (t) => ({
    exceptionId: t.id({ required: true }),
    postReviewStatus: t.field({ type: PostReviewStatus, required: true }),
  }),
});

const reviewExceptionSchema = z.object({ exceptionId: uuid, postReviewStatus: z.enum(POST_REVIEW_STATUSES) });

builder.mutationField('reviewException', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.reviewException)).field({
    type: ExceptionRef,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: ReviewExceptionInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, reviewExceptionSchema, input, (c, i) =>
        callRow<ExceptionRow>(c, 'ops.review_exception', {
          p_exception_id: i.exceptionId,
          p_status: i.postReviewStatus,
        }),
      ),
  }),
);
