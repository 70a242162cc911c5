// A subscription's stream of outbox events: each notice from the process's listener (an event id,
// nothing more) re-read as the subscriber's persona (RLS on ops.outbox_events: the fact behind it
// must be readable), in the order notified, and sent when the row read matches the subscription's
// arguments. An event the persona may not read is never sent.
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

/**
 * The events committed from now on that the caller's persona may read and `matches` accepts (judged
 * on the row as the persona reads it), in the order notified, each once. Every notice costs one
 * read as the persona (a notice names no release or kind to skip it by). Ends with an error if a
 * read fails; ends when the listener closes.
 */
export async function outboxStream(
  ctx: Context,
  matches: (e: OutboxEventRow) => boolean,
): Promise<AsyncIterable<OutboxEventRow>> {
  const listener = outboxListener(ctx.pool);
  // Listening before the subscription answers: a change made after that is seen.
  await listener.ready();
  return new Repeater<OutboxEventRow>(async (push, stop) => {
    let chain = Promise.resolve();
    // Notices can be forged (any login may NOTIFY) and name nothing but an id: the event as re-read
    // decides whether it matches, and an event already sent is not sent again.
    const sent = new Set<string>();
    const onNotice = (n: OutboxNotice) => {
      if (sent.has(n.event_id)) return;
      chain = chain.then(async () => {
        try {
          const row = await ctx.withPersona(async (c) => {
            const { rows } = await c.query<OutboxEventRow>(
              `select event_id, kind, release_id, project, environment::text, actor, change, blockers, created_at
               from ops.outbox_events where event_id = $1`,
              [n.event_id],
            );
            return rows[0];
          });
          if (!row || sent.has(row.event_id) || !matches(row)) return;
          sent.add(row.event_id);
          if (sent.size > SENT_REMEMBERED) sent.delete(sent.values().next().value as string);
          await push(row);
        } catch (err) {
          stop(err);
        }
      });
    };
    const onClose = () => stop();
    listener.on('notice', onNotice);
    listener.once('close', onClose);
    await stop;
    listener.off('notice', onNotice);
    listener.off('close', onClose);
  });
}
