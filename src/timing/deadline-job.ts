// Records deadline transitions (an approval request expired, a deployment's G4 failed for want of
// a health confirmation) with graphile-worker, a Postgres-backed job queue. Deadlines are judged at
// read time in SQL (ops.approval_request_state, ops.g4_deadline_reason), so nothing depends on
// this job for correctness: it writes the history and moves the stored gates once a deadline
// has passed.
//
// Every API instance runs a runner. graphile-worker schedules each crontab tick once across all
// runners (its known_crontabs bookkeeping), and the SQL function inserts each transition under a
// unique key with ON CONFLICT DO NOTHING, so two instances never record a transition twice even
// when both run the sweep at the same moment.
import { Logger as GraphileLogger, type Runner, run, type Logger as WorkerLogger } from 'graphile-worker';
import type pg from 'pg';
import { createPool, endPool } from '../db/pool.js';
import type { Logger } from '../logger.js';

export const DEADLINE_TASK = 'record_deadline_transitions';
const STOP_TIMEOUT_MS = 5_000;

/**
 * The sweep's task: ops.record_deadline_transitions() on the owner's connection (the function is
 * owner-only). Takes a client connected as the owner and, optionally, a logger; returns how many
 * transitions it recorded (a count of rows). A subject the sweep could not record is left for the
 * next run and reported by the function as a WARNING (its kind, id, message and SQLSTATE,
 * 20261206200000): each notice the sweep raises is logged at `warn` with its severity and code.
 * Errors are the database's, unchanged (the job library retries the job).
 */
export async function recordDeadlineTransitions(client: pg.ClientBase, logger?: Logger): Promise<number> {
  const onNotice = (notice: { severity?: string; code?: string; message?: string }) =>
    logger?.warn(
      { component: 'deadline-job', severity: notice.severity, code: notice.code },
      notice.message ?? 'deadline sweep notice',
    );
  client.on('notice', onNotice);
  try {
    const { rows } = await client.query<{ recorded: number }>(
      'select ops.record_deadline_transitions() as recorded',
    );
    return rows[0]?.recorded ?? 0;
  } finally {
    client.off('notice', onNotice);
  }
}

export interface DeadlineJobOptions {
  /** Owner connection: the runner keeps its own schema (graphile_worker) and calls the owner-only sweep. */
  adminUrl: string;
  logger?: Logger;
  /** Cron schedule of the sweep (default: every minute). */
  crontab?: string;
  /** How often an idle runner looks for jobs (ms). */
  pollInterval?: number;
}

export interface DeadlineJob {
  runner: Runner;
  /** Asks for a sweep now (jobKey: one queued sweep at a time whoever asks). */
  sweepNow(): Promise<void>;
  stop(): Promise<void>;
}

function workerLogger(logger: Logger | undefined): WorkerLogger {
  return new GraphileLogger(() => (level, message, meta) => {
    if (!logger) return;
    const fields = { component: 'deadline-job', ...(meta ?? {}) };
    if (level === 'error') logger.error(fields, message);
    else if (level === 'warning') logger.warn(fields, message);
    else logger.debug(fields, message);
  });
}

export async function startDeadlineJob(options: DeadlineJobOptions): Promise<DeadlineJob> {
  // The project's pool: every client has an 'error' listener, so a database that restarts or stops
  // under the runner is logged, never an uncaught 'error' event that ends the process.
  const pool = createPool({
    connectionString: options.adminUrl,
    max: 3,
    application_name: 'ops-deadline-job',
    onConnectionError: (message, fields) =>
      options.logger?.warn({ component: 'deadline-job', ...fields }, message),
  });
  const runner = await run({
    pgPool: pool,
    concurrency: 1,
    noHandleSignals: true,
    pollInterval: options.pollInterval ?? 2_000,
    logger: workerLogger(options.logger),
    crontab: `${options.crontab ?? '* * * * *'} ${DEADLINE_TASK} ?fill=5m&jobKey=${DEADLINE_TASK}`,
    taskList: {
      [DEADLINE_TASK]: async (_payload, helpers) => {
        const recorded = await helpers.withPgClient((c) => recordDeadlineTransitions(c, options.logger));
        if (recorded > 0) options.logger?.info({ recorded }, 'deadline transitions recorded');
      },
    },
  });
  // The runner's promise settles when it stops; a rejection (a lost connection while stopping) is
  // logged, never left unhandled (that would end the process).
  runner.promise.catch((err: unknown) => options.logger?.warn({ err }, 'deadline job stopped with an error'));
  let stopped: Promise<void> | null = null;
  return {
    runner,
    sweepNow: async () => {
      await runner.addJob(DEADLINE_TASK, {}, { jobKey: DEADLINE_TASK });
    },
    // A sweep in flight gets a few seconds; then the pool ends, and this resolves once its
    // connections have closed (endPool), so the database may stop next without ending one of them.
    stop: () => {
      stopped ??= Promise.race([
        runner.stop().catch((err: unknown) => {
          options.logger?.warn({ err }, 'deadline job did not stop cleanly');
        }),
        new Promise<void>((resolve) => setTimeout(resolve, STOP_TIMEOUT_MS).unref()),
      ]).then(() => endPool(pool).catch(() => {}));
      return stopped;
    },
  };
}
