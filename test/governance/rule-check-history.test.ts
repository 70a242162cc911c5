// A gate's check history: a pipeline that reports on every push (retries included) gives a gate
// thousands of results of a few check names. The rule reads the latest result per name with a
// probe per name (20261207300000), so the check rows its plans read do not grow with the history;
// before, every evaluation read the whole history (DISTINCT ON over the gate's checks). And when
// the gate has no evidence of its own, the evidence that may hang on its checks is found by the
// check's gate stamped on the artifact (20261207500000), not by probing the artifacts of every
// check the gate ever had.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { ruleScans } from './rule-scans.js';

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

describe('the gate rule, a long check history and no evidence on the gate', () => {
  let db: TestDatabase;
  let releaseId: string;

  /** Rows the rule's plans read from each of the two tables, on their second run in a session. */
  const rowsRead = async () => {
    const scans = await ruleScans(db, releaseId);
    const sum = (table: string) => scans.filter((s) => s.table === table).reduce((n, s) => n + s.rows, 0) / 2;
    return { gate_checks: sum('gate_checks'), evidence_artifacts: sum('evidence_artifacts') };
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
        `select (ops.create_release(p_project => 'history', p_release_name => 'no-gate-evidence',
                                    p_source_ref => 'refs/heads/main')).release_id as id`,
      );
      releaseId = rows[0]!.id;
      await c.query('commit');
    } finally {
      c.release();
    }
    await addHistory(8);
    // One artifact on one of G1's checks, of a type G1 does not ask for: found by the gate's
    // stamp, read, and not counted.
    await db.admin.query(
      `insert into ops.evidence_artifacts (check_id, artifact_type, source_system, artifact_url)
       select c.check_id, 'test_result', 'github_actions', 'https://ci.example/history/tests'
       from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
       where g.release_id = $1 and g.gate_code = 'G1' limit 1`,
      [releaseId],
    );
  }, 120_000);

  it('reads as many check and evidence rows for 2,008 results as for 8 when G1 has no build_log', async () => {
    const short = await rowsRead();
    expect(short.gate_checks).toBeGreaterThan(0);
    await addHistory(2_000);
    await db.admin.query('analyze ops.gate_checks');
    const long = await rowsRead();
    expect(long).toEqual(short);
    // G1's build_log requirement is unmet whatever the history: the evidence list says so.
    const { rows } = await db.admin.query<{ n: number }>(
      `select cardinality(e.artifact_ids) as n
       from ops.release_gate_evidence_up_to($1, ops.counted_revisions($1), null) e
       join ops.release_gates g on g.gate_id = e.gate_id
       where g.gate_code = 'G1'`,
      [releaseId],
    );
    expect(rows).toEqual([{ n: 0 }]);
  }, 120_000);
});

describe('the gate rule when few gates carry all the check evidence', () => {
  let db: TestDatabase;
  let small: string;

  /** A new release of the developer's; returns its id. */
  const newRelease = async (name: string) => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(
        `select set_config('role', 'developer', true),
                set_config('request.jwt.claims', '{"sub":"history.dev","role":"developer"}', true)`,
      );
      const { rows } = await c.query<{ id: string }>(
        `select (ops.create_release(p_project => 'history', p_release_name => $1,
                                    p_source_ref => 'refs/heads/main')).release_id as id`,
        [name],
      );
      await c.query('commit');
      return rows[0]!.id;
    } finally {
      c.release();
    }
  };

  beforeAll(async () => {
    db = await useTestDatabase();
    const busy = await newRelease('busy');
    small = await newRelease('small');
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      // One busy gate: 3,000 results, each with a build_log; the small release: 8 results, none.
      for (const [release, count] of [
        [busy, 3_000],
        [small, 8],
      ] as const)
        await c.query(
          `insert into ops.gate_checks (gate_id, check_name, source_system, status, created_at)
           select g.gate_id, 'suite-' || (i % 4), 'github_actions', 'pass', now() - make_interval(secs => $2 - i)
           from ops.release_gates g, generate_series(1, $2::int) i
           where g.release_id = $1 and g.gate_code = 'G1'`,
          [release, count],
        );
      await c.query(
        `insert into ops.evidence_artifacts (check_id, artifact_type, source_system, artifact_url, created_by)
         select c.check_id, 'build_log', 'github_actions', 'https://ci.example/' || c.check_id, 'ci'
         from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id where g.release_id = $1`,
        [busy],
      );
      await c.query('commit');
    } finally {
      c.release();
    }
    await db.admin.query('analyze ops.evidence_artifacts, ops.gate_checks');
  }, 120_000);

  it("reads another release's gate through the index, never the busy gate's artifacts", async () => {
    const scans = (await ruleScans(db, small)).filter((s) => s.table === 'evidence_artifacts');
    expect(scans.length).toBeGreaterThan(0);
    // A sequential or bitmap scan here reads the 3,000 artifacts of the busy gate for every gate.
    expect(scans.filter((s) => s.node !== 'Index Scan' && s.node !== 'Index Only Scan')).toEqual([]);
  }, 120_000);
});
