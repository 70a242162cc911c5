// The request pool, made to outlive its database: PostgreSQL restarting or going away ends
// connections with an 'error' event, which node-postgres emits on the pool (idle clients) and on
// the client itself (checked-out clients, between or during queries). An 'error' event without a
// listener ends a Node process, so both get one here; the failed request itself sees the error
// as a rejected query (answered 503, see src/errors.ts isConnectionError), the broken client is
// discarded on release, and the pool connects afresh once the database is back.
//
// Ending a pool before its database stops: node-postgres' pool.end() resolves once every client
// has been asked to end (its Terminate message written), not once its connection has closed
// (https://github.com/brianc/node-postgres/issues/2328). A database told to stop right after may
// reach a backend before that backend has read the Terminate: it then sends the client "terminating
// connection due to administrator command" (57P01), which the client reports as an error, logged
// as a lost connection although nothing went wrong. endPool waits for the connections to close.
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

/** Per tracked pool, its clients whose connection is open: from 'connect' until 'remove'. */
const openClients = new WeakMap<pg.Pool, Set<pg.PoolClient>>();
/** Per tracked pool, its clients checked out now: from 'acquire' until 'release' (or 'remove'). */
const checkedOutClients = new WeakMap<pg.Pool, Set<pg.PoolClient>>();

/**
 * Keeps the set of the pool's open connections, for endPool: a client counts from the pool's
 * 'connect' event (connected) until its 'remove' event (which node-postgres emits once the
 * client's connection has closed). Call it right after making the pool, before its first
 * connection (createPool does); calling it again changes nothing. Returns the pool.
 */
export function trackConnections(pool: pg.Pool): pg.Pool {
  if (openClients.has(pool)) return pool;
  const open = new Set<pg.PoolClient>();
  const out = new Set<pg.PoolClient>();
  openClients.set(pool, open);
  checkedOutClients.set(pool, out);
  pool.on('connect', (client) => open.add(client));
  pool.on('acquire', (client) => out.add(client));
  pool.on('release', (_err, client) => out.delete(client));
  pool.on('remove', (client) => {
    open.delete(client);
    out.delete(client);
  });
  return pool;
}

/**
 * Ends the pool (pool.end(): idle clients now, checked-out ones when released) and resolves once
 * every connection the pool opened has closed on this side, so a database stopped afterwards has
 * no session of this pool left to terminate. The pool must have been given to trackConnections
 * (or made by createPool) before its first connection; for any other pool this is pool.end().
 * Rejects as pool.end() does (a pool ended twice).
 *
 * abandonCheckedOutAfterMs (ms), when given: a client still checked out that long after the call
 * is ended on this side (client.end(): a query in progress fails at once, its transaction is never
 * committed, and the user releases it), for a caller whose users were already given up on (the
 * server's stop, once the drain has closed their HTTP connections, so none of them can answer any
 * more). Without it, a checked-out client whose transaction waits on a lock held elsewhere keeps
 * this waiting until its statement timeout. An idle connection closing is waited for either way: a
 * connection whose server never answers keeps it waiting.
 */
export async function endPool(
  pool: pg.Pool,
  options: { abandonCheckedOutAfterMs?: number } = {},
): Promise<void> {
  const open = openClients.get(pool);
  const out = checkedOutClients.get(pool);
  const abandon =
    options.abandonCheckedOutAfterMs !== undefined && out
      ? setTimeout(() => {
          for (const client of out) client.end().catch(() => {});
        }, options.abandonCheckedOutAfterMs)
      : undefined;
  try {
    await pool.end();
    if (!open || open.size === 0) return;
    await new Promise<void>((resolve) => {
      // Registered after trackConnections' own listener, so the set is already updated here.
      const onRemove = () => {
        if (open.size > 0) return;
        pool.off('remove', onRemove);
        resolve();
      };
      pool.on('remove', onRemove);
    });
  } finally {
    clearTimeout(abandon);
  }
}

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
  return trackConnections(pool);
}
