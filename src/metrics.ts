// One Prometheus registry for the process: the Yoga plugin's GraphQL metrics, the process
// defaults and the control plane's own counters are all served from it at /metrics.
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

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
