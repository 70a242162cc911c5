// `npm run bench:ingest [-- --short]`: how close the ingest route comes to what its two layers can
// do on their own, on one machine in one run, each at 50 concurrent callers with 30% of the
// events retries of earlier ones (duplicate keys):
//   (a) database ceiling: select ops.ingest_event(...) over pg through withPersona
//   (b) HTTP ceiling:     POST /bench/noop on the same server stack (router, JWT, Node adapter)
//   (c) the ingest route: POST /functions/v1/ops-event-ingest, in rounds alternating with (a) again
//       (c/a is the median of the per-round ratios, like a/r)
//   (r) the least an event needs: a PL/pgSQL RPC in a scratch schema of this benchmark's own
//       database (bench_baseline, never in the migrations) doing an idempotent log insert, one
//       check row and one gate update, called like (a); alternating rounds with (a), and
//       a/r >= 0.5 (ops.ingest_event against the minimal RPC), c/a >= 0.8 (the route against it)
//   (k) the minimal RPC keeping the promises: (r) with its check row written through ops.gate_checks,
//       whose triggers evaluate the gate rule and record the ledger entry; a/k is what the ingest's
//       own envelope handling (validation, identity, permissions, the real log, evidence) costs
// and whether c >= 0.6 x min(a, b) and p99(c) <= 50 ms. Then the cost of the tamper-evident ledger:
//   (d) the ledger's cost: (a)'s load with the ledger, then with its triggers disabled on the fact
//       tables of this benchmark's own database, in interleaved rounds; with/without >= 0.8
//   (e) a/r with parts off: (r) alternating with ops.ingest_event with the gate rule a no-op, and with
//       the rule and the ledger both off (embedded database only): how far a/r could rise if a part
//       cost nothing
// and the time ops.verify_ledger takes for one release with 1,000 facts, and for everything. The server runs in a process of its own
// (this file with --serve), the load comes from this one over node:http with a keep-alive Agent of
// CONCURRENCY sockets, for (b) and (c) alike. Not the global fetch: profiled, undici's fetch (Fetch
// objects and web streams per request) took about as much CPU in this process as the server spent
// on the route, on the same 2 cores as the server and PostgreSQL, so it weighed on (c) against (a)
// with a cost that is the load generator's, not the route's (docs/profiling.md).
// Embedded PostgreSQL in .data/bench-* (removed after) unless DATABASE_URL is set.
// --short or BENCH_SHORT=1: a few seconds (CI runs it so the benchmark cannot rot).
// BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_POOL override the defaults.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { mintToken } from '../src/auth/dev-tokens.js';
import { createVerifier, type Identity } from '../src/auth/jwt.js';
import { loadConfig } from '../src/config.js';
import { projectRoot } from '../src/db/migrate.js';
import { withPersona } from '../src/db/with-persona.js';
import { createLogger } from '../src/logger.js';
import { createServer, INGEST_PATH } from '../src/server.js';
import {
  benchPool,
  createReleases,
  type LoadResult,
  machine,
  ms,
  openBenchDatabase,
  random,
  runLoad,
  serverVersion,
  throwIfUnanswered,
} from './lib.js';

const NOOP_PATH = '/bench/noop';
const short = process.argv.includes('--short') || ['1', 'true'].includes(process.env.BENCH_SHORT ?? '');
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 50);
const DUPLICATES = 0.3;
const POOL = Number(process.env.BENCH_POOL ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (short ? 2 : 15));
const WARMUP_MS = short ? 500 : 3_000;
const RELEASES = 50;
const TARGET_RATIO = 0.6;
const TARGET_P99_MS = 50;
const TARGET_LEDGER_RATIO = 0.8;
const LEDGER_FACTS = 1_000;
const LEDGER_ROUNDS = 5;
const BASELINE_ROUNDS = 3;
const TARGET_BASELINE_RATIO = 0.5;
const TARGET_ROUTE_RATIO = 0.8;

type Sender = 'ci_service_role' | 'sre';

interface BenchEvent {
  persona: Sender;
  /** The envelope as sent; the database computes its content hash. */
  body: string;
}

/**
 * Events for one phase: build_complete and check_result from CI, environment_event from an SRE,
 * spread over the releases; 30% of them are a resend of one of the last 500 (often still in flight).
 */
