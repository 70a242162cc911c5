// POST /functions/v1/ops-event-ingest: the same handler behind the project's server and the
// Supabase Edge Function (Deno). One core works on an IngestRequest and answers an IngestReply;
// two thin entries carry it: the Fetch API (`handle`, the Edge Function and any Fetch caller) and
// the Node server's adapter (`reply`, src/http/node-adapter.ts, which has already read the body
// within the limit and writes the reply without building Fetch objects).
import type pg from 'pg';
import { AuthError, type Identity } from '../auth/jwt.ts';
import { withPersona } from '../db/with-persona.ts';
import { isConnectionError, RETRY_AFTER_SECONDS } from '../errors.ts';
import { BodyTooLarge, readBodyWithin } from '../http/bounded-body.ts';
import type { ProcessingStatusValue } from '../vocabulary.ts';
import { checkEnvelope, storableJson } from './envelope.ts';
import { lossyNumbers, numbersAsWritten } from './json-text.ts';
import { type JsonIssue, jsonPath } from './storable-json.ts';

export interface IngestOutcome {
  status: 'accepted' | 'duplicate' | 'rejected' | 'error' | 'unauthenticated';
  httpStatus: number;
}

export interface IngestHandlerDeps {
  verify: (authorization: string | null) => Promise<Identity>;
  pool: pg.Pool;
  maxBodyBytes: number;
  onOutcome?: (outcome: IngestOutcome) => void;
  onError?: (err: unknown) => void;
  /** The database could not be reached (the attempt was answered 503). */
  onUnavailable?: (err: unknown) => void;
}

/** What ops.ingest_event answers: the response body plus the HTTP status it maps to. */
export interface IngestResult {
  ingest_id?: string;
  attempt_id?: string;
  status: ProcessingStatusValue;
  http_status: number;
  detail: unknown;
}

type RefusalDetail = { error: string; message: string; [k: string]: unknown };

/** Logs an attempt refused before it reached ops.ingest_event (it is still one log row). */
export async function submitRefusal(
  pool: pg.Pool,
  identity: Identity,
  httpStatus: number,
  body: unknown,
  detail: RefusalDetail,
): Promise<IngestResult> {
  // The content hash, the actor and the persona are the database's to stamp, never the caller's.
  return withPersona(pool, identity, async (c) => {
    const { rows } = await c.query<{ r: IngestResult }>(
      'select ops.record_rejected_ingest($1::jsonb, $2, $3::jsonb) as r',
      [body === undefined ? null : JSON.stringify(body), httpStatus, JSON.stringify(detail)],
    );
    return rows[0]!.r;
  });
}

/**
 * Validates a parsed envelope and hands it to ops.ingest_event; shared by the HTTP route, the
 * Edge Function and the GraphQL ingestEvent mutation. Every call leaves exactly one log row.
 * `text`: the JSON text `body` was parsed from, when there is one (the HTTP route). It is sent as
 * it is when it says to PostgreSQL exactly what `body` re-serialised would (the same jsonb, so the
 * same log row and content hash), which spares stringifying the body again; otherwise, and always
 * when something had to be rewritten to be storable, the body is serialised as before.
 */
export async function submitEnvelope(
  pool: pg.Pool,
  identity: Identity,
  body: unknown,
  text?: string,
): Promise<IngestResult> {
  // What Postgres cannot hold (NUL, unpaired surrogates, absurd nesting) is the producer's
  // mistake like any malformed field: a 400 naming it, logged with a copy the log can keep.
  const storable = storableJson(body);
  const asWritten = text !== undefined && numbersAsWritten(text);
  // A number JSON.parse could not hold by value (9007199254740993 read as 9007199254740992, 1e-400
  // as 0) would be stored, hashed and judged as a retry as another event than the one sent: two
  // different events would be each other's duplicate. Named like what PostgreSQL cannot hold (the
  // out-of-range ones that read as Infinity are storableJson's already).
  const lossy: JsonIssue[] =
    text === undefined || asWritten
      ? []
      : lossyNumbers(text)
          .filter((n) => n.parsed !== 'Infinity' && n.parsed !== '-Infinity')
          .map((n) => ({
            path: jsonPath(n.path),
            message: `the number ${n.literal} cannot be held exactly (it reads as ${n.parsed}); send it as a string`,
          }));
  const checked = checkEnvelope(storable.value);
  if (!checked.ok || storable.issues.length > 0 || lossy.length > 0) {
    const versionFirst = !checked.ok && checked.status === 422;
    const issues = versionFirst
      ? checked.issues
      : [...storable.issues, ...lossy, ...(checked.ok ? [] : checked.issues)];
    return submitRefusal(pool, identity, versionFirst ? 422 : 400, storable.value, {
      error: versionFirst ? 'unsupported_schema_version' : 'invalid_envelope',
      message: versionFirst ? issues[0]!.message : `${issues.length} field(s) missing or malformed`,
      issues,
    });
  }
  return withPersona(pool, identity, async (c) => {
    // The body as sent, not the parsed copy: nothing a producer sent is dropped from the log. The
    // database computes its content hash (ops.envelope_hash) and scopes its key to the caller.
    // jsonb keeps the last of duplicate keys as JSON.parse does and ignores whitespace and key
    // order; numbers are the one thing it keeps as written (1.50 stays 1.50, JSON.stringify writes
    // 1.5), so the text goes as it is only when each number is written as JSON.stringify would.
    const sent = asWritten ? text : JSON.stringify(body);
    const { rows } = await c.query<{ r: IngestResult }>('select ops.ingest_event($1::jsonb) as r', [sent]);
    return rows[0]!.r;
  });
}

