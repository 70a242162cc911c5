// The gate rule reads per release: the rows its plans read from the check and evidence tables
// follow the release's own facts, not the size of the tables, both on a database that has no
// statistics yet (a new installation: the rule's parts keep the generic plan made then for the
// connection's life) and after ANALYZE. Shown with auto_explain's actual row counts of every
// statement the rule runs (20261202000100).
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { seedSql } from '../../bench/reads.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

/** Other releases' facts: 1,500 releases, some 20,000 checks and 3,000 artifacts, not analysed. */
const RELEASES = 1_500;

/** A plan node that scans one of the two tables, with its actual rows per loop and loops. */
const SCAN =
  /(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)(?: using \S+)? on (gate_checks|evidence_artifacts)\b.*\(actual rows=(\d+) loops=(\d+)\)/;

interface Scan {
  node: string;
  table: string;
  rows: number;
}

/** Runs the gate rule for the release on a new connection (plans made now) and returns every scan of the two tables. */
async function ruleScans(db: TestDatabase, releaseId: string): Promise<Scan[]> {
  const client = new pg.Client({ connectionString: db.adminUrl });
  const plans: string[] = [];
  client.on('notice', (n) => plans.push(n.message ?? ''));
  await client.connect();
  try {
    await client.query(`load 'auto_explain'`);
    await client.query(`set auto_explain.log_min_duration = 0`);
    await client.query(`set auto_explain.log_nested_statements = on`);
    await client.query(`set auto_explain.log_analyze = on`);
    await client.query(`set auto_explain.log_timing = off`);
    await client.query(`set client_min_messages = log`);
    // Twice: the second call runs the plans the session keeps.
    for (let i = 0; i < 2; i++)
      await client.query('select * from ops.compute_release_gates($1)', [releaseId]);
  } finally {
    await client.end();
  }
  const scans: Scan[] = [];
  for (const line of plans.join('\n').split('\n')) {
    const m = SCAN.exec(line);
    if (m) scans.push({ node: m[1]!, table: m[2]!, rows: Number(m[3]) * Number(m[4]) });
  }
  return scans;
}

describe('the gate rule', () => {
  let db: TestDatabase;
  let releaseId: string;
  let own: number;

  beforeAll(async () => {
    db = await useTestDatabase();
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      for (const sql of seedSql(RELEASES)) await c.query(sql);
      await c.query('commit');
      // The release with the most facts of its own.
      const { rows } = await c.query<{ release_id: string; facts: number }>(
        `select g.release_id,
                (select count(*) from ops.gate_checks c join ops.release_gates x on x.gate_id = c.gate_id
                 where x.release_id = g.release_id)::int
                + (select count(*) from ops.evidence_artifacts a where a.release_id = g.release_id)::int as facts
         from ops.release_gates g group by g.release_id order by facts desc, g.release_id limit 1`,
      );
      releaseId = rows[0]!.release_id;
      own = rows[0]!.facts;
      const total = await c.query<{ n: number }>(
        'select (select count(*) from ops.gate_checks) + (select count(*) from ops.evidence_artifacts) as n',
      );
      expect(Number(total.rows[0]!.n)).toBeGreaterThan(20 * own + 1_000);
    } finally {
      c.release();
    }
  }, 120_000);

  const bound = () => 5 * own + 50;

  it('reads only the release’s own checks and evidence on a database without statistics', async () => {
    const scans = await ruleScans(db, releaseId);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s.rows > bound())).toEqual([]);
    expect(scans.filter((s) => s.node === 'Seq Scan')).toEqual([]);
  }, 60_000);

  it('and after ANALYZE', async () => {
    await db.admin.query('analyze ops.gate_checks, ops.evidence_artifacts, ops.release_gates, ops.releases');
    const scans = await ruleScans(db, releaseId);
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((s) => s.rows > bound())).toEqual([]);
    expect(scans.filter((s) => s.node === 'Seq Scan')).toEqual([]);
  }, 60_000);
});

// A gate's check history: a pipeline that reports on every push (retries included) gives a gate
// thousands of results of a few check names. The rule reads the latest result per name with a
// probe per name (20261207300000), so the check rows its plans read do not grow with the history;
// before, every evaluation read the whole history (DISTINCT ON over the gate's checks).
describe('the gate rule and a long check history', () => {
  let db: TestDatabase;
  let releaseId: string;

  /** Rows the rule's plans read from gate_checks, on their second run in a session. */
  const checkRowsRead = async () => {
    const scans = await ruleScans(db, releaseId);
    return scans.filter((s) => s.table === 'gate_checks').reduce((n, s) => n + s.rows, 0) / 2;
  };

  /** `count` more results of the four check names on G1, written behind the triggers. */
  const addHistory = async (count: number) => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query(
        `insert into ops.gate_checks (gate_id, check_name, source_system, status, created_at)
         select g.gate_id, 'suite-' || (i % 4), 'github_actions', 'pass', now() - make_interval(secs => $2 - i)
         from ops.release_gates g, generate_series(1, $2::int) i
         where g.release_id = $1 and g.gate_code = 'G1'`,
        [releaseId, count],
      );
      await c.query('commit');
    } finally {
      c.release();
    }
  };

  beforeAll(async () => {
    db = await useTestDatabase();
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(
        `select set_config('role', 'developer', true),
                set_config('request.jwt.claims', '{"sub":"history.dev","role":"developer"}', true)`,
      );
      const { rows } = await c.query<{ id: string }>(
        `select (ops.create_release(p_project => 'history', p_release_name => 'long-history',
                                    p_source_ref => 'refs/heads/main')).release_id as id`,
      );
      releaseId = rows[0]!.id;
      await c.query('commit');
      // G1's evidence hangs on the gate itself, so the rule finds it without reading the checks.
      await c.query(
        `insert into ops.evidence_artifacts (release_id, gate_id, artifact_type, source_system, artifact_url)
         select $1, g.gate_id, 'build_log', 'github_actions', 'https://ci.example/history/log'
         from ops.release_gates g where g.release_id = $1 and g.gate_code = 'G1'`,
        [releaseId],
      );
    } finally {
      c.release();
    }
    await addHistory(8);
  }, 120_000);

  it('reads as many check rows for 2,008 results of four names as for 8', async () => {
    const short = await checkRowsRead();
    expect(short).toBeGreaterThan(0);
    await addHistory(2_000);
    await db.admin.query('analyze ops.gate_checks');
    const long = await checkRowsRead();
    expect({ long }).toEqual({ long: short });
    // The result is the history's latest per name: all four names passed.
    const { rows } = await db.admin.query<{ status: string }>(
      `select status::text from ops.compute_release_gates($1) where gate_code = 'G1'`,
      [releaseId],
    );
    expect(rows[0]!.status).toBe('passed');
  }, 120_000);
});
