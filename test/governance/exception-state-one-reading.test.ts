// An exception's state and its time left come from one reading of the clock (20261204150000):
// ops.v_exception_status never says 'active' without time left (or with a negative one), nor
// anything else with time left, even for a row read at the instant it expires. Shown by reading
// many exceptions again and again while they expire (all at one instant, so some row's reading
// straddles it), once with the previous definitions (20261201002300) put back in a savepoint, where
// the two readings disagree, and once with the current ones. And the exception-status page still
// walks the expiry index and computes the state of the page's rows only.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createRelease } from './scenario.js';

const EXCEPTIONS = 300;
const PREVIOUS = path.join(
  projectRoot,
  'supabase/migrations/20261201002300_ops_exception_state_in_one_function.sql',
);

/** The previous state and time-left functions and the view over them, as `create or replace`. */
function previousDefinitions(): string[] {
  const text = readFileSync(PREVIOUS, 'utf8');
  const fns = [...text.matchAll(/create function [\s\S]*?\n\$\$;/g)].map((m) =>
    m[0].replace(/^create function/, 'create or replace function'),
  );
  const view = /create or replace view ops\.v_exception_status[\s\S]*?;/.exec(text);
  expect(fns).toHaveLength(2);
  expect(view).not.toBeNull();
  return [...fns, view![0]];
}

let db: TestDatabase;
let releaseId: string;

beforeAll(async () => {
  db = await useTestDatabase();
  releaseId = (await createRelease(db)).release_id;
});

interface Sweep {
  rounds: number;
  reads: number;
  /** Rows whose state and time left disagree: active without time left, or time left when not active. */
  inconsistent: number;
  negative: number;
}

/**
 * In the open transaction: the release's exceptions (approved, window open) all set to expire a
 * little after now, then read through the view until none is active; repeated for `rounds` rounds,
 * or until a disagreement is seen when `untilSeen`.
 */
async function sweep(c: pg.ClientBase, rounds: number, untilSeen: boolean): Promise<Sweep> {
  const out: Sweep = { rounds: 0, reads: 0, inconsistent: 0, negative: 0 };
  for (let round = 0; round < rounds; round++) {
    out.rounds++;
    await c.query(
      `update ops.exceptions set expires_at = clock_timestamp() + interval '20 milliseconds' where release_id = $1`,
      [releaseId],
    );
    for (;;) {
      const { rows } = await c.query<{ active: number; inconsistent: number; negative: number }>(
        `select count(*) filter (where v.state = 'active')::int as active,
                count(*) filter (where (v.state = 'active') is distinct from (v.time_left is not null))::int as inconsistent,
                count(*) filter (where v.time_left <= interval '0')::int as negative
         from ops.v_exception_status v where v.release_id = $1`,
        [releaseId],
      );
      out.reads++;
      out.inconsistent += rows[0]!.inconsistent;
      out.negative += rows[0]!.negative;
      if (rows[0]!.active === 0) break;
    }
    if (untilSeen && out.inconsistent + out.negative > 0) break;
  }
  return out;
}

describe('an exception’s state and time left', () => {
  it('agree for every row read at its expiry; the previous definitions disagree', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      // The rows as data only: no evaluation, outbox or ledger triggers (they are not what is read).
      await c.query(`set local session_replication_role = replica`);
      await c.query(
        `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
           requested_by, approver_id, approved_at, effective_from, expires_at, created_by)
         select $1, 'gate_bypass', '{G2}', 'sweep', 'sweep', 'rm-a', 'rm-b', now(), now() - interval '1 hour',
                now() + interval '1 hour', 'rm-a'
         from generate_series(1, $2)`,
        [releaseId, EXCEPTIONS],
      );
      await c.query('savepoint previous');
      for (const sql of previousDefinitions()) await c.query(sql);
      const before = await sweep(c, 200, true);
      await c.query('rollback to savepoint previous');
      const now = await sweep(c, 15, false);
      await c.query('rollback');
      // Each sweep read across the expiry instant, with rows active before and none after.
      expect(now.reads).toBeGreaterThan(now.rounds);
      expect(before.inconsistent + before.negative, JSON.stringify(before)).toBeGreaterThan(0);
      expect(now, JSON.stringify(now)).toMatchObject({ inconsistent: 0, negative: 0 });
    } finally {
      c.release();
    }
  });

  it('each is one evaluation per row in the view: ops.exception_standing, called once', async () => {
    const { rows } = await db.admin.query<{ d: string }>(
      `select pg_get_viewdef('ops.v_exception_status'::regclass) as d`,
    );
    const d = rows[0]!.d;
    expect(d.match(/exception_standing\(/g)).toHaveLength(1);
    expect(d).not.toMatch(/exception_state\(|exception_time_left\(|clock_timestamp/);
  });

  it('the soonest-expiry page walks the expiry index and judges only the page’s rows', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(`set local session_replication_role = replica`);
      await c.query(
        `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
           requested_by, approver_id, approved_at, effective_from, expires_at, created_by)
         select $1, 'gate_bypass', '{G2}', 'page', 'page', 'rm-a', 'rm-b', now(), now() - interval '1 hour',
                now() + i * interval '1 minute', 'rm-a'
         from generate_series(1, 2000) i`,
        [releaseId],
      );
      await c.query('analyze ops.exceptions');
      const { rows } = await c.query<{ 'QUERY PLAN': unknown }>(
        `explain (analyze, costs off, timing off, format json)
         select v.exception_id, v.state, v.time_left from ops.v_exception_status v
         order by v.expires_at, v.exception_id limit 50`,
      );
      const nodes: { type: string; index?: string; fn?: string; rows: number; loops: number }[] = [];
      const walk = (n: Record<string, unknown>) => {
        nodes.push({
          type: String(n['Node Type']),
          index: n['Index Name'] as string | undefined,
          fn: n['Function Name'] as string | undefined,
          rows: Number(n['Actual Rows']),
          loops: Number(n['Actual Loops']),
        });
        for (const child of (n.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
      };
      walk((rows[0]!['QUERY PLAN'] as { Plan: Record<string, unknown> }[])[0]!.Plan);
      await c.query('rollback');
      const plan = JSON.stringify(nodes);
      expect(
        nodes.some(
          (n) => n.type === 'Index Scan' && n.index?.startsWith('exceptions_expires') && n.rows <= 100,
        ),
        plan,
      ).toBe(true);
      const standing = nodes.filter((n) => n.fn === 'exception_standing');
      expect(standing, plan).toHaveLength(1);
      expect(standing[0]!.loops, plan).toBeLessThanOrEqual(100);
      expect(
        nodes.some((n) => n.type === 'Sort' || n.type === 'Hash Join'),
        plan,
      ).toBe(false);
    } finally {
      c.release();
    }
  });
});