function eventSource(phase: string, releases: string[]): () => BenchEvent {
  const rand = random(phase.charCodeAt(0));
  const run = randomUUID().slice(0, 8);
  const recent: BenchEvent[] = [];
  let n = 0;
  return () => {
    if (recent.length >= 10 && rand() < DUPLICATES) return recent[Math.floor(rand() * recent.length)]!;
    const i = n++;
    const release = releases[i % releases.length]!;
    const kind = i % 10;
    const common = {
      schema_version: 'v1.0',
      idempotency_key: `bench/${run}/${phase}/${i}`,
      source_system: 'github_actions',
      release_id: release,
      emitted_at: new Date().toISOString(),
    };
    const [persona, env]: [Sender, Record<string, unknown>] =
      kind < 4
        ? [
            'ci_service_role',
            {
              ...common,
              event_type: 'build_complete',
              payload: {
                status: 'pass',
                check_name: `build-${i % 3}`,
                log_url: `https://ci.example/${run}/${i}`,
              },
            },
          ]
        : kind < 7
          ? [
              'ci_service_role',
              {
                ...common,
                event_type: 'check_result',
                gate_code: 'G1',
                payload: { check_name: `suite-${i % 5}`, status: 'pass' },
              },
            ]
          : [
              'sre',
              {
                ...common,
                event_type: 'environment_event',
                payload: { environment: 'staging', kind: 'config_change', change: i },
              },
            ];
    const event = { persona, body: JSON.stringify(env) };
    recent.push(event);
    if (recent.length > 500) recent.shift();
    return event;
  };
}

/** Counts answers by status, and refuses anything but accepted/duplicate. */
function tally() {
  const seen = { accepted: 0, duplicate: 0 };
  return {
    seen,
    check(status: unknown, detail: () => string) {
      if (status === 'accepted' || status === 'duplicate') seen[status]++;
      else throw new Error(`unexpected answer: ${detail().slice(0, 300)}`);
    },
    duplicates: () => seen.duplicate / Math.max(1, seen.accepted + seen.duplicate),
  };
}

// ---- the server process (--serve) -------------------------------------------------------------

async function serve(): Promise<void> {
  const pool = benchPool(process.env.BENCH_API_URL ?? '', POOL);
  pool.on('error', (err) => process.stderr.write(`idle database connection lost: ${err.message}\n`));
  const config = loadConfig({
    NODE_ENV: 'production',
    SUPABASE_JWT_SECRET: process.env.BENCH_JWT_SECRET,
    LOG_LEVEL: 'warn',
  });
  const app = createServer({
    config,
    pool,
    logger: createLogger({ level: 'warn' }),
    routes: [{ method: 'POST', path: NOOP_PATH, handler: async () => new Response('{}') }],
  });
  const http = createHttpServer({ keepAliveTimeout: 60_000 }, app.handle);
  http.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ listening: (http.address() as AddressInfo).port })}\n`);
  });
  process.on('SIGTERM', async () => {
    await app.close({ timeoutMs: 2_000 });
    http.closeAllConnections();
    http.close();
    await pool.end();
    process.exit(0);
  });
}

function startServerProcess(apiUrl: string, secret: string): Promise<{ base: string; child: ChildProcess }> {
  // BENCH_SERVER_NODE_ARGS: extra node flags for the server process, e.g. `--cpu-prof --cpu-prof-dir=…`
  // to profile the route under load (docs/profiling.md).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', fileURLToPath(import.meta.url), '--serve'],
    {
      cwd: projectRoot,
      env: { ...process.env, BENCH_API_URL: apiUrl, BENCH_JWT_SECRET: secret, BENCH_POOL: String(POOL) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr!.on('data', (d) => process.stderr.write(`[bench server] ${d}`));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /\{"listening":(\d+)\}/.exec(out);
      if (m) resolve({ base: `http://127.0.0.1:${m[1]}`, child });
    });
    child.once('exit', (code) => reject(new Error(`bench server exited (${code}) before listening: ${out}`)));
  });
}

/**
 * One POST over a keep-alive connection of `agent`: the status and the body as text. A socket error
 * rejects like fetch does (asUnanswered maps ECONNRESET and the like to "unanswered").
 */
function post(
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', agent, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(body);
  });
}

