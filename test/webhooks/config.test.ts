// OPS_WEBHOOK_* settings: defaults, a wrong value named by its variable, loopback targets never
// allowed in production, and the settings reaching Config.webhooks through loadConfig.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { loadWebhookConfig } from '../../src/webhooks/config.js';

describe('webhook configuration', () => {
  it('defaults: worker on, 10 s timeout, 256 KiB cap, 12 attempts, no loopback or private targets', () => {
    expect(loadWebhookConfig({}, 'development')).toEqual({
      worker: true,
      timeoutMs: 10_000,
      maxBytes: 262_144,
      maxAttempts: 12,
      concurrency: 4,
      allowLoopback: false,
      allowPrivate: false,
    });
  });

  it('a wrong value is refused naming its variable; loopback is refused in production', () => {
    expect(() => loadWebhookConfig({ OPS_WEBHOOK_TIMEOUT_MS: 'soon' }, 'test')).toThrow(
      /OPS_WEBHOOK_TIMEOUT_MS/,
    );
    expect(() => loadWebhookConfig({ OPS_WEBHOOK_MAX_ATTEMPTS: '0' }, 'test')).toThrow(ConfigError);
    expect(() => loadWebhookConfig({ OPS_WEBHOOK_ALLOW_LOOPBACK: 'true' }, 'production')).toThrow(
      /OPS_WEBHOOK_ALLOW_LOOPBACK/,
    );
  });

  it('loadConfig carries them as Config.webhooks; OPS_WEBHOOK_WORKER=false disables the worker', () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      SUPABASE_JWT_SECRET: 'a-test-secret-of-enough-length-0123456789',
      OPS_WEBHOOK_WORKER: 'false',
      OPS_WEBHOOK_ALLOW_PRIVATE: 'yes',
    });
    expect(config.webhooks.worker).toBe(false);
    expect(config.webhooks.allowPrivate).toBe(true);
  });
});
