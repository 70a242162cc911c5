// Timing governance over GraphQL, the freeze calendar: its windows ("what is frozen now") and the
// mutations that add and end them. Every rule is SQL's (20261130002000-002200); these resolvers
// validate shapes, authorise early and call one function each.
import { z } from 'zod';
import { ALL_PERSONAS, anyOf, MUTATION_CALLERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import { DeployEnvironment } from '../enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from '../errors.js';
import { uuid } from '../ids.js';
import { DateTime } from '../scalars.js';

const everyone = anyOf(ALL_PERSONAS);

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

const FreezeState = builder.enumType('FreezeState', {
  description: 'A freeze window now: ACTIVE (an occurrence is on), SCHEDULED, ENDED (ended by hand), OVER.',
  values: ['ACTIVE', 'SCHEDULED', 'ENDED', 'OVER'] as const,
});

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
