// One transaction per request: assume the caller's persona and publish its claims the way
// PostgREST and Supabase do, so RLS and ops.current_actor() hold underneath any door.
import type pg from 'pg';
import { AuthError, type Identity } from '../auth/jwt.ts';
import { isPersona, type Persona } from '../auth/personas.ts';

export type Queryable = Pick<pg.ClientBase, 'query'>;

/** The identity's persona; AuthError 403 when the token names none. */
export function personaOf(identity: Identity): Persona {
  const persona = identity.persona;
  if (!isPersona(persona)) {
    throw new AuthError(403, 'no_persona', 'the token names no ops persona (app_metadata.ops_role or role)');
  }
  return persona;
}

/**
 * Inside an open transaction: assumes the identity's persona and publishes its claims,
 * transaction-local (is_local = true), so nothing leaks to the next request on this pooled
 * connection. A token naming no persona is refused (403).
 */
export async function assumePersona(client: Queryable, identity: Identity): Promise<void> {
  const persona = personaOf(identity);
  await client.query(
    `select set_config('role', $1, true), set_config('request.jwt.claims', $2, true),
            set_config('request.jwt.claim.sub', $3, true), set_config('request.jwt.claim.role', $1, true)`,
    [persona, JSON.stringify(identity.claims), identity.subject],
  );
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const utf8 = new TextEncoder();
const PLAIN_ASCII = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/**
 * A text as a SQL expression written in ASCII letters, digits and punctuation only: a plain literal
 * when the text is printable ASCII with neither quote nor backslash, else its UTF-8 bytes in hex,
 * decoded by the server. Unlike a literal escaped by doubling, nothing in it is read differently by
 * the session's settings: a client encoding whose multi-byte characters may end in the byte of a
 * backslash (BIG5, GBK, SJIS) with backslash_quote on, or standard_conforming_strings off, turned
 * a claim ending in such a character into one that closed its literal early and ran SQL of its own
 * (assuming another persona) when values were quoted with escapeLiteral.
 */
export function sqlText(value: string): string {
  // Printable ASCII with neither quote nor backslash (most claims) reads the same as a plain
  // literal under every setting and encoding: no byte of it can belong to a multi-byte character.
  if (PLAIN_ASCII.test(value)) return `'${value}'`;
  let hex = '';
  for (const byte of utf8.encode(value)) hex += HEX[byte];
  return `pg_catalog.convert_from(pg_catalog.decode('${hex}', 'hex'), 'UTF8')`;
}

/**
 * The statement that assumes the identity's persona and publishes its claims, transaction-local,
 * with no parameters (it follows `begin` in one simple query): the same settings as assumePersona.
 * Each column answers whether its setting is null (never): the values themselves are not sent back.
 */
export function assumePersonaSql(identity: Identity): string {
  const persona = sqlText(personaOf(identity));
  return `select pg_catalog.set_config('role', ${persona}, true) is null,
            pg_catalog.set_config('request.jwt.claims', ${sqlText(JSON.stringify(identity.claims))}, true) is null,
            pg_catalog.set_config('request.jwt.claim.sub', ${sqlText(identity.subject)}, true) is null,
            pg_catalog.set_config('request.jwt.claim.role', ${persona}, true) is null`;
}

/**
 * Opens a transaction on `client` and assumes the identity's persona in one round trip: the same
 * settings as assumePersona, transaction-local, their values written as sqlText (a simple query
 * with two statements takes no parameters), as src/db/request-transaction.ts does for reads. A
 * token naming no persona is refused (403) before anything is sent.
 */
export async function beginAsPersona(client: pg.ClientBase, identity: Identity): Promise<void> {
  const statement = assumePersonaSql(identity);
  await client.query(`begin;\n${statement}`);
}

/**
 * `fn` in one transaction as the identity's persona, committed when it resolves and rolled back
 * when it throws: one round trip before fn's own statements (begin with the persona), one after (commit).
 */
export async function withPersona<T>(
  pool: pg.Pool,
  identity: Identity,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  personaOf(identity);
  const client = await pool.connect();
  // The connection may be lost while it is checked out (PostgreSQL restarting): the query in
  // progress fails with the error, which is the answer; the event itself must not end the process
  // whatever pool the client came from (src/db/pool.ts also listens, for the log).
  const ignoreConnectionError = () => {};
  client.on('error', ignoreConnectionError);
  let released = false;
  try {
    await beginAsPersona(client, identity);
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
