// Webhook delivery settings from the environment (README: Events and webhooks). Read once by
// loadConfig (src/config.ts) into Config.webhooks.
import { z } from 'zod';
import { ConfigError } from '../config.js';
import { flag, integer, optional } from '../settings.js';

export interface WebhookConfig {
  /** Run the delivery worker in this process (OPS_WEBHOOK_WORKER, default on). */
  worker: boolean;
  /** One delivery attempt gives up after this long, ms (OPS_WEBHOOK_TIMEOUT_MS). */
  timeoutMs: number;
  /** Largest message body sent, and largest answer read, in bytes (OPS_WEBHOOK_MAX_BYTES). */
  maxBytes: number;
  /** Attempts per delivery before it ends as failed (OPS_WEBHOOK_MAX_ATTEMPTS). */
  maxAttempts: number;
  /** Deliveries in flight at once in this process (OPS_WEBHOOK_CONCURRENCY). */
  concurrency: number;
  /** Targets on loopback addresses are allowed (OPS_WEBHOOK_ALLOW_LOOPBACK; tests, never production). */
  allowLoopback: boolean;
  /** Targets on private networks (RFC 1918, fc00::/7, 100.64/10) are allowed (OPS_WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
}

const WebhookEnv = z.object({
  OPS_WEBHOOK_WORKER: optional(flag),
  OPS_WEBHOOK_TIMEOUT_MS: optional(integer(100, 120_000)),
  OPS_WEBHOOK_MAX_BYTES: optional(integer(1_024, 10 * 1024 * 1024)),
  OPS_WEBHOOK_MAX_ATTEMPTS: optional(integer(1, 25)),
  OPS_WEBHOOK_CONCURRENCY: optional(integer(1, 64)),
  OPS_WEBHOOK_ALLOW_LOOPBACK: optional(flag),
  OPS_WEBHOOK_ALLOW_PRIVATE: optional(flag),
});

export function loadWebhookConfig(env: Record<string, string | undefined>, nodeEnv: string): WebhookConfig {
  const parsed = WebhookEnv.safeParse(env);
  if (!parsed.success) {
    const variables = parsed.error.issues.map((i) => String(i.path[0] ?? '?'));
    const lines = parsed.error.issues.map(
      (i) => `${String(i.path[0])}: ${i.message} (got ${JSON.stringify(env[String(i.path[0])])})`,
    );
    throw new ConfigError(`invalid configuration: ${lines.join('; ')}`, [...new Set(variables)]);
  }
  const e = parsed.data;
  if (e.OPS_WEBHOOK_ALLOW_LOOPBACK && nodeEnv === 'production') {
    throw new ConfigError('OPS_WEBHOOK_ALLOW_LOOPBACK: not allowed when NODE_ENV=production', [
      'OPS_WEBHOOK_ALLOW_LOOPBACK',
    ]);
  }
  return {
    worker: e.OPS_WEBHOOK_WORKER ?? true,
    timeoutMs: e.OPS_WEBHOOK_TIMEOUT_MS ?? 10_000,
    maxBytes: e.OPS_WEBHOOK_MAX_BYTES ?? 262_144,
    maxAttempts: e.OPS_WEBHOOK_MAX_ATTEMPTS ?? 12,
    concurrency: e.OPS_WEBHOOK_CONCURRENCY ?? 4,
    allowLoopback: e.OPS_WEBHOOK_ALLOW_LOOPBACK ?? false,
    allowPrivate: e.OPS_WEBHOOK_ALLOW_PRIVATE ?? false,
  };
}
