// `npm run bench:outbox [-- --short]`: what the outbox costs the ingest. The same load (concurrent
// callers sending build_complete events through select ops.ingest_event(...) over withPersona,
// each one flipping G1 between passed and failed, so every event is a gate transition with its
// outbox row, its blockers and its NOTIFY) runs in interleaved rounds:
//   with:    the outbox triggers on, one webhook subscription, the delivery worker running and
//            delivering every event to a local receiver
//   without: the outbox triggers off (on this benchmark's own database only), no subscription
//   streams: as `with`, and S live subscriptions open in the delivery process (as another API
//            instance would hold them: outbox streams, src/events/stream.ts), S = 1 and S = 50,
//            spread over five identities (release manager, auditor, QA, CI, the developer who owns
//            the releases), each reading every event announced and keeping its own
// and the ratio with/without is printed against the target (>= 0.8), and the ingest rate with S
// streams against with none (the same run, the same rounds). The side that goes first
// alternates from round to round, and each round starts once the worker has delivered everything
// written before it (waiting is not measured), so that no round pays for another's deliveries. An
// unmeasured warm-up of each side comes first, then an ANALYZE, so that the side of the first round
// does not pay alone for the new database's first statistics, plans and caches. Besides the rates it
// prints the CPU time per event of PostgreSQL (its server processes, read from /proc when the
// database runs on this machine), the delivery process and the load generator, per side: on a
// machine shared with other work the rates move with that work, the CPU an event costs much less.
// Embedded PostgreSQL in
// .data/bench-* (removed after) unless DATABASE_URL is set. --short or BENCH_SHORT=1: a few
// seconds, and it never fails on a slow machine (only a wrong answer fails it).
// BENCH_SECONDS, BENCH_CONCURRENCY, BENCH_POOL override the defaults.
import { fork } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Identity } from '../src/auth/jwt.js';
import { createContext } from '../src/context.js';
import { withPersona } from '../src/db/with-persona.js';
import { outboxStream } from '../src/events/stream.js';
import { createLogger } from '../src/logger.js';
import { liveStreamReads } from '../src/metrics.js';
import { loadWebhookConfig } from '../src/webhooks/config.js';
import { startWebhookWorker } from '../src/webhooks/worker.js';
import { benchPool, createReleases, machine, openBenchDatabase, runLoad, serverVersion } from './lib.js';

const short = process.argv.includes('--short') || ['1', 'true'].includes(process.env.BENCH_SHORT ?? '');
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? (short ? 8 : 20));
const POOL = Number(process.env.BENCH_POOL ?? 10);
const SECONDS = Number(process.env.BENCH_SECONDS ?? (short ? 2 : 20));
const ROUNDS = short ? 2 : 5;
const RELEASES = 40;
const TARGET_RATIO = 0.8;
/** Live subscriptions open during the rounds of each streams side. */
const STREAM_COUNTS = [1, 50] as const;
/** The identities the streams are spread over, in turn (bench-dev creates the releases). */
const STREAM_IDENTITIES = [
  ['bench-rm', 'release_manager'],
  ['bench-audit', 'audit_reader'],
  ['bench-qa', 'qa_tester'],
  ['bench-ci', 'ci_service_role'],
  ['bench-dev', 'developer'],
] as const;

const identity = (sub: string, persona: string): Identity => ({
  subject: sub,
  persona: persona as Identity['persona'],
  claims: { sub, role: persona },
});
const ci = identity('bench-ci', 'ci_service_role');

