// Where the database comes from: DATABASE_URL when set, otherwise a real embedded PostgreSQL.
// Either way it is bootstrapped (stand-ins where Supabase's objects are absent) and migrated.
import path from 'node:path';
import pg from 'pg';
import { API_USER, authenticatorPassword, EMBEDDED_DATABASE } from './credentials.js';
import { startEmbedded } from './embedded.js';
import { bootstrap, migrate } from './migrate.js';

export interface DatabaseTarget {
  /** Owner connection: migrations and administration only. */
  adminUrl: string;
  /** The login role requests use; it switches to a persona per transaction. */
  apiUrl: string;
  embedded: boolean;
  /** True when the embedded cluster was created by this start (false: existing data reused). */
  initialised: boolean;
  stop(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string;
  apiDatabaseUrl?: string;
  dataDir: string;
  embeddedPort: number;
  databaseName?: string;
}

export function withCredentials(url: string, user: string, password: string, database?: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

/** Bootstraps and migrates the database at adminUrl; returns what was applied. */
export async function prepareDatabase(adminUrl: string, authenticatorPassword?: string) {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await bootstrap(client, authenticatorPassword);
    return await migrate(client);
  } finally {
    await client.end();
  }
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseTarget> {
  if (options.databaseUrl) {
    await prepareDatabase(options.databaseUrl);
    return {
      adminUrl: options.databaseUrl,
      apiUrl: options.apiDatabaseUrl ?? options.databaseUrl,
      embedded: false,
      initialised: false,
      stop: async () => {},
    };
  }
  const cluster = await startEmbedded({ dataRoot: options.dataDir, port: options.embeddedPort });
  const database = options.databaseName ?? EMBEDDED_DATABASE;
  const server = new pg.Client({ connectionString: cluster.adminUrl });
  await server.connect();
  try {
    const exists = await server.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await server.query(`create database "${database}"`);
  } finally {
    await server.end();
  }
  const adminUrl = withCredentials(
    cluster.adminUrl,
    'postgres',
    new URL(cluster.adminUrl).password,
    database,
  );
  // The request role's password is kept beside the cluster (mode 0600), so the URLs that
  // `npm run db:url` prints stay valid across restarts (src/db/credentials.ts).
  const apiPassword = authenticatorPassword(path.dirname(cluster.dataDir));
  await prepareDatabase(adminUrl, apiPassword);
  return {
    adminUrl,
    apiUrl: withCredentials(cluster.adminUrl, API_USER, apiPassword, database),
    embedded: true,
    initialised: cluster.initialised,
    stop: () => cluster.stop(),
  };
}
