// Events through the idempotent ingest, sent with supabase-js `functions.invoke('ops-event-ingest')`
// so one command line works against this project's server and a hosted Supabase project alike
// (both serve the function at <url>/functions/v1/ops-event-ingest). The envelope is built and
// serialised once; every retry resends the same bytes under the same idempotency key, so the
// server answers a retry of an event it already took with `duplicate` and the original result.
import { checkEnvelope, payloadHash, SCHEMA_VERSION } from '../ingest/envelope.js';
import { CliError, EXIT, type Issue } from './errors.js';
import { type ApiConfig, requireToken } from './graphql.js';
import { type Attempt, networkAttempt, retryAfterMs, retryableStatus, withRetries } from './transport.js';

export const INGEST_FUNCTION = 'ops-event-ingest';

export type EnvelopeFields = Record<string, unknown>;

export interface EventInput {
  eventType: string;
  releaseId: string;
  gateCode?: string;
  sourceSystem: string;
  payload: Record<string, unknown>;
  idempotencyKey?: string;
  emittedAt?: string;
}

/**
 * The key a retry or a re-run of the same event reuses: `<source_system>/<release_id>/<event_type>/`
 * and the sha256 of the canonical envelope (RFC 8785) without `emitted_at` and the key itself, so
 * the same content always gets the same key and different content never does.
 */
export function deriveIdempotencyKey(envelope: EnvelopeFields): string {
  const { emitted_at: _emittedAt, idempotency_key: _key, ...content } = envelope;
  return `${content.source_system}/${content.release_id}/${content.event_type}/${payloadHash(content)}`;
}

/** A complete v1.0 envelope; the key is derived unless given. */
export function buildEnvelope(input: EventInput): EnvelopeFields {
  const content: EnvelopeFields = {
    schema_version: SCHEMA_VERSION,
    event_type: input.eventType,
    source_system: input.sourceSystem,
    release_id: input.releaseId,
    ...(input.gateCode ? { gate_code: input.gateCode } : {}),
    payload: input.payload,
  };
  return completeEnvelope(content, input.idempotencyKey, input.emittedAt);
}

/** Fills what a partial envelope (e.g. from --file) leaves out: version, key, emitted_at. */
export function completeEnvelope(fields: EnvelopeFields, key?: string, emittedAt?: string): EnvelopeFields {
  const envelope: EnvelopeFields = { schema_version: SCHEMA_VERSION, ...fields };
  envelope.idempotency_key =
    key ?? (fields.idempotency_key as string | undefined) ?? deriveIdempotencyKey(envelope);
  envelope.emitted_at = emittedAt ?? (fields.emitted_at as string | undefined) ?? new Date().toISOString();
  return envelope;
}

