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
  url: string;
  secret: string | null;
  status: string;
  attempts: number;
  body: unknown;
}

export class DeliveryRetry extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeliveryRetry';
  }
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
      agent: false,
      signal: AbortSignal.timeout(options.timeoutMs),
    });
    req.on('error', (err) =>
      reject(err.name === 'AbortError' ? new Error(`no answer within ${options.timeoutMs} ms`) : err),
    );
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
  const { rows } = await pool.query<Target>('select * from ops.webhook_delivery_target($1)', [deliveryId]);
  const target = rows[0];
  // Unknown, or already settled by an earlier attempt (at-least-once: a job may run again).
  if (target?.status !== 'pending') return 'skipped';
  const startedAt = new Date();
  const record = (statusCode: number | null, error: string | null, outcome: Outcome) =>
    pool.query('select ops.webhook_record_attempt($1, $2, $3, $4, $5, $6)', [
      deliveryId,
      startedAt,
      Date.now() - startedAt.getTime(),
      statusCode,
      error,
      outcome,
    ]);
  if (target.secret === null) {
    await record(null, 'the subscription was removed', 'failed');
    return 'failed';
  }
  const body = JSON.stringify(target.body);
  if (Buffer.byteLength(body) > options.maxBytes) {
    await record(null, `body of ${Buffer.byteLength(body)} bytes exceeds ${options.maxBytes}`, 'refused');
    return 'refused';
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
    if (err instanceof RefusedTargetError) {
      await record(null, `refused target: ${err.message}`, 'refused');
      return 'refused';
    }
    error = (err as Error).message || String(err);
  }
  if (status !== null && status >= 200 && status < 300) {
    await record(status, null, 'delivered');
    return 'delivered';
  }
  const why = error ?? `answered ${status}`;
  if (finalAttempt) {
    await record(status, why, 'failed');
    return 'failed';
  }
  await record(status, why, 'retry');
  throw new DeliveryRetry(`delivery ${deliveryId}: ${why}`);
}