/** Adds the rounds of one phase up: counts and seconds summed, latencies the median round's. */
function merged(rounds: LoadResult[]): LoadResult {
  const count = rounds.reduce((n, x) => n + x.count, 0);
  const seconds = rounds.reduce((n, x) => n + x.seconds, 0);
  return {
    count,
    errors: rounds.reduce((n, x) => n + x.errors, 0),
    unanswered: rounds.reduce((n, x) => n + x.unanswered, 0),
    firstError: rounds.find((x) => x.firstError)?.firstError,
    seconds,
    rate: count / seconds,
    p50: median(rounds.map((x) => x.p50)),
    p99: median(rounds.map((x) => x.p99)),
    max: Math.max(...rounds.map((x) => x.max)),
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : Number.NaN;
}

/**
 * The SQL of a minimal ingest RPC `bench_baseline.<name>(envelope jsonb) returns jsonb`: the
 * idempotent log insert (producer, source system, key), then, for an envelope with a payload status,
 * `checkWrite` (PL/pgSQL statements that may use v_status and set v_check); answers
 * `{ingest_id, status: accepted|duplicate, check_id}`. Phases (r) and (k) differ only in checkWrite.
 */
function minimalRpc(name: string, checkWrite: string): string {
  return `create function bench_baseline.${name}(p_envelope jsonb) returns jsonb
      language plpgsql
      set search_path = pg_catalog, pg_temp
      as $$
      declare
        v_producer text := pg_catalog.current_setting('request.jwt.claims', true)::jsonb ->> 'sub';
        v_id uuid;
        v_check uuid;
        v_status text := p_envelope -> 'payload' ->> 'status';
      begin
        insert into bench_baseline.ingest_log (producer, source_system, idempotency_key, payload_hash, envelope)
        values (v_producer, p_envelope ->> 'source_system', p_envelope ->> 'idempotency_key',
                pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to((p_envelope - 'emitted_at')::text, 'UTF8')), 'hex'),
                p_envelope)
        on conflict (producer, source_system, idempotency_key) do nothing
        returning ingest_id into v_id;
        if v_id is null then
          select l.ingest_id into v_id from bench_baseline.ingest_log l
          where l.producer = v_producer and l.source_system = p_envelope ->> 'source_system'
            and l.idempotency_key = p_envelope ->> 'idempotency_key';
          return pg_catalog.jsonb_build_object('ingest_id', v_id, 'status', 'duplicate');
        end if;
        if v_status is not null then
          ${checkWrite}
        end if;
        return pg_catalog.jsonb_build_object('ingest_id', v_id, 'status', 'accepted', 'check_id', v_check);
      end
      $$;`;
}

/**
 * The least an event needs, for comparison only: an idempotent insert into a log keyed by the
 * producer's key (a retry answers as the duplicate), one check row, one gate update (r); and (k),
 * the same with its check row written through ops.gate_checks, whose triggers run the gate rule
 * and the ledger. Created in the benchmark's own database, in a schema of its own; the personas the
 * events come from may call them.
 */
async function createBaseline(adminUrl: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`
      create schema bench_baseline;
      create table bench_baseline.ingest_log (
        ingest_id uuid primary key default gen_random_uuid(),
        producer text not null,
        source_system text not null,
        idempotency_key text not null,
        payload_hash text not null,
        envelope jsonb not null,
        received_at timestamptz not null default clock_timestamp(),
        unique (producer, source_system, idempotency_key)
      );
      create table bench_baseline.checks (
        check_id uuid primary key default gen_random_uuid(),
        release_id uuid not null,
        check_name text not null,
        status text not null,
        created_at timestamptz not null default clock_timestamp()
      );
      create table bench_baseline.gates (
        release_id uuid primary key,
        status text not null default 'pending',
        updated_at timestamptz
      );
      ${minimalRpc(
        'ingest_event',
        `insert into bench_baseline.checks (release_id, check_name, status)
          values ((p_envelope ->> 'release_id')::uuid, coalesce(p_envelope -> 'payload' ->> 'check_name', 'build'), v_status)
          returning check_id into v_check;
          update bench_baseline.gates g
          set status = case when v_status = 'pass' then 'passed' else 'failed' end, updated_at = pg_catalog.clock_timestamp()
          where g.release_id = (p_envelope ->> 'release_id')::uuid;`,
      )}
      -- (k): the same, but the check row goes through ops.gate_checks as the caller, so that its
      -- own triggers run: the stamps, the gate rule's evaluation of the release (with the stored
      -- gates, their transitions and outbox events) and the ledger entry, as the product promises.
      ${minimalRpc(
        'ingest_event_kept',
        `insert into ops.gate_checks (gate_id, check_name, source_system, status)
          select g.gate_id, coalesce(p_envelope -> 'payload' ->> 'check_name', 'build'), 'github_actions',
                 v_status::public.ops_check_status
          from ops.release_gates g
          where g.release_id = (p_envelope ->> 'release_id')::uuid and g.gate_code = 'G1'
          returning check_id into v_check;
          if v_check is null then
            raise exception 'release % has no G1', p_envelope ->> 'release_id';
          end if;`,
      )}
      grant usage on schema bench_baseline to ci_service_role, sre;
      grant select, insert on bench_baseline.ingest_log, bench_baseline.checks to ci_service_role, sre;
      grant select, update on bench_baseline.gates to ci_service_role, sre;
      grant execute on function bench_baseline.ingest_event(jsonb), bench_baseline.ingest_event_kept(jsonb)
        to ci_service_role, sre;
    `);
  } finally {
    await admin.end();
  }
}

