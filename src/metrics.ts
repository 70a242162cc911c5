// One Prometheus registry for the process: the Yoga plugin's GraphQL metrics, the process
// defaults and the control plane's own counters are all served from it at /metrics.
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';

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
