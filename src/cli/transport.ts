// Timeouts and retries shared by the GraphQL and ingest clients. A request is retried, with
// exponential backoff and jitter, only after a network error, a timeout, 429 or 5xx, never after
// another 4xx; a request that may already have changed something is retried only when it is safe
// to repeat (events carry an idempotency key and are resent byte for byte; queries change
// nothing), see `Delivery`.
import { CliError, EXIT } from './errors.js';
import { type Io, progress } from './output.js';

export interface TransportOptions {
  /** Per attempt. */
  timeoutMs: number;
  /** Attempts after the first. */
  retries: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  io: Io;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export type Attempt<T> =
  | { kind: 'done'; value: T }
  /** Worth another attempt; retryAfterMs from a Retry-After header. */
  | { kind: 'retry'; error: CliError; retryAfterMs?: number }
  | { kind: 'fail'; error: CliError };

export interface Retried<T> {
  value: T;
  attempts: number;
}

const DEFAULT_BASE_MS = 250;
const DEFAULT_MAX_MS = 8000;
const MAX_RETRY_AFTER_MS = 30_000;

/** Exponential backoff with "equal jitter": half fixed, half random, so retries never synchronise. */
export function backoffMs(retry: number, base: number, max: number, random: () => number): number {
  const ceiling = Math.min(max, base * 2 ** (retry - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Retry-After as seconds or an HTTP date, capped. */
export function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, MAX_RETRY_AFTER_MS) : undefined;
}

export async function withRetries<T>(
  label: string,
  options: TransportOptions,
  attempt: (n: number) => Promise<Attempt<T>>,
): Promise<Retried<T>> {
  const base = options.baseDelayMs ?? DEFAULT_BASE_MS;
  const max = options.maxDelayMs ?? DEFAULT_MAX_MS;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const total = options.retries + 1;
  for (let n = 1; ; n++) {
    const shown = progress(options.io, n === 1 ? label : `${label}, attempt ${n} of ${total}`);
    let result: Attempt<T>;
    try {
      result = await attempt(n);
    } finally {
      shown.stop();
    }
    if (result.kind === 'done') return { value: result.value, attempts: n };
    if (result.kind === 'fail' || n >= total) {
      if (result.kind === 'retry' && total > 1) {
        throw new CliError(
          `${result.error.message} (gave up after ${n} attempts)`,
          result.error.exitCode,
          result.error.code,
          result.error.extra,
        );
      }
      throw result.error;
    }
    const delay = Math.max(result.retryAfterMs ?? 0, backoffMs(n, base, max, random));
    options.io.stderr(
      `${label}: ${result.error.message}; retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${total})\n`,
    );
    const waiting = progress(options.io, `${label}: waiting to retry`);
    await sleep(delay);
    waiting.stop();
  }
}

/**
 * Whether repeating a request is safe: `idempotent` (events with their key, queries) after any
 * network error; `once` (mutations without a key) only when the request cannot have reached the
 * server (connection refused, unknown host) or was refused unprocessed (429, 503).
 */
export type Delivery = 'idempotent' | 'once';

const NOT_DELIVERED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);

function causeCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isTimeout(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

/** A thrown fetch error as an attempt outcome. */
export function networkAttempt(
  err: unknown,
  url: string,
  timeoutMs: number,
  delivery: Delivery,
): Attempt<never> {
  const code = causeCode(err);
  const timedOut = isTimeout(err);
  const message = timedOut
    ? `no answer from ${url} within ${timeoutMs / 1000} s`
    : `cannot reach ${url}${code ? ` (${code})` : ''}`;
  const error = new CliError(message, EXIT.unavailable, timedOut ? 'timeout' : 'network_error');
  const delivered = timedOut || !code || !NOT_DELIVERED.has(code);
  if (delivery === 'once' && delivered) {
    return {
      kind: 'fail',
      error: new CliError(
        `${message}; the request may or may not have been applied, so it was not repeated`,
        EXIT.unavailable,
        error.code,
        { hint: 'check the release with `ops-gates status <release>` before trying again' },
      ),
    };
  }
  return { kind: 'retry', error };
}

/** An HTTP status that is worth another attempt under the delivery rule. */
export function retryableStatus(status: number, delivery: Delivery): boolean {
  if (status === 429 || status === 503) return true;
  return delivery === 'idempotent' && status >= 500;
}
