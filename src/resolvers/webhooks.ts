// Webhook subscriptions (release managers) and their deliveries (release managers, auditors):
// addWebhook (ops.add_webhook; the secret is shown once, in its answer), removeWebhook
// (ops.remove_webhook), webhookSubscriptions, webhookDeliveries with each attempt's outcome.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import { ValidationError } from '../errors.js';
import { Environment } from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { optionalUuidArg, uuid } from './ids.js';
import { DateTime } from './scalars.js';

export const EVENT_KINDS = [
  'gate.transition',
  'approval.requested',
  'approval.decided',
  'exception.requested',
  'exception.approved',
  'exception.reviewed',
  'exception.expired',
  'deadline.passed',
  'deployment.recorded',
  'deployment.status_changed',
  'release.status_changed',
] as const;

interface SubscriptionRow {
  subscription_id: string;
  url: string;
  event_kinds: string[];
  project: string | null;
  environment: string | null;
  active: boolean;
  created_at: Date;
  created_by: string;
  removed_at: Date | null;
}

interface DeliveryRow {
  delivery_id: string;
  subscription_id: string;
  event_id: string;
  kind: string;
  release_id: string;
  status: string;
  attempts: number;
  created_at: Date;
  delivered_at: Date | null;
  attempt_list: AttemptRow[];
}

interface AttemptRow {
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: string;
}

const WebhookSubscription = builder.objectRef<SubscriptionRow>('WebhookSubscription').implement({
  description: 'Where events are POSTed, signed (Standard Webhooks); the secret is never shown again.',
  fields: (t) => ({
    id: t.exposeID('subscription_id'),
    url: t.exposeString('url'),
    eventKinds: t.exposeStringList('event_kinds', { description: 'Empty: every kind.' }),
    project: t.exposeString('project', { nullable: true }),
    environment: t.exposeString('environment', { nullable: true }),
    active: t.exposeBoolean('active'),
    createdAt: t.field({ type: DateTime, resolve: (s) => s.created_at }),
    createdBy: t.exposeString('created_by'),
    removedAt: t.field({ type: DateTime, nullable: true, resolve: (s) => s.removed_at }),
  }),
});

const WebhookAttempt = builder.objectRef<AttemptRow>('WebhookAttempt').implement({
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    startedAt: t.field({ type: DateTime, resolve: (a) => a.started_at }),
    durationMs: t.exposeInt('duration_ms'),
    statusCode: t.exposeInt('status_code', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
    outcome: t.exposeString('outcome', { description: 'delivered, retry, failed or refused' }),
  }),
});

const WebhookDelivery = builder.objectRef<DeliveryRow>('WebhookDelivery').implement({
  description:
    'One event for one subscription; its id is the webhook-id header (receivers de-duplicate on it).',
  fields: (t) => ({
    id: t.exposeID('delivery_id'),
    subscriptionId: t.exposeID('subscription_id'),
    eventId: t.exposeID('event_id'),
    kind: t.exposeString('kind'),
    releaseId: t.exposeID('release_id'),
    status: t.exposeString('status', { description: 'pending, delivered, failed or refused' }),
    attempts: t.field({ type: [WebhookAttempt], resolve: (d) => d.attempt_list }),
    createdAt: t.field({ type: DateTime, resolve: (d) => d.created_at }),
    deliveredAt: t.field({ type: DateTime, nullable: true, resolve: (d) => d.delivered_at }),
  }),
});

const AddWebhookPayload = builder
  .objectRef<{ subscription: SubscriptionRow; secret: string }>('AddWebhookPayload')
  .implement({
    fields: (t) => ({
      subscription: t.field({ type: WebhookSubscription, resolve: (p) => p.subscription }),
      secret: t.exposeString('secret', {
        description: 'The signing secret (whsec_…): shown here once, never readable afterwards.',
      }),
    }),
  });

const AddWebhookInput = builder.inputType('AddWebhookInput', {
  fields: (t) => ({
    url: t.string({ required: true, description: 'http(s) URL of a public address' }),
    eventKinds: t.stringList({ description: `Some of: ${EVENT_KINDS.join(', ')}; none: every kind.` }),
    project: t.string(),
    environment: t.field({ type: Environment }),
    secret: t.string({ description: 'whsec_ and base64 of 24 to 64 bytes; generated when left out.' }),
  }),
});

