// Attacks on the dashboard page reading its gates in its own statement (eligibility.ts priming the
// gate loader): gates asked for through an alias, an inline fragment, a named fragment, edges
// instead of nodes, and a skipped selection; pages walked with first/after over releases created
// in one transaction (ties on created_at); and every persona. The page must list the same releases
// in the same order whether or not it reads gates, a persona that may not read gates gets them
// refused (never read for it), and the gates a reader sees on the page are those the per-gate
// report (its own statement, the loader's view) answers for each release.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
const project = `dash-atk-${randomUUID().slice(0, 8)}`;
const OWNER = 'dev-dash-atk';

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  // Seven releases in one transaction: one created_at for all, so the page's order rests on the
  // tie-break alone; and three more by another developer.
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', OWNER);
    await c.query(`select ops.create_release($1, 'tie-' || i) from pg_catalog.generate_series(1, 7) i`, [
      project,
    ]);
  });
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-dash-atk-other');
    await c.query(`select ops.create_release($1, 'other-' || i) from pg_catalog.generate_series(1, 3) i`, [
      project,
    ]);
  });
  // One release with a check, so that the gates differ between releases.
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'ci_service_role', 'ci-dash-atk');
    await c.query(
      `select ops.record_check(p_release_id => r.release_id, p_gate_code => 'G1', p_check_name => 'build', p_status => 'pass')
       from ops.releases r where r.project = $1 and r.release_name = 'tie-3'`,
      [project],
    );
  });
});

afterAll(async () => {
  await api?.close();
});

// biome-ignore lint/suspicious/noExplicitAny: the documents below are parsed at run time, untyped
type Any = any;
const doc = (text: string) => parse(text) as unknown as TypedDocumentNode<Any, Any>;

const GATE_FIELDS =
  'gateCode gateId status enteredAt resolvedAt resolvedBy exceptionId checksPass checksFail checkRuns evidenceCount approvals rejections changesRequested releaseStatus';
const PAGE_ARGS = '($first: Int, $after: String, $filter: PromotionEligibilityFilter)';
const PAGE_CALL = 'promotionEligibilities(first: $first, after: $after, filter: $filter)';
const PAGE_INFO = 'pageInfo { hasNextPage endCursor }';

