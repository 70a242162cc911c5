// The webhook delivery worker: graphile-worker (its schema installed here, by its own migrations,
// on whatever database this process uses) runs one job per delivery; a dispatcher fans new
// outbox events out to deliveries, woken by the outbox's announcements (which it makes itself too,
// src/events/listener.ts) and, for anything a lost notification missed, every DISPATCH_POLL_MS.
// Any number of processes may run it against one database: ops.webhook_dispatch takes each event
// once (SKIP LOCKED) and the job library runs each job on one worker at a time. Connects as the owner (the delivery path reads secrets).
import { type Runner, run, runMigrations, type Task, Logger as WorkerLogger } from 'graphile-worker';
import pg from 'pg';
import { endPool, trackConnections } from '../db/pool.js';
import { OutboxListener } from '../events/listener.js';
import type { Logger } from '../logger.js';
import type { WebhookConfig } from './config.js';
import { attemptDeliveries, attemptDelivery, DeliveryRetry } from './deliver.js';

export const DELIVER_TASK = 'ops_webhook_deliver';
const DISPATCH_BATCH = 500;
// Deliveries of one batch job sent at once (each is still its own signed request).
const BATCH_PARALLEL = 8;
const DISPATCH_POLL_MS = 5_000;
// A notification starts a dispatch this long after it arrived, so that the events committed
// meanwhile go out in the same batch (one transaction for many events under load, instead of one
// per event competing with the ingest for the same cores). When the last dispatch took at least
// BUSY_EVENTS events, the window is BUSY_GATHER_MS: fewer, larger batches (dispatch transactions,
// jobs, target reads and attempt records) while events keep coming, for a little more latency.
const NOTIFY_GATHER_MS = 50;
const BUSY_EVENTS = 8;
const BUSY_GATHER_MS = 250;
const RELISTEN_MS = 2_000;

export interface WebhookWorker {
  /** Fans out every undispatched event now; resolves with how many were dispatched. */
  dispatch(): Promise<number>;
  /**
   * Stops listening and polling, lets a dispatch in flight finish, stops the job runner (jobs in
   * flight finish), and resolves once every connection of the worker has closed.
   */
  stop(): Promise<void>;
}

function workerLogger(logger: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const fields = { scope: { taskIdentifier: scope.taskIdentifier, jobId: scope.jobId }, ...(meta ?? {}) };
    if (level === 'error') logger.error(fields, `webhook worker: ${message}`);
    else if (level === 'warning') logger.warn(fields, `webhook worker: ${message}`);
    else logger.debug(fields, `webhook worker: ${message}`);
  });
}

/** Installs (or brings up to date) the job library's schema; idempotent. */
export async function installWorkerSchema(connectionString: string): Promise<void> {
  const pgPool = trackConnections(new pg.Pool({ connectionString, max: 1 }));
  // An idle connection the server ends (it stops or restarts) must not end the process, nor a
  // checked-out one (the job library checks for both listeners).
  pgPool.on('error', () => {});
  pgPool.on('connect', (client) => client.on('error', () => {}));
  try {
    await runMigrations({ pgPool, logger: new WorkerLogger(() => () => {}) });
  } finally {
    await endPool(pgPool);
  }
}

/**
 * The delivery job's task (DELIVER_TASK): its payload is one delivery ({delivery_id}) or, as
 * ops.webhook_dispatch adds them, a batch ([{delivery_id}, ...]). Takes the owner's pool (the
 * delivery reads the secret), the webhook settings and a logger; each attempt is recorded by
 * ops.webhook_record_attempts. For a batch it returns one promise per entry, in order, and the job
 * library retries (with backoff) only the entries whose promise rejected (DeliveryRetry).
 */
export function deliverTask(pgPool: pg.Pool, config: WebhookConfig, logger: Logger): Task {
  const deliverOne = async (deliveryId: string, attempt: number, finalAttempt: boolean): Promise<void> => {
    try {
      const outcome = await attemptDelivery(pgPool, deliveryId, finalAttempt, {
        timeoutMs: config.timeoutMs,
        maxBytes: config.maxBytes,
        allowLoopback: config.allowLoopback,
        allowPrivate: config.allowPrivate,
      });
      logger.info({ deliveryId, outcome, attempt }, 'webhook delivery');
    } catch (err) {
      if (err instanceof DeliveryRetry) logger.info({ deliveryId, attempt }, err.message);
      throw err;
    }
  };

  return async (payload, helpers) => {
    const attempt = helpers.job.attempts;
    const finalAttempt = attempt >= helpers.job.max_attempts;
    if (!Array.isArray(payload)) {
      await deliverOne((payload as { delivery_id: string }).delivery_id, attempt, finalAttempt);
      return;
    }
    const ids = (payload as { delivery_id: string }[]).map((e) => e.delivery_id);
    const results = await attemptDeliveries(pgPool, ids, finalAttempt, {
      timeoutMs: config.timeoutMs,
      maxBytes: config.maxBytes,
      allowLoopback: config.allowLoopback,
      allowPrivate: config.allowPrivate,
      parallel: BATCH_PARALLEL,
    });
    return results.map((result, i) => {
      if (result instanceof DeliveryRetry) {
        logger.info({ deliveryId: ids[i], attempt }, result.message);
        const failed = Promise.reject(result);
        failed.catch(() => {}); // settled by the job library (Promise.allSettled), never unhandled
        return failed;
      }
      logger.info({ deliveryId: ids[i], outcome: result, attempt }, 'webhook delivery');
      return Promise.resolve();
    });
  };
}