// ---- the delivery side (--deliver): a process of its own, as another API instance would be ----
// The receiver and the webhook worker run apart from the load generator, so that they compete with
// the ingest for the machine's cores (the cost measured) but not for the load generator's own event
// loop (which would slow the sending, not the database). Answers the parent over IPC:
// {ask: 'received'} -> {received: n}; {ask: 'dispatch'} -> {dispatched: n}; {ask: 'cpu'} -> {cpu: s}
// (its CPU time so far, seconds); {ask: 'streams', n} -> {streams: n} (n live subscriptions open,
// the others closed); {ask: 'streamed'} -> {streamed, reads, errors} (events the streams received,
// statements they read with, streams ended by an error, so far); {ask: 'stop'} -> exits.
async function deliverSide(): Promise<void> {
  const received = { count: 0 };
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.count++;
      res.writeHead(204).end();
    });
  });
  receiver.listen(0, '127.0.0.1');
  await new Promise((r) => receiver.once('listening', r));
  const worker = await startWebhookWorker({
    connectionString: process.env.BENCH_ADMIN_URL ?? '',
    config: loadWebhookConfig({ OPS_WEBHOOK_ALLOW_LOOPBACK: 'true' }, 'test'),
    logger: createLogger({ level: 'error' }),
  });
  // Live subscriptions as the API holds them: one outbox stream per subscriber, each a context of
  // its own identity (a token's claims, with its exp) on the API login's pool.
  const streamPool = new pg.Pool({ connectionString: process.env.BENCH_API_URL ?? '', max: 10 });
  const streamed = { events: 0, errors: 0 };
  let open: { close: () => Promise<void> }[] = [];
  const setStreams = async (n: number) => {
    for (const s of open) await s.close();
    open = [];
    for (let i = 0; i < n; i++) {
      const [sub, persona] = STREAM_IDENTITIES[i % STREAM_IDENTITIES.length]!;
      const now = Math.floor(Date.now() / 1000);
      const who: Identity = {
        subject: sub,
        persona,
        claims: { sub, role: persona, iat: now, exp: now + 3600 },
      };
      const ctx = createContext(streamPool, {
        requestId: `stream-${i}`,
        startedAt: 0,
        identity: who,
        authError: null,
      });
      const it = (await outboxStream(ctx, () => true))[Symbol.asyncIterator]();
      const done = (async () => {
        try {
          for (;;) {
            const r = await it.next();
            if (r.done) return;
            streamed.events++;
          }
        } catch {
          streamed.errors++;
        }
      })();
      open.push({
        close: async () => {
          await it.return?.();
          await done;
        },
      });
    }
  };
  process.on('message', async (m: { ask: string; n?: number }) => {
    if (m.ask === 'received') process.send!({ received: received.count });
    else if (m.ask === 'streams') {
      await setStreams(m.n ?? 0);
      process.send!({ streams: open.length });
    } else if (m.ask === 'streamed') {
      const reads = (await liveStreamReads.get()).values[0]?.value ?? 0;
      process.send!({ streamed: streamed.events, reads, errors: streamed.errors });
    } else if (m.ask === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: (u.user + u.system) / 1e6 });
    } else if (m.ask === 'dispatch') process.send!({ dispatched: await worker.dispatch() });
    else if (m.ask === 'stop') {
      await worker.stop();
      receiver.close();
      process.exit(0);
    }
  });
  process.send!({ port: (receiver.address() as AddressInfo).port });
}

type Question = 'received' | 'dispatch' | 'cpu' | 'streamed' | { ask: 'streams'; n: number };

interface DeliverySide {
  port: number;
  ask<T>(what: Question): Promise<T>;
  stop(): Promise<void>;
}

function startDeliverySide(adminUrl: string, apiUrl: string): Promise<DeliverySide> {
  const child = fork(fileURLToPath(import.meta.url), ['--deliver'], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, BENCH_ADMIN_URL: adminUrl, BENCH_API_URL: apiUrl },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // One question at a time: answers come back in order.
  let queue: Promise<unknown> = Promise.resolve();
  const ask = <T>(what: Question) => {
    const answer = queue.then(
      () =>
        new Promise<T>((resolve) => {
          child.once('message', (m) => resolve(m as T));
          child.send(typeof what === 'string' ? { ask: what } : what);
        }),
    );
    queue = answer.catch(() => {});
    return answer;
  };
  return new Promise((resolve, reject) => {
    child.once('message', (m) =>
      resolve({
        port: (m as { port: number }).port,
        ask,
        stop: async () => {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.send({ ask: 'stop' });
          await exited;
        },
      }),
    );
    child.once('exit', (code) => reject(new Error(`delivery side exited (${code}) before it was ready`)));
  });
}

