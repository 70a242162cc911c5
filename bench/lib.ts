// Shared by the benchmarks: a closed-loop load runner (N workers, each sending its next request
// as soon as the previous answer arrived), latency percentiles, a database of their own (embedded
// PostgreSQL in a temporary folder unless DATABASE_URL is set), and the machine they ran on.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { Identity } from '../src/auth/jwt.js';
import { type DatabaseTarget, openDatabase } from '../src/db/database.js';
import { resolveDataRoot } from '../src/db/embedded.js';
import { projectRoot } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { withPersona } from '../src/db/with-persona.js';
import { freePort } from '../src/process.js';

export interface LoadOptions {
  concurrency: number;
  /** Requests before this are not measured (connections warm, plans cached). */
  warmupMs: number;
  durationMs: number;
}

/**
 * A request that got no answer, or only "not now" (a timeout, a refused or reset connection, 408,
 * 429, 502-504, a PostgreSQL connection or timeout error): a sign of a slow or busy machine, never
 * of a wrong answer. Counted apart and printed; it never fails a benchmark. Anything else an
 * operation throws is a wrong answer, and fails it.
 */
export class Unanswered extends Error {}

const UNANSWERED_STATUSES = new Set([408, 429, 502, 503, 504]);

/** Throws Unanswered for a "not now" HTTP status; returns otherwise. */
export function throwIfUnanswered(status: number, what: string): void {
  if (UNANSWERED_STATUSES.has(status)) throw new Unanswered(`${what} answered ${status}`);
}

/** Maps errors that mean "no answer" (network, timeouts, PostgreSQL connection trouble) to Unanswered. */
export function asUnanswered(err: unknown): unknown {
  if (err instanceof Unanswered) return err;
  const e = err as { name?: string; code?: string; message?: string; cause?: unknown };
  const code = e?.code ?? (e?.cause as { code?: string } | undefined)?.code ?? '';
  const message = String(e?.message ?? '');
  const network =
    e?.name === 'AbortError' ||
    e?.name === 'TimeoutError' ||
    (e instanceof TypeError && /fetch failed|terminated|other side closed/i.test(message)) ||
    /^(ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|UND_ERR_\w+)$/.test(code);
  const database =
    /^(08\w{3}|53\w{3}|57014|57P0[1-3]|55P03)$/.test(code) ||
    /timeout exceeded when trying to connect|Connection terminated/i.test(message);
  return network || database ? new Unanswered(message || code) : err;
}

export interface LoadResult {
  /** Requests completed inside the measured window. */
  count: number;
  /** Wrong answers: these fail the benchmark. */
  errors: number;
  /** Requests that got no answer in time (Unanswered): printed, never a failure. */
  unanswered: number;
  firstError?: string;
  seconds: number;
  /** Completed requests per second. */
  rate: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[i]!;
}

/** Runs `op` from `concurrency` loops at once for warmup + duration; measures the latter. */
export async function runLoad(op: () => Promise<void>, options: LoadOptions): Promise<LoadResult> {
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  const latencies: number[] = [];
  let errors = 0;
  let unanswered = 0;
  let firstError: string | undefined;

  async function loop(): Promise<void> {
    while (performance.now() < end) {
      const t0 = performance.now();
      let answered = true;
      try {
        await op();
      } catch (caught) {
        const err = asUnanswered(caught);
        if (err instanceof Unanswered) {
          unanswered++;
          answered = false;
        } else {
          errors++;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
      const t1 = performance.now();
      if (answered && t0 >= measureFrom && t1 <= end) latencies.push(t1 - t0);
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, loop));

  const sorted = Float64Array.from(latencies).sort();
  const seconds = options.durationMs / 1000;
  return {
    count: sorted.length,
    errors,
    unanswered,
    firstError,
    seconds,
    rate: sorted.length / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
  };
}

/** A small deterministic PRNG (mulberry32), so runs generate the same event sequence. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BenchDatabase extends DatabaseTarget {
  /** Where it came from, for the report. */
  description: string;
  close(): Promise<void>;
}

/**
 * DATABASE_URL (and OPS_API_DATABASE_URL for the request role) when set, otherwise an embedded
 * PostgreSQL in .data/bench-<pid>, removed again by close().
 */
export async function openBenchDatabase(): Promise<BenchDatabase> {
  if (process.env.DATABASE_URL) {
    const db = await openDatabase({
      databaseUrl: process.env.DATABASE_URL,
      apiDatabaseUrl: process.env.OPS_API_DATABASE_URL,
      dataDir: path.join(projectRoot, '.data'),
      embeddedPort: 0,
    });
    return { ...db, description: 'DATABASE_URL', close: () => db.stop() };
  }
  const dataDir = path.join(projectRoot, '.data', `bench-${process.pid}-${randomBytes(3).toString('hex')}`);
  const root = resolveDataRoot(dataDir);
  const remove = () => {
    rmSync(dataDir, { recursive: true, force: true });
    if (root !== dataDir) rmSync(root, { recursive: true, force: true });
  };
  let db: DatabaseTarget;
  try {
    db = await openDatabase({
      dataDir,
      embeddedPort: await freePort(),
      databaseName: 'bench',
    });
  } catch (err) {
    remove();
    throw err;
  }
  return {
    ...db,
    description: 'embedded',
    close: async () => {
      try {
        await db.stop();
      } finally {
        remove();
      }
    },
  };
}

/**
 * A benchmark's connection pool (max clients). Built by the server's createPool, so a connection
 * PostgreSQL ends while the benchmark shuts its database down (pg-pool's end() resolves before its
 * idle clients have closed) is an ignored 'error' event instead of a crash.
 */
export function benchPool(connectionString: string, max: number): pg.Pool {
  return createPool({
    connectionString,
    max,
    application_name: 'ops-bench',
    connectionTimeoutMillis: 30_000,
  });
}

/**
 * Creates `count` releases of `project` named `<project>-1` … `<project>-<count>`, as `who` (a
 * developer) through ops.create_release in one statement; returns their ids in that order.
 */
export function createReleases(
  pool: pg.Pool,
  who: Identity,
  project: string,
  count: number,
): Promise<string[]> {
  return withPersona(pool, who, async (c) => {
    const { rows } = await c.query<{ release_id: string }>(
      `select (ops.create_release(p_project => $1, p_release_name => $1 || '-' || i,
                                  p_source_ref => 'refs/heads/main')).release_id
       from generate_series(1, $2) i order by i`,
      [project, count],
    );
    return rows.map((r) => r.release_id);
  });
}

export async function serverVersion(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query<{ v: string }>("select current_setting('server_version') as v");
    return rows[0]!.v;
  } finally {
    await c.end();
  }
}

export function machine(): string {
  const cpus = os.cpus();
  return `${cpus.length} cores (${cpus[0]?.model.trim() ?? 'unknown cpu'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export const ms = (n: number) => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');

/** A V8 CPU profile as `node --cpu-prof` and `node:inspector` write it (the parts the summaries read). */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
export type ProfileNode = CpuProfile['nodes'][number];