/**
 * An unexpected failure: logged as `error` when the database is still reachable; never leaks
 * internals. A database that cannot be reached is a 503 the producer retries (nothing can be logged
 * then; the event was not accepted, or a retry finds it as a duplicate).
 */
async function failed(deps: IngestHandlerDeps, identity: Identity, err: unknown): Promise<IngestResult> {
  if (isConnectionError(err)) {
    deps.onUnavailable?.(err);
    return {
      status: 'error',
      http_status: 503,
      detail: { error: 'database_unavailable', message: 'the database is unavailable; retry the same event' },
    };
  }
  deps.onError?.(err);
  const detail = { error: 'internal_error', message: 'the event could not be processed' };
  const logged = await submitRefusal(deps.pool, identity, 500, undefined, detail).catch(() => null);
  return { ingest_id: logged?.ingest_id, status: 'error', http_status: 500, detail };
}

function respond(result: IngestResult): IngestReply {
  const { http_status, ...body } = result;
  const error = (body.detail as { error?: string } | null)?.error;
  return json(
    http_status,
    body.status === 'rejected' || body.status === 'error' ? { ...body, error } : body,
    http_status === 503 ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {},
  );
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'POST, OPTIONS',
};

/** What the ingest reads of a request, whichever server carries it. */
export interface IngestRequest {
  method: string;
  /** A header by its lower-case name, repeated values joined with ", " as Fetch's Headers does; null when absent. */
  header: (name: string) => string | null;
  /** The whole body; BodyTooLarge as soon as it passes `limit` bytes (the rest is never read). */
  bytes: (limit: number) => Promise<Uint8Array>;
  /** The body is not wanted: stop reading it. */
  discard: () => Promise<void>;
}

/** The ingest's answer, before it becomes a Response (Fetch) or is written to a Node response. */
export interface IngestReply {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** JSON text; null for no body (the CORS preflight). */
  body: string | null;
}

function json(status: number, body: unknown, extra: Record<string, string> = {}): IngestReply {
  return {
    status,
    headers: { 'content-type': 'application/json', ...CORS, ...extra },
    body: JSON.stringify(body),
  };
}

/** A Fetch request as the ingest reads it. */
export function ingestRequestOf(req: Request): IngestRequest {
  return {
    method: req.method,
    header: (name) => req.headers.get(name),
    bytes: (limit) => readBodyWithin(req.body, limit),
    discard: async () => {
      await req.body?.cancel().catch(() => {});
    },
  };
}

/** The reply as a Fetch Response. */
export function responseOf(reply: IngestReply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}

/**
 * The body must be JSON and say so: `application/json` or a `+json` type, with no charset other
 * than UTF-8 (RFC 8259). Anything else (text/plain, a form, none at all) is a 415, so a body sent
 * by mistake (a browser form, a misconfigured webhook) is never guessed at.
 */
export function isJsonContentType(header: string | null): boolean {
  if (!header) return false;
  const [type, ...params] = header.split(';').map((p) => p.trim().toLowerCase());
  if (!type || !/^application\/([a-z0-9.+-]+\+)?json$/.test(type)) return false;
  for (const p of params) {
    const [name, value] = p.split('=').map((x) => x?.trim().replace(/^"|"$/g, ''));
    if (name === 'charset' && value !== 'utf-8' && value !== 'utf8') return false;
  }
  return true;
}

