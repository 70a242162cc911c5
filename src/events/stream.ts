// A subscription's stream of outbox events: each notice from the process's listener (an event id,
// nothing more) re-read as the subscriber's persona (RLS on ops.outbox_events: the fact behind it
// must be readable), in the order notified, and sent when the row read matches the subscription's
// arguments and was announced after the stream began. An event the persona may not read is never
// sent, nor is one replayed by a notice naming an older event.
import { Repeater } from 'graphql-yoga';
import type { Context } from '../context.js';
import { type OutboxNotice, outboxListener } from './listener.js';

export interface OutboxEventRow {
  event_id: string;
  kind: string;
  release_id: string;
  project: string;
  environment: string | null;
  actor: string;
  change: unknown;
  blockers: unknown;
  created_at: Date;
}

/** How many sent event ids a stream remembers to refuse repeats (the oldest are forgotten). */
const SENT_REMEMBERED = 10_000;
/** Event ids a stream reads in one statement at most. */
const READ_BATCH = 500;

/**
 * The events committed from now on that the caller's persona may read and `matches` accepts (judged
 * on the row as the persona reads it), in the order notified, each once; an event announced before
 * the stream began is never sent, whatever notice names it. Every notice is read as
 * the persona (a notice names no release or kind to skip it by): one statement for the notices
 * waiting when a read starts, up to READ_BATCH ids. Ends with an error if a read fails; ends when
 * the listener closes, and when the caller's token expires (claims.exp).
 */
export async function outboxStream(
  ctx: Context,
  matches: (e: OutboxEventRow) => boolean,
): Promise<AsyncIterable<OutboxEventRow>> {
  const listener = outboxListener(ctx.pool);
  // The database's clock before listening: an event whose fact commits after listening is
  // announced (announced_at, the same clock) after this instant, so it passes the filter below; a
  // notice naming an event announced earlier (a replay: any login may NOTIFY any id it knows) or
  // not yet announced reads as nothing. Kept as text: a JavaScript Date would drop microseconds.
  const { rows: began } = await ctx.pool.query<{ at: string }>(
    'select pg_catalog.clock_timestamp()::text as at',
  );
  const since = began[0]!.at;
  // Listening before the subscription answers: a change made after that is seen.
  await listener.ready();
  // The token's expiry (claims.exp, seconds since the epoch, checked when the subscription began):
  // the stream reads as the token's persona until then, and ends then. A stream does not outlive
  // the token that opened it; the client subscribes again with a fresh one.
  const exp = ctx.identity?.claims.exp;
  const endsAtMs = typeof exp === 'number' ? exp * 1000 : undefined;
  const expired = () => endsAtMs !== undefined && Date.now() >= endsAtMs;
  return new Repeater<OutboxEventRow>(async (push, stop) => {
    // Notices can be forged (any login may NOTIFY) and name nothing but an id: the event as re-read
    // decides whether it matches, and an event already sent is not sent again. Notices that arrive
    // while a read is under way are read together by the next one (an announcement comes in batches
    // of up to 500), in the order notified.
    const sent = new Set<string>();
    const waiting: string[] = [];
    let reading = false;
    const readWaiting = async () => {
      reading = true;
      try {
        while (waiting.length > 0) {
          if (expired()) {
            waiting.length = 0;
            stop();
            return;
          }
          const ids = waiting.splice(0, READ_BATCH);
          const rows = await ctx.withPersona(async (c) => {
            const { rows } = await c.query<OutboxEventRow>(
              `select event_id, kind, release_id, project, environment::text, actor, change, blockers, created_at
               from ops.outbox_events where event_id = any ($1::uuid[]) and announced_at > $2::timestamptz`,
              [ids, since],
            );
            return rows;
          });
          const byId = new Map(rows.map((r) => [r.event_id, r]));
          for (const id of ids) {
            const row = byId.get(id);
            if (!row || sent.has(row.event_id) || !matches(row)) continue;
            sent.add(row.event_id);
            if (sent.size > SENT_REMEMBERED) sent.delete(sent.values().next().value as string);
            await push(row);
          }
        }
      } catch (err) {
        waiting.length = 0;
        stop(err);
      } finally {
        reading = false;
      }
    };
    const onNotice = (n: OutboxNotice) => {
      if (sent.has(n.event_id)) return;
      waiting.push(n.event_id);
      if (!reading) void readWaiting();
    };
    const onClose = () => stop();
    listener.on('notice', onNotice);
    listener.once('close', onClose);
    // A timer's delay is at most 2^31 - 1 ms; a token lives far less (src/auth/jwt.ts).
    const expiry =
      endsAtMs === undefined
        ? undefined
        : setTimeout(() => stop(), Math.min(Math.max(0, endsAtMs - Date.now()), 2 ** 31 - 1));
    expiry?.unref();
    await stop;
    if (expiry) clearTimeout(expiry);
    listener.off('notice', onNotice);
    listener.off('close', onClose);
  });
}
