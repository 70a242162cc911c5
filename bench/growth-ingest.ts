// `npm run bench:growth-ingest [-- --short]`: does ingest slow down as the database grows? Three
// databases of one PostgreSQL (the same server, memory and disks): `empty`, freshly migrated;
// `grown`, its copy with GROWTH_ROWS (default 1,000,000) accepted ingest-log rows seeded, each on
// the tamper-evident ledger; and `wide`, its copy with GROWTH_RELEASES (default 10,000) other
// releases and their facts (gates, checks, approvals, evidence, deployments, exceptions, log rows:
// bench/reads.ts seed(), ANALYZEd). The same load (CONCURRENCY callers sending build_complete and
// check_result events through select ops.ingest_event(...) over withPersona, some of them resends,
// about releases of their own) runs on each in alternating rounds (empty, grown, wide, then wide,
// grown, empty, ...), so that the shared machine's changing load weighs on all alike; the ratios
// grown/empty and wide/empty are printed against the target (>= 0.9). A plan that reads a whole
// fact table per event (the gate evaluation before 20261204190000) shows in wide/empty, not in
// grown/empty. A fourth, `history`, is the empty database whose bench releases each already have
// GROWTH_HISTORY (default 5,000) check results on G1 and no G1 evidence, so each event lands on a
// gate with a long check history: a rule that reads a gate's whole history per evaluation (the
// evidence on checks before 20261207500000) shows in history/empty. Timing is reported, never
// enforced: only a wrong answer fails the run.
//
// Seeding is fast and leaves a ledger ops.verify_ledger accepts: as the owner, in one transaction,
// INSERT ... SELECT generate_series (the per-row ledger trigger off in it), then the entries those
// rows need, set-based, hashed by the ledger's own functions (see seed()). The bench then verifies
// one seeded release's chain.
//
// Embedded PostgreSQL in .data/bench-* (removed after) unless DATABASE_URL is set (which must allow
// CREATE DATABASE). --short or BENCH_SHORT=1: 20,000 rows, 1,000 releases, 2,000 results per gate
// and a few seconds (it cannot rot). GROWTH_ROWS, GROWTH_RELEASES, GROWTH_HISTORY, BENCH_SECONDS,
// BENCH_CONCURRENCY, BENCH_POOL override the defaults.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import type { Identity } from '../src/auth/jwt.js';
import { withPersona } from '../src/db/with-persona.js';
import {
  benchPool,
  createReleases,
  type LoadResult,
  machine,
  ms,
  openBenchDatabase,
  runLoad,
  serverVersion,
} from './lib.js';
import { seed as seedReleasesWithFacts } from './reads.js';

const short = process.argv.includes('--short') || ['1', 'true'].includes(process.env.BENCH_SHORT ?? '');
const ROWS = Number(process.env.GROWTH_ROWS ?? (short ? 20_000 : 1_000_000));
const BATCH = 100_000;
const SEED_RELEASES = short ? 100 : 1_000;
const WIDE_RELEASES = Number(process.env.GROWTH_RELEASES ?? (short ? 1_000 : 10_000));
const HISTORY = Number(process.env.GROWTH_HISTORY ?? (short ? 2_000 : 5_000));
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 20);
const POOL = Number(process.env.BENCH_POOL ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (short ? 2 : 30));
const ROUNDS = short ? 2 : 6;
const RELEASES = 50;
const TARGET_RATIO = 0.9;

const identity = (sub: string, persona: Identity['persona']): Identity => ({
  subject: sub,
  persona,
  claims: { sub, role: persona },
});
const ci = identity('bench-growth-ci', 'ci_service_role');
const developer = identity('bench-growth-dev', 'developer');

/** The URL with another database name. */
function onDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/**
 * Seeds `rows` accepted build_complete attempts, in runs of consecutive rows per release over
 * `releases`, in one transaction as the owner: the log rows by INSERT ... SELECT generate_series in
 * batches (the per-row ledger and stamp triggers off for this transaction only), then their ledger
 * entries set-based: each release's chain continues from its head, every entry hashed in the
 * ledger's canonical forms (20261129004000: the content hash of the row as stored, in UTC; the entry
 * hash over the previous entry's), one recursive step per position in the chains, and each head
 * moved once. ops.verify_ledger then checks a seeded chain against the live rows. Returns the
 * seconds it took.
 */
