// /metrics is not public in production: it answers a bearer OPS_METRICS_TOKEN or a client on the
// loopback interface, and refuses anyone else with 401. Outside production it stays open (the
// server listens on loopback by default).
import { createServer as createHttpServer, type Server } from 'node:http';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer, isLoopbackAddress, type OpsServer } from '../../src/server.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { closeLoopback, listenOnLoopback } from '../support/loopback.js';

const SECRET = 'metrics-access-secret-0123456789abcdef0123';
const METRICS_TOKEN = 'scraper-token-0123456789abcdef';

let db: TestDatabase;
let pool: pg.Pool;
let production: OpsServer;
let http: Server;
let base: string;

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
  production = createServer({
    config: loadConfig({
      NODE_ENV: 'production',
      SUPABASE_JWT_SECRET: SECRET,
      OPS_METRICS_TOKEN: METRICS_TOKEN,
      LOG_LEVEL: 'silent',
    }),
    pool,
    logger: createLogger({ level: 'silent' }),
  });
  http = createHttpServer(production.handle);
  base = await listenOnLoopback(http);
});

afterAll(async () => {
  await production?.close({ timeoutMs: 2000 });
  await closeLoopback(http);
  await pool?.end();
});

const get = (authorization?: string) =>
  production.fetch(
    new Request('http://ops.example/metrics', { headers: authorization ? { authorization } : {} }),
  );

describe('/metrics in production', () => {
  it('refuses a client that is not on loopback and brings no token, or the wrong one', async () => {
    for (const auth of [undefined, 'Bearer wrong-token-0123456789abcdef', `Basic ${METRICS_TOKEN}`]) {
      const res = await get(auth);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ error: 'metrics_not_public' });
    }
  });

  it('answers the metrics token', async () => {
    const res = await get(`Bearer ${METRICS_TOKEN}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# TYPE');
  });

  it('answers a loopback client without a token', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    await res.text();
  });

  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
      expect(isLoopbackAddress(a)).toBe(true);
    for (const a of [undefined, '10.0.0.1', '::ffff:10.0.0.1', '192.168.1.127', '::2']) {
      expect(isLoopbackAddress(a)).toBe(false);
    }
  });
});