/** The page asked for in each way; `gates` is where the answer holds the gates (null: none asked). */
const SHAPES: [string, string, (node: Any) => Any][] = [
  [
    'without gates',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { nodes { releaseId releaseName } ${PAGE_INFO} } }`,
    () => undefined,
  ],
  [
    'gates through nodes',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { nodes { releaseId releaseName gates { ${GATE_FIELDS} } } ${PAGE_INFO} } }`,
    (n) => n.gates,
  ],
  [
    'gates under an alias',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { nodes { releaseId releaseName g: gates { ${GATE_FIELDS} } } ${PAGE_INFO} } }`,
    (n) => n.g,
  ],
  [
    'gates in an inline fragment',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { nodes { releaseId releaseName ... on ReleaseEligibility { gates { ${GATE_FIELDS} } } } ${PAGE_INFO} } }`,
    (n) => n.gates,
  ],
  [
    'gates in a named fragment, through edges',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { edges { node { releaseId releaseName ...G } } ${PAGE_INFO} } }
     fragment G on ReleaseEligibility { gates { ${GATE_FIELDS} } }`,
    (n) => n.gates,
  ],
  [
    'gates skipped by a directive',
    `query${PAGE_ARGS} { p: ${PAGE_CALL} { nodes { releaseId releaseName gates @skip(if: true) { ${GATE_FIELDS} } } ${PAGE_INFO} } }`,
    () => undefined,
  ],
];

interface Walked {
  ids: string[];
  names: string[];
  gates: Map<string, Any>;
  forbidden: number;
  otherErrors: string[];
}

/** Walks every page of the project's releases, `first` at a time, as the persona, in one shape. */
async function walk(persona: Persona, shape: (typeof SHAPES)[number], first: number): Promise<Walked> {
  const [, text, gatesOf] = shape;
  const out: Walked = { ids: [], names: [], gates: new Map(), forbidden: 0, otherErrors: [] };
  let after: string | null = null;
  for (let guard = 0; guard < 50; guard++) {
    const result = await api.executeOperation({
      operation: doc(text),
      variables: { first, after, filter: { project } },
      persona,
      sub: OWNER,
    });
    for (const e of result.errors ?? []) {
      if (e.extensions?.code === 'FORBIDDEN' && e.path?.includes('gates')) out.forbidden++;
      else if (e.extensions?.code === 'FORBIDDEN' && e.path?.includes('g')) out.forbidden++;
      else out.otherErrors.push(`${e.extensions?.code}: ${e.message}`);
    }
    const page: Any = result.data?.p;
    if (!page) break;
    const nodes: Any[] = page.nodes ?? page.edges.map((e: Any) => e.node);
    for (const n of nodes) {
      out.ids.push(n.releaseId);
      out.names.push(n.releaseName);
      const g = gatesOf(n);
      if (g !== undefined) out.gates.set(n.releaseId, g);
    }
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  return out;
}

/** The per-gate report's gates of a release (its own statement), in gate order. */
async function reportGates(persona: Persona, releaseId: string): Promise<Any> {
  const result = await api.executeOperation({
    operation: doc(
      `query($f: ReleaseGateSummaryFilter) { releaseGateSummary(first: 10, filter: $f) { nodes { ${GATE_FIELDS} } } }`,
    ),
    variables: { f: { releaseId } },
    persona,
    sub: OWNER,
  });
  expect(result.errors).toBeUndefined();
  return [...result.data.releaseGateSummary.nodes].sort((a: Any, b: Any) =>
    a.gateCode.localeCompare(b.gateCode),
  );
}

const READERS: readonly Persona[] = PERSONAS.filter((p) => p !== 'sre');

describe('the dashboard page, asked for in every shape, by every persona', () => {
  it.each(PERSONAS.map((p) => [p] as const))(
    '%s: the same releases in the same order in every shape and page size; gates as the report has them, or refused',
    async (persona) => {
      const baseline = await walk(persona, SHAPES[0]!, 100);
      if (!READERS.includes(persona)) {
        expect(baseline.ids).toEqual([]);
        expect(baseline.otherErrors.join(' ')).toMatch(/FORBIDDEN/);
        return;
      }
      expect(baseline.otherErrors).toEqual([]);
      // A developer sees their own seven; everyone else all ten.
      expect(baseline.ids).toHaveLength(persona === 'developer' ? 7 : 10);
      if (persona === 'developer') expect(baseline.names.every((n) => n.startsWith('tie-'))).toBe(true);
      expect(new Set(baseline.ids).size).toBe(baseline.ids.length);
      const mayReadGates = persona === 'release_manager' || persona === 'audit_reader';
      for (const shape of SHAPES) {
        for (const first of [1, 2, 3, 100]) {
          api.statements.reset();
          const got = await walk(persona, shape, first);
          const gateReads = api.statements.statements.filter((t) => t.includes('v_release_gate_summary'));
          expect(got.otherErrors, `${shape[0]} first ${first}`).toEqual([]);
          expect(got.ids, `${shape[0]} first ${first}`).toEqual(baseline.ids);
          const asked = shape[0] !== 'without gates' && shape[0] !== 'gates skipped by a directive';
          if (!asked) {
            expect(got.gates.size).toBe(0);
            expect(got.forbidden).toBe(0);
          } else if (!mayReadGates) {
            expect(got.forbidden, `${shape[0]} first ${first}`).toBe(got.ids.length);
            expect([...got.gates.values()].every((g) => g === null)).toBe(true);
            expect(gateReads, 'no statement reads gates for a persona that may not see them').toEqual([]);
          } else if (first === 100) {
            expect(got.forbidden).toBe(0);
            for (const id of got.ids) {
              expect(got.gates.get(id), `${shape[0]}: ${id}`).toEqual(await reportGates(persona, id));
            }
          }
        }
      }
    },
    300_000,
  );
});
