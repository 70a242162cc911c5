// The HTTP shell: a small router (health, readiness, extra routes) in front of GraphQL Yoga with
// its security plugins. No business logic lives here: resolvers and route handlers bring it.
import { timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import { type GraphQLError, type GraphQLSchema, getOperationAST, type ValidationRule } from 'graphql';
import {
  createGraphQLError,
  createYoga,
  maskError,
  type Plugin,
  type YogaServerInstance,
} from 'graphql-yoga';
import type pg from 'pg';
import { ATTESTATION_KEYS_PATH, createAttestationSigner } from './attestation/dsse.js';
import { AuthError, createVerifier } from './auth/jwt.js';
import { type Config, HTTP_TIMEOUT_CHECK_INTERVAL_MS } from './config.js';
import {
  authenticate,
  type Context,
  createContext,
  type RequestInfo,
  requestInfo,
  useRequestAuth,
} from './context.js';
import {
  BaseError,
  ForbiddenError,
  fromDatabaseError,
  isConnectionError,
  RETRY_AFTER_SECONDS,
  ServiceUnavailableError,
  ValidationError,
} from './errors.js';
import { createIngestHandler } from './ingest/handler.js';
import type { Logger } from './logger.js';
import { ingestOutcomes, limitRejections, registry } from './metrics.js';
import { schema } from './schema.js';

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

export interface ServerDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  /** Extra HTTP routes, matched before GraphQL (e.g. POST /functions/v1/ops-event-ingest). */
  routes?: Route[];
  /** Defaults to src/schema.ts; tests pass one with extra fields. */
  schema?: GraphQLSchema;
}

export interface OpsServer {
  yoga: YogaServerInstance<Record<string, unknown>, Partial<Context>>;
  /** The whole server (routes, then Yoga) at the Fetch level, without the HTTP body limit. */
  fetch: (request: Request) => Promise<Response>;
  /** Node HTTP handler: body limit, routes, Yoga. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Answers new requests with `Connection: close`, waits for in-flight ones, disposes Yoga. */
  close: (options?: { timeoutMs?: number }) => Promise<void>;
}

export const INGEST_PATH = '/functions/v1/ops-event-ingest';
export const METRICS_PATH = '/metrics';

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The Node HTTP server with its bounds from the configuration (README: Timeouts and bounds):
 * a client that takes longer than OPS_HTTP_HEADERS_TIMEOUT_MS for its headers or
 * OPS_HTTP_REQUEST_TIMEOUT_MS for the whole request is answered 408 and disconnected (checked every
 * HTTP_TIMEOUT_CHECK_INTERVAL_MS); idle keep-alive connections close after
 * OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS; connections beyond OPS_HTTP_MAX_CONNECTIONS are closed on arrival.
 * The handler timeout is the adapter's own (createServer().handle).
 */
export function createNodeServer(config: Pick<Config, 'http'>): Server {
  const limits = config.http;
  const server = createHttpServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.min(HTTP_TIMEOUT_CHECK_INTERVAL_MS, limits.headersTimeoutMs),
  });
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  return server;
}

export const GRAPHQL_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2000,
  maxCost: 5000,
  maxDirectives: 50,
} as const;

type LimitName = 'depth' | 'aliases' | 'tokens' | 'cost' | 'directives' | 'body_size';

