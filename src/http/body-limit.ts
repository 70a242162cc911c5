// The GraphQL request body limit (OPS_MAX_BODY_BYTES) at the Fetch level. The Node adapter reads
// every body into memory under the same limit before a Request exists (node-adapter.ts) and marks
// that Request here: its body is known to be within the limit, so it is parsed as it is, without a
// second counting stream around it (which cost about as much as the SQL of a small query). Any other
// Request (OpsServer.fetch called directly) is still counted: a Content-Length over the limit or not
// a plain number is refused before anything reads the body, and a body without one is read through
// a counter that stops at the limit.
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { limitRejections } from '../metrics.js';
import { BodyTooLarge, readBodyWithin } from './bounded-body.js';

const boundedRequests = new WeakSet<Request>();

/** The Node adapter read this Request's whole body under the limit (or it has none). */
export function markBodyBounded(request: Request): void {
  boundedRequests.add(request);
}

function tooLarge(limit: number) {
  limitRejections.inc({ limit: 'body_size' });
  return createGraphQLError(`Request body larger than ${limit} bytes`, {
    extensions: { http: { status: 413 }, code: 'REQUEST_ENTITY_TOO_LARGE', limit: 'body_size' },
  });
}

/** The body read through a counter: refused with 413 as soon as it passes `limit` bytes. */
async function readBounded(request: Request, limit: number): Promise<Request> {
  let body: Uint8Array<ArrayBuffer>;
  try {
    body = await readBodyWithin(request.body, limit);
  } catch (err) {
    throw err instanceof BodyTooLarge ? tooLarge(limit) : err;
  }
  return new Request(request.url, {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    body,
  });
}

/** Replaces Yoga's maxRequestBodySize (set to false in yoga.ts); put after the request parsers. */
export function useBodyLimit(limit: number): Plugin {
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (boundedRequests.has(request)) return;
      const declared = request.headers.get('content-length');
      if (declared !== null) {
        if (!/^\d+$/.test(declared)) {
          throw createGraphQLError('Content-Length header is invalid.', {
            extensions: { http: { status: 400 }, code: 'BAD_REQUEST' },
          });
        }
        if (Number(declared) > limit) throw tooLarge(limit);
      }
      if (!requestParser || !request.body) return;
      const parse = requestParser;
      setRequestParser(async (req) => parse(await readBounded(req, limit)));
    },
  };
}