const addSchema = z.object({
  url: z.url({ protocol: /^https?$/, message: 'must be an http or https URL' }).max(2048),
  eventKinds: z
    .array(z.enum(EVENT_KINDS, { message: `must be one of ${EVENT_KINDS.join(', ')}` }))
    .max(EVENT_KINDS.length)
    .nullish(),
  project: z.string().trim().min(1).max(200).nullish(),
  environment: z.string().nullish(),
  secret: z
    .string()
    .regex(/^whsec_[A-Za-z0-9+/]{32,88}={0,2}$/, 'must be whsec_ followed by base64 of 24 to 64 bytes')
    .nullish(),
});

builder.mutationField('addWebhook', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.addWebhook)).field({
    type: AddWebhookPayload,
    description: 'Subscribes a URL to events; the answer carries the signing secret, shown only here.',
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: AddWebhookInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, addSchema, input, async (c, i) => {
        const secret = i.secret ?? `whsec_${randomBytes(32).toString('base64')}`;
        const subscription = await callRow<SubscriptionRow>(c, 'ops.add_webhook', {
          p_url: i.url,
          p_event_kinds: i.eventKinds ?? [],
          p_project: i.project ?? null,
          p_environment: i.environment ?? null,
          p_secret: secret,
        });
        return { subscription, secret };
      }),
  }),
);

builder.mutationField('removeWebhook', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.removeWebhook)).field({
    type: WebhookSubscription,
    description: 'Stops a subscription and forgets its secret; its pending deliveries end as failed.',
    errors: { types: MUTATION_ERRORS },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) =>
      runMutation(ctx, z.object({ id: uuid }), { id: String(args.id) }, (c, i) =>
        callRow<SubscriptionRow>(c, 'ops.remove_webhook', { p_subscription_id: i.id }),
      ),
  }),
);

builder.queryField('webhookSubscriptions', (t) =>
  t.withAuth(anyOf(TABLE_READERS.webhook_subscriptions)).field({
    type: [WebhookSubscription],
    description: 'Every webhook subscription, newest first (removed ones included, marked inactive).',
    resolve: (_r, _a, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<SubscriptionRow>(
          `select subscription_id, url, event_kinds, project, environment::text, active, created_at,
                  created_by, removed_at
           from ops.webhook_subscriptions order by created_at desc, subscription_id limit 1000`,
        );
        return rows;
      }),
  }),
);

builder.queryField('webhookDeliveries', (t) =>
  t.withAuth(anyOf(TABLE_READERS.webhook_deliveries)).field({
    type: [WebhookDelivery],
    description: 'Deliveries with their attempts, newest first; of one subscription when given.',
    args: {
      subscriptionId: t.arg.id(),
      first: t.arg.int({ description: 'At most 100; default 20.' }),
    },
    resolve: (_r, args, ctx) => {
      const sub = optionalUuidArg(args.subscriptionId, 'subscriptionId');
      const first = args.first ?? 20;
      if (first < 1 || first > 100) throw new ValidationError('first must be between 1 and 100');
      return ctx.withPersona(async (c) => {
        const { rows } = await c.query<DeliveryRow>(
          `select d.delivery_id, d.subscription_id, d.event_id, e.kind, e.release_id, d.status, d.attempts,
                  d.created_at, d.delivered_at,
                  coalesce((select json_agg(json_build_object('attempt', a.attempt, 'started_at', a.started_at,
                              'duration_ms', a.duration_ms, 'status_code', a.status_code, 'error', a.error,
                              'outcome', a.outcome) order by a.attempt)
                            from ops.webhook_attempts a where a.delivery_id = d.delivery_id), '[]') as attempt_list
           from ops.webhook_deliveries d
           join ops.outbox_events e on e.event_id = d.event_id
           where $1::uuid is null or d.subscription_id = $1
           order by d.created_at desc, d.delivery_id
           limit $2`,
          [sub, first],
        );
        return rows;
      });
    },
  }),
);
