// A subscription's stream of outbox events: notices from the process's listener, filtered by the
// subscription's arguments, then each event re-read as the subscriber's persona (RLS on
// ops.outbox_events: the fact behind it must be readable), in the order notified. An event the
// persona may not read is never sent.
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

export async function outboxStream(
  ctx: Context,
  matches: (n: OutboxNotice) => boolean,
): Promise<AsyncIterable<OutboxEventRow>> {
  const listener = outboxListener(ctx.pool);
  // Listening before the subscription answers: a change made after that is seen.
  await listener.ready();
  return new Repeater<OutboxEventRow>(async (push, stop) => {
    let chain = Promise.resolve();
    const onNotice = (n: OutboxNotice) => {
      if (!matches(n)) return;
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
          if (row) await push(row);
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
