// The embedded database's connection URLs, stable across restarts: the owner (`postgres`, its
// password chosen at initdb and kept in pg.json) and the API login (`authenticator`, its password
// generated on the first start and kept in authenticator-password). Both files live in the
// cluster's data root (the data folder, or its fallback under the system temp folder when run as
// root and the folder is unreachable for the postgres OS user), mode 0600.
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The database `npm start` serves from on the embedded cluster. */
export const EMBEDDED_DATABASE = 'ops';
export const OWNER_USER = 'postgres';
export const API_USER = 'authenticator';

export const clusterFile = (dataRoot: string) => path.join(dataRoot, 'pg.json');
export const authenticatorPasswordFile = (dataRoot: string) => path.join(dataRoot, 'authenticator-password');

/** The owner's password as initdb was given it, or null before the first start. */
export function readOwnerPassword(dataRoot: string): string | null {
  try {
    return (JSON.parse(readFileSync(clusterFile(dataRoot), 'utf8')) as { password: string }).password;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The stored authenticator password, or null before the first start. Read exactly as written. */
export function readAuthenticatorPassword(dataRoot: string): string | null {
  try {
    return readFileSync(authenticatorPasswordFile(dataRoot), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The authenticator password of this cluster, created (mode 0600, no newline) on first use. */
export function authenticatorPassword(dataRoot: string): string {
  const file = authenticatorPasswordFile(dataRoot);
  const existing = readAuthenticatorPassword(dataRoot);
  if (existing) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return existing;
  }
  const password = randomBytes(18).toString('base64url');
  try {
    // 'wx': of two first starts racing, the password written first wins.
    writeFileSync(file, password, { mode: 0o600, flag: existing === '' ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return readFileSync(file, 'utf8');
  }
  return password;
}

/** A URL for the embedded server, which speaks no TLS (loopback only): clients that try TLS
 * first, such as the Supabase CLI, are told not to. */
export function embeddedUrl(user: string, password: string, port: number, database: string): string {
  return `postgresql://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}?sslmode=disable`;
}
