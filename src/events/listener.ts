// One LISTEN connection per API process on the outbox channel: every committed outbox event, from
// whatever door wrote its fact (this instance, another one, the Edge Function, direct SQL), is
// announced to the subscriptions of this process. Notifications carry the event's id only; each
// subscription re-reads the event as its caller's persona (src/events/stream.ts).
//
// A fact's transaction does not notify (a NOTIFY serialises commits database-wide): while it
// listens, the same connection also announces, every ANNOUNCE_MS, the events committed since
// (public.ops_outbox_announce: one notification per event, each event announced once by whichever
// announcer takes it, received by the listeners of every instance). One process announces once per
// database, however many listeners it has there (the API's and the webhook worker's when one
// process runs both): the listener that connected first announces, and the next takes over when
// it closes or loses its connection. A lost connection is replaced, however long the database
// refuses a new one.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';
import { outboxAnnounceFailures } from '../metrics.js';

export const OUTBOX_CHANNEL = 'ops_outbox';
const RELISTEN_MS = 1_000;
/** How often a listening process announces newly committed outbox events, ms. */
export const ANNOUNCE_MS = 100;
/** Events announced in one transaction at most (a full batch is followed by the next at once). */
const ANNOUNCE_BATCH = 500;
/** While PostgreSQL's notification queue is full, announcing is retried this often, ms. */
export const QUEUE_FULL_RETRY_MS = 1_000;
/** While announcing keeps failing, its error is logged at most once per this many ms. */
export const ANNOUNCE_FAILURE_LOG_MS = 60_000;

/**
 * Whether an error is PostgreSQL refusing a NOTIFY because its notification queue is full
 * (SQLSTATE 54000, "too many notifications in the NOTIFY queue", raised at the commit).
 */
export function isNotifyQueueFull(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | null;
  return e?.code === '54000' && /NOTIFY queue/i.test(e.message ?? '');
}

/**
 * The error logged when announcing fails because PostgreSQL's notification queue is full: the
 * cause, the consequence, and where to look (docs/runbook.md).
 */
export const NOTIFY_QUEUE_FULL_MESSAGE =
  "outbox events are not announced: PostgreSQL's notification queue is full (too many notifications in the NOTIFY queue). " +
  "A session that LISTENs and stays idle in an open transaction holds it: find it in pg_stat_activity (state 'idle in transaction') " +
  'and end it (docs/runbook.md, "The notification queue is full"). Until then live subscriptions receive nothing; ' +
  'facts, the ingest and webhook deliveries (polled) are not affected';

/**
 * What a notification on the outbox channel says: the id of a committed event, nothing else
 * (20261206100000). Any login may LISTEN, so what the event is, and whose, is read from the row,
 * where RLS decides who may see it.
 */
export interface OutboxNotice {
  event_id: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The notice in a notification payload already parsed from JSON: `{ event_id }` when the payload is an
 * object whose `event_id` is a UUID (any other field is dropped), otherwise undefined.
 */
export function outboxNoticeOf(n: unknown): OutboxNotice | undefined {
  if (typeof n !== 'object' || n === null) return undefined;
  const { event_id } = n as Record<string, unknown>;
  return typeof event_id === 'string' && UUID.test(event_id) ? { event_id } : undefined;
}

/**
 * The database a listener's configuration points at: host (or socket directory), port and database
 * name as pg itself resolves them (a connection string's host and port parameters, PGHOST, PGPORT,
 * PGDATABASE, the database named after the user), not the login, so listeners with different logins
 * on one database share one announcer, and listeners on different databases never do.
 */
export function databaseOf(c: pg.ClientConfig): string {
  // A Client resolves its parameters when constructed; it connects only when asked to.
  const p = new pg.Client(c);
  return `${p.host}:${p.port}/${p.database}`;
}

/** Per database, this process's connected listeners in the order they connected: the first announces. */
const connected = new Map<string, OutboxListener[]>();

function register(database: string, l: OutboxListener): void {
  const list = connected.get(database) ?? [];
  if (!list.includes(l)) list.push(l);
  connected.set(database, list);
}

function unregister(database: string, l: OutboxListener): void {
  const list = connected.get(database)?.filter((x) => x !== l) ?? [];
  if (list.length > 0) connected.set(database, list);
  else connected.delete(database);
}

/**
 * The announcer's turn passes to the next listener of the database (when there is one): its own
 * announcing fails for a reason other than its connection (its login may not announce), which
 * would otherwise hold the turn while nobody announces.
 */
function handOver(database: string, l: OutboxListener): void {
  const list = connected.get(database);
  if (list && list.length > 1 && list[0] === l) list.push(list.shift()!);
}

export class OutboxListener extends EventEmitter {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private closed = false;
  private announcing: NodeJS.Timeout | null = null;
  private relistening: NodeJS.Timeout | null = null;

