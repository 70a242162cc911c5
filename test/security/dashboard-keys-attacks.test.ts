// Attacks on the dashboard page paged by its releases' keys (keysetPage's `keys`, read from
// ops.releases): a developer whose releases are interleaved with another developer's, the oldest
// and the newest release being the other's, asks with cursors it was given and cursors it forged
// to point at the other's releases (taken from a release manager's page), every page size 1..6 and
// 100, with and without an eligibility filter (which pages the view instead): it must see its own
// releases only, in order, with hasNextPage true exactly when one of its own is left; cursors that
// are not timestamps PostgreSQL reads are refused as bad input; a persona that may not read the view
// is refused before any statement.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { encodeCursor } from '../../src/resolvers/pagination.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

// biome-ignore lint/suspicious/noExplicitAny: the document below is parsed at run time, untyped
type Any = any;
const DOC = parse(`query($first: Int, $after: String, $filter: PromotionEligibilityFilter) {
  promotionEligibilities(first: $first, after: $after, filter: $filter) {
    nodes { releaseId createdAt eligibleForStaging }
    pageInfo { hasNextPage endCursor }
  }
}`) as unknown as TypedDocumentNode<Any, Any>;

let db: TestDatabase;
let api: TestApi;
let pool: pg.Pool;
const project = `dash-attack-${randomUUID().slice(0, 8)}`;
const OWNER = 'dev-dash-attack';
const OTHER = 'dev-dash-attack-other';
/** Every release of the project, newest first, with its owner and cursor. */
const all: { id: string; owner: string; cursor: string }[] = [];

async function page(persona: Persona, sub: string, first: number, after: string | null, filter = {}) {
  const r: Any = await api.executeOperation({
    operation: DOC,
    variables: { first, after, filter: { project, ...filter } },
    persona,
    sub,
  });
  return r;
}

/** Every node a persona pages out from a cursor on, following endCursor. */
async function walk(persona: Persona, sub: string, first: number, after: string | null, filter = {}) {
  const ids: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await page(persona, sub, first, after, filter);
    expect(r.errors, JSON.stringify(r.errors)).toBeUndefined();
    const p = r.data.promotionEligibilities;
    ids.push(...p.nodes.map((n: { releaseId: string }) => n.releaseId));
    if (!p.pageInfo.hasNextPage) return ids;
    expect(p.nodes).toHaveLength(first);
    after = p.pageInfo.endCursor;
  }
  throw new Error('more than 20 pages');
}

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  api = createTestApi(db, { pool });
  // Oldest first: the other's, then alternating, the newest the other's.
  for (const sub of [OTHER, OWNER, OTHER, OWNER, OTHER, OWNER, OTHER]) {
    await db.as('developer', sub, (c) =>
      c.query(`select ops.create_release(p_project => $1, p_release_name => $2)`, [
        project,
        `r-${randomUUID().slice(0, 8)}`,
      ]),
    );
  }
  // The release manager's view of every release, with the cursor of each.
  let after: string | null = null;
  for (;;) {
    const r = await page('release_manager', 'rm-dash-attack', 1, after);
    const p = r.data.promotionEligibilities;
    if (p.nodes.length === 0) break;
    const id = p.nodes[0].releaseId as string;
    const { rows } = await db.admin.query('select initiating_actor from ops.releases where release_id = $1', [
      id,
    ]);
    all.push({ id, owner: rows[0].initiating_actor, cursor: p.pageInfo.endCursor });
    if (!p.pageInfo.hasNextPage) break;
    after = p.pageInfo.endCursor;
  }
});

afterAll(async () => {
  await api?.close();
  await pool?.end();
});

describe('the dashboard page by keys, attacked by a developer', () => {
  it('shows only the developer’s releases, from every cursor, at every page size', async () => {
    expect(all.map((x) => x.owner)).toEqual([OTHER, OWNER, OTHER, OWNER, OTHER, OWNER, OTHER]);
    const mine = all.filter((x) => x.owner === OWNER).map((x) => x.id);
    // From the start, and from each release's cursor (the other's forged from the manager's page).
    const starts: [string, string | null, string[]][] = [['start', null, mine]];
    for (const [i, x] of all.entries()) {
      starts.push([
        `after ${x.owner} #${i}`,
        x.cursor,
        all
          .slice(i + 1)
          .filter((y) => y.owner === OWNER)
          .map((y) => y.id),
      ]);
    }
    for (const filter of [{}, { eligibleForStaging: false }]) {
      for (const first of [1, 2, 3, 4, 5, 6, 100]) {
        for (const [label, after, expected] of starts) {
          expect(
            await walk('developer', OWNER, first, after, filter),
            `${label}, first ${first}, ${JSON.stringify(filter)}`,
          ).toEqual(expected);
        }
      }
    }
    // The first page of one: hasNextPage says another of its own is left, not the other's.
    const last = all.filter((x) => x.owner === OWNER).at(-1)!;
    const prev = all[all.indexOf(last) - 1]!;
    const r = await page('developer', OWNER, 1, prev.cursor);
    expect(r.data.promotionEligibilities.nodes.map((n: { releaseId: string }) => n.releaseId)).toEqual([
      last.id,
    ]);
    expect(r.data.promotionEligibilities.pageInfo.hasNextPage).toBe(false);
  });

  it('the other developer sees its own four, and a page of 100 holds only those', async () => {
    const theirs = all.filter((x) => x.owner === OTHER).map((x) => x.id);
    expect(await walk('developer', OTHER, 1, null)).toEqual(theirs);
    const r = await page('developer', OTHER, 100, null);
    const ids = r.data.promotionEligibilities.nodes.map(
      (n: { releaseId: string; createdAt: string }) => n.releaseId,
    );
    expect(ids).toEqual(theirs);
  });

  it('refuses cursors PostgreSQL cannot read as bad input, changing nothing', async () => {
    const id = all[0]!.id;
    let refused = 0;
    for (const at of ['1', '2026-02-30T00:00:00Z', '+275760-09-13T00:00:00.000Z']) {
      // Each is a date to JavaScript (the cursor's own check), not to PostgreSQL.
      expect(Number.isNaN(Date.parse(at)), at).toBe(false);
      for (const filter of [{}, { eligibleForStaging: true }]) {
        const r = await page('developer', OWNER, 5, encodeCursor(at, id), filter);
        expect(r.data?.promotionEligibilities ?? null, at).toBeNull();
        expect(r.errors?.[0]?.extensions?.code, `${at} ${JSON.stringify(r.errors)}`).toBe('VALIDATION');
        refused++;
      }
    }
    expect(refused).toBe(6);
    const { rows } = await db.admin.query('select count(*)::int as n from ops.releases where project = $1', [
      project,
    ]);
    expect(rows[0].n).toBe(all.length);
  });

  it('refuses a persona that may not read the view before any statement', async () => {
    api.statements.reset();
    const r = await page('sre', 'sre-dash-attack', 5, null);
    expect(r.errors?.length).toBeGreaterThan(0);
    expect(r.data?.promotionEligibilities ?? null).toBeNull();
    expect(api.statements.sent.filter((s) => /v_promotion_eligibility|ops\.releases/.test(s.text))).toEqual(
      [],
    );
  });
});