async function seedBaselineGates(adminUrl: string, releases: string[]): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query('insert into bench_baseline.gates (release_id) select unnest($1::uuid[])', [releases]);
  } finally {
    await admin.end();
  }
}

// ---- the benchmark ----------------------------------------------------------------------------

function line(label: string, r: LoadResult, extra = ''): string {
  return `${label.padEnd(44)} ${r.rate.toFixed(0).padStart(6)} ev/s   p50 ${ms(r.p50).padStart(9)}   p99 ${ms(
    r.p99,
  ).padStart(
    9,
  )}   (${r.count} in ${r.seconds} s${r.unanswered ? `, ${r.unanswered} unanswered (timeouts, busy)` : ''}${
    r.errors ? `, ${r.errors} WRONG ANSWERS: ${r.firstError}` : ''
  }${extra})`;
}

async function main(): Promise<number> {
  const started = performance.now();
  const db = await openBenchDatabase();
  let server: ChildProcess | undefined;
  const pool = benchPool(db.apiUrl, POOL);
  // pool.end() resolves before every socket has closed; stopping the database right after may end
  // one of them with 57P01, reported on the pool. Nothing is in flight by then.
  pool.on('error', (err) => {
    if ((err as { code?: string }).code !== '57P01') process.stderr.write(`database: ${err.message}\n`);
  });
  try {
    const secret = randomBytes(32).toString('base64url');
    const verify = createVerifier({ jwtSecret: secret });
    const tokens = {} as Record<Sender, string>;
    const identities = {} as Record<Sender, Identity>;
    for (const persona of ['ci_service_role', 'sre'] as const) {
      tokens[persona] = await mintToken({ secret, persona, sub: `bench-${persona}`, ttlSeconds: 3600 });
      identities[persona] = await verify(`Bearer ${tokens[persona]}`);
    }
    const developer = await verify(
      `Bearer ${await mintToken({ secret, persona: 'developer', sub: 'bench-developer' })}`,
    );
    // Each phase gets releases of its own: gate evaluation reads every check of a gate, so a phase
    // run on the gates an earlier phase filled would do more work per event.
    const newReleases = () => createReleases(pool, developer, `bench-${randomUUID().slice(0, 8)}`, RELEASES);

    const version = await serverVersion(db.adminUrl);
    const load = { concurrency: CONCURRENCY, warmupMs: WARMUP_MS, durationMs: SECONDS * 1000 };
    process.stdout.write(
      [
        `ingest benchmark${short ? ' (short)' : ''}: ${CONCURRENCY} concurrent, ${DUPLICATES * 100}% duplicate keys, ` +
          `${SECONDS} s per phase after ${WARMUP_MS / 1000} s warm-up, pool ${POOL}`,
        `machine: ${machine()}; PostgreSQL ${version} (${db.description})`,
        '',
      ].join('\n'),
    );

    // (a) the database alone, through the same withPersona as every request, alternating with
    // (r) the minimal RPC on the same load, so that the shared machine's changing load weighs on
    // both alike.
    await createBaseline(db.adminUrl);
    const a = tally();
    const nextA = eventSource('a', await newReleases());
    const r = tally();
    const rReleases = await newReleases();
    await seedBaselineGates(db.adminUrl, rReleases);
    const nextR = eventSource('r', rReleases);
    const rpc = (fn: string, next: () => BenchEvent, t: ReturnType<typeof tally>) => async () => {
      const ev = next();
      const res = await withPersona(pool, identities[ev.persona], async (c) => {
        const { rows } = await c.query<{ r: { status: string } }>(`select ${fn}($1::jsonb) as r`, [ev.body]);
        return rows[0]!.r;
      });
      t.check(res.status, () => JSON.stringify(res));
    };
    const baselineRounds = short ? 1 : BASELINE_ROUNDS;
    const roundOf = { ...load, durationMs: (SECONDS * 1000) / baselineRounds };
    const aRounds: LoadResult[] = [];
    const rRounds: LoadResult[] = [];
    // (k) the minimal RPC keeping this project's promises: its check row through ops.gate_checks, so
    // the gate rule evaluates the release and the ledger records the row (bench_baseline above).
    const k = tally();
    const nextK = eventSource('k', await newReleases());
    const kRounds: LoadResult[] = [];
    for (let round = 0; round < baselineRounds; round++) {
      aRounds.push(await runLoad(rpc('ops.ingest_event', nextA, a), roundOf));
      rRounds.push(await runLoad(rpc('bench_baseline.ingest_event', nextR, r), roundOf));
      kRounds.push(await runLoad(rpc('bench_baseline.ingest_event_kept', nextK, k), roundOf));
    }
    const dbResult = merged(aRounds);
    const baselineResult = merged(rRounds);
    const keptResult = merged(kRounds);
    const perRound = aRounds.map((x, i) => x.rate / rRounds[i]!.rate);
    const ar = median(perRound);
    const akRounds = aRounds.map((x, i) => x.rate / kRounds[i]!.rate);
    const ak = median(akRounds);
    process.stdout.write(
      `${line('(a) database: select ops.ingest_event', dbResult, `, ${(a.duplicates() * 100).toFixed(0)}% duplicates`)}\n`,
    );
    process.stdout.write(
      `${line('(r) minimal RPC: bench_baseline.ingest_event', baselineResult, `, ${(r.duplicates() * 100).toFixed(0)}% duplicates`)}\n`,
    );
    process.stdout.write(
      `${line('(k) minimal RPC with the rule and the ledger', keptResult, `, ${(k.duplicates() * 100).toFixed(0)}% duplicates`)}\n`,
    );

    // (d) the same load with the ledger's triggers off (on this database only), then on again.
    const setLedger = async (on: boolean) => {
      const admin = new pg.Client({ connectionString: db.adminUrl });
      await admin.connect();
      try {
        await admin.query(`do $$ declare t record; begin
          for t in select table_name from ops.ledger_fact_tables loop
            execute format('alter table ops.%I ${on ? 'enable' : 'disable'} trigger ledger_record', t.table_name);
            if exists (select 1 from pg_trigger where tgname = 'ledger_record_update'
                       and tgrelid = format('ops.%I', t.table_name)::regclass) then
              execute format('alter table ops.%I ${on ? 'enable' : 'disable'} trigger ledger_record_update', t.table_name);
            end if;
          end loop; end $$`);
      } finally {
        await admin.end();
      }
    };
    // Interleaved rounds, so that a machine whose load changes during the run (it is shared)
    // weighs on both sides alike: with the ledger, then without, ROUNDS times.
    const ingestOp = (next: () => BenchEvent, t: ReturnType<typeof tally>) => async () => {
      const ev = next();
      const r = await withPersona(pool, identities[ev.persona], async (c) => {
        const { rows } = await c.query<{ r: { status: string } }>('select ops.ingest_event($1::jsonb) as r', [
          ev.body,
        ]);
        return rows[0]!.r;
      });
      t.check(r.status, () => JSON.stringify(r));
    };
    const rounds = short ? 2 : LEDGER_ROUNDS;
    const roundLoad = {
      concurrency: CONCURRENCY,
      warmupMs: short ? 300 : 1_000,
      durationMs: (SECONDS * 1000) / rounds,
    };
    const withTally = tally();
    const nextWith = eventSource('e', await newReleases());
    const d = tally();
    const dReleases = await newReleases();
    const nextD = eventSource('d', dReleases);
    const sides = { with: { count: 0, seconds: 0, errors: 0 }, without: { count: 0, seconds: 0, errors: 0 } };
    for (let round = 0; round < rounds; round++) {
      const w = await runLoad(ingestOp(nextWith, withTally), roundLoad);
      await setLedger(false);
      let n: LoadResult;
      try {
        n = await runLoad(ingestOp(nextD, d), roundLoad);
      } finally {
        await setLedger(true);
      }
      for (const [side, r] of [
        ['with', w],
        ['without', n],
      ] as const) {
        sides[side].count += r.count;
        sides[side].seconds += r.seconds;
        sides[side].errors += r.errors;
      }
    }
    const withRate = sides.with.count / sides.with.seconds;
    const withoutRate = sides.without.count / sides.without.seconds;
    process.stdout.write(
      `${'(d) database, ledger on / off, interleaved'.padEnd(44)} ${withRate.toFixed(0).padStart(6)} / ${withoutRate.toFixed(0)} ev/s   (${rounds} rounds of ${(roundLoad.durationMs / 1000).toFixed(1)} s each side${
        sides.with.errors + sides.without.errors ? `, ${sides.with.errors + sides.without.errors} ERRORS` : ''
      })\n`,
    );

    // (e) where a/r's ceiling lies: the minimal RPC in rounds alternating with ops.ingest_event with
    // the gate rule off (ops.evaluate_release made a no-op, so no gate changes and no outbox events
    // either), and with the rule and the ledger both off. Only on the embedded database this run
    // created and removes (never a DATABASE_URL one: it rewrites a function), each side on releases
    // of its own. A part made free could lift a/r at most to what its line prints.
    const ceiling = db.description === 'embedded' ? await measureCeiling() : null;
    async function measureCeiling() {
      const admin = new pg.Client({ connectionString: db.adminUrl });
      await admin.connect();
      const {
        rows: [rule],
      } = await admin.query<{ def: string }>(
        "select pg_get_functiondef('ops.evaluate_release(uuid, text)'::regprocedure) as def",
      );
      const setRule = (on: boolean) =>
        admin.query(
          on
            ? rule!.def
            : `create or replace function ops.evaluate_release(p_release_id uuid, p_reason text default null)
               returns void language plpgsql security definer set search_path = pg_catalog, pg_temp
               as $$ begin return; end $$`,
        );
      const cRounds = short ? 1 : BASELINE_ROUNDS;
      const cLoad = { ...load, warmupMs: short ? 300 : 1_000, durationMs: (SECONDS * 1000) / cRounds };
      const nextNoRule = eventSource('n', await newReleases());
      const bareReleases = await newReleases();
      const nextBare = eventSource('m', bareReleases);
      const cr = tally();
      const crReleases = await newReleases();
      await seedBaselineGates(db.adminUrl, crReleases);
      const nextCr = eventSource('q', crReleases);
      const ratios = { noRule: [] as number[], bare: [] as number[] };
      let errors = 0;
      try {
        for (let round = 0; round < cRounds; round++) {
          const base = await runLoad(rpc('bench_baseline.ingest_event', nextCr, cr), cLoad);
          await setRule(false);
          const noRule = await runLoad(ingestOp(nextNoRule, tally()), cLoad);
          await setLedger(false);
          let bare: LoadResult;
          try {
            bare = await runLoad(ingestOp(nextBare, tally()), cLoad);
          } finally {
            await setLedger(true);
          }
          ratios.noRule.push(noRule.rate / base.rate);
          ratios.bare.push(bare.rate / base.rate);
          errors += base.errors + noRule.errors + bare.errors;
        }
      } finally {
        await setRule(true);
        await admin.end();
      }
      return {
        noRule: median(ratios.noRule),
        bare: median(ratios.bare),
        rounds: ratios,
        errors,
        bareReleases,
      };
    }
    if (ceiling) {
      process.stdout.write(
        `${'(e) a/r with parts off, alternating with (r)'.padEnd(44)} without the gate rule ${ceiling.noRule.toFixed(2)}, ` +
          `without the rule and the ledger ${ceiling.bare.toFixed(2)}   (medians of ${ceiling.rounds.bare.length} round${ceiling.rounds.bare.length > 1 ? 's' : ''})\n`,
      );
    } else {
      process.stdout.write(
        `${'(e) a/r with parts off'.padEnd(44)} skipped (only on an embedded database of its own)\n`,
      );
    }

    const started2 = await startServerProcess(db.apiUrl, secret);
    server = started2.child;
    const base = started2.base;

    // (b) the HTTP stack alone: router, token check, Node adapter, no database. (b) and (c) share
    // one client: keep-alive connections, as many as callers.
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const headersOf = (ev: BenchEvent) => ({
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(ev.body)),
      authorization: `Bearer ${tokens[ev.persona]}`,
    });
    const nextB = eventSource('b', await newReleases());
    const httpResult = await runLoad(async () => {
      const ev = nextB();
      const res = await post(agent, `${base}${NOOP_PATH}`, headersOf(ev), ev.body);
      throwIfUnanswered(res.status, 'noop');
      if (res.status !== 200) throw new Error(`noop answered ${res.status}`);
    }, load);
    process.stdout.write(`${line(`(b) HTTP: POST ${NOOP_PATH}`, httpResult)}\n`);

    // (c) the real thing, in rounds alternating with (a) again on releases of their own: the route
    // and the function it calls see the same database (its size grows during the run) and the same
    // load on the shared machine, as (a) and (r) do above.
    const c = tally();
    const nextC = eventSource('c', await newReleases());
    const aAgain = tally();
    const nextAAgain = eventSource('A', await newReleases());
    const route = async () => {
      const ev = nextC();
      const { status, text } = await post(agent, `${base}${INGEST_PATH}`, headersOf(ev), ev.body);
      throwIfUnanswered(status, 'ingest');
      if (status !== 200) throw new Error(`ingest answered ${status}: ${text.slice(0, 300)}`);
      c.check((JSON.parse(text) as { status?: string }).status, () => text);
    };
    const cRounds: LoadResult[] = [];
    const acRounds: LoadResult[] = [];
    for (let round = 0; round < baselineRounds; round++) {
      // Each goes first every other round.
      if (round % 2 === 0) {
        cRounds.push(await runLoad(route, roundOf));
        acRounds.push(await runLoad(rpc('ops.ingest_event', nextAAgain, aAgain), roundOf));
      } else {
        acRounds.push(await runLoad(rpc('ops.ingest_event', nextAAgain, aAgain), roundOf));
        cRounds.push(await runLoad(route, roundOf));
      }
    }
    agent.destroy();
    const ingestResult = merged(cRounds);
    const caPerRound = cRounds.map((x, i) => x.rate / acRounds[i]!.rate);
    process.stdout.write(
      `${line(`(c) ingest: POST ${INGEST_PATH}`, ingestResult, `, ${(c.duplicates() * 100).toFixed(0)}% duplicates`)}\n`,
    );

    // Verification time: one release with LEDGER_FACTS check results (and the gate transitions
    // and re-evaluations they cause), then the whole ledger.
    const auditor = await verify(
      `Bearer ${await mintToken({ secret, persona: 'audit_reader', sub: 'bench-auditor' })}`,
    );
    const [factRelease] = await newReleases();
    await withPersona(pool, identities.ci_service_role, async (cl) => {
      for (let i = 0; i < LEDGER_FACTS; i++) {
        await cl.query(
          `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => $2,
             p_status => 'pass', p_required => false)`,
          [factRelease, `ledger-${i % 20}`],
        );
      }
    });
    const timeVerify = async (sql: string, params: unknown[]) => {
      const times: number[] = [];
      let report:
        | {
            ok: boolean;
            entries: number;
            chains: number;
            findings: { kind: string; release_id: string | null }[];
          }
        | undefined;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        report = await withPersona(pool, auditor, async (cl) => (await cl.query(sql, params)).rows[0]!.r);
        times.push(performance.now() - t0);
      }
      times.sort((x, y) => x - y);
      return { ms: times[2]!, report: report! };
    };
    const one = await timeVerify('select ops.verify_ledger($1) as r', [factRelease]);
    const all = await timeVerify('select ops.verify_ledger() as r', []);
    // Phases (d) and (e) wrote some releases' facts with the ledger off: found by design.
    const unledgered = new Set([...dReleases, ...(ceiling?.bareReleases ?? [])]);
    const foreign = all.report.findings.filter((f) => !f.release_id || !unledgered.has(f.release_id));
    const ledgerRatio = withRate / withoutRate;
    const ledgerMeasured = sides.with.count > 0 && sides.without.count > 0;
    const ledgerMet = ledgerMeasured && ledgerRatio >= TARGET_LEDGER_RATIO;

    const ca = median(caPerRound);
    const cb = ingestResult.rate / httpResult.rate;
    const floor = TARGET_RATIO * Math.min(dbResult.rate, httpResult.rate);
    // A phase that completed no request measured nothing: its target is "not measured", never met.
    const measured = dbResult.count > 0 && httpResult.count > 0 && ingestResult.count > 0;
    const verdict = (met: boolean) =>
      !measured ? 'not measured (a phase completed no request)' : met ? 'met' : 'NOT met';
    const throughputMet = measured && ingestResult.rate >= floor;
    const latencyMet = measured && ingestResult.p99 <= TARGET_P99_MS;
    process.stdout.write(
      [
        '',
        `ratios: c/a = ${ca.toFixed(2)}   c/b = ${cb.toFixed(2)}`,
        `ops.ingest_event / minimal RPC (a/r) = ${ar.toFixed(2)} (median of ${baselineRounds} alternating round${
          baselineRounds > 1 ? 's' : ''
        }: ${perRound.map((x) => x.toFixed(2)).join(', ')}; target >= ${TARGET_BASELINE_RATIO}: ${
          dbResult.count > 0 && baselineResult.count > 0
            ? ar >= TARGET_BASELINE_RATIO
              ? 'met'
              : 'NOT met'
            : 'not measured'
        })`,
        `ops.ingest_event / minimal RPC with the rule and the ledger (a/k) = ${ak.toFixed(2)} (median of ${baselineRounds} alternating round${
          baselineRounds > 1 ? 's' : ''
        }: ${akRounds.map((x) => x.toFixed(2)).join(', ')})`,
        `HTTP ingest route / ops.ingest_event (c/a) = ${ca.toFixed(2)} (median of ${baselineRounds} alternating round${
          baselineRounds > 1 ? 's' : ''
        }: ${caPerRound.map((x) => x.toFixed(2)).join(', ')}; target >= ${TARGET_ROUTE_RATIO}: ${verdict(
          ca >= TARGET_ROUTE_RATIO,
        )})`,
        `target c >= ${TARGET_RATIO} x min(a, b) = ${floor.toFixed(0)} ev/s: ${verdict(throughputMet)} (c = ${ingestResult.rate.toFixed(0)} ev/s)`,
        `target p99(c) <= ${TARGET_P99_MS} ms: ${verdict(latencyMet)} (p99 = ${ms(ingestResult.p99)})`,
        `ledger: ingest with / without the ledger = ${ledgerRatio.toFixed(2)} (target >= ${TARGET_LEDGER_RATIO}: ${
          !ledgerMeasured ? 'not measured (a phase completed no request)' : ledgerMet ? 'met' : 'NOT met'
        })`,
        `ledger: verify_ledger(release) with ${one.report.entries} entries (${LEDGER_FACTS} checks and what they caused): ${ms(one.ms)} (median of 5, ${one.report.ok ? 'clean' : 'FINDINGS'})`,
        `ledger: verify_ledger() over ${all.report.chains} chains, ${all.report.entries} entries: ${ms(all.ms)} (median of 5; ${
          all.report.findings.length
        } findings, ${
          foreign.length
            ? `${foreign.length} OUTSIDE the releases phases (d) and (e) wrote with the ledger off`
            : 'all on the releases phases (d) and (e) wrote with the ledger off, as they must be'
        })`,
        `BENCH_RESULT ${JSON.stringify({
          short,
          concurrency: CONCURRENCY,
          seconds: SECONDS,
          pool: POOL,
          machine: machine(),
          postgres: version,
          a: dbResult,
          r: baselineResult,
          k: keptResult,
          b: httpResult,
          c: ingestResult,
          d: { with: { ...sides.with, rate: withRate }, without: { ...sides.without, rate: withoutRate } },
          ratios: { ca, caRounds: caPerRound, cb, ar, arRounds: perRound, ak, akRounds, ledger: ledgerRatio },
          ceiling: ceiling && { noRule: ceiling.noRule, bare: ceiling.bare, rounds: ceiling.rounds },
          met: { throughput: throughputMet, p99: latencyMet, ledger: ledgerMet },
          verifyMs: {
            release: one.ms,
            releaseEntries: one.report.entries,
            all: all.ms,
            allEntries: all.report.entries,
          },
        })}`,
        `done in ${((performance.now() - started) / 1000).toFixed(1)} s`,
        '',
      ].join('\n'),
    );
    // Timing targets are reported, not enforced; wrong answers fail the run. A request that got no
    // answer in time (a slow machine) is counted as unanswered, never as wrong (bench/lib.ts).
    return dbResult.errors +
      baselineResult.errors +
      keptResult.errors +
      httpResult.errors +
      ingestResult.errors +
      acRounds.reduce((n, x) => n + x.errors, 0) +
      sides.with.errors +
      sides.without.errors +
      (ceiling?.errors ?? 0) >
      0 ||
      !one.report.ok ||
      foreign.length > 0
      ? 1
      : 0;
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await pool.end();
    await db.close();
  }
}

if (process.argv.includes('--serve')) {
  await serve();
} else {
  const code = await main().catch((err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
    return 1;
  });
  process.exit(code);
}
