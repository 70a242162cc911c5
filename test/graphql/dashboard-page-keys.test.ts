// The dashboard page finds its releases in ops.releases and reads ops.v_promotion_eligibility for
// those only (keysetPage's `keys`, src/resolvers/reports/eligibility.ts): the release beyond the
// page, read only to say there is a next page, is not evaluated. Paged that way, the page must be
// exactly the view, as each persona that reads it sees it (a developer their own releases): every
// filter the keys can answer, every page followed by its cursor to the end, page sizes that end
// exactly on the last release and one short of it, with and without the gates read in the page's
// statement. The view read directly, in one statement as the same persona, is the reference.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
let pool: pg.Pool;
const project = `dash-keys-${randomUUID().slice(0, 8)}`;
const other = `dash-keys-other-${randomUUID().slice(0, 8)}`;
const OWNER = 'dev-dash-keys';

// biome-ignore lint/suspicious/noExplicitAny: the documents below are parsed at run time, untyped
type Any = any;
const FIELDS = `releaseId project releaseName releaseStatus environmentTarget createdAt eligibleForStaging
  eligibleForProduction stagingBlockers productionBlockers`;
const doc = (withGates: boolean) =>
  parse(`query($first: Int, $after: String, $filter: PromotionEligibilityFilter) {
    promotionEligibilities(first: $first, after: $after, filter: $filter) {
      nodes { ${FIELDS} ${withGates ? 'gates { gateCode status }' : ''} }
      pageInfo { hasNextPage endCursor }
    }
  }`) as unknown as TypedDocumentNode<Any, Any>;

interface Node {
  releaseId: string;
  gates?: { gateCode: string; status: string }[];
  [k: string]: unknown;
}

/** Every node the API pages out for the filter, following cursors; the statements' texts. */
async function paged(
  persona: Persona,
  sub: string,
  filter: Record<string, unknown>,
  first: number,
  withGates: boolean,
) {
  const nodes: Node[] = [];
  const texts: string[] = [];
  let after: string | null = null;
  for (let pages = 0; pages < 50; pages++) {
    api.statements.reset();
    const result: Any = await api.executeOperation({
      operation: doc(withGates),
      variables: { first, after, filter },
      persona,
      sub,
    });
    expect(result.errors).toBeUndefined();
    texts.push(...api.statements.sent.map((s) => s.text).filter((t) => /v_promotion_eligibility/.test(t)));
    const page: { nodes: Node[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } =
      result.data.promotionEligibilities;
    expect(page.nodes.length).toBeLessThanOrEqual(first);
    nodes.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) {
      return { nodes, texts };
    }
    // A page that says there is a next one is full, and its cursor leads on.
    expect(page.nodes).toHaveLength(first);
    after = page.pageInfo.endCursor;
  }
  throw new Error('more than 50 pages');
}

