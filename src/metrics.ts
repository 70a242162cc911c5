// One Prometheus registry for the process: the Yoga plugin's GraphQL metrics, the process
// defaults and the control plane's own counters are all served from it at /metrics.
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Ingest requests by outcome (e.g. accepted, duplicate, rejected, unauthorized). */
export const ingestOutcomes = new Counter({
  name: 'ops_ingest_outcomes_total',
  help: 'Event ingest requests by outcome status',
  labelNames: ['status'] as const,
  registers: [registry],
});

/** Requests refused by a protective limit: depth, aliases, tokens, cost, directives, body_size. */
export const limitRejections = new Counter({
  name: 'ops_limit_rejections_total',
  help: 'Requests refused by a protective limit, by limit',
  labelNames: ['limit'] as const,
  registers: [registry],
});

/** Requests refused for a missing, malformed, expired or wrongly signed token. */
export const unauthenticatedRequests = new Counter({
  name: 'ops_unauthenticated_requests_total',
  help: 'Requests refused with HTTP 401',
  registers: [registry],
});

// The GraphQL request metrics, recorded once per request when the response goes out (the request
// log's hook, src/http/request-log.ts), from what that hook already knows: the operation, the
// status and the error codes. The first two keep the names and labels @graphql-yoga/plugin-prometheus
// gave them, so dashboards and alerts read on; that plugin now only serves /metrics (src/http/yoga.ts:
// its per-phase hooks cost about 0.2 ms of CPU a request, docs/profiling.md).

/** GraphQL operations executed, by operation (as graphql_envelop_request was). */
export const graphqlRequests = new Counter({
  name: 'graphql_envelop_request',
  help: 'Counts the amount of GraphQL requests executed through Envelop',
  labelNames: ['operationType', 'operationName'] as const,
  registers: [registry],
});

/**
 * Seconds from a GraphQL request's arrival to its response, for every request whose document was
 * parsed, by operation, method and HTTP status (as graphql_yoga_http_duration was; its _count is
 * the request count by status). Default buckets, as before.
 */
export const graphqlHttpDuration = new Histogram({
  name: 'graphql_yoga_http_duration',
  help: 'Time spent on HTTP connection',
  labelNames: ['operationName', 'operationType', 'method', 'statusCode'] as const,
  registers: [registry],
});

/** Errors in GraphQL results, by extensions.code (UNAUTHENTICATED, FORBIDDEN, QUERY_LIMIT_EXCEEDED, ...). */
export const graphqlErrors = new Counter({
  name: 'ops_graphql_errors_total',
  help: 'Errors in GraphQL responses, by error code',
  labelNames: ['code'] as const,
  registers: [registry],
});

/**
 * Statements that re-read outbox events for live streams (src/events/stream.ts): one per batch of
 * notices per identity group of open streams, however many streams the group holds.
 */
export const liveStreamReads = new Counter({
  name: 'ops_live_stream_reads_total',
  help: 'Statements reading outbox events for live subscriptions (one per batch of notices per identity)',
  registers: [registry],
});

/**
 * Announcements of outbox events that failed, by reason: `notify_queue_full` (PostgreSQL's
 * notification queue is full, "too many notifications in the NOTIFY queue": see docs/runbook.md)
 * or `other`. While they fail, live subscriptions receive nothing.
 */
export const outboxAnnounceFailures = new Counter({
  name: 'ops_outbox_announce_failures_total',
  help: 'Failed announcements of outbox events (live subscriptions stall while they fail), by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

/**
 * Above this share of PostgreSQL's notification queue in use, the readiness answer reports the
 * queue as degraded (PostgreSQL itself starts warning at half full). 0..1.
 */
export const NOTIFY_QUEUE_DEGRADED_AT = 0.5;

/** How long a scrape waits for the database's answer about the queue, ms. */
const QUEUE_PROBE_TIMEOUT_MS = 2_000;

/** The pools whose database's notification queue the gauge reports (one per server of the process). */
const queuePools = new Set<pg.Pool>();

/**
 * The share of PostgreSQL's notification queue in use (pg_notification_queue_usage(), 0..1) on the
 * pool's database cluster; rejects when the database does not answer within QUEUE_PROBE_TIMEOUT_MS.
 * Any login may call it (PostgreSQL grants it to public).
 */
export async function notificationQueueUsage(pool: pg.Pool): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const { rows } = await Promise.race([
      pool.query<{ usage: number }>('select pg_catalog.pg_notification_queue_usage() as usage'),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error('the notification queue probe timed out')),
          QUEUE_PROBE_TIMEOUT_MS,
        );
      }),
    ]);
    return Number(rows[0]!.usage);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reports the notification queue of the pool's database at /metrics from now on (each scrape asks
 * the database); returns the function that stops it (server close). With several pools in one
 * process the gauge is the highest share among those that answer; without an answer it has no value.
 */
export function watchNotificationQueue(pool: pg.Pool): () => void {
  queuePools.add(pool);
  return () => {
    queuePools.delete(pool);
  };
}

/**
 * PostgreSQL's notification queue in use, 0..1 (pg_notification_queue_usage()): when it reaches 1,
 * every NOTIFY fails at commit, the outbox is no longer announced and live subscriptions stall. A
 * session that LISTENs and then stays idle in an open transaction fills it (docs/runbook.md).
 */
export const notificationQueueGauge = new Gauge({
  name: 'ops_notification_queue_usage',
  help: "Share of PostgreSQL's notification queue in use (pg_notification_queue_usage(), 0..1)",
  registers: [registry],
  async collect() {
    const answers = await Promise.allSettled([...queuePools].map((p) => notificationQueueUsage(p)));
    const usages = answers.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    this.reset();
    if (usages.length > 0) this.set(Math.max(...usages));
  },
});
