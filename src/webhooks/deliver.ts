// One delivery attempt: read the delivery (owner's rights: the secret), sign the body as the
// Standard Webhooks specification says (webhook-id = the delivery id, so receivers de-duplicate
// retries), POST it within the timeout to a checked address, read at most maxBytes of the answer,
// and record the attempt. A 2xx answer delivers; anything else is retried by the job library with
// exponential backoff until the last attempt, which ends the delivery as failed. A refused target
// or an oversized body is final at once (retrying cannot change it).
import http from 'node:http';
import https from 'node:https';
import type pg from 'pg';
import { Webhook } from 'standardwebhooks';
import {
  guardedLookup,
  literalAddress,
  RefusedTargetError,
  refusedAddress,
  type TargetPolicy,
} from './ssrf.js';

export interface DeliveryOptions extends TargetPolicy {
  timeoutMs: number;
  maxBytes: number;
}

export type Outcome = 'delivered' | 'retry' | 'failed' | 'refused';

interface Target {
  delivery_id: string;
  url: string;
  secret: string | null;
  status: string;
  attempts: number;
  /** The message as signed and sent (JSON text). */
  body: string;
}

export class DeliveryRetry extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRetry';
  }
}

/**
 * Keep-alive connection pools, one pair per target policy: per pair of its settings (allowLoopback,
 * allowPrivate), the only things a connection's check depends on, not per options object: the
 * worker passes a new object to every delivery and batch, and pools per object opened a connection
 * per delivery that stayed open as long as the receiver kept it (a receiver that never closes idle
 * connections took one socket of the worker per delivery). A connection is checked against the
 * policy when it is opened (guardedLookup, below); a reused one goes on to the address checked
 * then, so a later DNS answer cannot redirect it. An idle connection is closed after IDLE_MS and
 * does not keep the process alive.
 */
const IDLE_MS = 5_000;
const pools = new Map<string, { 'http:': http.Agent; 'https:': https.Agent }>();

