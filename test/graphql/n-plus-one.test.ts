// The Releases list with its gates, checks and approvals costs the same number of SQL statements
// for 5 releases as for 50: one batch per relation (dataloaders), whatever the number of parents.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ReleasesDocument } from '../../src/gql/graphql.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;

/**
 * n releases of a project, arranged as the superuser in one transaction through the governance
 * functions (the claims name each step's persona): two G1 checks, a G2 test result and QA
 * sign-off, and a release manager's G3 approval on each.
 */
async function seed(project: string, n: number): Promise<void> {
  const each = `from ops.releases r where r.project = $1`;
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', 'dev-seed');
    await c.query(`select ops.create_release($1, 'rel-' || i) from generate_series(1, $2::int) i`, [
      project,
      n,
    ]);
    await actAs(c, 'ci_service_role', 'ci-seed');
    await c.query(
      `select ops.record_check(r.release_id, 'G1', n.name, 'pass')
       from ops.releases r cross join unnest(array['build', 'lint']) n(name) where r.project = $1`,
      [project],
    );
    await actAs(c, 'qa_tester', 'qa-seed');
    await c.query(
      `select ops.attach_evidence(r.release_id, 'test_result', 'https://ci.example/' || r.release_name, 'G2') ${each}`,
      [project],
    );
    await c.query(`select ops.submit_approval(r.release_id, 'approved', 'G2') ${each}`, [project]);
    await actAs(c, 'release_manager', 'rm-seed');
    await c.query(`select ops.submit_approval(r.release_id, 'approved', 'G3') ${each}`, [project]);
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await seed('n1-small', 5);
  await seed('n1-large', 50);
});

afterAll(async () => {
  await api?.close();
});

async function listReleases(project: string) {
  api.statements.reset();
  const result = await api.executeOperation({
    operation: ReleasesDocument,
    variables: { first: 50, filter: { project } },
    persona: 'release_manager',
    sub: 'rm-reader',
  });
  const statements = [...api.statements.statements];
  return { releases: expectData(result).releases!.nodes!, statements };
}

it('Releases (first: 50, with gates, checks and approvals) costs as many statements for 50 as for 5', async () => {
  const small = await listReleases('n1-small');
  const large = await listReleases('n1-large');

  expect(small.releases).toHaveLength(5);
  expect(large.releases).toHaveLength(50);
  for (const r of large.releases) {
    expect(r.gates!.map((g) => [g.gateCode, g.status])).toEqual([
      ['G1', 'passed'],
      ['G2', 'passed'],
      ['G3', 'in_progress'],
      ['G4', 'pending'],
    ]);
    const [g1, g2, g3, g4] = r.gates!;
    expect(g1!.checks!.map((c) => c.checkName).sort()).toEqual(['build', 'lint']);
    expect(g2!.approvals).toEqual([{ approverId: 'qa-seed', decision: 'approved' }]);
    expect(g3!.approvals).toEqual([{ approverId: 'rm-seed', decision: 'approved' }]);
    expect(g4!.checks).toEqual([]);
  }

  console.log(
    `Releases with gates, checks, approvals: ${small.statements.length} statements for 5 releases, ` +
      `${large.statements.length} for 50\n  ${large.statements.map((s) => s.replace(/\s+/g, ' ').slice(0, 100)).join('\n  ')}`,
  );
  expect(large.statements.length).toBe(small.statements.length);
  // One transaction and one persona switch for the whole request, one select per relation
  // (releases, gates, checks, approvals): begin, persona, 4 selects, commit.
  expect(large.statements.filter((s) => s.startsWith('begin'))).toHaveLength(1);
  expect(large.statements.filter((s) => s.includes("set_config('role'"))).toHaveLength(1);
  expect(large.statements.length).toBeLessThanOrEqual(7);
});
