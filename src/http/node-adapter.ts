// The Node adapter between node:http and the Fetch-level router: the body limit before anything
// reads the body (a route may answer an oversized body itself), the handler timeout, in-flight
// tracking for a graceful close, and the Node server with its connection bounds. Written here
// rather than taken from @whatwg-node/server's adapter because the body limit must act before the
// body is read and hand an oversized ingest to its route (the ingest logs the refused attempt).
// The ingest route is answered directly (router.directRoute): its handler gets the body already
// read here and its reply is written as it is, without a Fetch Request, Headers, URL, AbortSignal,
// Response or web stream per event (docs/profiling.md, "The ingest route").
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { type Config, HTTP_TIMEOUT_CHECK_INTERVAL_MS } from '../config.js';
import { type RequestInfo, requestInfo } from '../context.js';
import { RETRY_AFTER_SECONDS } from '../errors.js';
import type { IngestReply, IngestRequest } from '../ingest/handler.js';
import type { Logger } from '../logger.js';
import { limitRejections } from '../metrics.js';
import { markBodyBounded } from './body-limit.js';
import { BodyTooLarge } from './bounded-body.js';
import type { DirectRoute, Router } from './router.js';

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/**
 * The Node HTTP server with its bounds from the configuration (README: Timeouts and bounds):
 * a client that takes longer than OPS_HTTP_HEADERS_TIMEOUT_MS for its headers or
 * OPS_HTTP_REQUEST_TIMEOUT_MS for the whole request is answered 408 and disconnected (checked every
 * HTTP_TIMEOUT_CHECK_INTERVAL_MS); idle keep-alive connections close after
 * OPS_HTTP_KEEP_ALIVE_TIMEOUT_MS; connections beyond OPS_HTTP_MAX_CONNECTIONS are closed on arrival.
 * The handler timeout is the adapter's own (createNodeAdapter().handle).
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

// What Fetch's Headers strips from either end of a value (HTTP whitespace).
const HTTP_WHITESPACE_EDGES = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * A header of a Node request as Fetch's Headers gives it: every occurrence of the name (in any
 * case), trimmed, joined with ", " (req.headers instead keeps only the first Authorization or
 * Content-Type, which would let a request with two be read differently by the two entries).
 */
export function rawHeader(rawHeaders: readonly string[], name: string): string | null {
  let value: string | null = null;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const key = rawHeaders[i]!;
    if (key.length !== name.length || key.toLowerCase() !== name) continue;
    const v = rawHeaders[i + 1]!.replace(HTTP_WHITESPACE_EDGES, '');
    value = value === null ? v : `${value}, ${v}`;
  }
  return value;
}

/** A Node request whose body has been read (within the limit) as the ingest reads a request. */
function ingestRequestFromNode(req: IncomingMessage, body: Buffer): IngestRequest {
  return {
    method: req.method ?? 'GET',
    header: (name) => rawHeader(req.rawHeaders, name),
    bytes: async (limit) => {
      if (body.length > limit) throw new BodyTooLarge();
      return body;
    },
    discard: async () => {},
  };
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

export interface NodeAdapter {
  /** Node HTTP handler: body limit, routes, Yoga. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Answers new requests with `Connection: close` and waits for in-flight ones. */
  drain: (options?: { timeoutMs?: number }) => Promise<void>;
}

export function createNodeAdapter(deps: { config: Config; logger: Logger; router: Router }): NodeAdapter {
  const { config, logger, router } = deps;
  let closing = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;

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
    // Yoga's responses (@whatwg-node/node-fetch) keep a string body as given: written as it is,
    // rather than encoded into a stream and read back chunk by chunk.
    const { bodyType, bodyInit } = response as unknown as { bodyType?: unknown; bodyInit?: unknown };
    if (method !== 'HEAD' && bodyType === 'String' && typeof bodyInit === 'string' && !response.bodyUsed) {
      res.end(bodyInit);
      return;
    }
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

  function tooLarge(res: ServerResponse, request: { method?: string; url?: string }) {
    limitRejections.inc({ limit: 'body_size' });
    logger.warn(
      { method: request.method, path: request.url?.split('?')[0], limit: config.maxBodyBytes },
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
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const handler = router.tooLargeHandler(req.method ?? 'GET', path);
    if (!handler) return tooLarge(res, req);
    limitRejections.inc({ limit: 'body_size' });
    const request = requestFromNode(req, undefined, new AbortController().signal);
    const response = await router.runRoute(handler, request);
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

    const path = (req.url ?? '/').split('?')[0]!;
    const direct = router.directRoute(method, path);
    if (direct) return answerDirect(req, res, direct, body ?? Buffer.alloc(0), path);

    const abort = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) abort.abort();
    });
    const request = requestFromNode(req, body, abort.signal);
    // The whole body is in memory and within the limit: Yoga need not count it again.
    markBodyBounded(request);
    if (isLoopbackAddress(req.socket.remoteAddress)) router.markLoopback(request);
    const info = requestInfo(request);
    const timer = handlerTimer(res, info, method, new URL(request.url).pathname, () => abort.abort());
    try {
      const response = await router.fetch(request);
      await writeResponse(res, response, method);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Handling is bounded too: past OPS_HTTP_HANDLER_TIMEOUT_MS the client gets a 503 it may retry
   * (an ingest retried with its key is idempotent) and the work is told to stop.
   */
  function handlerTimer(
    res: ServerResponse,
    info: RequestInfo,
    method: string,
    path: string,
    stop: () => void,
  ): NodeJS.Timeout {
    return setTimeout(() => {
      if (res.headersSent || res.destroyed) return;
      logger.warn({ requestId: info.requestId, method, path }, 'request handling timed out');
      res.statusCode = 503;
      res.setHeader('retry-after', String(RETRY_AFTER_SECONDS));
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('x-request-id', info.requestId);
      res.setHeader('connection', 'close');
      res.end(JSON.stringify({ error: 'handler_timeout', requestId: info.requestId }));
      stop();
    }, config.http.handlerTimeoutMs);
  }

  /** A route answered without Fetch objects: the body as read above, the reply written as it is. */
  async function answerDirect(
    req: IncomingMessage,
    res: ServerResponse,
    route: DirectRoute,
    body: Buffer,
    path: string,
  ): Promise<void> {
    const method = req.method ?? 'GET';
    const info: RequestInfo = { requestId: randomUUID(), startedAt: performance.now() };
    const timer = handlerTimer(res, info, method, path, () => {});
    let reply: IngestReply;
    try {
      reply = await route(ingestRequestFromNode(req, body), info);
    } finally {
      clearTimeout(timer);
    }
    // Already answered (the handler timeout) or the client is gone.
    if (res.headersSent || res.destroyed) return;
    res.statusCode = reply.status;
    for (const name in reply.headers) res.setHeader(name, reply.headers[name]!);
    if (closing) res.setHeader('connection', 'close');
    if (reply.body === null) res.end();
    else res.end(reply.body);
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

  async function drain(options: { timeoutMs?: number } = {}): Promise<void> {
    closing = true;
    if (inFlight === 0) return;
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

  return { handle, drain };
}
