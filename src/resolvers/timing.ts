// Timing governance over GraphQL: the freeze calendar ("what is frozen now"), soak and deadline
// policies, a release's timing blockers and approval requests, and the mutations that manage them.
// Every rule is SQL's (20261130002000-002200); these resolvers validate shapes, authorise early and
// call one function each.
import { z } from 'zod';
import { ALL_PERSONAS, anyOf, MUTATION_CALLERS } from '../auth/access.js';
import { builder } from '../builder.js';
import { DeployEnvironment, GateCode } from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { uuid } from './ids.js';
import { DateTime } from './scalars.js';

interface FreezeWindowRow {
  window_id: string;
  name: string;
  environment: string;
  project: string | null;
  reason: string;
  recurrence: string;
  time_zone: string | null;
  weekly_from_dow: number | null;
  weekly_from_time: string | null;
  weekly_until_dow: number | null;
  weekly_until_time: string | null;
  starts_at: Date;
  ends_at: Date | null;
  state: string;
  occurrence_starts_at: Date | null;
  occurrence_ends_at: Date | null;
  ended_at: Date | null;
  ended_by: string | null;
  end_reason: string | null;
  created_by: string;
  created_at: Date;
}

interface ActiveFreezeRow {
  window_id: string;
  name: string;
  environment: string;
  project: string | null;
  reason: string;
  occurrence_starts_at: Date;
  until: Date;
  created_by: string;
}

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

interface SoakPolicyRow {
  policy_id: string;
  from_env: string;
  to_env: string;
  project: string | null;
  min_soak_seconds: number;
  updated_at: Date | null;
  created_at: Date;
}

interface DeadlinePolicyRow {
  policy_id: string;
  gate_code: string;
  environment: string | null;
  project: string | null;
  within_seconds: number | null;
  updated_at: Date | null;
  created_at: Date;
}

const FreezeState = builder.enumType('FreezeState', {
  description: 'A freeze window now: ACTIVE (an occurrence is on), SCHEDULED, ENDED (ended by hand), OVER.',
  values: ['ACTIVE', 'SCHEDULED', 'ENDED', 'OVER'] as const,
});

const ApprovalRequestState = builder.enumType('ApprovalRequestState', {
  description:
    'REQUESTED (open), DECIDED (decided before its deadline), EXPIRED (its deadline passed first).',
  values: ['REQUESTED', 'DECIDED', 'EXPIRED'] as const,
});

const TimingBlockerKind = builder.enumType('TimingBlockerKind', { values: ['FREEZE', 'SOAK'] as const });

const FreezeWindow = builder.objectRef<FreezeWindowRow>('FreezeWindow').implement({
  description:
    'A change freeze: while an occurrence is active, promotion to its environment (of its project, or of every project) is refused at the moment of the write.',
  fields: (t) => ({
    id: t.exposeID('window_id'),
    name: t.exposeString('name'),
    environment: t.field({ type: DeployEnvironment, resolve: (w) => w.environment as never }),
    project: t.exposeString('project', { nullable: true }),
    reason: t.exposeString('reason'),
    weekly: t.boolean({ resolve: (w) => w.recurrence === 'weekly' }),
    timeZone: t.exposeString('time_zone', { nullable: true, description: 'IANA zone of a weekly window.' }),
    weeklyFromDay: t.exposeInt('weekly_from_dow', {
      nullable: true,
      description: 'ISO weekday, 1 = Monday.',
    }),
    weeklyFromTime: t.exposeString('weekly_from_time', { nullable: true }),
    weeklyUntilDay: t.exposeInt('weekly_until_dow', { nullable: true }),
    weeklyUntilTime: t.exposeString('weekly_until_time', { nullable: true }),
    startsAt: t.field({ type: DateTime, resolve: (w) => w.starts_at }),
    endsAt: t.field({ type: DateTime, nullable: true, resolve: (w) => w.ends_at }),
    state: t.field({ type: FreezeState, resolve: (w) => w.state.toUpperCase() as never }),
    occurrenceStartsAt: t.field({
      type: DateTime,
      nullable: true,
      description: 'The current or next occurrence (looked for up to 400 days ahead).',
      resolve: (w) => w.occurrence_starts_at,
    }),
    occurrenceEndsAt: t.field({ type: DateTime, nullable: true, resolve: (w) => w.occurrence_ends_at }),
    endedAt: t.field({ type: DateTime, nullable: true, resolve: (w) => w.ended_at }),
    endedBy: t.exposeString('ended_by', { nullable: true }),
    endReason: t.exposeString('end_reason', { nullable: true }),
    createdBy: t.exposeString('created_by'),
    createdAt: t.field({ type: DateTime, resolve: (w) => w.created_at }),
  }),
});