function poolFor(protocol: string, policy: TargetPolicy): http.Agent {
  // As the checks read them (truthiness), so a connection only ever serves the policy it was checked for.
  const key = `${Boolean(policy.allowLoopback)}/${Boolean(policy.allowPrivate)}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = {
      'http:': new http.Agent({ keepAlive: true, maxSockets: 32, timeout: IDLE_MS }),
      'https:': new https.Agent({ keepAlive: true, maxSockets: 32, timeout: IDLE_MS }),
    };
    pools.set(key, pool);
  }
  return protocol === 'https:' ? pool['https:'] : pool['http:'];
}

/** POSTs body to url; resolves with the HTTP status, rejects on a refused target, timeout or network error. */
export function post(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: DeliveryOptions,
): Promise<number> {
  const literal = literalAddress(url.hostname);
  if (literal) {
    const why = refusedAddress(literal, options);
    if (why) return Promise.reject(new RefusedTargetError(why));
  }
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
      lookup: guardedLookup(options) as never,
      agent: poolFor(url.protocol, options),
    });
    // The whole attempt (connecting, sending, the answer) within timeoutMs: one timer, cleared when
    // the request ends (an AbortSignal per request cost more than the rest of the request's setup).
    const deadline = setTimeout(
      () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    req.once('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.on('response', (res) => {
      let read = 0;
      res.on('data', (chunk: Buffer) => {
        read += chunk.length;
        // The answer is not used: past the cap the rest is not read at all.
        if (read > options.maxBytes) res.destroy();
      });
      res.on('close', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(res.statusCode ?? 0));
    });
    req.end(body);
  });
}

/** What one attempt ended with, before it is recorded. */
interface Attempt {
  deliveryId: string;
  startedAt: Date;
  durationMs: number;
  statusCode: number | null;
  error: string | null;
  outcome: Outcome;
}

/**
 * Sends one delivery to its target (already read) and says what the attempt ended with; records
 * nothing. `finalAttempt`: a failure ends the delivery instead of asking for a retry.
 */
async function send(
  deliveryId: string,
  target: Target,
  finalAttempt: boolean,
  options: DeliveryOptions,
): Promise<Attempt> {
  const startedAt = new Date();
  const ended = (statusCode: number | null, error: string | null, outcome: Outcome): Attempt => ({
    deliveryId,
    startedAt,
    durationMs: Date.now() - startedAt.getTime(),
    statusCode,
    error,
    outcome,
  });
  if (target.secret === null) return ended(null, 'the subscription was removed', 'failed');
  const body = target.body;
  if (Buffer.byteLength(body) > options.maxBytes) {
    return ended(null, `body of ${Buffer.byteLength(body)} bytes exceeds ${options.maxBytes}`, 'refused');
  }
  const signature = new Webhook(target.secret).sign(deliveryId, startedAt, body);
  const headers = {
    'content-type': 'application/json',
    'user-agent': 'ops-release-gates-webhooks',
    'webhook-id': deliveryId,
    'webhook-timestamp': String(Math.floor(startedAt.getTime() / 1000)),
    'webhook-signature': signature,
  };
  let status: number | null = null;
  let error: string | null = null;
  try {
    status = await post(new URL(target.url), body, headers, options);
  } catch (err) {
    if (err instanceof RefusedTargetError) return ended(null, `refused target: ${err.message}`, 'refused');
    error = (err as Error).message || String(err);
  }
  if (status !== null && status >= 200 && status < 300) return ended(status, null, 'delivered');
  return ended(status, error ?? `answered ${status}`, finalAttempt ? 'failed' : 'retry');
}

/** Records attempts in one statement (one transaction, one commit for all of them). */
async function record(pool: pg.Pool, attempts: Attempt[]): Promise<void> {
  if (attempts.length === 0) return;
  await pool.query('select ops.webhook_record_attempts($1, $2, $3, $4, $5, $6)', [
    attempts.map((a) => a.deliveryId),
    attempts.map((a) => a.startedAt),
    attempts.map((a) => a.durationMs),
    attempts.map((a) => a.statusCode),
    attempts.map((a) => a.error),
    attempts.map((a) => a.outcome),
  ]);
}

/** The deliveries' targets, read in one statement; a delivery that does not exist is absent. */
async function targetsOf(pool: pg.Pool, deliveryIds: string[]): Promise<Map<string, Target>> {
  const { rows } = await pool.query<Target>('select * from ops.webhook_delivery_targets($1::uuid[])', [
    deliveryIds,
  ]);
  return new Map(rows.map((r) => [r.delivery_id, r]));
}

const retryError = (a: Attempt) => new DeliveryRetry(`delivery ${a.deliveryId}: ${a.error}`);

/**
 * Runs one attempt of the delivery. `finalAttempt`: no retry follows a failure of this one.
 * Throws DeliveryRetry when the job library should try again later.
 */
export async function attemptDelivery(
  pool: pg.Pool,
  deliveryId: string,
  finalAttempt: boolean,
  options: DeliveryOptions,
): Promise<Outcome | 'skipped'> {
  const target = (await targetsOf(pool, [deliveryId])).get(deliveryId);
  // Unknown, or already settled by an earlier attempt (at-least-once: a job may run again).
  if (target?.status !== 'pending') return 'skipped';
  const attempt = await send(deliveryId, target, finalAttempt, options);
  await record(pool, [attempt]);
  if (attempt.outcome === 'retry') throw retryError(attempt);
  return attempt.outcome;
}

/**
 * Runs one attempt of each delivery of a batch: their targets read in one statement, at most
 * `parallel` requests in flight, every attempt recorded in one statement once all have ended.
 * Returns one result per delivery, in order: its outcome, or a DeliveryRetry when the job library
 * should try that one again later. Throws (everything retried) only when the database fails.
 */
export async function attemptDeliveries(
  pool: pg.Pool,
  deliveryIds: string[],
  finalAttempt: boolean,
  options: DeliveryOptions & { parallel: number },
): Promise<(Outcome | 'skipped' | DeliveryRetry)[]> {
  const targets = await targetsOf(pool, deliveryIds);
  const attempts: (Attempt | null)[] = new Array(deliveryIds.length).fill(null);
  let next = 0;
  const lane = async () => {
    while (next < deliveryIds.length) {
      const i = next++;
      const target = targets.get(deliveryIds[i]!);
      // Unknown, or already settled by an earlier attempt (at-least-once: a job may run again).
      if (target?.status !== 'pending') continue;
      attempts[i] = await send(deliveryIds[i]!, target, finalAttempt, options);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.parallel, deliveryIds.length)) }, lane),
  );
  await record(
    pool,
    attempts.filter((a): a is Attempt => a !== null),
  );
  return attempts.map((a) => (a === null ? 'skipped' : a.outcome === 'retry' ? retryError(a) : a.outcome));
}