async function main(): Promise<number> {
  const db = await openBenchDatabase();
  const pool = benchPool(db.apiUrl, POOL);
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  const delivery = await startDeliverySide(db.adminUrl, db.apiUrl);
  const port = delivery.port;
  const received = async () => (await delivery.ask<{ received: number }>('received')).received;
  try {
    const project = `bench-outbox-${randomUUID().slice(0, 8)}`;
    const releases = await createReleases(pool, identity('bench-dev', 'developer'), project, RELEASES);
    let n = 0;
    const op = async () => {
      const i = n++;
      const env = {
        schema_version: 'v1.0',
        idempotency_key: `bench/outbox/${i}/${randomUUID()}`,
        event_type: 'build_complete',
        source_system: 'github_actions',
        release_id: releases[i % RELEASES],
        payload: { status: Math.floor(i / RELEASES) % 2 === 0 ? 'pass' : 'fail', check_name: 'build' },
      };
      const r = await withPersona(pool, ci, (c) =>
        c.query<{ r: { status: string } }>('select ops.ingest_event($1::jsonb) as r', [JSON.stringify(env)]),
      );
      const status = r.rows[0]!.r.status;
      if (status !== 'accepted') throw new Error(`unexpected answer: ${JSON.stringify(r.rows[0]!.r)}`);
    };
    const setOutbox = async (on: boolean) => {
      for (const t of [
        'gate_transitions',
        'approvals',
        'exceptions',
        'deployments',
        'deployment_transitions',
        'releases',
      ]) {
        await admin.query(`alter table ops.${t} ${on ? 'enable' : 'disable'} trigger outbox_record`);
      }
    };
    const sub = await withPersona(pool, identity('bench-rm', 'release_manager'), (c) =>
      c.query<{ subscription_id: string }>(
        `select subscription_id from ops.add_webhook($1, '{}', $2, null, $3)`,
        [`http://127.0.0.1:${port}/hook`, project, `whsec_${randomBytes(32).toString('base64')}`],
      ),
    );
    const subscriptionId = sub.rows[0]!.subscription_id;
    const setSubscription = (on: boolean) =>
      admin.query(
        'update ops.webhook_subscriptions set active = $2, removed_at = $3 where subscription_id = $1',
        [subscriptionId, on, on ? null : new Date()],
      );

    type Side = 'with' | 'without' | `streams${(typeof STREAM_COUNTS)[number]}`;
    const streamSides = STREAM_COUNTS.map((n) => `streams${n}` as const);
    const allSides: readonly Side[] = ['with', 'without', ...streamSides];
    const streamsOf = (side: Side) => (side.startsWith('streams') ? Number(side.slice('streams'.length)) : 0);
    const sides = Object.fromEntries(allSides.map((s) => [s, { count: 0, seconds: 0 }])) as Record<
      Side,
      { count: number; seconds: number }
    >;
    const load = {
      concurrency: CONCURRENCY,
      warmupMs: short ? 200 : 1_000,
      durationMs: (SECONDS * 1000) / ROUNDS,
    };
    const outboxEvents = async () =>
      (
        await admin.query<{ n: number }>(
          'select count(*)::int as n from ops.outbox_events where project = $1',
          [project],
        )
      ).rows[0]!.n;
    // Before each round, the deliveries of the rounds before have been made (not measured; at most
    // a few seconds), so no round pays for another's backlog.
    const caughtUp = async () => {
      const until = performance.now() + (short ? 3_000 : 15_000);
      while ((await received()) < (await outboxEvents()) && performance.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    // CPU seconds so far: PostgreSQL's server processes (null when /proc does not show them: a
    // database elsewhere), the delivery process, this process.
    const postgresCpu = async (): Promise<number | null> => {
      const { rows } = await admin.query<{ pid: number }>('select pid from pg_stat_activity');
      let seconds = 0;
      for (const { pid } of rows) {
        try {
          const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
          seconds += (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks of 10 ms
        } catch {
          return null;
        }
      }
      return seconds;
    };
    const cpuNow = async () => ({
      postgres: await postgresCpu(),
      delivery: (await delivery.ask<{ cpu: number }>('cpu')).cpu,
      load: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    });
    const cpu = Object.fromEntries(
      allSides.map((s) => [s, { postgres: 0 as number | null, delivery: 0, load: 0 }]),
    ) as Record<Side, { postgres: number | null; delivery: number; load: number }>;
    type Streamed = { streamed: number; reads: number; errors: number };
    const streamedNow = () => delivery.ask<Streamed>('streamed');
    const streamed = Object.fromEntries(allSides.map((s) => [s, { events: 0, reads: 0 }])) as Record<
      Side,
      { events: number; reads: number }
    >;
    const setSide = async (side: Side) => {
      await setOutbox(side !== 'without');
      await setSubscription(side !== 'without');
      await delivery.ask({ ask: 'streams', n: streamsOf(side) });
    };

    process.stdout.write(
      `outbox benchmark${short ? ' (short)' : ''}: ${CONCURRENCY} concurrent, ${ROUNDS} interleaved rounds of ` +
        `${((SECONDS / ROUNDS) * allSides.length).toFixed(1)} s, every event a gate transition; live streams ` +
        `${STREAM_COUNTS.join(' and ')} over ${STREAM_IDENTITIES.length} identities\n` +
        `  ${machine()}; PostgreSQL ${await serverVersion(db.adminUrl)} (${db.description})\n`,
    );

    // Unmeasured: each side once, the deliveries made, then statistics for every table.
    for (const side of allSides) {
      await setSide(side);
      await runLoad(op, { ...load, warmupMs: 0, durationMs: short ? 1_000 : 4_000 });
    }
    await setSide('with');
    await caughtUp();
    await admin.query('analyze');

    let deliveredDuring = 0;
    let eventsDuring = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Alternating the order, so that no side always follows the same other one.
      const order = round % 2 === 0 ? allSides : [...allSides].reverse();
      for (const side of order) {
        await setSide(side);
        await caughtUp();
        const [received0, events0] = [await received(), await outboxEvents()];
        const streamed0 = await streamedNow();
        const cpu0 = await cpuNow();
        const r = await runLoad(op, load);
        const cpu1 = await cpuNow();
        if (r.errors > 0) throw new Error(`wrong answers: ${r.firstError}`);
        sides[side].count += r.count;
        sides[side].seconds += r.seconds;
        const c = cpu[side];
        c.postgres =
          c.postgres === null || cpu0.postgres === null || cpu1.postgres === null
            ? null
            : c.postgres + cpu1.postgres - cpu0.postgres;
        c.delivery += cpu1.delivery - cpu0.delivery;
        c.load += cpu1.load - cpu0.load;
        process.stdout.write(
          `    round ${round + 1} ${side.padEnd(9)} ${r.rate.toFixed(0).padStart(4)} events/s, p50 ${r.p50.toFixed(0)} ms\n`,
        );
        if (side !== 'without') {
          deliveredDuring += (await received()) - received0;
          eventsDuring += (await outboxEvents()) - events0;
        }
        const streamed1 = await streamedNow();
        if (streamed1.errors > 0) throw new Error(`${streamed1.errors} live streams ended with an error`);
        streamed[side].events += streamed1.streamed - streamed0.streamed;
        streamed[side].reads += streamed1.reads - streamed0.reads;
      }
    }
    await setSide('with');
    const rate = (s: { count: number; seconds: number }) => s.count / Math.max(s.seconds, 1e-9);
    const ratio = rate(sides.with) / Math.max(rate(sides.without), 1e-9);
    // Let the worker catch up, to report how many deliveries it made meanwhile (not measured).
    await delivery.ask('dispatch');
    await new Promise((r) => setTimeout(r, short ? 1_000 : 3_000));
    const events = await admin.query<{ n: number }>(
      'select count(*)::int as n from ops.outbox_events where project = $1',
      [project],
    );
    process.stdout.write(
      `  with outbox + 1 webhook subscription: ${rate(sides.with).toFixed(0)} events/s\n` +
        `  without outbox:                       ${rate(sides.without).toFixed(0)} events/s\n` +
        `  ratio ${ratio.toFixed(3)} (target >= ${TARGET_RATIO}) ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}; ` +
        `${events.rows[0]!.n} outbox events, ${await received()} webhooks received so far\n` +
        `  the worker kept up: ${deliveredDuring} webhooks delivered during the rounds with the outbox, which wrote ${eventsDuring} events\n`,
    );
    // Live streams: the ingest with S streams open against with none (both with the outbox and the
    // webhook), and what the streams did during their rounds.
    for (const side of streamSides) {
      const s = streamed[side];
      process.stdout.write(
        `  with ${String(streamsOf(side)).padStart(2)} live streams: ${rate(sides[side]).toFixed(0)} events/s, ` +
          `ratio to none ${(rate(sides[side]) / Math.max(rate(sides.with), 1e-9)).toFixed(3)}; ` +
          `${s.events} events streamed in ${s.reads} reads\n`,
      );
    }
    // Per event measured (the warm-up of each round included on both sides alike).
    const perEvent = (seconds: number | null, side: Side) =>
      seconds === null ? 'n/a' : `${((seconds * 1000) / Math.max(sides[side].count, 1)).toFixed(2)} ms`;
    for (const side of allSides) {
      process.stdout.write(
        `  CPU per event ${side.padEnd(9)}: PostgreSQL ${perEvent(cpu[side].postgres, side)}, ` +
          `delivery process ${perEvent(cpu[side].delivery, side)}, load generator ${perEvent(cpu[side].load, side)}\n`,
      );
    }
    return 0;
  } finally {
    await delivery.stop();
    await admin.end();
    await pool.end();
    await db.close();
  }
}

if (process.argv.includes('--deliver')) {
  await deliverSide();
} else {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench:outbox failed: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
