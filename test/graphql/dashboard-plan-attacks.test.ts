// Attacks on the dashboard page's statement reading its gates (eligibility.ts, GATE_SUMMARIES_JSON):
// for every filter and cursor the page takes, the gates are read for the page's rows only (and, when
// it filters by eligibility, the one beyond it), never for every release the page had to scan, however many the table holds. The
// statement the API sent is explained with its actual rows as the persona that sent it, once as
// sent and once without its gates column: the difference in rows read from ops.release_gates is
// what reading the gates cost. Rows touched, never milliseconds.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATE_SUMMARIES_JSON } from '../../src/resolvers/reports/gate-summary.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let pool: pg.Pool;
const PAGE = 5;
const project = `dash-plan-atk-${randomUUID().slice(0, 8)}`;

interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  Plans?: PlanNode[];
}

function gateRows(node: PlanNode): number {
  const own = node['Relation Name'] === 'release_gates' ? node['Actual Rows'] * node['Actual Loops'] : 0;
  return own + (node.Plans ?? []).reduce((n, p) => n + gateRows(p), 0);
}

async function explainGateRows(text: string, values: unknown[]): Promise<number> {
  return db.as('release_manager', 'rm-dash-plan-atk', async (c) => {
    const { rows } = await c.query(`explain (analyze, format json) ${text}`, values);
    return gateRows((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan);
  });
}

async function addReleases(count: number): Promise<void> {
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-dash-plan-atk');
    await c.query(`select ops.create_release($1, $3 || '-' || i) from pg_catalog.generate_series(1, $2) i`, [
      project,
      count,
      randomUUID().slice(0, 8),
    ]);
  });
  await db.admin.query('analyze ops.releases');
}

// biome-ignore lint/suspicious/noExplicitAny: the document below is parsed at run time, untyped
type Any = any;
const PAGE_DOC = parse(`query($first: Int, $after: String, $filter: PromotionEligibilityFilter) {
  promotionEligibilities(first: $first, after: $after, filter: $filter) {
    nodes { releaseId gates { gateCode status } }
    pageInfo { hasNextPage endCursor }
  }
}`) as unknown as TypedDocumentNode<Any, Any>;

/** The gate rows the page's statement read for its gates, and the page's length. */
async function gatesCost(
  filter: Record<string, unknown>,
  after: string | null,
): Promise<{ extra: number; rows: number; endCursor: string | null }> {
  api.statements.reset();
  const result = await api.executeOperation({
    operation: PAGE_DOC,
    variables: { first: PAGE, after, filter },
    persona: 'release_manager',
    sub: 'rm-dash-plan-atk',
  });
  expect(result.errors).toBeUndefined();
  const page = result.data.promotionEligibilities;
  const reads = api.statements.sent.filter((s) => /ops\.v_promotion_eligibility/.test(s.text));
  expect(reads).toHaveLength(1);
  const { text, values } = reads[0]!;
  const column = `, ${GATE_SUMMARIES_JSON} as "@gates"`;
  expect(text).toContain(column);
  const withGates = await explainGateRows(text, values);
  const without = await explainGateRows(text.replace(column, ''), values);
  return { extra: withGates - without, rows: page.nodes.length, endCursor: page.pageInfo.endCursor };
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

const FILTERS: [string, Record<string, unknown>][] = [
  ['the project', { project }],
  ['eligible for staging (no release is)', { project, eligibleForStaging: true }],
  ['not eligible for production (every release)', { project, eligibleForProduction: false }],
  ['a release status', { project, releaseStatus: 'draft' }],
  ['no filter', {}],
];

describe('the dashboard page’s gates read in its statement', () => {
  it('are read for the page’s rows only, for every filter, first page and next, at 20 and 80 releases', async () => {
    const costs: Record<string, number[]> = {};
    for (const added of [20, 60]) {
      await addReleases(added);
      for (const [what, filter] of FILTERS) {
        const first = await gatesCost(filter, null);
        expect(first.extra, `${what}: first page`).toBeLessThanOrEqual(4 * (first.rows + 1));
        costs[what] = [...(costs[what] ?? []), first.extra];
        if (first.endCursor) {
          const next = await gatesCost(filter, first.endCursor);
          expect(next.extra, `${what}: next page`).toBeLessThanOrEqual(4 * (next.rows + 1));
        }
      }
    }
    // The measure sees the gates read: four a release of a full page (not of the release beyond
    // it, read only to say there is a next page).
    expect(costs['the project']![0]).toBe(4 * PAGE);
    // The same cost with four times the releases.
    for (const [what, [small, large]] of Object.entries(costs)) expect(large, what).toBe(small);
  });
});
