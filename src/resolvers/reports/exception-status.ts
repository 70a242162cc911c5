// ops.v_exception_status: exceptions with where they stand now (active, expired, pending approval,
// scheduled), computed at read time.
import { anyOf, VIEW_READERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import type {
  ExceptionTypeValue,
  ExceptionWindowStateValue,
  GateCodeValue,
  PostReviewStatusValue,
} from '../../vocabulary.js';
import { ExceptionType, ExceptionWindowState, GateCode, PostReviewStatus } from '../enums.js';
import { optionalUuidArg } from '../ids.js';
import { connectionArgs, connectionType } from '../pagination.js';
import { Conditions, keysetPage } from '../read.js';
import { DateTime } from '../scalars.js';

export interface ExceptionStatusRow {
  exception_id: string;
  release_id: string;
  project: string;
  release_name: string;
  exception_type: ExceptionTypeValue;
  impacted_gates: GateCodeValue[];
  state: ExceptionWindowStateValue;
  post_review_status: PostReviewStatusValue;
  time_left_seconds: number | null;
  requested_by: string;
  approver_id: string | null;
  approved_at: Date | null;
  effective_from: Date;
  expires_at: Date;
  reason: string;
}

const ExceptionStatus = builder.objectRef<ExceptionStatusRow>('ExceptionStatus').implement({
  description: 'An exception and where it stands now (ops.v_exception_status).',
  fields: (t) => ({
    exceptionId: t.exposeID('exception_id'),
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    exceptionType: t.expose('exception_type', { type: ExceptionType }),
    impactedGates: t.expose('impacted_gates', { type: [GateCode] }),
    state: t.expose('state', { type: ExceptionWindowState }),
    postReviewStatus: t.expose('post_review_status', { type: PostReviewStatus }),
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
    args: connectionArgs(t.arg, ExceptionStatusFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<ExceptionStatusRow>(ctx, args, {
        columns: `v.exception_id, v.release_id, v.project, v.release_name, v.exception_type,
                  v.impacted_gates::text[] as impacted_gates, v.state, v.post_review_status,
                  floor(extract(epoch from v.time_left))::int as time_left_seconds, v.requested_by,
                  v.approver_id, v.approved_at, v.effective_from, v.expires_at, v.reason`,
        from: 'ops.v_exception_status v',
        where: new Conditions()
          .when(f.state, (p) => `v.state = ${p}`)
          .when(optionalUuidArg(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
          .when(f.postReviewStatus, (p) => `v.post_review_status = ${p}::ops_post_review_status`)
          .when(f.exceptionType, (p) => `v.exception_type = ${p}::ops_exception_type`),
        at: 'v.expires_at',
        id: 'v.exception_id',
        direction: 'asc',
        idOf: (r) => r.exception_id,
      });
    },
  }),
);