const ActiveFreeze = builder.objectRef<ActiveFreezeRow>('ActiveFreeze').implement({
  description: 'A freeze window active at the instant asked about, with the end of its current occurrence.',
  fields: (t) => ({
    windowId: t.exposeID('window_id'),
    name: t.exposeString('name'),
    environment: t.field({ type: DeployEnvironment, resolve: (w) => w.environment as never }),
    project: t.exposeString('project', { nullable: true }),
    reason: t.exposeString('reason'),
    startedAt: t.field({ type: DateTime, resolve: (w) => w.occurrence_starts_at }),
    until: t.field({ type: DateTime, resolve: (w) => w.until }),
    createdBy: t.exposeString('created_by'),
  }),
});

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

const SoakPolicy = builder.objectRef<SoakPolicyRow>('SoakPolicy').implement({
  description: 'How long a revision must stand healthy in fromEnvironment before promotion to toEnvironment.',
  fields: (t) => ({
    id: t.exposeID('policy_id'),
    fromEnvironment: t.field({ type: DeployEnvironment, resolve: (p) => p.from_env as never }),
    toEnvironment: t.field({ type: DeployEnvironment, resolve: (p) => p.to_env as never }),
    project: t.exposeString('project', { nullable: true }),
    minSoakSeconds: t.exposeInt('min_soak_seconds'),
    updatedAt: t.field({ type: DateTime, nullable: true, resolve: (p) => p.updated_at }),
  }),
});

const DeadlinePolicy = builder.objectRef<DeadlinePolicyRow>('DeadlinePolicy').implement({
  description: 'G2/G3: the time a requested approval may stay undecided; G4: the time to confirm health.',
  fields: (t) => ({
    id: t.exposeID('policy_id'),
    gateCode: t.field({ type: GateCode, resolve: (p) => p.gate_code as never }),
    environment: t.field({ type: DeployEnvironment, nullable: true, resolve: (p) => p.environment as never }),
    project: t.exposeString('project', { nullable: true }),
    withinSeconds: t.exposeInt('within_seconds', { nullable: true }),
    updatedAt: t.field({ type: DateTime, nullable: true, resolve: (p) => p.updated_at }),
  }),
});

const everyone = anyOf(ALL_PERSONAS);

builder.queryField('freezeWindows', (t) =>
  t.withAuth(everyone).field({
    type: [FreezeWindow],
    description:
      'The freeze calendar (ops.v_freeze_calendar), optionally of one environment and state; at most 500.',
    args: { environment: t.arg({ type: DeployEnvironment }), state: t.arg({ type: FreezeState }) },
    resolve: (_r, args, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<FreezeWindowRow>(
          `select * from ops.v_freeze_calendar
           where ($1::text is null or environment::text = $1) and ($2::text is null or state = lower($2))
           order by occurrence_starts_at nulls last, starts_at, window_id limit 500`,
          [args.environment ?? null, args.state ?? null],
        );
        return rows;
      }),
  }),
);

builder.queryField('activeFreezes', (t) =>
  t.withAuth(everyone).field({
    type: [ActiveFreeze],
    description: 'What is frozen now (or at `at`): ops.freeze_windows_active.',
    args: { at: t.arg({ type: DateTime }) },
    resolve: (_r, args, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<ActiveFreezeRow>('select * from ops.freeze_windows_active($1)', [
          args.at ?? null,
        ]);
        return rows;
      }),
  }),
);

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

builder.queryField('soakPolicies', (t) =>
  t.withAuth(everyone).field({
    type: [SoakPolicy],
    resolve: (_r, _a, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<SoakPolicyRow>(
          `select p.*, extract(epoch from p.min_soak)::int as min_soak_seconds from ops.soak_policies p
           order by p.from_env, p.to_env, p.project nulls first`,
        );
        return rows;
      }),
  }),
);

builder.queryField('deadlinePolicies', (t) =>
  t.withAuth(everyone).field({
    type: [DeadlinePolicy],
    resolve: (_r, _a, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<DeadlinePolicyRow>(
          `select p.*, extract(epoch from p.within)::int as within_seconds from ops.deadline_policies p
           order by p.gate_code, p.environment nulls first, p.project nulls first`,
        );
        return rows;
      }),
  }),
);

const AddFreezeWindowInput = builder.inputType('AddFreezeWindowInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    environment: t.field({ type: DeployEnvironment, required: true }),
    reason: t.string({ required: true }),
    startsAt: t.field({ type: DateTime, required: true }),
    endsAt: t.field({ type: DateTime, description: 'Required for a one-off window; ends a weekly one.' }),
    project: t.string({ description: 'Omit to freeze every project.' }),
    timeZone: t.string({ description: 'IANA zone of a weekly window, e.g. Europe/Brussels.' }),
    weeklyFromDay: t.int({ description: 'ISO weekday the weekly freeze starts, 1 = Monday.' }),
    weeklyFromTime: t.string({ description: 'Local time it starts, HH:MM.' }),
    weeklyUntilDay: t.int(),
    weeklyUntilTime: t.string(),
  }),
});

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM');
const addFreezeWindowSchema = z.object({
  name: z.string().trim().min(1).max(200),
  environment: z.enum(['staging', 'production']),
  reason: z.string().trim().min(1).max(2000),
  startsAt: z.date(),
  endsAt: z.date().nullish(),
  project: z.string().trim().min(1).max(200).nullish(),
  timeZone: z.string().min(1).max(100).nullish(),
  weeklyFromDay: z.number().int().min(1).max(7).nullish(),
  weeklyFromTime: hhmm.nullish(),
  weeklyUntilDay: z.number().int().min(1).max(7).nullish(),
  weeklyUntilTime: hhmm.nullish(),
});