// Shown in GraphiQL on first open. Examples for new domains are appended here.
export const GRAPHIQL_EXAMPLES = `# Release-governance control plane.
# 1. Put a token in the Headers tab below: {"Authorization": "Bearer eyJ..."}
#    (the Docs pane, top left, loads the schema once a token is there)
#    In development \`npm start\` prints one per persona; or: npm run token -- --persona audit_reader
# 2. Pick an operation with the run button.

# Release health: each release's gates and whether it may go to production now.
query ReleaseHealth {
  releases(first: 20) {
    nodes {
      id
      project
      releaseName
      status
      gates { gateCode status resolvedBy resolvedAt }
      production: eligibility(environment: production) {
        eligible
        blockers { gateCode status reason }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}

# Eligibility of one release (paste its id): every unmet requirement, in words.
query Eligibility($releaseId: ID = "00000000-0000-4000-8000-000000000000") {
  staging: promotionEligibility(releaseId: $releaseId, environment: staging) {
    eligible
    blockers { gateCode reason }
  }
  production: promotionEligibility(releaseId: $releaseId, environment: production) {
    eligible
    blockers { gateCode reason }
  }
}

# Exception audit: who asked, who approved, for which gates, until when.
query ExceptionAudit {
  active: exceptions(state: ACTIVE) { ...ExceptionAudit }
  expired: exceptions(state: EXPIRED) { ...ExceptionAudit }
  awaitingReview: exceptions(state: PENDING_REVIEW) { ...ExceptionAudit }
}

fragment ExceptionAudit on Exception {
  id
  exceptionType
  impactedGates
  reason
  requestedBy
  approverId
  approvedAt
  expiresAt
  postReviewStatus
  release { project releaseName }
}

# What is frozen now (schema/operations/frozen-now.graphql): active freezes and what comes next.
query WhatIsFrozenNow {
  activeFreezes { name environment project reason until }
  freezeWindows(state: SCHEDULED) { name environment project occurrenceStartsAt occurrenceEndsAt }
}

query Viewer {
  viewer { subject persona }
}
`;

/**
 * Added to the GraphiQL page. GraphiQL fetches the schema once, when the page opens, before a
 * token could have been pasted, and the server answers no anonymous request (introspection
 * included); GraphiQL itself fetches it again only on a manual re-fetch. This fetches it again
 * whenever the bearer token in the Headers tab changes, after GraphiQL's own editor debounce.
 */
const GRAPHIQL_REFETCH_SCHEMA_ON_TOKEN = `<script>
(() => {
  let lastToken = null;
  let timer;
  const currentToken = () => {
    const editors = document.querySelectorAll('.graphiql-editor-tool .graphiql-editor');
    const headers = editors[editors.length - 1];
    if (!headers) return null;
    const text = (headers.textContent || '').replace(/\\u00a0/g, ' ');
    const match = /"authorization"\\s*:\\s*"bearer\\s+([^"\\s]+)"/i.exec(text);
    return match ? match[1] : null;
  };
  const check = () => {
    const token = currentToken();
    if (!token || token === lastToken) return;
    lastToken = token;
    const refetch = document.querySelector('button[aria-label^="Re-fetch GraphQL schema"]');
    if (refetch) refetch.click();
  };
  new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(check, 800);
  }).observe(document.body, { subtree: true, childList: true, characterData: true });
})();
</script>`;

