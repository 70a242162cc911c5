// One transaction and one persona switch per GraphQL request for its reads: opened on the first
// read, shared by every resolver and dataloader batch of the request (so a response is one
// snapshot for a query), and finished once when execution is done. Reads run one after another
// on the one connection; a read that fails is rolled back to a savepoint taken right after the
// persona switch, so one refused field never poisons its siblings and they still read the same
// snapshot (ending the transaction instead let a later sibling read a newer one: a response built
// from two snapshots). Mutations keep a transaction of their own per call (withPersona).
import type pg from 'pg';
import type { Identity } from '../auth/jwt.ts';
import { assumePersonaSql } from './with-persona.ts';

export interface RequestTransaction {
  run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T>;
  /** Commits (or rolls back) and releases the connection; safe to call more than once. */
  finish(outcome: 'commit' | 'rollback'): Promise<void>;
  /** After finish: later reads (e.g. of a subscription's events) take a transaction each. */
  readonly finished: boolean;
}

const SAVEPOINT_NAME = 'request_read';
const SAVEPOINT = `savepoint ${SAVEPOINT_NAME}`;

export function createRequestTransaction(
  pool: pg.Pool,
  identity: Identity,
  options: { snapshot: () => boolean },
): RequestTransaction {
  let open: Promise<pg.PoolClient> | null = null;
  let finished = false;
  let queue: Promise<unknown> = Promise.resolve();
  const ignoreConnectionError = () => {};

  function begin(): Promise<pg.PoolClient> {
    return (async () => {
      // A query sees one snapshot for the whole request; a mutation's reads see each write.
      // The transaction opens and assumes the persona in one round trip: the same settings as
      // assumePersona (with-persona.ts), transaction-local, their values written as sqlText
      // (hex, never a quoted literal) since a simple query with two statements takes no parameters.
      // The savepoint is what a failed read rolls back to (the switch and the snapshot stay).
      // Written before a connection is taken: a token naming no persona is refused without one.
      const opening = `${options.snapshot() ? 'begin isolation level repeatable read' : 'begin'};\n${assumePersonaSql(identity)};\n${SAVEPOINT}`;
      const client = await pool.connect();
      client.on('error', ignoreConnectionError);
      try {
        await client.query(opening);
        return client;
      } catch (err) {
        client.off('error', ignoreConnectionError);
        client.release(err as Error);
        throw err;
      }
    })();
  }

  async function end(outcome: 'commit' | 'rollback'): Promise<void> {
    const pending = open;
    open = null;
    if (!pending) return;
    let client: pg.PoolClient;
    try {
      client = await pending;
    } catch {
      return; // never opened: nothing to release
    }
    try {
      await client.query(outcome);
      client.off('error', ignoreConnectionError);
      client.release();
    } catch (err) {
      client.off('error', ignoreConnectionError);
      // A connection that cannot finish its transaction is not returned to the pool.
      client.release(err as Error);
      if (outcome === 'commit') throw err;
    }
  }

  function run<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const next = queue.then(async () => {
      open ??= begin();
      const client = await open.catch((err) => {
        open = null;
        throw err;
      });
      try {
        return await fn(client);
      } catch (err) {
        try {
          await client.query(`rollback to savepoint ${SAVEPOINT_NAME}`);
        } catch {
          // The connection itself failed: the transaction ends and the next read opens another.
          await end('rollback');
        }
        throw err;
      }
    });
    queue = next.catch(() => {});
    return next;
  }

  return {
    run,
    finish: async (outcome) => {
      finished = true;
      await queue;
      await end(outcome);
    },
    get finished() {
      return finished;
    },
  };
}