/** The view as the persona sees it, in the page's order, in one statement. */
async function viewed(persona: Persona, sub: string, filter: Record<string, string>, withGates = false) {
  return db.as(persona, sub, async (c) => {
    const { rows } = await c.query(
      `select v.release_id as "releaseId", v.project, v.release_name as "releaseName",
              v.release_status as "releaseStatus", v.environment_target as "environmentTarget",
              to_char(v.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at,
              v.eligible_for_staging as "eligibleForStaging", v.eligible_for_production as "eligibleForProduction",
              v.staging_blockers as "stagingBlockers", v.production_blockers as "productionBlockers",
              ${
                withGates
                  ? `(select json_agg(json_build_object('gateCode', g.gate_code, 'status', g.status) order by g.gate_code)
                      from ops.v_release_gate_summary g where g.release_id = v.release_id)`
                  : 'null'
              } as gates
       from ops.v_promotion_eligibility v
       where ($1::text is null or v.project = $1) and ($2::text is null or v.release_status::text = $2)
         and ($3::text is null or v.environment_target::text = $3)
       order by v.created_at desc, v.release_id desc`,
      [filter.project ?? null, filter.releaseStatus ?? null, filter.environmentTarget ?? null],
    );
    return rows as (Node & { at: string })[];
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  api = createTestApi(db, { pool });
  // Two projects; releases by two developers, some staging-targeted; G1 passed on some, failed on
  // others, G2 signed on a few: eligibility and blockers differ from release to release.
  await inTransaction(db.admin, async (c) => {
    for (const [p, sub, n] of [
      [project, OWNER, 7],
      [project, 'dev-dash-keys-2', 4],
      [other, OWNER, 3],
    ] as const) {
      await actAs(c, 'developer', sub);
      await c.query(
        `select ops.create_release(p_project => $1, p_release_name => $3 || '-' || i,
                                   p_environment_target => case when i % 3 = 0 then 'staging' else 'production' end)
         from pg_catalog.generate_series(1, $2) i`,
        [p, n, randomUUID().slice(0, 6)],
      );
    }
    const some = (mod: number) =>
      `from ops.releases r where r.project in ('${project}', '${other}')
         and ('x' || substr(r.release_id::text, 1, 4))::bit(16)::int % ${mod} = 0`;
    await actAs(c, 'ci_service_role', 'ci-dash-keys');
    await c.query(`select ops.record_check(r.release_id, 'G1', 'build', 'pass') ${some(2)}`);
    await c.query(`select ops.record_check(r.release_id, 'G1', 'build', 'fail') ${some(5)}`);
    await actAs(c, 'qa_tester', 'qa-dash-keys');
    await c.query(`select ops.submit_approval(r.release_id, 'approved', 'G2') ${some(4)}`);
  });
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
});

const FILTERS: [string, Record<string, string>][] = [
  ['no filter', {}],
  ['the project', { project }],
  ['the other project', { project: other }],
  ['a release status', { project, releaseStatus: 'draft' }],
  ['a target environment', { project, environmentTarget: 'staging' }],
  ['nothing matches', { project: `none-${randomUUID()}` }],
];

const READERS: [Persona, string][] = [
  ['release_manager', 'rm-dash-keys'],
  ['developer', OWNER],
  ['qa_tester', 'qa-dash-keys'],
  ['audit_reader', 'audit-dash-keys'],
  ['ci_service_role', 'ci-dash-keys'],
];

describe('the dashboard page paged by its releases’ keys', () => {
  it('is the view as each persona sees it, for every filter, page size and cursor', async () => {
    let compared = 0;
    for (const [persona, sub] of READERS) {
      for (const [what, filter] of FILTERS) {
        const withGates = persona === 'release_manager' || persona === 'audit_reader';
        const expected = await viewed(persona, sub, filter, withGates);
        if (what === 'the project' && persona === 'developer') expect(expected).toHaveLength(7);
        if (what === 'the project' && persona === 'release_manager') expect(expected).toHaveLength(11);
        const sizes = [
          ...new Set([1, 3, Math.max(1, expected.length), Math.max(1, expected.length - 1), 100]),
        ];
        for (const first of sizes) {
          const { nodes, texts } = await paged(persona, sub, filter, first, withGates);
          // Paged by the keys, not by the view (no eligibility filter).
          expect(texts.every((t) => /from ops\.releases r/.test(t))).toBe(true);
          const label = `${persona}, ${what}, first ${first}`;
          expect(
            nodes.map((n) => n.releaseId),
            label,
          ).toEqual(expected.map((e) => e.releaseId));
          for (const [i, n] of nodes.entries()) {
            const { at, gates, ...row } = expected[i]!;
            const { createdAt, gates: nodeGates, ...rest } = n;
            expect(rest, label).toEqual(row);
            expect(new Date(createdAt as string).toISOString().slice(0, 23), label).toBe(at.slice(0, 23));
            if (withGates) expect(nodeGates, label).toEqual(gates);
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(100);
  });

  it('still evaluates eligibility to filter by it, and pages it the same way', async () => {
    const all = await viewed('release_manager', 'rm-dash-keys', { project });
    for (const eligibleForProduction of [true, false]) {
      const { nodes, texts } = await paged(
        'release_manager',
        'rm-dash-keys',
        { project, eligibleForProduction },
        2,
        true,
      );
      expect(texts.every((t) => !/from ops\.releases r/.test(t))).toBe(true);
      expect(nodes.map((n) => n.releaseId)).toEqual(
        all.filter((e) => e.eligibleForProduction === eligibleForProduction).map((e) => e.releaseId),
      );
    }
  });
});