builder.mutationField('addFreezeWindow', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.addFreezeWindow)).field({
    type: FreezeWindow,
    description: 'Add a freeze window (release managers; SREs too, e.g. during an incident).',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: AddFreezeWindowInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, addFreezeWindowSchema, input, async (c, i) => {
        const w = await callRow<{ window_id: string }>(c, 'ops.add_freeze_window', {
          p_name: i.name,
          p_environment: i.environment,
          p_reason: i.reason,
          p_starts_at: i.startsAt,
          p_ends_at: i.endsAt ?? undefined,
          p_project: i.project ?? undefined,
          p_time_zone: i.timeZone ?? undefined,
          p_weekly_from_dow: i.weeklyFromDay ?? undefined,
          p_weekly_from_time: i.weeklyFromTime ?? undefined,
          p_weekly_until_dow: i.weeklyUntilDay ?? undefined,
          p_weekly_until_time: i.weeklyUntilTime ?? undefined,
        });
        const { rows } = await c.query<FreezeWindowRow>(
          'select * from ops.v_freeze_calendar where window_id = $1',
          [w.window_id],
        );
        return rows[0]!;
      }),
  }),
);

const EndFreezeWindowInput = builder.inputType('EndFreezeWindowInput', {
  fields: (t) => ({ windowId: t.id({ required: true }), reason: t.string({ required: true }) }),
});

builder.mutationField('endFreezeWindow', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.endFreezeWindow)).field({
    type: FreezeWindow,
    description: 'End a freeze window now (release managers).',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: EndFreezeWindowInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({ windowId: uuid, reason: z.string().trim().min(1).max(2000) }),
        input,
        async (c, i) => {
          await callRow(c, 'ops.end_freeze_window', { p_window_id: i.windowId, p_reason: i.reason });
          const { rows } = await c.query<FreezeWindowRow>(
            'select * from ops.v_freeze_calendar where window_id = $1',
            [i.windowId],
          );
          return rows[0]!;
        },
      ),
  }),
);

const SetSoakPolicyInput = builder.inputType('SetSoakPolicyInput', {
  fields: (t) => ({
    fromEnvironment: t.field({ type: DeployEnvironment, required: true }),
    toEnvironment: t.field({ type: DeployEnvironment, required: true }),
    minSoakSeconds: t.int({ required: true, description: '0 switches the soak off; at most 30 days.' }),
    project: t.string(),
  }),
});

builder.mutationField('setSoakPolicy', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.setSoakPolicy)).field({
    type: SoakPolicy,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: SetSoakPolicyInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({
          fromEnvironment: z.enum(['staging', 'production']),
          toEnvironment: z.enum(['staging', 'production']),
          minSoakSeconds: z
            .number()
            .int()
            .min(0)
            .max(30 * 86_400),
          project: z.string().trim().min(1).max(200).nullish(),
        }),
        input,
        async (c, i) => {
          const { rows } = await c.query<SoakPolicyRow>(
            `select p.*, extract(epoch from p.min_soak)::int as min_soak_seconds
             from ops.set_soak_policy($1, $2, make_interval(secs => $3), $4) p`,
            [i.fromEnvironment, i.toEnvironment, i.minSoakSeconds, i.project ?? null],
          );
          return rows[0]!;
        },
      ),
  }),
);

const SetDeadlinePolicyInput = builder.inputType('SetDeadlinePolicyInput', {
  fields: (t) => ({
    gateCode: t.field({ type: GateCode, required: true }),
    withinSeconds: t.int({ description: 'Omit or null to switch the deadline off; at most 30 days.' }),
    environment: t.field({ type: DeployEnvironment, description: 'G4 only.' }),
    project: t.string(),
  }),
});

builder.mutationField('setDeadlinePolicy', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.setDeadlinePolicy)).field({
    type: DeadlinePolicy,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: SetDeadlinePolicyInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({
          gateCode: z.enum(['G2', 'G3', 'G4']),
          withinSeconds: z
            .number()
            .int()
            .min(1)
            .max(30 * 86_400)
            .nullish(),
          environment: z.enum(['staging', 'production']).nullish(),
          project: z.string().trim().min(1).max(200).nullish(),
        }),
        input,
        async (c, i) => {
          const { rows } = await c.query<DeadlinePolicyRow>(
            `select p.*, extract(epoch from p.within)::int as within_seconds
             from ops.set_deadline_policy($1, make_interval(secs => $2), $3, $4) p`,
            [i.gateCode, i.withinSeconds ?? null, i.environment ?? null, i.project ?? null],
          );
          return rows[0]!;
        },
      ),
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
