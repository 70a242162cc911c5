// A subscription's stream of outbox events: each notice from the process's listener (an event id,
// nothing more) re-read as the subscriber's persona and claims (RLS on ops.outbox_events: the fact
// behind it must be readable), in the order notified, and sent when the row read matches the
// subscription's arguments and was announced after the stream began. An event the persona may not
// read is never sent, nor is one replayed by a notice naming an older event.
//
// Reads are grouped per identity: the open streams of one process (one listener) that read as the
// same persona with the same claims (the token's timing claims aside: exp, iat, nbf, which every
// stream keeps to itself) share one read of each batch of notices, and each stream then applies its
// own filters to the rows read (its arguments, its `since`, its own end at its token's exp). Streams
// of different identities never share a read: what one identity may read is judged by RLS reading
// as that identity, never by a filter in this process.
import canonicalize from 'canonicalize';
import { Repeater } from 'graphql-yoga';
import type pg from 'pg';
import { AuthError, type Identity } from '../auth/jwt.js';
import type { Context } from '../context.js';
import { personaOf, withPersona } from '../db/with-persona.js';
import { liveStreamReads } from '../metrics.js';
import { type OutboxListener, type OutboxNotice, outboxListener } from './listener.js';

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

/** A row as the shared read returns it: the event and when it was announced (µs since the epoch). */
type ReadRow = OutboxEventRow & { announced_us: string };

/** How many sent event ids a stream remembers to refuse repeats (the oldest are forgotten). */
const SENT_REMEMBERED = 10_000;
/** Event ids a group reads in one statement at most. */
const READ_BATCH = 500;

/** Claims that say when a token is valid, not who it speaks for: each stream keeps its own. */
const TIMING_CLAIMS = new Set(['exp', 'iat', 'nbf']);

/**
 * The key under which streams share their reads: the persona, the subject and every verified claim
 * except exp, iat and nbf (no SQL reads them; the verifier checked them per token, and each stream
 * ends at its own exp). Two identities with the same key read exactly the same rows under RLS.
 * Throws AuthError 403 for an identity naming no persona (as withPersona does).
 */
export function readIdentityKey(identity: Identity): string {
  const claims = Object.fromEntries(Object.entries(identity.claims).filter(([k]) => !TIMING_CLAIMS.has(k)));
  // RFC 8785 JSON: equal claims give equal text whatever their keys' order.
  return canonicalize([personaOf(identity), identity.subject, claims]) ?? 'null';
}

/** One open stream, as its identity's group sees it. */
interface Member {
  identity: Identity;
  /** When the stream began, µs since the epoch (the database's clock). */
  sinceUs: bigint;
  /** The same instant as the database's text for a timestamptz (exact, unlike a JavaScript Date). */
  sinceText: string;
  /** ms since the epoch at which the stream ends (its token's exp), if any. */
  endsAtMs: number | undefined;
  /** Takes the ids of one read, in the order notified, and the rows read for them. */
  deliver(ids: string[], rows: Map<string, ReadRow>): void;
  /** Ends the stream, with the error when a read failed. */
  end(err?: unknown): void;
}

/**
 * The streams of one identity on one listener: notices are queued once for all of them and read in
 * one statement per batch, as the identity of a member whose token is still valid.
 */
class ReadGroup {
  readonly members = new Set<Member>();
  private readonly waiting: string[] = [];
  private reading = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly onEmpty: () => void,
  ) {}

  notice(n: OutboxNotice): void {
    this.waiting.push(n.event_id);
    if (!this.reading) void this.readWaiting();
  }

  leave(m: Member): void {
    this.members.delete(m);
    if (this.members.size === 0) {
      this.waiting.length = 0;
      this.onEmpty();
    }
  }

  private live(): Member[] {
    const now = Date.now();
    const live: Member[] = [];
    for (const m of [...this.members]) {
      if (m.endsAtMs !== undefined && now >= m.endsAtMs) m.end();
      else live.push(m);
    }
    return live;
  }

  private async readWaiting(): Promise<void> {
    this.reading = true;
    try {
      while (this.waiting.length > 0) {
        const members = this.live();
        if (members.length === 0) {
          this.waiting.length = 0;
          return;
        }
        const ids = this.waiting.splice(0, READ_BATCH);
        // Every member's events were announced after the earliest member began; each keeps only
        // those announced after its own beginning.
        let earliest = members[0]!;
        for (const m of members) if (m.sinceUs < earliest.sinceUs) earliest = m;
        let rows: ReadRow[];
        try {
          liveStreamReads.inc();
          rows = await withPersona(this.pool, members[0]!.identity, async (c) => {
            const { rows } = await c.query<ReadRow>(
              `select event_id, kind, release_id, project, environment::text, actor, change, blockers, created_at,
                      ((extract(epoch from announced_at) * 1000000)::bigint)::text as announced_us
               from ops.outbox_events
               where event_id = any ($1::uuid[])
                 and announced_at > $2::timestamptz`,
              [ids, earliest.sinceText],
            );
            return rows;
          });
        } catch (err) {
          // The same identity reads the same way for every member: each one ends with the error.
          this.waiting.length = 0;
          for (const m of [...this.members]) m.end(err);
          return;
        }
        const byId = new Map(rows.map((r) => [r.event_id, r]));
        for (const m of [...this.members]) m.deliver(ids, byId);
      }
    } finally {
      this.reading = false;
    }
  }
}

