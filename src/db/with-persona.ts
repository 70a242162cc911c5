// One transaction per request: assume the caller's persona and publish its claims the way
// PostgREST and Supabase do, so RLS and ops.current_actor() hold underneath any door.
import type pg from 'pg';
import { AuthError, type Identity } from '../auth/jwt.ts';
import { isPersona } from '../auth/personas.ts';

export type Queryable = Pick<pg.ClientBase, 'query'>;

export async function withPersona<T>(
  pool: pg.Pool,
  identity: Identity,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const persona = identity.persona;
  if (!isPersona(persona)) {
    throw new AuthError(403, 'no_persona', 'the token names no ops persona (app_metadata.ops_role or role)');
  }
  const client = await pool.connect();
  // The connection may be lost while it is checked out (PostgreSQL restarting): the query in
  // progress fails with the error, which is the answer; the event itself must not end the process
  // whatever pool the client came from (src/db/pool.ts also listens, for the log).
  const ignoreConnectionError = () => {};
  client.on('error', ignoreConnectionError);
  let released = false;
  try {
    await client.query('begin');
    // Transaction-local (is_local = true): undone at commit or rollback, never leaks to the next
    // request on this pooled connection.
    await client.query(
      `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
              set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true)`,
      [persona, JSON.stringify(identity.claims), identity.subject],
    );
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    try {
      await client.query('rollback');
    } catch (rollbackErr) {
      // A connection that cannot roll back is not returned to the pool.
      client.release(rollbackErr as Error);
      released = true;
    }
    throw err;
  } finally {
    client.off('error', ignoreConnectionError);
    if (!released) client.release();
  }
}