async function seed(adminUrl: string, releases: string[], rows: number): Promise<number> {
  const t0 = performance.now();
  const progress = (what: string) =>
    process.stdout.write(`  ${what} (${((performance.now() - t0) / 1000).toFixed(0)} s)\n`);
  await withClient(adminUrl, async (c) => {
    await c.query('begin');
    await c.query(`set local "TimeZone" = 'UTC'`);
    await c.query(`set local "IntervalStyle" = 'postgres'`);
    await c.query('alter table ops.event_ingest_log disable trigger ledger_record');
    await c.query('alter table ops.event_ingest_log disable trigger event_ingest_log_stamp');
    for (let from = 1; from <= rows; from += BATCH) {
      const to = Math.min(rows, from + BATCH - 1);
      await c.query(
        `insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id,
                                           payload_hash, envelope, processing_status, http_status, result,
                                           received_at, created_at, created_by, created_persona)
         select 'github_actions', 'build_complete', 'growth/' || i, 'v1.0', r.release_id,
                encode(sha256(convert_to(e::text, 'UTF8')), 'hex'), e, 'accepted', 200,
                jsonb_build_object('kind', 'check', 'seeded', true), t, t, 'bench-growth-producer', 'ci_service_role'
         from generate_series($2::int, $3::int) i
         cross join lateral (select ($1::uuid[])[1 + ((i - 1)::bigint * cardinality($1::uuid[]) / $4::int)] as release_id) r
         cross join lateral (select clock_timestamp() as t) ts
         cross join lateral (select jsonb_build_object(
             'schema_version', 'v1.0', 'idempotency_key', 'growth/' || i, 'event_type', 'build_complete',
             'source_system', 'github_actions', 'release_id', r.release_id,
             'payload', jsonb_build_object('status', 'pass', 'check_name', 'build-' || i % 7)) as e) env`,
        [releases, from, to, rows],
      );
      progress(`seeded ${to.toLocaleString('en')} log rows`);
    }
    await c.query(
      `create temporary table growth_queue on commit drop as
       select h.chain_id, h.head_seq + row_number() over (partition by h.chain_id order by l.received_at, l.ingest_id) as seq,
              l.ingest_id as row_id,
              encode(sha256(convert_to(jsonb_strip_nulls(to_jsonb(l))::text, 'UTF8')), 'hex') as content_hash
       from ops.event_ingest_log l
       join ops.ledger_chains h on h.chain_id = l.release_id
       where l.created_by = 'bench-growth-producer'`,
    );
    await c.query('create index on growth_queue (chain_id, seq)');
    await c.query('analyze growth_queue');
    progress('content hashed');
    await c.query(
      `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
       with recursive chain as (
         select q.chain_id, q.seq, q.row_id, q.content_hash, h.head_hash as prev_hash,
                encode(sha256(convert_to(concat_ws('|', q.chain_id::text, q.seq::text, 'event_ingest_log',
                  q.row_id::text, 'insert', q.content_hash, h.head_hash), 'UTF8')), 'hex') as entry_hash
         from growth_queue q join ops.ledger_chains h on h.chain_id = q.chain_id and q.seq = h.head_seq + 1
         union all
         select q.chain_id, q.seq, q.row_id, q.content_hash, p.entry_hash,
                encode(sha256(convert_to(concat_ws('|', q.chain_id::text, q.seq::text, 'event_ingest_log',
                  q.row_id::text, 'insert', q.content_hash, p.entry_hash), 'UTF8')), 'hex')
         from chain p join growth_queue q on q.chain_id = p.chain_id and q.seq = p.seq + 1
       )
       select chain_id, seq, 'event_ingest_log', row_id, 'insert', content_hash, prev_hash, entry_hash from chain`,
    );
    await c.query(
      `update ops.ledger_chains h set head_seq = e.seq, head_hash = e.entry_hash, updated_at = clock_timestamp()
       from (select distinct on (q.chain_id) q.chain_id, q.seq from growth_queue q order by q.chain_id, q.seq desc) last
       join ops.ledger_entries e on e.chain_id = last.chain_id and e.seq = last.seq
       where h.chain_id = last.chain_id`,
    );
    await c.query('alter table ops.event_ingest_log enable trigger event_ingest_log_stamp');
    await c.query('alter table ops.event_ingest_log enable trigger ledger_record');
    await c.query('commit');
    progress('linked into the ledger');
    // Nothing left for autovacuum to do during the measured rounds.
    await c.query('vacuum analyze ops.event_ingest_log, ops.ledger_entries, ops.ledger_chains');
    await c.query('checkpoint');
  });
  return (performance.now() - t0) / 1000;
}

