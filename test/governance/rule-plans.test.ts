// The gate rule reads per release: the rows its plans read from the check and evidence tables
// follow the release's own facts, not the size of the tables, both on a database that has no
// statistics yet (a new installation: the rule's parts keep the generic plan made then for the
// connection's life) and after ANALYZE. Shown with auto_explain's actual row counts of every
// statement the rule runs (20261202000100).
import { beforeAll, describe, expect, it } from 'vitest';
import { seedSql } from '../../bench/reads.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { ruleScans } from './rule-scans.js';

/** Other releases' facts: 1,500 releases, some 20,000 checks and 3,000 artifacts, not analysed. */
const RELEASES = 1_500;

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