// fatal: invalid UTF-8 is refused, not silently replaced with U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

class InvalidUtf8 extends Error {}

/** Reads the body, refusing it as soon as it exceeds the limit (without buffering the rest). */
async function readBody(req: IngestRequest, limit: number): Promise<string> {
  const declared = Number(req.header('content-length') ?? '0');
  if (declared > limit) throw new BodyTooLarge();
  const bytes = await req.bytes(limit);
  try {
    return utf8.decode(bytes);
  } catch {
    throw new InvalidUtf8();
  }
}

/** A token already checked by the server's router (the Edge Function leaves it to the handler). */
export interface PreVerified {
  identity: Identity | null;
  authError: AuthError | null;
}

export interface IngestHandler {
  /** The whole route on a Fetch Request: method, token, body, envelope, ops.ingest_event. */
  handle: (req: Request, auth?: PreVerified) => Promise<Response>;
  /** A body over the limit, refused by the server before it was read: logged as a 413 attempt. */
  tooLarge: (req: Request, auth?: PreVerified) => Promise<Response>;
  /** The same route as `handle` on an IngestRequest, answered as an IngestReply (the Node entry). */
  reply: (req: IngestRequest, auth?: PreVerified) => Promise<IngestReply>;
}

export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  const report = (outcome: IngestOutcome) => deps.onOutcome?.(outcome);

  /** The caller's identity, or the reply that refuses the attempt (counted, never logged). */
  async function identify(req: IngestRequest, auth?: PreVerified): Promise<Identity | IngestReply> {
    let identity: Identity;
    try {
      if (auth?.authError) throw auth.authError;
      identity = auth?.identity ?? (await deps.verify(req.header('authorization')));
    } catch (err) {
      if (err instanceof AuthError) {
        // Unauthenticated attempts are counted, not logged: anonymous traffic cannot fill the table.
        report({ status: 'unauthenticated', httpStatus: err.status });
        return json(err.status, { error: err.code, message: err.message });
      }
      throw err;
    }
    if (!identity.persona) {
      report({ status: 'unauthenticated', httpStatus: 403 });
      return json(403, {
        error: 'no_persona',
        message: 'the token names no ops persona (app_metadata.ops_role or role)',
      });
    }
    return identity;
  }

  async function finish(identity: Identity, work: Promise<IngestResult>): Promise<IngestReply> {
    const result = await work.catch((e) => failed(deps, identity, e));
    report({ status: result.status, httpStatus: result.http_status });
    return respond(result);
  }

  /** An attempt refused before its body could be read as an envelope (still one log row). */
  const refuse = (identity: Identity, httpStatus: number, detail: RefusalDetail) =>
    finish(identity, submitRefusal(deps.pool, identity, httpStatus, undefined, detail));

  const refuseTooLarge = (identity: Identity) =>
    refuse(identity, 413, {
      error: 'payload_too_large',
      message: `the body exceeds ${deps.maxBodyBytes} bytes`,
    });

  async function reply(req: IngestRequest, auth?: PreVerified): Promise<IngestReply> {
    if (req.method === 'OPTIONS') return { status: 204, headers: { ...CORS }, body: null };
    if (req.method !== 'POST') {
      return json(405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' });
    }
    const identity = await identify(req, auth);
    if (!isIdentity(identity)) return identity;

    if (!isJsonContentType(req.header('content-type'))) {
      await req.discard();
      return refuse(identity, 415, {
        error: 'unsupported_media_type',
        message: 'send the event as JSON with Content-Type: application/json',
      });
    }
    let raw: string;
    try {
      raw = await readBody(req, deps.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) return refuseTooLarge(identity);
      if (err instanceof InvalidUtf8) {
        return refuse(identity, 400, { error: 'invalid_utf8', message: 'the body is not valid UTF-8' });
      }
      throw err;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      return refuse(identity, 400, { error: 'invalid_json', message: 'the body is not valid JSON' });
    }
    return finish(identity, submitEnvelope(deps.pool, identity, body, raw));
  }

  return {
    reply,
    handle: async (req, auth) => responseOf(await reply(ingestRequestOf(req), auth)),
    async tooLarge(req, auth) {
      const identity = await identify(ingestRequestOf(req), auth);
      return responseOf(isIdentity(identity) ? await refuseTooLarge(identity) : identity);
    },
  };
}

function isIdentity(x: Identity | IngestReply): x is Identity {
  return 'claims' in x;
}
