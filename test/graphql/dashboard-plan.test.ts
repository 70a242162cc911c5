// The dashboard page (ReleaseDashboard: 20 releases newest first with their eligibility and
// gates) costs the database the page's releases, not the table's: the statements the API sends
// for it, explained with their actual rows as the persona that sent them, read as many releases
// and evaluate eligibility (ops.promotion_blockers, the gate rule) as many times at 25 releases as
// at 125. Rows touched, never milliseconds. The same measure on a page ordered by a computed
// column, which must evaluate every release before its limit, grows with the table: the measure
// can see what it guards against.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseDashboardDocument } from '../../src/gql/graphql.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let pool: pg.Pool;
const sent: { text: string; values: unknown[] }[] = [];
const PAGE = 20;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Function Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

/** Rows read from ops.releases, and evaluations of eligibility, by one plan (actual figures). */
function touched(node: PlanNode, acc = { releases: 0, eligibility: 0 }) {
  if (node['Relation Name'] === 'releases') acc.releases += node['Actual Rows'] * node['Actual Loops'];
  if (node['Node Type'] === 'Function Scan' && node['Function Name'] === 'promotion_blockers') {
    acc.eligibility += node['Actual Loops'];
  }
  for (const child of node.Plans ?? []) touched(child, acc);
  return acc;
}

/** Explains a statement with its values as release_manager, summing what touched() counts. */
async function explain(text: string, values: unknown[]) {
  return db.as('release_manager', 'rm-dashboard-plan', async (c) => {
    const { rows } = await c.query(`explain (analyze, format json) ${text}`, values);
    return touched((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan);
  });
}

async function addReleases(count: number): Promise<void> {
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-dashboard-plan');
    await c.query(`select ops.create_release($1, 'r' || i) from pg_catalog.generate_series(1, $2) i`, [
      `dash-${randomUUID().slice(0, 8)}`,
      count,
    ]);
  });
  await db.admin.query('analyze ops.releases');
}

/** The dashboard page through the API; what its statements touch, summed over them. */
async function dashboard() {
  sent.length = 0;
  const result = await api.executeOperation({
    operation: ReleaseDashboardDocument,
    variables: { first: PAGE },
    persona: 'release_manager',
    sub: 'rm-dashboard-plan',
  });
  const nodes = expectData(result).promotionEligibilities.nodes;
  expect(nodes).toHaveLength(PAGE);
  expect(nodes.every((n) => n.gates.length === 4)).toBe(true);
  const reads = sent.filter((s) => /ops\.v_/.test(s.text));
  expect(reads.map((s) => s.text.match(/ops\.v_\w+/)![0])).toEqual([
    'ops.v_promotion_eligibility',
    'ops.v_release_gate_summary',
  ]);
  const total = { releases: 0, eligibility: 0 };
  for (const s of reads) {
    const t = await explain(s.text, s.values);
    total.releases += t.releases;
    total.eligibility += t.eligibility;
  }
  return total;
}

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const [first, second] = args;
      if (typeof first === 'string') sent.push({ text: first, values: Array.isArray(second) ? second : [] });
      return query(...args);
    };
  });
  api = createTestApi(db, { pool });
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
});

describe('the dashboard page in the database', () => {
  it('reads and evaluates the page’s releases only, however many the table holds', async () => {
    await addReleases(25);
    const small = await dashboard();
    await addReleases(100);
    const large = await dashboard();
    // The page and the one release beyond it that says whether there is a next page.
    expect(small.eligibility).toBe(PAGE + 1);
    expect(large).toEqual(small);
    expect(large.releases).toBeLessThanOrEqual(3 * (PAGE + 1));
  });

  it('would see a page that evaluates every release before its limit', async () => {
    const everyRelease = `select v.release_id from ops.v_promotion_eligibility v
      order by v.staging_blockers, v.created_at desc, v.release_id desc limit $1`;
    const before = await explain(everyRelease, [PAGE + 1]);
    await addReleases(30);
    const after = await explain(everyRelease, [PAGE + 1]);
    expect(after.eligibility).toBe(before.eligibility + 30);
    expect(after.releases).toBeGreaterThan(before.releases);
  });
});
