// The router in front of GraphQL: built-in routes (health, readiness, the attestation key), the
// event ingest and any extra routes, the /metrics gate, then Yoga. A new route is one entry in
// ServerDeps.routes (or in `builtins` below when it needs neither a token nor a context).
import { timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { ATTESTATION_KEYS_PATH, type AttestationSigner } from '../attestation/dsse.js';
import type { Config } from '../config.js';
import {
  authenticate,
  type Context,
  createContext,
  type RequestInfo,
  requestInfo,
  type Verifier,
} from '../context.js';
import { isConnectionError, RETRY_AFTER_SECONDS } from '../errors.js';
import { createIngestHandler, type IngestReply, type IngestRequest } from '../ingest/handler.js';
import type { Logger } from '../logger.js';
import { ingestOutcomes, NOTIFY_QUEUE_DEGRADED_AT } from '../metrics.js';
import { logRequest, logRouteRequest, tagRequestId } from './request-log.js';
import { METRICS_PATH, type OpsYoga } from './yoga.js';

export const INGEST_PATH = '/functions/v1/ops-event-ingest';

/** Passed to extra route handlers: the same per-request context GraphQL resolvers get. */
export type RouteContext = Context & { logger: Logger; config: Config };

export interface Route {
  method: string;
  /** Exact path, e.g. '/functions/v1/ops-event-ingest'. */
  path: string;
  handler: (request: Request, ctx: RouteContext) => Promise<Response>;
  /**
   * Answers a body over the size limit itself (the request then has no body), e.g. so the ingest
   * can log the refused attempt; without it the server answers 413 on its own.
   */
  onBodyTooLarge?: (request: Request, ctx: RouteContext) => Promise<Response>;
}

/**
 * A route the Node adapter answers without Fetch objects: the request as the ingest reads it (its
 * body already read within the limit) and its request info; the reply carries x-request-id and is
 * logged like any route's.
 */
export type DirectRoute = (request: IngestRequest, info: RequestInfo) => Promise<IngestReply>;

export interface Router {
  /** Routes, then Yoga, at the Fetch level. */
  fetch: (request: Request) => Promise<Response>;
  /** The route's own answer to a body over the limit, when it has one. */
  tooLargeHandler: (method: string, path: string) => Route['onBodyTooLarge'];
  /** Runs a route handler with the request's authentication and context. */
  runRoute: (handler: Route['handler'], request: Request) => Promise<Response>;
  /** Marks a request as coming from this machine's loopback (for /metrics in production). */
  markLoopback: (request: Request) => void;
  /**
   * The direct entry of the route at exactly this method and path (the ingest's POST and OPTIONS),
   * or undefined: the request then goes through `fetch`.
   */
  directRoute: (method: string, path: string) => DirectRoute | undefined;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface RouterDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  verify: Verifier;
  yoga: OpsYoga;
  attestation?: AttestationSigner;
  routes?: Route[];
}

export function createRouter(deps: RouterDeps): Router {
  // deps.verify is the server's one token check, shared with GraphQL (it remembers verified tokens
  // for a short while: src/http/verified-tokens.ts, wrapped in src/server.ts).
  const { config, pool, logger, yoga, attestation, verify } = deps;

  /**
   * GET /readiness: 200 `{ status: 'ready' }` once the database answers one statement through the
   * pool (within 3 s), else 503 `{ status: 'unavailable' }` with Retry-After. The same statement
   * reads PostgreSQL's notification queue: above NOTIFY_QUEUE_DEGRADED_AT the answer stays 200 and
   * ready (queries, mutations, the ingest and webhook deliveries all work) and adds `degraded`,
   * naming the queue, its usage and what stops (live subscriptions) so an operator can act
   * (docs/runbook.md, "The notification queue is full").
   */
  const readiness = async (): Promise<Response> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const { rows } = await Promise.race([
        pool.query<{ usage: number }>('select pg_catalog.pg_notification_queue_usage() as usage'),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('readiness check timed out')), 3000);
        }),
      ]);
      const usage = Number(rows[0]?.usage ?? 0);
      if (usage < NOTIFY_QUEUE_DEGRADED_AT) return json(200, { status: 'ready' });
      return json(200, {
        status: 'ready',
        degraded: [
          {
            signal: 'notification_queue',
            usage,
            threshold: NOTIFY_QUEUE_DEGRADED_AT,
            message:
              "PostgreSQL's notification queue is filling (a session that LISTENs holds it in an open transaction); " +
              'when full, outbox events are not announced and live subscriptions receive nothing: see the runbook',
          },
        ],
      });
    } catch (err) {
      logger.warn({ reason: (err as Error).message }, 'readiness check failed');
      return json(503, { status: 'unavailable' }, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    } finally {
      clearTimeout(timer);
    }
  };
  // Built-in routes need neither a token nor a context.
  const builtins: { method: string; path: string; handler: () => Promise<Response> }[] = [
    { method: 'GET', path: '/health', handler: async () => json(200, { status: 'ok' }) },
    { method: 'GET', path: '/readiness', handler: readiness },
    // The public half of the attestation key, so a signed evidence bundle verifies offline.
    {
      method: 'GET',
      path: ATTESTATION_KEYS_PATH,
      handler: async () => json(200, { keys: attestation ? [attestation.publicJwk] : [] }),
    },
  ];
  // The event ingest, at the path of the Supabase Edge Function so producers switch between a
  // self-hosted server and Supabase by base URL alone; then any extra routes.
  const ingest = createIngestHandler({
    verify,
    pool,
    maxBodyBytes: config.maxBodyBytes,
    onOutcome: (o) => ingestOutcomes.inc({ status: o.status }),
    onError: (err) => logger.error({ err }, 'ingest failed'),
    onUnavailable: (err) => logger.warn({ reason: (err as Error)?.message }, 'ingest: database unavailable'),
  });
  const ingestRoutes: Route[] = ['POST', 'OPTIONS'].map((method) => ({
    method,
    path: INGEST_PATH,
    handler: (request, ctx) => ingest.handle(request, ctx),
    onBodyTooLarge: (request, ctx) => ingest.tooLarge(request, ctx),
  }));
  const extraRoutes = [...ingestRoutes, ...(deps.routes ?? [])];

  /** A route handler that threw: 503 with retry-after for a lost database, else a 500 naming nothing. */
  function failure(
    err: unknown,
    requestId: string,
    path: string,
  ): { status: number; body: unknown; headers: Record<string, string> } {
    if (isConnectionError(err)) {
      logger.warn({ reason: (err as Error).message, requestId }, 'database unavailable');
      return {
        status: 503,
        body: { error: 'database_unavailable', requestId },
        headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      };
    }
    logger.error({ err, requestId, path }, 'route handler failed');
    return { status: 500, body: { error: 'internal_error', requestId }, headers: {} };
  }

  async function runRoute(handler: Route['handler'], request: Request): Promise<Response> {
    const info = requestInfo(request);
    try {
      // The token is checked once, here, like GraphQL's; the handler decides what it requires.
      const auth = await authenticate(verify, request.headers.get('authorization'));
      info.identity = auth.identity;
      info.authError = auth.authError;
      return await handler(request, { ...createContext(pool, info), logger, config });
    } catch (err) {
      const f = failure(err, info.requestId, new URL(request.url).pathname);
      return json(f.status, f.body, f.headers);
    }
  }

  // The ingest's direct entry: what runRoute and fetch do for it, on an IngestRequest.
  const ingestDirect: DirectRoute = async (request, info) => {
    let reply: IngestReply;
    try {
      const auth = await authenticate(verify, request.header('authorization'));
      info.identity = auth.identity;
      info.authError = auth.authError;
      reply = await ingest.reply(request, auth);
    } catch (err) {
      const f = failure(err, info.requestId, INGEST_PATH);
      reply = {
        status: f.status,
        headers: { 'content-type': 'application/json; charset=utf-8', ...f.headers },
        body: JSON.stringify(f.body),
      };
    }
    reply.headers['x-request-id'] = info.requestId;
    logRouteRequest(logger, request.method, INGEST_PATH, reply.status, info, false);
    return reply;
  };

  // In production the metrics (request counts, ingest outcomes, pool figures) are for the operator's
  // scraper only: a bearer OPS_METRICS_TOKEN, or a client on this machine's loopback.
  const loopbackRequests = new WeakSet<Request>();
  function metricsAllowed(request: Request): boolean {
    if (config.env !== 'production' || loopbackRequests.has(request)) return true;
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(request.headers.get('authorization')?.trim() ?? '');
    return !!config.metricsToken && !!match && sameSecret(match[1]!, config.metricsToken);
  }

  async function fetch(request: Request): Promise<Response> {
    const info = requestInfo(request);
    const path = new URL(request.url).pathname;
    if (path === METRICS_PATH && !metricsAllowed(request)) {
      const response = json(401, {
        error: 'metrics_not_public',
        message: 'in production /metrics answers a bearer OPS_METRICS_TOKEN or a loopback client only',
      });
      tagRequestId(response, info.requestId);
      logRequest(logger, request, response.status, info, false);
      return response;
    }
    const builtin = builtins.filter((r) => r.path === path);
    const extra = extraRoutes.filter((r) => r.path === path);
    if (builtin.length === 0 && extra.length === 0) return yoga.fetch(request);

    let response: Response;
    const builtinRoute = builtin.find((r) => r.method === request.method);
    const extraRoute = extra.find((r) => r.method === request.method);
    if (builtinRoute) {
      response = await builtinRoute.handler();
    } else if (extraRoute) {
      response = await runRoute(extraRoute.handler, request);
    } else {
      const allow = [...builtin, ...extra].map((r) => r.method).join(', ');
      response = json(405, { error: 'method_not_allowed' }, { allow });
    }
    tagRequestId(response, info.requestId);
    logRequest(logger, request, response.status, info, builtin.length > 0 && response.status < 400);
    return response;
  }

  return {
    fetch,
    runRoute,
    tooLargeHandler: (method, path) =>
      extraRoutes.find((r) => r.path === path && r.method === method && r.onBodyTooLarge)?.onBodyTooLarge,
    markLoopback: (request) => loopbackRequests.add(request),
    directRoute: (method, path) =>
      path === INGEST_PATH && (method === 'POST' || method === 'OPTIONS') ? ingestDirect : undefined,
  };
}
