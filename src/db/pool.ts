// The request pool, made to outlive its database: PostgreSQL restarting or going away ends
// connections with an 'error' event, which node-postgres emits on the pool (idle clients) and on
// the client itself (checked-out clients, between or during queries). An 'error' event without a
// listener ends a Node process, so both get one here; the failed request itself sees the error
// as a rejected query (answered 503, see src/errors.ts isConnectionError), the broken client is
// discarded on release, and the pool connects afresh once the database is back.
import pg from 'pg';

export type PoolErrorLog = (message: string, fields: { reason: string; code?: string }) => void;

export interface CreatePoolOptions {
  connectionString: string;
  max: number;
  application_name: string;
  /** How long a request waits for a connection before it is answered 503 (ms). */
  connectionTimeoutMillis?: number;
  idleTimeoutMillis?: number;
  /** Server-side bound on each statement (ms); 0 or undefined: none. */
  statementTimeoutMillis?: number;
  /** Told of every lost connection (once per client). */
  onConnectionError?: PoolErrorLog;
}

const handled = new WeakSet<pg.Client>();

export function createPool(options: CreatePoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
    application_name: options.application_name,
    ...(options.statementTimeoutMillis ? { statement_timeout: options.statementTimeoutMillis } : {}),
  });
  const report = (err: Error) =>
    options.onConnectionError?.('database connection lost', {
      reason: err.message,
      code: (err as { code?: string }).code,
    });
  // The pool re-emits an idle client's error (PostgreSQL restarted while nothing ran); the client's
  // own listener below has reported it already.
  pool.on('error', () => {});
  // Every client's error, idle or checked out: without a listener it would end the process.
  pool.on('connect', (client) => {
    if (handled.has(client as pg.Client)) return;
    handled.add(client as pg.Client);
    client.on('error', report);
  });
  return pool;
}
