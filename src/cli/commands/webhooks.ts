// Webhook subscriptions from the command line (release_manager): add (the signing secret is shown
// once), list, remove, and deliveries with each attempt's outcome (release_manager, audit_reader).
import {
  AddWebhookDocument,
  RemoveWebhookDocument,
  WebhookDeliveriesDocument,
  WebhookSubscriptionsDocument,
} from '../../gql/graphql.js';
import { type Command, type Context, choice, flag, requiredFlag, UUID } from '../command.js';
import { usageError } from '../errors.js';
import { graphqlRequest, unwrap } from '../graphql.js';
import { table, tick } from '../output.js';

const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;

function subscriptionId(ctx: Context): string {
  const id = ctx.positionals[0] ?? flag(ctx, 'id');
  if (!id) throw usageError('which subscription? give its id');
  if (!UUID.test(id)) throw usageError('the subscription id must be a UUID');
  return id;
}

const add: Command = {
  path: ['webhook', 'add'],
  summary: 'Subscribe a URL to events, POSTed signed (Standard Webhooks) (release_manager)',
  usage:
    '--url <url> [--events <kind,...>] [--project <project>] [--env <environment>] [--secret <whsec_...>]',
  maxPositionals: 0,
  options: {
    target: {
      type: 'string',
      value: '<url>',
      description: 'where to POST: an http(s) URL on a public address',
    },
    events: {
      type: 'string',
      value: '<kind,...>',
      description: 'e.g. gate.transition,approval.decided (default: every kind)',
    },
    project: { type: 'string', value: '<project>', description: "only this project's events" },
    env: { type: 'string', value: '<dev|staging|production>', description: "only this environment's events" },
    secret: { type: 'string', value: '<whsec_...>', description: 'the signing secret (default: generated)' },
  },
  notes: [
    'The secret is printed once, here; keep it with the receiver. No one can read it back: to change it, remove the subscription and add another.',
  ],
  async run(ctx) {
    const events = flag(ctx, 'events');
    const env = flag(ctx, 'env');
    const data = await graphqlRequest(ctx.api, AddWebhookDocument, {
      input: {
        url: requiredFlag(ctx, 'target'),
        eventKinds: events
          ? events
              .split(',')
              .map((k) => k.trim())
              .filter(Boolean)
          : undefined,
        project: flag(ctx, 'project'),
        environment: env === undefined ? undefined : choice(ctx, 'env', ENVIRONMENTS),
        secret: flag(ctx, 'secret'),
      },
    });
    const r = unwrap(data.addWebhook, 'webhook add');
    return {
      data: r,
      lines: [
        `${tick(ctx.paint)} webhook ${r.subscription?.id} → ${r.subscription?.url}`,
        `  secret ${r.secret}`,
        ctx.paint(
          'grey',
          '  shown only now: receivers verify each delivery with it (README: Events and webhooks)',
        ),
      ],
    };
  },
};

const list: Command = {
  path: ['webhook', 'list'],
  summary: 'Webhook subscriptions, newest first (release_manager, audit_reader)',
  usage: '',
  maxPositionals: 0,
  options: {},
  async run(ctx) {
    const data = await graphqlRequest(ctx.api, WebhookSubscriptionsDocument, {});
    const rows = data.webhookSubscriptions ?? [];
    return {
      data: { subscriptions: rows },
      lines: rows.length
        ? table(
            ['Id', 'URL', 'Events', 'Project', 'Env', 'Active', 'Created by'],
            rows.map((s) => [
              s.id ?? '',
              s.url ?? '',
              s.eventKinds?.length ? s.eventKinds.join(',') : 'all',
              s.project ?? 'all',
              s.environment ?? 'all',
              s.active ? 'yes' : 'no',
              s.createdBy ?? '',
            ]),
          )
        : ['no webhook subscriptions'],
    };
  },
};

const remove: Command = {
  path: ['webhook', 'remove'],
  summary: 'Stop a webhook subscription and forget its secret (release_manager)',
  usage: '<subscription-id>',
  maxPositionals: 1,
  options: {},
  async run(ctx) {
    const id = subscriptionId(ctx);
    const data = await graphqlRequest(ctx.api, RemoveWebhookDocument, { id });
    const s = unwrap(data.removeWebhook, 'webhook remove');
    return { data: { subscription: s }, lines: [`${tick(ctx.paint)} webhook ${s.id} removed`] };
  },
};

const deliveries: Command = {
  path: ['webhook', 'deliveries'],
  summary: 'Deliveries and their attempts, newest first (release_manager, audit_reader)',
  usage: '[<subscription-id>] [--first <n>]',
  maxPositionals: 1,
  options: {
    first: { type: 'string', value: '<n>', description: 'how many (1-100, default 20)' },
  },
  async run(ctx) {
    const id = ctx.positionals[0];
    if (id !== undefined && !UUID.test(id)) throw usageError('the subscription id must be a UUID');
    const firstFlag = flag(ctx, 'first');
    const first = firstFlag === undefined ? undefined : Number(firstFlag);
    if (first !== undefined && !(Number.isInteger(first) && first >= 1 && first <= 100)) {
      throw usageError('--first must be an integer from 1 to 100');
    }
    const data = await graphqlRequest(ctx.api, WebhookDeliveriesDocument, { subscriptionId: id, first });
    const rows = data.webhookDeliveries ?? [];
    return {
      data: { deliveries: rows },
      lines: rows.length
        ? table(
            ['Delivery', 'Event', 'Release', 'Status', 'Attempts', 'Last'],
            rows.map((d) => {
              const attempts = d.attempts ?? [];
              const last = attempts[attempts.length - 1];
              return [
                d.id ?? '',
                d.kind ?? '',
                d.releaseId ?? '',
                d.status ?? '',
                String(attempts.length),
                last
                  ? `${last.outcome}${last.statusCode ? ` ${last.statusCode}` : ''}${last.error ? `: ${last.error}` : ''}`
                  : '-',
              ];
            }),
          )
        : ['no deliveries'],
    };
  },
};

export const webhookCommands: Command[] = [add, list, remove, deliveries];