/** The envelope checked against the v1.0 contract before anything is sent (exit 2 when wrong). */
export function validateEnvelope(envelope: EnvelopeFields): void {
  const checked = checkEnvelope(envelope);
  if (!checked.ok) {
    throw new CliError(
      `the event does not match the v1.0 envelope: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      EXIT.usage,
      checked.error,
      { issues: checked.issues },
    );
  }
}

export interface IngestReply {
  status: 'accepted' | 'duplicate';
  /** The accepted attempt (for a duplicate: the original one). */
  ingestId: string;
  /** This attempt's own log row. */
  attemptId: string;
  detail: Record<string, unknown>;
  idempotencyKey: string;
  attempts: number;
}

interface IngestBody {
  ingest_id?: string;
  attempt_id?: string;
  status?: string;
  error?: string;
  message?: string;
  detail?: { error?: string; message?: string; issues?: Issue[] } & Record<string, unknown>;
}

/** Realtime is never used; Node 20 has no WebSocket for it to find. */
class NoRealtime {
  constructor() {
    throw new Error('ops-gates does not use Supabase Realtime');
  }
}

async function functionsClient(api: ApiConfig, token: string) {
  const { createClient } = await import('@supabase/supabase-js');
  return createClient(api.apiUrl, api.anonKey ?? token, {
    accessToken: async () => token,
    realtime: { transport: NoRealtime as never },
    global: { headers: { 'x-client-info': 'ops-gates' } },
  }).functions;
}

function refusal(status: number, body: IngestBody, key: string, derivedKey: boolean): CliError {
  const code = body.error ?? body.detail?.error ?? `http_${status}`;
  const message = body.detail?.message ?? body.message ?? `refused with HTTP ${status}`;
  const issues = body.detail?.issues;
  if (status === 401 || status === 403) {
    return new CliError(`event refused: ${message}`, EXIT.auth, code, { httpStatus: status });
  }
  if (code === 'idempotency_key_conflict') {
    return new CliError(
      `event refused: the idempotency key ${key} was already used for an event with different content`,
      EXIT.rejected,
      code,
      {
        httpStatus: status,
        hint: derivedKey
          ? "the key was derived from this event's content, so another producer must have used it for something else; give --idempotency-key"
          : 'give a new --idempotency-key for a new event, or resend the original event unchanged',
      },
    );
  }
  if ([400, 409, 413, 422].includes(status)) {
    return new CliError(`event refused: ${message}`, EXIT.rejected, code, { httpStatus: status, issues });
  }
  return new CliError(
    `unexpected answer (HTTP ${status}) from the ingest function; is OPS_API_URL the control plane?`,
    EXIT.unavailable,
    code,
    { httpStatus: status },
  );
}

async function readBody(response: Response): Promise<IngestBody> {
  try {
    return (await response.json()) as IngestBody;
  } catch {
    return {};
  }
}

export async function sendEvent(
  api: ApiConfig,
  envelope: EnvelopeFields,
  options: { derivedKey: boolean },
): Promise<IngestReply> {
  const token = requireToken(api);
  const functions = await functionsClient(api, token);
  const body = JSON.stringify(envelope);
  const key = String(envelope.idempotency_key);
  const url = `${api.apiUrl.replace(/\/+$/, '')}/functions/v1/${INGEST_FUNCTION}`;
  const { timeoutMs } = api.transport;

  const attempt = async (): Promise<Attempt<IngestBody>> => {
    const { data, error, response } = await functions.invoke<IngestBody>(INGEST_FUNCTION, {
      body,
      headers: { 'Content-Type': 'application/json' },
      timeout: timeoutMs,
    });
    if (!error) return { kind: 'done', value: data as IngestBody };
    // FunctionsHttpError and FunctionsRelayError carry the response; anything else is the network.
    if (!response)
      return networkAttempt((error as { context?: unknown }).context ?? error, url, timeoutMs, 'idempotent');
    const status = response.status;
    const answer = await readBody(response);
    if (retryableStatus(status, 'idempotent') || error.name === 'FunctionsRelayError') {
      return {
        kind: 'retry',
        error: new CliError(
          `the ingest answered HTTP ${status}`,
          EXIT.unavailable,
          answer.error ?? 'server_error',
          {
            httpStatus: status,
          },
        ),
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      };
    }
    return { kind: 'fail', error: refusal(status, answer, key, options.derivedKey) };
  };

  const { value, attempts } = await withRetries(
    `${String(envelope.event_type)} event`,
    api.transport,
    attempt,
  );
  if ((value.status !== 'accepted' && value.status !== 'duplicate') || !value.ingest_id) {
    throw new CliError(
      `unexpected answer from the ingest: ${JSON.stringify(value)}`,
      EXIT.unavailable,
      'unexpected_response',
    );
  }
  return {
    status: value.status,
    ingestId: value.ingest_id,
    attemptId: value.attempt_id ?? value.ingest_id,
    detail: (value.detail ?? {}) as Record<string, unknown>,
    idempotencyKey: key,
    attempts,
  };
}
