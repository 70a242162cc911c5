// npm run db:url: the connection URLs of the database `npm start` uses.
//   npm run -s db:url              both, labelled
//   npm run -s db:url -- --owner   the owner URL alone (migrations, psql, the Supabase CLI)
//   npm run -s db:url -- --api     the API login alone (authenticator, what requests and the Edge
//                                  Function connect as; it may only SET ROLE to a persona)
// With DATABASE_URL set these are DATABASE_URL and OPS_API_DATABASE_URL. On the embedded database
// the passwords are read from the data folder (see src/db/credentials.ts); nothing is started.
import { type Config, ConfigError, loadConfig } from '../config.js';
import {
  API_USER,
  authenticatorPasswordFile,
  EMBEDDED_DATABASE,
  embeddedUrl,
  OWNER_USER,
  readAuthenticatorPassword,
  readOwnerPassword,
} from './credentials.js';
import { resolveDataRoot } from './embedded.js';

export interface DatabaseUrls {
  owner: string;
  api: string;
  /** Where the passwords live (embedded), for people. */
  note: string;
}

export class NotStartedError extends Error {}

export function databaseUrls(config: Config): DatabaseUrls {
  if (config.databaseUrl) {
    return {
      owner: config.databaseUrl,
      api: config.apiDatabaseUrl ?? config.databaseUrl,
      note: 'from DATABASE_URL and OPS_API_DATABASE_URL',
    };
  }
  const root = resolveDataRoot(config.dataDir);
  const ownerPassword = readOwnerPassword(root);
  const apiPassword = readAuthenticatorPassword(root);
  if (!ownerPassword || !apiPassword) {
    throw new NotStartedError(
      `no embedded database under ${root} yet: run npm start once (it creates the cluster and its passwords)`,
    );
  }
  return {
    owner: embeddedUrl(OWNER_USER, ownerPassword, config.embeddedPgPort, EMBEDDED_DATABASE),
    api: embeddedUrl(API_USER, apiPassword, config.embeddedPgPort, EMBEDDED_DATABASE),
    note: `passwords in ${root}/pg.json (owner) and ${authenticatorPasswordFile(root)} (API login), mode 0600`,
  };
}

function main(argv: string[]): number {
  const usage = 'usage: npm run -s db:url [-- --owner | --api]';
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const unknown = argv.filter((a) => !['--owner', '--api'].includes(a));
  if (unknown.length || argv.length > 1) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  let urls: DatabaseUrls;
  try {
    urls = databaseUrls(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError || err instanceof NotStartedError) {
      process.stderr.write(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (argv[0] === '--owner') process.stdout.write(`${urls.owner}\n`);
  else if (argv[0] === '--api') process.stdout.write(`${urls.api}\n`);
  else {
    process.stdout.write(
      [
        `owner (migrations, psql, supabase CLI): ${urls.owner}`,
        `API login (authenticator):              ${urls.api}`,
        `(${urls.note})`,
        '',
      ].join('\n'),
    );
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
