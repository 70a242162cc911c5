// Timing governance over GraphQL, one release's timing: its freeze and soak blockers per
// environment and its approval requests. Every rule is SQL's (20261130002000-002200); these
// resolvers validate shapes, authorise early and call one function each.
import { z } from 'zod';
import { ALL_PERSONAS, anyOf, MUTATION_CALLERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import { DeployEnvironment, GateCode } from '../enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from '../errors.js';
import { uuid } from '../ids.js';
import { DateTime } from '../scalars.js';

const everyone = anyOf(ALL_PERSONAS);

interface TimingBlockerRow {
  target_env: string;
  kind: string;
  reason: string;
  until: Date | null;
  window_id: string | null;
  overridden_by: string | null;
}

interface ApprovalRequestRow {
  request_id: string;
  gate_code: string;
  revision: number;
  requested_by: string;
  requested_at: Date;
  due_at: Date | null;
  note: string | null;
  state: string;
  expired_recorded_at: Date | null;
}

const ApprovalRequestState = builder.enumType('ApprovalRequestState', {
  description:
    'REQUESTED (open), DECIDED (decided before its deadline), EXPIRED (its deadline passed first).',
  values: ['REQUESTED', 'DECIDED', 'EXPIRED'] as const,
});

const TimingBlockerKind = builder.enumType('TimingBlockerKind', { values: ['FREEZE', 'SOAK'] as const });

const TimingBlocker = builder.objectRef<TimingBlockerRow>('TimingBlocker').implement({
  description:
    'A freeze or a soak time standing between the release and an environment now; overriddenBy names the approved timing_override exception that lifts it, if any.',
  fields: (t) => ({
    environment: t.field({ type: DeployEnvironment, resolve: (b) => b.target_env as never }),
    kind: t.field({ type: TimingBlockerKind, resolve: (b) => b.kind.toUpperCase() as never }),
    reason: t.exposeString('reason'),
    until: t.field({ type: DateTime, nullable: true, resolve: (b) => b.until }),
    windowId: t.exposeID('window_id', { nullable: true }),
    overriddenBy: t.exposeID('overridden_by', { nullable: true }),
  }),
});

const ApprovalRequest = builder.objectRef<ApprovalRequestRow>('ApprovalRequest').implement({
  description: 'A request for a G2/G3 decision, due by the approval deadline in force when it was made.',
  fields: (t) => ({
    id: t.exposeID('request_id'),
    gateCode: t.field({ type: GateCode, resolve: (r) => r.gate_code as never }),
    revision: t.exposeInt('revision'),
    requestedBy: t.exposeString('requested_by'),
    requestedAt: t.field({ type: DateTime, resolve: (r) => r.requested_at }),
    dueAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.due_at }),
    note: t.exposeString('note', { nullable: true }),
    state: t.field({ type: ApprovalRequestState, resolve: (r) => r.state.toUpperCase() as never }),
    expiryRecordedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.expired_recorded_at }),
  }),
});

builder.queryField('releaseTiming', (t) =>
  t.withAuth(everyone).field({
    type: [TimingBlocker],
    description: "The release's freezes and soak times now, per environment (ops.release_timing_status).",
    args: { releaseId: t.arg.id({ required: true }) },
    errors: { types: MUTATION_ERRORS },
    resolve: (_r, args, ctx) =>
      runMutation(ctx, z.object({ releaseId: uuid }), args, async (c, i) => {
        const { rows } = await c.query<TimingBlockerRow>('select * from ops.release_timing_status($1)', [
          i.releaseId,
        ]);
        return rows;
      }),
  }),
);

builder.queryField('approvalRequests', (t) =>
  t.withAuth(everyone).field({
    type: [ApprovalRequest],
    description: "The release's approval requests with their state now (ops.release_approval_requests).",
    args: { releaseId: t.arg.id({ required: true }) },
    errors: { types: MUTATION_ERRORS },
    resolve: (_r, args, ctx) =>
      runMutation(ctx, z.object({ releaseId: uuid }), args, async (c, i) => {
        const { rows } = await c.query<ApprovalRequestRow>(
          'select * from ops.release_approval_requests($1)',
          [i.releaseId],
        );
        return rows;
      }),
  }),
);

const RequestApprovalInput = builder.inputType('RequestApprovalInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    gateCode: t.field({ type: GateCode, required: true }),
    note: t.string(),
  }),
});

builder.mutationField('requestApproval', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.requestApproval)).field({
    type: ApprovalRequest,
    description: 'Ask for a G2/G3 decision; it expires after the approval deadline in force.',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RequestApprovalInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({
          releaseId: uuid,
          gateCode: z.enum(['G2', 'G3'], { message: 'approvals are requested for G2 or G3' }),
          note: z.string().trim().min(1).max(2000).nullish(),
        }),
        input,
        async (c, i) => {
          const r = await callRow<{ request_id: string }>(c, 'ops.request_approval', {
            p_release_id: i.releaseId,
            p_gate_code: i.gateCode,
            p_note: i.note ?? undefined,
          });
          const { rows } = await c.query<ApprovalRequestRow>(
            'select * from ops.release_approval_requests($1) where request_id = $2',
            [i.releaseId, r.request_id],
          );
          return rows[0]!;
        },
      ),
  }),
);
