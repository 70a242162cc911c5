// The dashboard page (ReleaseDashboard: 20 releases newest first with their eligibility and
// gates) costs the database the page's releases, not the table's: the one statement the API sends
// for it, explained with their actual rows as the persona that sent them, read as many releases
// and evaluate eligibility (ops.promotion_blockers, the gate rule) as many times at 25 releases as
// at 125. Rows touched, never milliseconds. The same measure on a page ordered by a computed
// column, which must evaluate every release before its limit, grows with the table: the measure
// can see what it guards against. The gates the page reads in its own statement are the gates the
// per-gate report (releaseGateSummary, its own statement) answers, field by field, for every
// persona that may read them.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { ReleaseDashboardDocument } from '../../src/gql/graphql.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let pool: pg.Pool;
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
  api.statements.reset();
  const result = await api.executeOperation({
    operation: ReleaseDashboardDocument,
    variables: { first: PAGE },
    persona: 'release_manager',
    sub: 'rm-dashboard-plan',
  });
  const nodes = expectData(result).promotionEligibilities?.nodes ?? [];
  expect(nodes).toHaveLength(PAGE);
  expect(nodes.every((n) => n.gates?.length === 4)).toBe(true);
  // One statement reads the page, its eligibility and its gates.
  const reads = api.statements.sent.filter((s) => /ops\.v_/.test(s.text));
  expect(reads).toHaveLength(1);
  expect(reads[0]!.text).toMatch(/from ops\.v_release_gate_summary g .*from ops\.v_promotion_eligibility v/s);
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
    // The page's releases only: the one beyond them, read only to say whether there is a next
    // page, is not evaluated.
    expect(small.eligibility).toBe(PAGE);
    expect(large.eligibility).toBe(PAGE);
    // The page's keys (the one beyond and the one read ahead to number them), then each page
    // release for its eligibility and for its gates: a bound that does not move with the table (at
    // 25 releases the planner may read them all rather than use an index; at 125 it reads the page).
    expect(small.releases).toBeLessThanOrEqual(4 * (PAGE + 1));
    expect(large.releases).toBeLessThanOrEqual(4 * (PAGE + 1));
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

type Data = Record<string, unknown>;
const doc = (text: string) => parse(text) as TypedDocumentNode<Data, Record<string, unknown>>;
const GATE_FIELDS = `releaseId project releaseName releaseStatus gateId gateCode gateName status enteredAt resolvedAt
  resolvedBy exceptionId checksPass checksFail checksWarning checksSkipped checkRuns evidenceCount approvals
  rejections changesRequested`;
// Every field of the gates, reached through nodes, edges and a fragment.
const PAGE_GATES = doc(`query PageGates($project: String!) {
  promotionEligibilities(first: 12, filter: { project: $project }) {
    nodes { releaseId gates { ${GATE_FIELDS} } }
    edges { node { ...Gates } }
  }
}
fragment Gates on ReleaseEligibility { releaseId gates { gateCode status } }`);
const REPORT_GATES = doc(`query ReportGates($project: String!) {
  releaseGateSummary(first: 48, filter: { project: $project }) { nodes { ${GATE_FIELDS} } }
}`);

describe('the page’s gates read with the page', () => {
  it('are the gates the per-gate report answers, for every persona that may read them', async () => {
    const project = `dash-same-${randomUUID().slice(0, 8)}`;
    await inTransaction(db.admin, async (c) => {
      await actAs(c, 'developer', 'dev-dashboard-plan');
      await c.query(`select ops.create_release($1, 'rel-' || i) from pg_catalog.generate_series(1, 12) i`, [
        project,
      ]);
      const some = (mod: number) =>
        `from ops.releases r where r.project = '${project}' and substring(r.release_name from 5)::int % ${mod} = 0`;
      await actAs(c, 'ci_service_role', 'ci-dashboard-plan');
      await c.query(`select ops.record_check(r.release_id, 'G1', 'build', 'pass') ${some(2)}`);
      await c.query(`select ops.record_check(r.release_id, 'G1', 'lint', 'fail') ${some(3)}`);
      await c.query(`select ops.record_check(r.release_id, 'G1', 'lint', 'pass') ${some(6)}`);
      await actAs(c, 'qa_tester', 'qa-dashboard-plan');
      await c.query(
        `select ops.attach_evidence(r.release_id, 'test_result', 'https://ci.example/t', 'G2') ${some(4)}`,
      );
      await c.query(`select ops.submit_approval(r.release_id, 'approved', 'G2') ${some(4)}`);
      await c.query(`select ops.submit_approval(r.release_id, 'rejected', 'G2') ${some(5)}`);
    });
    for (const persona of ['release_manager', 'audit_reader'] as Persona[]) {
      const who = { persona, sub: `${persona}-dashboard-plan` };
      api.statements.reset();
      const page = expectData(
        await api.executeOperation({ operation: PAGE_GATES, variables: { project }, ...who }),
      );
      expect(api.statements.sent.filter((x) => /ops\.v_release_gate_summary/.test(x.text))).toHaveLength(1);
      const report = expectData(
        await api.executeOperation({ operation: REPORT_GATES, variables: { project }, ...who }),
      );
      const nodes = (page.promotionEligibilities as { nodes: { releaseId: string; gates: Data[] }[] }).nodes;
      const reported = (report.releaseGateSummary as { nodes: Data[] }).nodes;
      expect(nodes).toHaveLength(12);
      expect(nodes.flatMap((n) => n.gates)).toEqual(reported);
      expect(
        reported.some((g) => g.resolvedAt !== null && g.checksFail === 0 && (g.checksPass as number) > 0),
      ).toBe(true);
      expect(reported.some((g) => (g.checksFail as number) > 0)).toBe(true);
      expect(reported.some((g) => (g.approvals as number) > 0 && (g.evidenceCount as number) > 0)).toBe(true);
      expect(reported.some((g) => (g.rejections as number) > 0)).toBe(true);
      const edges = (
        page.promotionEligibilities as { edges: { node: { releaseId: string; gates: Data[] } }[] }
      ).edges;
      expect(edges.map((e) => e.node.gates)).toEqual(
        nodes.map((n) => n.gates.map((g) => ({ gateCode: g.gateCode, status: g.status }))),
      );
    }
    // A persona that reads eligibility but not gates: the page, and the gates refused as before.
    api.statements.reset();
    const qa = await api.executeOperation({
      operation: PAGE_GATES,
      variables: { project },
      persona: 'qa_tester',
      sub: 'qa-dashboard-plan',
    });
    expect(qa.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(api.statements.sent.some((x) => /v_release_gate_summary/.test(x.text))).toBe(false);
  });
});