function eventSource(phase: string, releases: string[]): () => string {
  const run = randomUUID().slice(0, 8);
  const recent: string[] = [];
  let n = 0;
  return () => {
    // Every fifth event resends one of the last hundred (a producer's retry).
    if (n % 5 === 4 && recent.length > 0) {
      n++;
      return recent[n % recent.length]!;
    }
    const i = n++;
    const env = JSON.stringify({
      schema_version: 'v1.0',
      idempotency_key: `growth/${phase}/${run}/${i}`,
      source_system: 'github_actions',
      release_id: releases[i % releases.length],
      emitted_at: new Date().toISOString(),
      ...(i % 2 === 0
        ? { event_type: 'build_complete', payload: { status: 'pass', check_name: `build-${i % 3}` } }
        : {
            event_type: 'check_result',
            gate_code: 'G1',
            payload: { check_name: `suite-${i % 5}`, status: 'pass' },
          }),
    });
    recent.push(env);
    if (recent.length > 100) recent.shift();
    return env;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : Number.NaN;
}

type Side = 'empty' | 'grown' | 'wide' | 'history';
const SIDES: readonly Side[] = ['empty', 'grown', 'wide', 'history'];

/**
 * Gives G1 of each of `releases` `perGate` passing results of four check names, older than
 * anything the load sends, as the owner behind the triggers (session_replication_role = replica:
 * not on the ledger, not evaluated; the load's own events are), then ANALYZE and a checkpoint.
 * Returns the seconds it took.
 */
async function seedHistory(adminUrl: string, releases: string[], perGate: number): Promise<number> {
  const t0 = performance.now();
  await withClient(adminUrl, async (c) => {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    await c.query(
      `insert into ops.gate_checks (gate_id, check_name, source_system, status, created_at, created_by, revision)
       select g.gate_id, 'history-' || (i % 4), 'github_actions', 'pass',
              now() - interval '1 day' + make_interval(secs => i), 'bench-growth-history', 1
       from ops.release_gates g, generate_series(1, $2::int) i
       where g.release_id = any ($1::uuid[]) and g.gate_code = 'G1'`,
      [releases, perGate],
    );
    await c.query('commit');
    await c.query('vacuum analyze ops.gate_checks');
    await c.query('checkpoint');
  });
  return (performance.now() - t0) / 1000;
}

/**
 * Seeds `n` releases with their facts (bench/reads.ts seed(): set-based, triggers off, then
 * ANALYZE), leaves nothing for autovacuum, and returns the seconds it took.
 */
async function seedWide(adminUrl: string, n: number): Promise<number> {
  const t0 = performance.now();
  await seedReleasesWithFacts(adminUrl, n);
  await withClient(adminUrl, async (c) => {
    await c.query('vacuum analyze');
    await c.query('checkpoint');
  });
  return (performance.now() - t0) / 1000;
}

async function main(): Promise<number> {
  const started = performance.now();
  const db = await openBenchDatabase();
  const suffix = randomUUID().slice(0, 8);
  const grownName = `bench_grown_${suffix}`;
  const wideName = `bench_wide_${suffix}`;
  const historyName = `bench_history_${suffix}`;
  const on = (name: string) => ({
    adminUrl: onDatabase(db.adminUrl, name),
    apiUrl: onDatabase(db.apiUrl, name),
  });
  const dbs: Record<Side, { adminUrl: string; apiUrl: string }> = {
    empty: { adminUrl: db.adminUrl, apiUrl: db.apiUrl },
    grown: on(grownName),
    wide: on(wideName),
    history: on(historyName),
  };
  const current = await withClient(
    db.adminUrl,
    async (c) => (await c.query('select current_database() as d')).rows[0].d,
  );
  // Copies of the freshly migrated database: the same schema, settings and grants.
  await withClient(onDatabase(db.adminUrl, 'postgres'), async (c) => {
    for (const name of [grownName, wideName, historyName])
      await c.query(`create database "${name}" template "${current}"`);
  });
  const pools: Record<Side, pg.Pool> = {
    empty: benchPool(dbs.empty.apiUrl, POOL),
    grown: benchPool(dbs.grown.apiUrl, POOL),
    wide: benchPool(dbs.wide.apiUrl, POOL),
    history: benchPool(dbs.history.apiUrl, POOL),
  };
  try {
    process.stdout.write(
      `ingest growth benchmark${short ? ' (short)' : ''}: ${CONCURRENCY} concurrent, ${ROUNDS} alternating rounds of ` +
        `${(SECONDS / ROUNDS).toFixed(1)} s per database, ${ROWS.toLocaleString('en')} seeded log rows, ` +
        `${WIDE_RELEASES.toLocaleString('en')} seeded releases, ${HISTORY.toLocaleString('en')} check results per G1 (history)\n` +
        `machine: ${machine()}; PostgreSQL ${await serverVersion(db.adminUrl)} (${db.description})\n`,
    );
    const seedReleases = await createReleases(pools.grown, developer, 'growth-seed', SEED_RELEASES);
    const seedSeconds = await seed(dbs.grown.adminUrl, seedReleases, ROWS);
    const wideSeconds = await seedWide(dbs.wide.adminUrl, WIDE_RELEASES);
    const logRows = async (url: string) =>
      withClient(
        url,
        async (c) => (await c.query('select count(*)::int as n from ops.event_ingest_log')).rows[0].n,
      );

    const next = {} as Record<Side, () => string>;
    let historySeconds = 0;
    for (const side of SIDES) {
      const releases = await createReleases(pools[side], developer, 'growth-bench', RELEASES);
      if (side === 'history') historySeconds = await seedHistory(dbs.history.adminUrl, releases, HISTORY);
      next[side] = eventSource(side, releases);
    }
    const op = (side: Side) => async () => {
      const body = next[side]();
      const r = await withPersona(pools[side], ci, (c) =>
        c.query<{ r: { status: string } }>('select ops.ingest_event($1::jsonb) as r', [body]),
      );
      const status = r.rows[0]!.r.status;
      if (status !== 'accepted' && status !== 'duplicate')
        throw new Error(`unexpected answer: ${JSON.stringify(r.rows[0]!.r)}`);
    };
    const load = {
      concurrency: CONCURRENCY,
      warmupMs: short ? 300 : 1_000,
      durationMs: (SECONDS * 1000) / ROUNDS,
    };
    const results: Record<Side, LoadResult[]> = { empty: [], grown: [], wide: [], history: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? SIDES : [...SIDES].reverse();
      for (const side of order) results[side].push(await runLoad(op(side), load));
    }
    const total = (side: Side) => {
      const rs = results[side];
      const count = rs.reduce((n, x) => n + x.count, 0);
      const seconds = rs.reduce((n, x) => n + x.seconds, 0);
      return {
        count,
        rate: count / seconds,
        errors: rs.reduce((n, x) => n + x.errors, 0),
        unanswered: rs.reduce((n, x) => n + x.unanswered, 0),
        firstError: rs.find((x) => x.firstError)?.firstError,
        p50: median(rs.map((x) => x.p50)),
        p99: median(rs.map((x) => x.p99)),
      };
    };
    const empty = total('empty');
    const grown = total('grown');
    const wide = total('wide');
    const history = total('history');
    // A round in which either side completed nothing (a starved machine) measured no ratio.
    const roundsAgainstEmpty = (side: Side) =>
      results[side]
        .map((g, i) => [g, results.empty[i]!] as const)
        .filter(([g, e]) => g.count > 0 && e.count > 0)
        .map(([g, e]) => g.rate / e.rate);
    const perRound = roundsAgainstEmpty('grown');
    const perRoundWide = roundsAgainstEmpty('wide');
    const perRoundHistory = roundsAgainstEmpty('history');
    const ratio = perRound.length > 0 ? median(perRound) : Number.NaN;
    const ratioWide = perRoundWide.length > 0 ? median(perRoundWide) : Number.NaN;
    const ratioHistory = perRoundHistory.length > 0 ? median(perRoundHistory) : Number.NaN;
    const [emptyRows, grownRows, wideRows, historyRows] = [
      await logRows(dbs.empty.adminUrl),
      await logRows(dbs.grown.adminUrl),
      await logRows(dbs.wide.adminUrl),
      await logRows(dbs.history.adminUrl),
    ];
    const releaseCount = await withClient(
      dbs.wide.adminUrl,
      async (c) => (await c.query('select count(*)::int as n from ops.releases')).rows[0].n,
    );
    // The seeded rows are on the ledger: one seeded release's chain verifies clean.
    const verify = await withPersona(
      pools.grown,
      identity('bench-growth-audit', 'audit_reader'),
      async (c) => {
        const t0 = performance.now();
        const { rows } = await c.query<{ r: { ok: boolean; entries: number } }>(
          'select ops.verify_ledger($1) as r',
          [seedReleases[0]],
        );
        return { ...rows[0]!.r, ms: performance.now() - t0 };
      },
    );
    const verdict = (r: number, rounds: number[]) =>
      `${r.toFixed(2)} (median of ${rounds.length} of ${ROUNDS} alternating rounds: ${rounds
        .map((x) => x.toFixed(2))
        .join(', ')}; target >= ${TARGET_RATIO}: ${
        rounds.length === 0 ? 'not measured' : r >= TARGET_RATIO ? 'met' : 'NOT met'
      })`;
    const line = (label: string, r: ReturnType<typeof total>, rows: number) =>
      `  ${label.padEnd(34)} ${r.rate.toFixed(0).padStart(6)} ev/s   p50 ${ms(r.p50).padStart(9)}   p99 ${ms(r.p99).padStart(9)}   (${r.count} events; ${rows.toLocaleString('en')} log rows after${r.unanswered ? `; ${r.unanswered} unanswered` : ''}${r.errors ? `; ${r.errors} WRONG ANSWERS: ${r.firstError}` : ''})\n`;
    process.stdout.write(
      `  seeding ${ROWS.toLocaleString('en')} rows took ${seedSeconds.toFixed(0)} s, ` +
        `${WIDE_RELEASES.toLocaleString('en')} releases ${wideSeconds.toFixed(0)} s, ` +
        `${HISTORY.toLocaleString('en')} results on each of ${RELEASES} gates ${historySeconds.toFixed(0)} s\n` +
        line('empty database', empty, emptyRows) +
        line(`+${ROWS.toLocaleString('en')} ingest-log rows`, grown, grownRows) +
        line(`+${WIDE_RELEASES.toLocaleString('en')} releases and facts`, wide, wideRows) +
        line(`${HISTORY.toLocaleString('en')} check results on the gate`, history, historyRows) +
        `  ratio grown/empty = ${verdict(ratio, perRound)}\n` +
        `  ratio wide/empty  = ${verdict(ratioWide, perRoundWide)} (${releaseCount.toLocaleString('en')} releases)\n` +
        `  ratio history/empty = ${verdict(ratioHistory, perRoundHistory)} (long check history on one gate vs a fresh gate)\n` +
        `  ledger: verify_ledger(one seeded release) over ${verify.entries} entries: ${verify.ok ? 'clean' : 'FINDINGS'} in ${ms(verify.ms)}\n` +
        `BENCH_RESULT ${JSON.stringify({ short, rows: ROWS, releases: WIDE_RELEASES, concurrency: CONCURRENCY, seconds: SECONDS, machine: machine(), empty, grown, wide, history, ratio, perRound, ratioWide, perRoundWide, ratioHistory, perRoundHistory, historyPerGate: HISTORY, seedSeconds, wideSeconds, historySeconds, verifyOk: verify.ok })}\n` +
        `done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
    );
    return empty.errors + grown.errors + wide.errors + history.errors > 0 || !verify.ok ? 1 : 0;
  } finally {
    for (const side of SIDES) await pools[side].end();
    for (const name of [grownName, wideName, historyName])
      await withClient(onDatabase(db.adminUrl, 'postgres'), (c) =>
        c.query(`drop database if exists "${name}" with (force)`),
      ).catch(() => {});
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench:growth-ingest failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
