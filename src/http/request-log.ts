// One log line per request, from chosen fields only: never headers, bodies or tokens. Plugin (6)
// gathers the operation name and error codes for GraphQL, logs the line and records the request's
// metrics from the same fields (src/metrics.ts); the router logs its own routes.
import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { type RequestInfo, requestInfo } from '../context.js';
import type { Logger } from '../logger.js';
import { graphqlErrors, graphqlHttpDuration, graphqlRequests } from '../metrics.js';

/** Tags a response with the request id (some Responses, e.g. Response.error(), are immutable). */
export function tagRequestId(response: Response, requestId: string): void {
  try {
    response.headers.set('x-request-id', requestId);
  } catch {
    // immutable headers: the id is still in the log line
  }
}

function outcomeOf(status: number, info: RequestInfo): string {
  if (status === 401) return 'unauthenticated';
  if (status === 413 || info.errorCodes?.includes('QUERY_LIMIT_EXCEEDED')) return 'limit_rejected';
  if (status >= 500) return 'server_error';
  if (status >= 400) return 'rejected';
  return info.errorCodes?.length ? 'graphql_errors' : 'ok';
}

/** `quiet`: a request no one needs to see at info level (health checks, the GraphiQL page). */
export function logRequest(
  logger: Logger,
  request: Request,
  status: number,
  info: RequestInfo,
  quiet = false,
) {
  logRouteRequest(logger, request.method, new URL(request.url).pathname, status, info, quiet);
}

/** logRequest for a request the Node adapter answered without a Fetch Request (the ingest route). */
export function logRouteRequest(
  logger: Logger,
  method: string,
  path: string,
  status: number,
  info: RequestInfo,
  quiet = false,
) {
  const line = {
    requestId: info.requestId,
    method,
    path,
    status,
    outcome: outcomeOf(status, info),
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

/** The metric labels of a request whose document was parsed (as the Prometheus plugin labelled it). */
interface OperationLabels {
  operationName: string;
  operationType: string;
}

export function useRequestLog(logger: Logger): Plugin {
  const parsed = new WeakMap<Request, OperationLabels>();
  // Subscriptions are not executed through onExecute (where the request transaction notes the
  // operation): their start is noted here, so they are counted as executed too.
  const subscribed = new WeakSet<Request>();
  return {
    onSubscribe({ args }) {
      const request = (args.contextValue as { request?: Request }).request;
      if (request) subscribed.add(request);
    },
    onParse() {
      return ({ result, context }) => {
        const request = (context as { request?: Request }).request;
        if (!request || result instanceof Error || !result) return;
        const params = (context as { params?: { operationName?: string | null } }).params;
        const operation = getOperationAST(result, params?.operationName);
        const name = operation?.name?.value;
        if (name) requestInfo(request).operationName = name;
        parsed.set(request, {
          operationName: name ?? 'Anonymous',
          operationType: operation?.operation ?? 'unknown',
        });
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
      const labels = parsed.get(request);
      if (labels) {
        graphqlHttpDuration.observe(
          { ...labels, method: request.method, statusCode: response.status },
          (performance.now() - info.startedAt) / 1000,
        );
        // Executed: the request transaction's hook saw the operation (src/http/request-transaction.ts),
        // or a subscription started.
        if (info.operationType || subscribed.has(request)) graphqlRequests.inc(labels);
      }
      for (const code of info.errorCodes ?? []) graphqlErrors.inc({ code });
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