  private readonly database: string;
  /** Where announcing failures are logged (rate-limited); none: counted in metrics only. */
  logger: Logger | undefined;
  /** The failing announcements since the last log line, and when that line was written. */
  private failing: { reason: string; since: number; loggedAt: number; unlogged: number } | null = null;

  constructor(
    private readonly clientConfig: pg.ClientConfig,
    options: { logger?: Logger } = {},
  ) {
    super();
    this.setMaxListeners(0);
    this.database = databaseOf(clientConfig);
    this.logger = options.logger;
  }

  /**
   * Counts a failed announcement and logs it: the first failure at once, then while the same cause
   * persists at most once per ANNOUNCE_FAILURE_LOG_MS, with how many failed meanwhile. A full
   * notification queue is an error naming the cause and the remedy; any other cause a warning.
   */
  private announceFailed(err: unknown): void {
    const reason = isNotifyQueueFull(err) ? 'notify_queue_full' : 'other';
    outboxAnnounceFailures.inc({ reason });
    const now = Date.now();
    if (
      this.failing &&
      this.failing.reason === reason &&
      now - this.failing.loggedAt < ANNOUNCE_FAILURE_LOG_MS
    ) {
      this.failing.unlogged++;
      return;
    }
    const failedSinceLastLine = (this.failing?.unlogged ?? 0) + 1;
    const failingSince = this.failing?.reason === reason ? this.failing.since : now;
    this.failing = { reason, since: failingSince, loggedAt: now, unlogged: 0 };
    const fields = {
      reason,
      failures: failedSinceLastLine,
      failingSince: new Date(failingSince).toISOString(),
      nextReportInSeconds: ANNOUNCE_FAILURE_LOG_MS / 1000,
    };
    if (reason === 'notify_queue_full') this.logger?.error(fields, NOTIFY_QUEUE_FULL_MESSAGE);
    else this.logger?.warn({ ...fields, err }, 'outbox events are not announced; retried every round');
  }

  /** An announcement succeeded: after failures, says once that announcing resumed. */
  private announceSucceeded(): void {
    if (!this.failing) return;
    this.logger?.info(
      {
        reason: this.failing.reason,
        failingSince: new Date(this.failing.since).toISOString(),
        unloggedFailures: this.failing.unlogged,
      },
      'outbox events are announced again',
    );
    this.failing = null;
  }

  /** Whether this listener is the one of its process that announces for its database now. */
  get announces(): boolean {
    return this.client !== null && connected.get(this.database)?.[0] === this;
  }