/** Tags a response with the request id (some Responses, e.g. Response.error(), are immutable). */
function tagRequestId(response: Response, requestId: string): void {
  try {
    response.headers.set('x-request-id', requestId);
  } catch {
    // immutable headers: the id is still in the log line
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** The armor's own error, replaced by one a client can act on (code, limit, HTTP 400). */
function rejectWith(limit: LimitName) {
  return [
    (_ctx: unknown, err: GraphQLError): never => {
      limitRejections.inc({ limit });
      throw createGraphQLError(err.message.replace(/^Syntax Error: /, ''), {
        // spec: like any invalid document, 400 for application/graphql-response+json and 200
        // for plain application/json (GraphQL over HTTP), whichever phase caught it.
        extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit, http: { status: 400, spec: true } },
      });
    },
  ];
}

/**
 * Errors that are the caller's (AuthError; the BaseError family from src/errors.ts when a query
 * field, not a mutation union, raises one) become coded GraphQL errors; everything else is masked.
 * Errors are made with Yoga's createGraphQLError and recognised by shape, never with graphql's
 * instanceof, so they stay GraphQL errors whichever copy of graphql a caller loaded.
 */
function maskErrors(isDev: boolean) {
  return (error: unknown, message: string): Error => {
    const located = error as {
      originalError?: unknown;
      nodes?: GraphQLError['nodes'];
      path?: GraphQLError['path'];
    };
    // A database that cannot be reached, whichever resolver met it, is a 503 with Retry-After.
    const raw = located?.originalError ?? error;
    const original = isConnectionError(raw) ? fromDatabaseError(raw) : raw;
    const at = { nodes: located?.nodes ?? undefined, path: located?.path ?? undefined };
    if (original instanceof ServiceUnavailableError) {
      return createGraphQLError(original.message, {
        ...at,
        extensions: {
          code: original.code,
          http: { status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
        },
      });
    }
    if (original instanceof AuthError) {
      return createGraphQLError(original.message, {
        ...at,
        extensions: {
          code: original.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN',
          reason: original.code,
        },
      });
    }
    if (original instanceof BaseError) {
      const extensions: Record<string, unknown> = { code: original.code };
      if (original instanceof ForbiddenError && original.requiredPersonas.length) {
        extensions.requiredPersonas = original.requiredPersonas;
      }
      if (original instanceof ValidationError && original.issues.length) extensions.issues = original.issues;
      return createGraphQLError(original.message, { ...at, extensions });
    }
    return maskError(error, message, isDev);
  };
}

/**
 * Plugin (3): refuses introspection (`__schema`, `__type`) unless the caller is authenticated and
 * OPS_INTROSPECTION is on; `__typename` stays allowed. Yoga keys its validation cache by rule
 * names, so a document validated with this rule never shares a cached result with one without.
 */
const NoIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        createGraphQLError(
          `GraphQL introspection is not allowed here, but the query contained ${node.name.value}.`,
          {
            nodes: [node],
            extensions: { code: 'INTROSPECTION_DISABLED' },
          },
        ) as GraphQLError,
      );
    }
  },
});

function useIntrospectionPolicy(enabled: boolean): Plugin {
  return {
    onValidate({ addValidationRule, context }) {
      const request = (context as { request?: Request }).request;
      const identity = request ? requestInfo(request).identity : null;
      if (!enabled || !identity) addValidationRule(NoIntrospectionRule);
    },
  };
}

function outcomeOf(status: number, info: RequestInfo): string {
  if (status === 401) return 'unauthenticated';
  if (status === 413 || info.errorCodes?.includes('QUERY_LIMIT_EXCEEDED')) return 'limit_rejected';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'rejected';
  return info.errorCodes?.length ? 'graphql_errors' : 'ok';
}

/** One log line per request, from chosen fields only: never headers, bodies or tokens. */
function logRequest(logger: Logger, request: Request, status: number, info: RequestInfo, quiet = false) {
  const outcome = outcomeOf(status, info);
  const line = {
    requestId: info.requestId,
    method: request.method,
    path: new URL(request.url).pathname,
    status,
    outcome,
    durationMs: Math.round((performance.now() - info.startedAt) * 10) / 10,
    subject: info.identity?.subject,
    persona: info.identity?.persona ?? undefined,
    operationName: info.operationName,
    errorCodes: info.errorCodes?.length ? info.errorCodes : undefined,
  };
  if (status >= 500) logger.error(line, 'request failed');
  else if (quiet) logger.debug(line, 'request');
  else logger.info(line, 'request');
}

/** Plugin (6): operation name, error codes and the request log line. */
function useRequestLog(logger: Logger): Plugin {
  return {
    onParse() {
      return ({ result, context }) => {
        const request = (context as { request?: Request }).request;
        if (!request || result instanceof Error || !result) return;
        const params = (context as { params?: { operationName?: string | null } }).params;
        const name = getOperationAST(result, params?.operationName)?.name?.value;
        if (name) requestInfo(request).operationName = name;
      };
    },
    onResultProcess({ request, result }) {
      const results = Array.isArray(result) ? result : [result];
      const codes: string[] = [];
      for (const r of results) {
        for (const e of (r as { errors?: readonly { extensions?: Record<string, unknown> }[] }).errors ??
          []) {
          codes.push(String(e.extensions?.code ?? 'UNKNOWN'));
        }
      }
      requestInfo(request).errorCodes = codes;
    },
    onResponse({ request, response }) {
      const info = requestInfo(request);
      tagRequestId(response, info.requestId);
      // No operation reached authentication (the GraphiQL page, /metrics): debug level.
      logRequest(
        logger,
        request,
        response.status,
        info,
        info.identity === undefined && response.status < 400,
      );
    },
  };
}

