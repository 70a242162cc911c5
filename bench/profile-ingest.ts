// `npm run bench:profile-ingest [-- --events N]`: where the database time of one ingest event goes.
// One client sends build_complete and check_result events through withPersona, one at a time, on a
// database of its own with track_functions = 'all'; then prints, per event, how often each SQL
// function ran and its total and own (self) time from pg_stat_user_functions, heaviest first.
// Repeat it before and after a change to the hot path (docs/profiling.md).
// Embedded PostgreSQL in a temporary folder unless DATABASE_URL is set (bench/lib.ts).
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { mintToken } from '../src/auth/dev-tokens.js';
import { createVerifier } from '../src/auth/jwt.js';
import { withPersona } from '../src/db/with-persona.js';
import { benchPool, machine, openBenchDatabase, serverVersion } from './lib.js';

const eventsArg = process.argv.indexOf('--events');
const EVENTS = Number(eventsArg > 0 ? process.argv[eventsArg + 1] : (process.env.PROFILE_EVENTS ?? 400));
const RELEASES = 20;
// --transitions: every event is a build_complete that flips G1 between passed and failed (the load of
// bench:outbox), so the gate transitions, their outbox events and blockers show in the profile.
const TRANSITIONS = process.argv.includes('--transitions');
// --no-outbox: the outbox triggers off (this database only), to see what the outbox costs an event.
const NO_OUTBOX = process.argv.includes('--no-outbox');

interface FunctionStat {
  name: string;
  calls: string;
  total_ms: number;
  self_ms: number;
}

async function main(): Promise<number> {
  const db = await openBenchDatabase();
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  let pool: pg.Pool | undefined;
  try {
    const { rows: dbRows } = await admin.query<{ name: string }>('select current_database() as name');
    await admin.query(`alter database "${dbRows[0]!.name}" set track_functions = 'all'`);
    if (NO_OUTBOX) {
      for (const t of [
        'gate_transitions',
        'approvals',
        'exceptions',
        'deployments',
        'deployment_transitions',
        'releases',
      ]) {
        await admin.query(`alter table ops.${t} disable trigger outbox_record`);
      }
    }
    // Connections opened from here on track functions.
    pool = benchPool(db.apiUrl, 1);
    const secret = randomBytes(32).toString('base64url');
    const verify = createVerifier({ jwtSecret: secret });
    const ci = await verify(
      `Bearer ${await mintToken({ secret, persona: 'ci_service_role', sub: 'profile-ci' })}`,
    );
    const developer = await verify(
      `Bearer ${await mintToken({ secret, persona: 'developer', sub: 'profile-developer' })}`,
    );
    const run = randomUUID().slice(0, 8);
    const releases = await withPersona(pool, developer, async (c) => {
      const ids: string[] = [];
      for (let i = 0; i < RELEASES; i++) {
        const { rows } = await c.query<{ release_id: string }>(
          `select release_id from ops.create_release(p_project => 'profile', p_release_name => $1,
             p_source_ref => 'refs/heads/main')`,
          [`profile-${run}-${i}`],
        );
        ids.push(rows[0]!.release_id);
      }
      return ids;
    });
    const envelope = (i: number) =>
      JSON.stringify({
        schema_version: 'v1.0',
        idempotency_key: `profile/${run}/${i}`,
        source_system: 'github_actions',
        release_id: releases[i % RELEASES],
        emitted_at: new Date().toISOString(),
        ...(TRANSITIONS
          ? {
              event_type: 'build_complete',
              payload: { status: Math.floor(i / RELEASES) % 2 === 0 ? 'fail' : 'pass', check_name: 'build' },
            }
          : i % 2 === 0
            ? {
                event_type: 'build_complete',
                payload: {
                  status: 'pass',
                  check_name: `build-${i % 3}`,
                  log_url: `https://ci.example/${run}/${i}`,
                },
              }
            : {
                event_type: 'check_result',
                gate_code: 'G1',
                payload: { check_name: `suite-${i % 5}`, status: 'pass' },
              }),
      });
    // Warm the session's plans, then count from zero.
    for (let i = 0; i < 20; i++) {
      await withPersona(pool, ci, (c) =>
        c.query('select ops.ingest_event($1::jsonb)', [envelope(EVENTS + i)]),
      );
    }
    await withPersona(pool, ci, (c) => c.query('select pg_stat_clear_snapshot()'));
    await admin.query('select pg_stat_reset()');
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      await withPersona(pool, ci, (c) => c.query('select ops.ingest_event($1::jsonb)', [envelope(i)]));
    }
    const wallMs = (performance.now() - t0) / EVENTS;
    // A backend reports its function counters when it ends: close the pool, then read them.
    await pool.end();
    pool = undefined;
    let stats: FunctionStat[] = [];
    for (let attempt = 0; attempt < 50 && stats.length === 0; attempt++) {
      await admin.query('select pg_stat_clear_snapshot()');
      stats = (
        await admin.query<FunctionStat>(
          `select schemaname || '.' || funcname as name, calls::text, total_time as total_ms, self_time as self_ms
           from pg_stat_user_functions where schemaname = 'ops' order by self_time desc`,
        )
      ).rows;
      if (stats.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    const selfSum = stats.reduce((s, r) => s + r.self_ms, 0);
    const out = [
      `ingest profile: ${EVENTS} events (${
        TRANSITIONS ? 'build_complete, each a G1 transition' : 'build_complete and check_result'
      }), one client, ${RELEASES} releases${NO_OUTBOX ? ', outbox triggers off' : ''}`,
      `machine: ${machine()}; PostgreSQL ${await serverVersion(db.adminUrl)} (${db.description})`,
      `wall time per event (client, round trips included): ${wallMs.toFixed(2)} ms; SQL functions' own time per event: ${(
        selfSum / EVENTS
      ).toFixed(2)} ms`,
      '',
      `${'function'.padEnd(44)} ${'calls/ev'.padStart(9)} ${'total ms/ev'.padStart(12)} ${'self ms/ev'.padStart(11)}`,
      ...stats
        .slice(0, 30)
        .map(
          (r) =>
            `${r.name.padEnd(44)} ${(Number(r.calls) / EVENTS).toFixed(2).padStart(9)} ${(r.total_ms / EVENTS)
              .toFixed(3)
              .padStart(12)} ${(r.self_ms / EVENTS).toFixed(3).padStart(11)}`,
        ),
      '',
    ];
    process.stdout.write(out.join('\n'));
    return 0;
  } finally {
    await pool?.end();
    await admin.end();
    await db.close();
  }
}

const code = await main().catch((err) => {
  process.stderr.write(`profile failed: ${(err as Error).stack ?? err}\n`);
  return 1;
});
process.exit(code);
