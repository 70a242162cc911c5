// GraphQL variables and extensions hold their numbers exactly, or the request is refused.
//
// A GraphQL request's JSON body is JSON.parsed before any resolver runs: a number literal beyond a
// double (9007199254740993, 1e-400, 0.1000000000000000055511151231257827) reaches the resolver as
// the double it rounds to, and an ingested payload would store a value the sender never sent. The
// HTTP ingest and the Edge Function refuse such a number (src/ingest/handler.ts), and so does a
// GraphQL literal in the document (src/resolvers/scalars.ts); this plugin does it for the JSON a
// request carries beside the document: a POST body's variables and extensions, or a GET request's
// `variables` and `extensions` parameters. A 400 names each such number and its path. A literal
// merely spelt otherwise (1.50, 15e-1, -0) is exact and passes. A number beyond a double's range
// upwards (1e400) passes too, as it does in a document literal: it reads as Infinity, which the JSON
// checks behind every mutation refuse by path as a ValidationError (an ingestEvent's refusal then
// logged with the event's identity, as at the HTTP ingest), and which Int and Float refuse.
import { createGraphQLError, type GraphQLParams, type Plugin } from 'graphql-yoga';
import { type LossyNumber, lossyNumbers, numbersAsWritten } from '../ingest/json-text.js';

function refused(found: LossyNumber[], where: string) {
  const list = found
    .map((n) => `${[where, ...n.path].filter(Boolean).join('.')}: ${n.literal} (reads as ${n.parsed})`)
    .join('; ');
  return badRequest(`JSON numbers that cannot be held exactly: ${list}; send them as strings`);
}

/**
 * Throws the 400 when the JSON text carries a number a double cannot hold by value (naming the first
 * ten); `where` prefixes paths. Infinity is left to the checks behind the resolvers (above).
 */
function requireExact(text: string | null, where: string): void {
  // The common case (no number, or every number as JSON.stringify writes it) costs one scan.
  if (text === null || numbersAsWritten(text)) return;
  const found = lossyNumbers(text, Number.MAX_SAFE_INTEGER).filter((n) => !n.parsed.endsWith('Infinity'));
  if (found.length > 0) throw refused(found.slice(0, 10), where);
}

/**
 * The media type of a POST as Yoga's parsers choose by it (the first of a comma-separated list,
 * without parameters), lower-cased and trimmed so that every spelling Yoga would parse is seen
 * here too; null for any other method or no Content-Type.
 */
function postMediaType(request: Request): string | null {
  if (request.method !== 'POST') return null;
  const header = request.headers.get('content-type');
  if (header === null) return null;
  return header.split(',', 1)[0]!.split(';', 1)[0]!.trim().toLowerCase();
}

function badRequest(message: string) {
  return createGraphQLError(message, { extensions: { http: { status: 400 }, code: 'BAD_REQUEST' } });
}

/**
 * A POST JSON body read as text, its numbers checked, then parsed as Yoga's own JSON parser does
 * (an object or an array, the same 400s for anything else): parsing the text here costs one
 * JSON.parse, where handing the text back to Yoga's parser would cost a second Request.
 */
async function parseExact(request: Request): Promise<GraphQLParams> {
  const text = await request.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw badRequest('POST body sent invalid JSON.');
  }
  if (body === null || typeof body !== 'object') {
    throw badRequest(
      `POST body is expected to be object but received ${body === null ? 'null' : typeof body}`,
    );
  }
  requireExact(text, '');
  return body as GraphQLParams;
}

/** A JSON parameter of a form body, as Yoga reads it, or the 400 Yoga's own parser does not give. */
function formJson(params: URLSearchParams, name: string): unknown {
  const text = params.get(name) || undefined;
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(`POST body's ${name} is not valid JSON.`);
  }
}

/**
 * A POST application/x-www-form-urlencoded body (query, operationName, variables, extensions as
 * form fields, which Yoga also accepts): its variables and extensions held to the same as a JSON
 * body's, then read as Yoga's form parser reads them.
 */
async function parseFormExact(request: Request): Promise<GraphQLParams> {
  const params = new URLSearchParams(await request.text());
  const parsed: GraphQLParams = {
    operationName: params.get('operationName') || undefined,
    query: params.get('query') || undefined,
    variables: formJson(params, 'variables') as GraphQLParams['variables'],
    extensions: formJson(params, 'extensions') as GraphQLParams['extensions'],
  };
  requireExactParams(params);
  return parsed;
}

/** The variables and extensions of a GET query string or a form body, held to exact numbers. */
function requireExactParams(params: URLSearchParams): void {
  requireExact(params.get('variables') || null, 'variables');
  requireExact(params.get('extensions') || null, 'extensions');
}

/**
 * The plugin: put before useBodyLimit (which wraps whatever parser is chosen). A POST body Yoga
 * would read as JSON (its Content-Type's first media type, in any case) is parsed by parseExact, a
 * form body by parseFormExact; a GET request's parameters are checked before Yoga parses them.
 * Multipart bodies, whose operations field Yoga would JSON.parse unchecked, are off in yoga.ts (no
 * field takes a file). Returns the plugin; its 400s name every number refused (up to ten) with its
 * path.
 */
export function useExactNumbers(): Plugin {
  return {
    onRequestParse({ request, setRequestParser }) {
      if (request.method === 'GET') {
        requireExactParams(new URL(request.url).searchParams);
        return;
      }
      const type = postMediaType(request);
      if (type === 'application/json' || type === 'application/graphql+json') setRequestParser(parseExact);
      else if (type === 'application/x-www-form-urlencoded') setRequestParser(parseFormExact);
    },
  };
}