export function createServer(deps: ServerDeps): OpsServer {
  const { config, pool, logger } = deps;
  const verify = createVerifier(config.auth);
  const attestation = config.attestationKeyPem
    ? createAttestationSigner(config.attestationKeyPem)
    : undefined;
  const graphqlEndpoint = '/graphql';
  const isDev = config.env === 'development';
  // The page inlines GraphiQL's ~9 MB bundle (no CDN): render it once.
  let graphiqlPage: string | undefined;

  const yoga = createYoga<Record<string, unknown>, Partial<Context>>({
    schema: deps.schema ?? schema,
    graphqlEndpoint,
    landingPage: false,
    // Same-origin only: GraphiQL is served from here; agents and the CLI are not browsers.
    cors: false,
    maxRequestBodySize: config.maxBodyBytes,
    maskedErrors: { maskError: maskErrors(isDev), isDev },
    // Rejected documents are not remembered, so every rejection is counted and logged.
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => {} } },
    graphiql: config.graphiql
      ? {
          title: 'Ops release gates',
          defaultQuery: GRAPHIQL_EXAMPLES,
          // No placeholder header: it would be sent with the page's first request (the schema)
          // and refused as a malformed token. The examples above say what to paste.
          // Tokens stay out of the browser's storage.
          shouldPersistHeaders: false,
        }
      : false,
    renderGraphiQL: (options) => {
      if (graphiqlPage === undefined) {
        // Before the page's own closing tag (the bundle itself contains the string '</body>').
        const page = renderGraphiQL(options);
        const end = page.lastIndexOf('</body>');
        graphiqlPage = `${page.slice(0, end)}${GRAPHIQL_REFETCH_SCHEMA_ON_TOKEN}${page.slice(end)}`;
      }
      return graphiqlPage;
    },
    logging: {
      debug: (...args) => logger.debug({ detail: args.map(String) }, 'yoga'),
      info: (...args) => logger.info({ detail: args.map(String) }, 'yoga'),
      warn: (...args) => logger.warn({ detail: args.map(String) }, 'yoga'),
      error: (...args) => {
        const err = args.find((a) => a instanceof Error);
        logger.error(err ? { err } : { detail: args.map(String) }, 'yoga error');
      },
    },
    plugins: [
      // (1) Identity first: the token is verified once, before parsing; a bad one ends the
      //     request with 401, so nothing below runs for an anonymous caller.
      useRequestAuth({ verify, pool }),
      // (1b) The attestation signer, for the signed evidence bundle.
      {
        onContextBuilding({ extendContext }) {
          if (attestation) extendContext({ attestation });
        },
      } satisfies Plugin<Partial<Context>>,
      // (2) Size limits on the document, each rejection counted by limit. The depth and cost
      //     rules only skip real `__schema` fields (introspection), never operations or fragments
      //     merely named __schema, and reuse fragment depths relative to where they are spread.
      EnvelopArmorPlugin({
        maxTokens: { n: GRAPHQL_LIMITS.maxTokens, onReject: rejectWith('tokens') },
        maxDepth: {
          n: GRAPHQL_LIMITS.maxDepth,
          ignoreIntrospection: true,
          flattenFragments: false,
          onReject: rejectWith('depth'),
        },
        maxAliases: { n: GRAPHQL_LIMITS.maxAliases, onReject: rejectWith('aliases') },
        costLimit: { maxCost: GRAPHQL_LIMITS.maxCost, onReject: rejectWith('cost') },
        maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives, onReject: rejectWith('directives') },
        // (4, continued) "Did you mean ...?" would map the schema for a stranger.
        blockFieldSuggestion: { enabled: config.env === 'production' },
      }),
      // (3) Introspection: only for authenticated callers, and only when OPS_INTROSPECTION is on.
      useIntrospectionPolicy(config.introspection),
      // (4) Masked errors: configured above (maskedErrors), AuthError mapped to a coded error.
      // (5) Prometheus metrics at /metrics, in the registry the control plane's counters share.
      usePrometheus({
        endpoint: METRICS_PATH,
        registry,
        // The URL would carry GET query strings into label values.
        labels: { url: false },
      }),
      // (6) One log line per request.
      useRequestLog(logger),
    ],
  });

  // ---- Router: built-in routes, then deps.routes (extra routes), then Yoga. ----------------
  const readiness = async (): Promise<Response> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        pool.query('select 1'),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('readiness check timed out')), 3000);
        }),
      ]);
      return json(200, { status: 'ready' });
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

  async function runRoute(handler: Route['handler'], request: Request): Promise<Response> {
    const info = requestInfo(request);
    try {
      // The token is checked once, here, like GraphQL's; the handler decides what it requires.
      const auth = await authenticate(verify, request.headers.get('authorization'));
      info.identity = auth.identity;
      info.authError = auth.authError;
      return await handler(request, { ...createContext(pool, info), logger, config });
    } catch (err) {
      if (isConnectionError(err)) {
        logger.warn({ reason: (err as Error).message, requestId: info.requestId }, 'database unavailable');
        return json(
          503,
          { error: 'database_unavailable', requestId: info.requestId },
          { 'retry-after': String(RETRY_AFTER_SECONDS) },
        );
      }
      logger.error(
        { err, requestId: info.requestId, path: new URL(request.url).pathname },
        'route handler failed',
      );
      return json(500, { error: 'internal_error', requestId: info.requestId });
    }
  }

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

  // ---- Node adapter: body limit before anything reads the body; in-flight tracking. -------
  let closing = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;

  function requestFromNode(req: IncomingMessage, body: Buffer | undefined, signal: AbortSignal): Request {
    const headers = new Headers();
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i]!;
      if (!name.startsWith(':')) headers.append(name, req.rawHeaders[i + 1]!);
    }
    const host = /^[A-Za-z0-9.\-:[\]]+$/.test(req.headers.host ?? '') ? req.headers.host : 'localhost';
    const method = req.method ?? 'GET';
    return new Request(new URL(req.url ?? '/', `http://${host}`), {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' || !body ? undefined : new Uint8Array(body),
      signal,
    });
  }

  /**
   * Reads at most `limit` bytes: 'too_large' as soon as the body passes it (the rest is never
   * read), 'aborted' when the client goes away first.
   */
  function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large' | 'aborted'> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = (result: Buffer | 'too_large' | 'aborted') => {
        req.off('data', onData);
        req.off('end', onEnd);
        req.off('close', onClose);
        req.off('error', onError);
        resolve(result);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          req.pause();
          finish('too_large');
        } else chunks.push(chunk);
      };
      const onEnd = () => finish(Buffer.concat(chunks));
      const onClose = () => finish('aborted');
      const onError = () => finish('aborted');
      req.on('data', onData);
      req.once('end', onEnd);
      req.once('close', onClose);
      req.once('error', onError);
    });
  }

  async function writeResponse(res: ServerResponse, response: Response, method: string): Promise<void> {
    // Already answered (the handler timeout) or the client is gone.
    if (res.headersSent || res.destroyed) {
      await response.body?.cancel().catch(() => {});
      return;
    }
    res.statusCode = response.status;
    response.headers.forEach((value, key) => {
      if (key !== 'set-cookie') res.setHeader(key, value);
    });
    const cookies = response.headers.getSetCookie?.() ?? [];
    if (cookies.length) res.setHeader('set-cookie', cookies);
    if (closing) res.setHeader('connection', 'close');
    if (!response.body || method === 'HEAD') {
      res.end();
      return;
    }
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (res.destroyed) return;
      if (!res.write(chunk)) await once(res, 'drain');
    }
    res.end();
  }

  function tooLarge(res: ServerResponse, request: { method?: string; url?: string }, requestId?: string) {
    limitRejections.inc({ limit: 'body_size' });
    logger.warn(
      { requestId, method: request.method, path: request.url?.split('?')[0], limit: config.maxBodyBytes },
      'request body too large',
    );
    res.statusCode = 413;
    // The unread rest of the body makes the connection unusable.
    res.setHeader('connection', 'close');
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(
      JSON.stringify({
        errors: [
          {
            message: `Request body larger than ${config.maxBodyBytes} bytes`,
            extensions: { code: 'REQUEST_ENTITY_TOO_LARGE', limit: 'body_size' },
          },
        ],
      }),
    );
  }

  /** A body over the limit: the route's own answer when it has one, else a plain 413. */
  async function refuseTooLarge(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const route = extraRoutes.find((r) => r.path === path && r.method === req.method && r.onBodyTooLarge);
    if (!route?.onBodyTooLarge) return tooLarge(res, req);
    limitRejections.inc({ limit: 'body_size' });
    const request = requestFromNode(req, undefined, new AbortController().signal);
    const response = await runRoute(route.onBodyTooLarge, request);
    // The unread rest of the body makes the connection unusable.
    res.setHeader('connection', 'close');
    await writeResponse(res, response, req.method ?? 'POST');
  }

  async function handleNode(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const declared = req.headers['content-length'];
    if (declared !== undefined && (!/^\d+$/.test(declared) || Number(declared) > config.maxBodyBytes)) {
      if (/^\d+$/.test(declared)) return refuseTooLarge(req, res);
      res.statusCode = 400;
      res.setHeader('connection', 'close');
      res.end();
      return;
    }
    const method = req.method ?? 'GET';
    const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req, config.maxBodyBytes);
    if (body === 'too_large') return refuseTooLarge(req, res);
    if (body === 'aborted') return;

    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const request = requestFromNode(req, body, abort.signal);
    if (isLoopbackAddress(req.socket.remoteAddress)) loopbackRequests.add(request);
    const info = requestInfo(request);
    // Handling is bounded too: past OPS_HTTP_HANDLER_TIMEOUT_MS the client gets a 503 it may retry
    // (an ingest retried with its key is idempotent) and the work is told to stop.
    const timer = setTimeout(() => {
      if (res.headersSent || res.destroyed) return;
      logger.warn(
        { requestId: info.requestId, method, path: request.url && new URL(request.url).pathname },
        'request handling timed out',
      );
      res.statusCode = 503;
      res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('x-request-id', info.requestId);
      res.setHeader('connection', 'close');
      res.end(JSON.stringify({ error: 'handler_timeout', requestId: info.requestId }));
      abort.abort();
    }, config.http.handlerTimeoutMs);
    try {
      const response = await fetch(request);
      await writeResponse(res, response, method);
    } finally {
      clearTimeout(timer);
    }
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (closing && inFlight === 0) drained?.();
    });
    if (closing) res.setHeader('connection', 'close');
    handleNode(req, res).catch((err: unknown) => {
      logger.error({ err }, 'unhandled error in the HTTP handler');
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('connection', 'close');
        res.end();
      } else res.destroy();
    });
  }

  async function close(options: { timeoutMs?: number } = {}): Promise<void> {
    closing = true;
    if (inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          drained = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(() => {
            logger.warn({ inFlight }, 'shutdown: gave up waiting for in-flight requests');
            resolve();
          }, options.timeoutMs ?? 10_000);
        }),
      ]);
      clearTimeout(timer);
    }
    await yoga.dispose();
  }

  return { yoga, fetch, handle, close };
}