/**
 * One dispatch: ops.webhook_dispatch in batches of DISPATCH_BATCH events until a batch is not
 * full. Takes the owner's pool and the delivery's maximum attempts (a count); returns how many
 * events were dispatched. Errors are the database's, unchanged.
 */
export async function dispatchOutbox(pgPool: pg.Pool, maxAttempts: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { rows } = await pgPool.query<{ n: number }>('select ops.webhook_dispatch($1, $2) as n', [
      DISPATCH_BATCH,
      maxAttempts,
    ]);
    total += rows[0]!.n;
    if (rows[0]!.n < DISPATCH_BATCH) return total;
  }
}

export async function startWebhookWorker(options: {
  connectionString: string;
  config: WebhookConfig;
  logger: Logger;
  /** Poll for due retries this often, ms (graphile-worker's pollInterval). */
  pollIntervalMs?: number;
}): Promise<WebhookWorker> {
  const { config, logger } = options;
  // Everything of the worker but its outbox listener runs on this pool: the job library's workers
  // and its own LISTEN client, the dispatches, the deliveries. stop() ends it and waits for its
  // connections to close (endPool), so a database stopped next finds none of them; a connection
  // lost while the worker runs (the database killed or restarted) is logged here.
  const pgPool = trackConnections(
    new pg.Pool({
      connectionString: options.connectionString,
      max: config.concurrency + 3,
      application_name: 'ops-release-gates-webhook-worker',
    }),
  );
  pgPool.on('error', (err) => logger.warn({ err }, 'webhook worker: idle connection lost'));
  // A connection lost while checked out fails its query; the event itself must not end the process.
  pgPool.on('connect', (client) => client.on('error', () => {}));
  const wlogger = workerLogger(logger);
  await runMigrations({ pgPool, logger: wlogger });

  const deliver = deliverTask(pgPool, config, logger);

  const runner: Runner = await run({
    pgPool,
    logger: wlogger,
    concurrency: config.concurrency,
    noHandleSignals: true,
    pollInterval: options.pollIntervalMs ?? 1_000,
    taskList: { [DELIVER_TASK]: deliver },
  });

  let stopped = false;
  let running: Promise<number> | null = null;
  let again = false;
  let lastDispatched = 0;
  const dispatchOnce = (): Promise<number> => dispatchOutbox(pgPool, config.maxAttempts);
  // One dispatch at a time in this process; a wake-up during one runs another after it.
  const dispatch = (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = dispatchOnce()
      .then((n) => {
        lastDispatched = n;
        return n;
      })
      .catch((err) => {
        if (!stopped) logger.warn({ err }, 'webhook dispatch failed; retried at the next poll');
        return 0;
      })
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          void dispatch();
        }
      });
    return running;
  };

  let gathering: NodeJS.Timeout | null = null;
  const dispatchSoon = () => {
    if (gathering || stopped) return;
    gathering = setTimeout(
      () => {
        gathering = null;
        void dispatch();
      },
      lastDispatched >= BUSY_EVENTS ? BUSY_GATHER_MS : NOTIFY_GATHER_MS,
    );
  };

  // The outbox channel, as every API instance listens to it; listening also announces newly
  // committed events (ops.outbox_announce), so deliveries start even where no API instance listens.
  const listener = new OutboxListener(
    { connectionString: options.connectionString, application_name: 'ops-release-gates-webhooks' },
    { logger },
  );
  listener.on('notice', dispatchSoon);
  const listen = async (): Promise<void> => {
    if (stopped) return;
    try {
      await listener.ready();
    } catch (err) {
      if (stopped) return;
      logger.warn({ err }, 'webhook dispatcher: cannot listen; polling meanwhile');
      setTimeout(() => void listen(), RELISTEN_MS).unref();
    }
  };
  await listen();
  const poll = setInterval(() => void dispatch(), DISPATCH_POLL_MS);
  poll.unref();
  void dispatch();

  return {
    dispatch,
    async stop() {
      stopped = true;
      clearInterval(poll);
      if (gathering) clearTimeout(gathering);
      await listener.close();
      await running;
      await runner.stop();
      await endPool(pgPool);
    },
  };
}