/** Per listener, its groups by identity key. */
const groups = new WeakMap<OutboxListener, Map<string, ReadGroup>>();

/** The group of this identity on this listener, created (and listening for notices) on first use. */
function groupOf(listener: OutboxListener, pool: pg.Pool, key: string): ReadGroup {
  let byKey = groups.get(listener);
  if (!byKey) {
    byKey = new Map();
    groups.set(listener, byKey);
  }
  let group = byKey.get(key);
  if (!group) {
    const onNotice = (n: OutboxNotice) => group!.notice(n);
    group = new ReadGroup(pool, () => {
      listener.off('notice', onNotice);
      if (byKey!.get(key) === group) byKey!.delete(key);
    });
    byKey.set(key, group);
    listener.on('notice', onNotice);
  }
  return group;
}

/**
 * How many identity groups of streams are open on the pool's listener now (one shared read per
 * batch of notices each), and how many streams they hold. For metrics and tests.
 */
export function liveStreamGroups(pool: pg.Pool): { groups: number; streams: number } {
  const byKey = groups.get(outboxListener(pool));
  let streams = 0;
  for (const g of byKey?.values() ?? []) streams += g.members.size;
  return { groups: byKey?.size ?? 0, streams };
}

/**
 * The events committed from now on that the caller's persona may read and `matches` accepts (judged
 * on the row as the persona reads it), in the order notified, each once; an event announced before
 * the stream began is never sent, whatever notice names it. Every notice is read as the persona (a
 * notice names no release or kind to skip it by), in one statement per batch of up to READ_BATCH
 * ids for all the open streams of the same identity in this process (readIdentityKey). Ends with an
 * error if a read fails; ends when the listener closes, and when the caller's token expires
 * (claims.exp). Throws AuthError 401/403 when the context has no identity or persona.
 */
export async function outboxStream(
  ctx: Context,
  matches: (e: OutboxEventRow) => boolean,
): Promise<AsyncIterable<OutboxEventRow>> {
  const identity = ctx.identity;
  // The same refusal withPersona gives (401 without a token, 403 without a persona).
  if (!identity) throw ctx.authError ?? new AuthError(401, 'missing_token', 'authentication required');
  const key = readIdentityKey(identity);
  const listener = outboxListener(ctx.pool);
  // The database's clock before listening: an event whose fact commits after listening is
  // announced (announced_at, the same clock) after this instant, so it passes the filter below; a
  // notice naming an event announced earlier (a replay: any login may NOTIFY any id it knows) or
  // not yet announced reads as nothing. In microseconds: a JavaScript Date would drop them.
  const { rows: began } = await ctx.pool.query<{ at: string; us: string }>(
    `select t::text as at, ((extract(epoch from t) * 1000000)::bigint)::text as us
     from (select pg_catalog.clock_timestamp() as t) b`,
  );
  const sinceUs = BigInt(began[0]!.us);
  const sinceText = began[0]!.at;
  // Listening before the subscription answers: a change made after that is seen.
  await listener.ready();
  // The token's expiry (claims.exp, seconds since the epoch, checked when the subscription began):
  // the stream reads as the token's persona until then, and ends then. A stream does not outlive
  // the token that opened it; the client subscribes again with a fresh one.
  const exp = identity.claims.exp;
  const endsAtMs = typeof exp === 'number' ? exp * 1000 : undefined;
  return new Repeater<OutboxEventRow>(async (push, stop) => {
    // Notices can be forged (any login may NOTIFY) and name nothing but an id: the event as re-read
    // decides whether it matches, and an event already sent is not sent again. Rows are sent one
    // after the other in the order notified; a slow consumer delays only its own stream.
    const sent = new Set<string>();
    let sending: Promise<void> = Promise.resolve();
    let ended = false;
    const member: Member = {
      identity,
      sinceUs,
      sinceText,
      endsAtMs,
      deliver: (ids, rows) => {
        if (ended) return;
        sending = sending.then(async () => {
          for (const id of ids) {
            if (ended) return;
            const row = rows.get(id);
            if (!row || BigInt(row.announced_us) <= sinceUs || sent.has(row.event_id)) continue;
            const { announced_us: _, ...event } = row;
            if (!matches(event)) continue;
            sent.add(row.event_id);
            if (sent.size > SENT_REMEMBERED) sent.delete(sent.values().next().value as string);
            await push(event);
          }
        });
      },
      end: (err) => {
        ended = true;
        stop(err);
      },
    };
    const group = groupOf(listener, ctx.pool, key);
    group.members.add(member);
    const onClose = () => stop();
    listener.once('close', onClose);
    // A timer's delay is at most 2^31 - 1 ms; a token lives far less (src/auth/jwt.ts).
    const expiry =
      endsAtMs === undefined
        ? undefined
        : setTimeout(() => stop(), Math.min(Math.max(0, endsAtMs - Date.now()), 2 ** 31 - 1));
    expiry?.unref();
    await stop;
    ended = true;
    if (expiry) clearTimeout(expiry);
    group.leave(member);
    listener.off('close', onClose);
  });
}
