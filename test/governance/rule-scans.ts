// The scans of the check and evidence tables in the gate rule's plans, with their actual row
// counts (auto_explain), for the tests that hold the rule to reading per release and per check
// name (rule-plans.test.ts, rule-check-history.test.ts).
import pg from 'pg';
import type { TestDatabase } from '../support/db.js';

/** A plan node that scans one of the two tables, with its actual rows per loop and loops. */
const SCAN =
  /(Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)(?: using \S+)? on (gate_checks|evidence_artifacts)\b.*\(actual rows=(\d+) loops=(\d+)\)/;

export interface Scan {
  node: string;
  table: string;
  rows: number;
}

/** Runs the gate rule for the release on a new connection (plans made now) and returns every scan of the two tables. */
export async function ruleScans(db: TestDatabase, releaseId: string): Promise<Scan[]> {
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