  /** Resolves once the channel is listened to (notifications from then on reach this process). */
  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the outbox listener is closed'));
    if (this.client) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = null;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client(this.clientConfig);
    client.on('notification', (msg) => {
      if (msg.channel !== OUTBOX_CHANNEL || !msg.payload) return;
      // Any login may NOTIFY any channel: a payload that is not an outbox notice is dropped here,
      // and a well-formed one only names an event, which each subscription re-reads.
      let notice: unknown;
      try {
        notice = JSON.parse(msg.payload);
      } catch {
        return;
      }
      const parsed = outboxNoticeOf(notice);
      if (parsed) this.emit('notice', parsed);
    });
    client.on('error', () => {
      if (this.client === client) {
        this.client = null;
        unregister(this.database, this);
      }
      client.end().catch(() => {});
      // Subscribers stay; notifications resume once connected again.
      this.relisten();
    });
    await client.connect();
    await client.query(`listen ${OUTBOX_CHANNEL}`);
    if (this.closed) {
      await client.end();
      throw new Error('the outbox listener is closed');
    }
    this.client = client;
    register(this.database, this);
    this.announceFrom(client);
  }

  /**
   * Listens again after RELISTEN_MS, and again after each attempt that fails (the database still
   * refusing the connection), until connected or closed: a lost connection is never given up on,
   * or this process would neither hear nor announce once its other listeners close. One attempt
   * pending at a time.
   */
  private relisten(): void {
    if (this.closed || this.relistening) return;
    this.relistening = setTimeout(() => {
      this.relistening = null;
      this.ready().catch(() => this.relisten());
    }, RELISTEN_MS);
    this.relistening.unref();
  }

  /**
   * Announces on this connection until it is no longer the listener's: one batch, then the next
   * at once when it was full, else after ANNOUNCE_MS (QUEUE_FULL_RETRY_MS while PostgreSQL's
   * notification queue is full). A failed batch is left to the next round
   * (the events stay unannounced; a lost connection is replaced by the error handler; the turn
   * passes to the next listener). While another listener of this process announces for the
   * database, a round only waits for its turn.
   */
  private announceFrom(client: pg.Client): void {
    const round = async () => {
      if (this.closed || this.client !== client) return;
      let full = false;
      let queueFull = false;
      if (this.announces) {
        try {
          const { rows } = await client.query<{ n: number }>('select public.ops_outbox_announce($1) as n', [
            ANNOUNCE_BATCH,
          ]);
          full = rows[0]!.n >= ANNOUNCE_BATCH;
          this.announceSucceeded();
        } catch (err) {
          // Connection trouble is the error handler's; anything else is retried next round, by
          // the next listener of this process when there is one.
          if (this.client === client) {
            this.announceFailed(err);
            queueFull = isNotifyQueueFull(err);
            handOver(this.database, this);
          }
        }
      }
      if (this.closed || this.client !== client) return;
      this.announcing = setTimeout(
        () => void round(),
        full ? 0 : queueFull ? QUEUE_FULL_RETRY_MS : ANNOUNCE_MS,
      );
      this.announcing.unref();
    };
    void round();
  }

  async close(): Promise<void> {
    this.closed = true;
    unregister(this.database, this);
    // Live streams end (their requests then finish), before the notices stop.
    this.emit('close');
    this.removeAllListeners();
    if (this.announcing) clearTimeout(this.announcing);
    if (this.relistening) clearTimeout(this.relistening);
    await this.connecting?.catch(() => {});
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}

const listeners = new WeakMap<pg.Pool, OutboxListener>();

/**
 * The process's listener for the database of this pool (created on first use); `logger`, when
 * given, is where its announcing failures are logged from then on.
 */
export function outboxListener(pool: pg.Pool, logger?: Logger): OutboxListener {
  let l = listeners.get(pool);
  if (l && logger) l.logger = logger;
  if (!l) {
    const o = (pool as unknown as { options: pg.PoolConfig }).options;
    l = new OutboxListener(
      {
        connectionString: o.connectionString,
        host: o.host,
        port: o.port,
        user: o.user,
        password: o.password,
        database: o.database,
        application_name: 'ops-release-gates-events',
      },
      { logger },
    );
    listeners.set(pool, l);
  }
  return l;
}

/** Stops the listener of this pool, if any (server close). */
export async function closeOutboxListener(pool: pg.Pool): Promise<void> {
  const l = listeners.get(pool);
  listeners.delete(pool);
  await l?.close();
}
