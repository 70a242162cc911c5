// POST /functions/v1/ops-event-ingest: the same handler behind the project's server and the
// Supabase Edge Function (Deno), written against the Fetch API so it runs on both.
import type pg from 'pg';
import { AuthError, type Identity } from '../auth/jwt.ts';
import { withPersona } from '../db/with-persona.ts';
import { checkEnvelope, payloadHash, storableJson } from './envelope.ts';

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
}

/** What ops.ingest_event answers: the response body plus the HTTP status it maps to. */
export interface IngestResult {
  ingest_id?: string;
  attempt_id?: string;
  status: 'accepted' | 'duplicate' | 'rejected' | 'error';
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
  hash: string | null = null,
): Promise<IngestResult> {
  return withPersona(pool, identity, async (c) => {
    const { rows } = await c.query<{ r: IngestResult }>(
      'select ops.record_rejected_ingest($1::jsonb, $2, $3, $4::jsonb) as r',
      [body === undefined ? null : JSON.stringify(body), hash, httpStatus, JSON.stringify(detail)],
    );
    return rows[0]!.r;
  });
}

/**
 * Validates a parsed envelope and hands it to ops.ingest_event; shared by the HTTP route, the
 * Edge Function and the GraphQL ingestEvent mutation. Every call leaves exactly one log row.
 */
export async function submitEnvelope(
  pool: pg.Pool,
  identity: Identity,
  body: unknown,
): Promise<IngestResult> {
  // What Postgres cannot hold (NUL, unpaired surrogates, absurd nesting) is the producer's
  // mistake like any malformed field: a 400 naming it, logged with a copy the log can keep.
  const storable = storableJson(body);
  // Such a body is not hashed either: canonical JSON refuses lone surrogates and recurses.
  const hash = storable.issues.length > 0 ? null : payloadHash(body);
  const checked = checkEnvelope(storable.value);
  if (!checked.ok || storable.issues.length > 0) {
    const versionFirst = !checked.ok && checked.status === 422;
    const issues = versionFirst
      ? checked.issues
      : [...storable.issues, ...(checked.ok ? [] : checked.issues)];
    return submitRefusal(
      pool,
      identity,
      versionFirst ? 422 : 400,
      storable.value,
      {
        error: versionFirst ? 'unsupported_schema_version' : 'invalid_envelope',
        message: versionFirst ? issues[0]!.message : `${issues.length} field(s) missing or malformed`,
        issues,
      },
      hash,
    );
  }
  return withPersona(pool, identity, async (c) => {
    const { rows } = await c.query<{ r: IngestResult }>('select ops.ingest_event($1::jsonb, $2) as r', [
      // The body as sent, not the parsed copy: nothing a producer sent is dropped from the log.
      JSON.stringify(body),
      hash,
    ]);
    return rows[0]!.r;
  });
}

/** An unexpected failure: logged as `error` when the database is still reachable; never leaks internals. */
async function failed(deps: IngestHandlerDeps, identity: Identity, err: unknown): Promise<IngestResult> {
  deps.onError?.(err);
  const detail = { error: 'internal_error', message: 'the event could not be processed' };
  const logged = await submitRefusal(deps.pool, identity, 500, undefined, detail).catch(() => null);
  return { ingest_id: logged?.ingest_id, status: 'error', http_status: 500, detail };
}

function respond(result: IngestResult): Response {
  const { http_status, ...body } = result;
  const error = (body.detail as { error?: string } | null)?.error;
  return json(http_status, body.status === 'rejected' || body.status === 'error' ? { ...body, error } : body);
}

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, x-client-info, apikey, content-type',
  'access-control-allow-methods': 'POST, OPTIONS',
};

function json(status: number, body: unknown, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json', ...CORS, ...extra },
  });
}

class BodyTooLarge extends Error {}

/** Reads the body, refusing it as soon as it exceeds the limit (without buffering the rest). */
async function readBody(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get('content-length') ?? '0');
  if (declared > limit) throw new BodyTooLarge();
  if (!req.body) return '';
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A token already checked by the server's router (the Edge Function leaves it to the handler). */
export interface PreVerified {
  identity: Identity | null;
  authError: AuthError | null;
}

export interface IngestHandler {
  /** The whole route: method, token, body, envelope, ops.ingest_event. */
  handle: (req: Request, auth?: PreVerified) => Promise<Response>;
  /** A body over the limit, refused by the server before it was read: logged as a 413 attempt. */
  tooLarge: (req: Request, auth?: PreVerified) => Promise<Response>;
}

export function createIngestHandler(deps: IngestHandlerDeps): IngestHandler {
  const report = (outcome: IngestOutcome) => deps.onOutcome?.(outcome);

  /** The caller's identity, or the response that refuses the attempt (counted, never logged). */
  async function identify(req: Request, auth?: PreVerified): Promise<Identity | Response> {
    let identity: Identity;
    try {
      if (auth?.authError) throw auth.authError;
      identity = auth?.identity ?? (await deps.verify(req.headers.get('authorization')));
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

  async function finish(identity: Identity, work: Promise<IngestResult>): Promise<Response> {
    const result = await work.catch((e) => failed(deps, identity, e));
    report({ status: result.status, httpStatus: result.http_status });
    return respond(result);
  }

  const refuseTooLarge = (identity: Identity) =>
    finish(
      identity,
      submitRefusal(deps.pool, identity, 413, undefined, {
        error: 'payload_too_large',
        message: `the body exceeds ${deps.maxBodyBytes} bytes`,
      }),
    );

  return {
    async handle(req, auth) {
      if (req.method === 'OPTIONS') return new Response(null, { status: 204, headers: CORS });
      if (req.method !== 'POST') {
        return json(405, { error: 'method_not_allowed', message: 'use POST' }, { allow: 'POST' });
      }
      const identity = await identify(req, auth);
      if (identity instanceof Response) return identity;

      let raw: string;
      try {
        raw = await readBody(req, deps.maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLarge) return refuseTooLarge(identity);
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(raw);
      } catch {
        return finish(
          identity,
          submitRefusal(deps.pool, identity, 400, undefined, {
            error: 'invalid_json',
            message: 'the body is not valid JSON',
          }),
        );
      }
      return finish(identity, submitEnvelope(deps.pool, identity, body));
    },
    async tooLarge(req, auth) {
      const identity = await identify(req, auth);
      if (identity instanceof Response) return identity;
      return refuseTooLarge(identity);
    },
  };
}
