// ops.v_promotion_eligibility says what ops.is_eligible_for_promotion and ops.promotion_blockers
// say, for every release of a varied set: the eligible flags and the blocker counts, both
// environments.
import { beforeAll, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { buildVariedReleases, type VariedSet } from './fixtures.js';

let db: TestDatabase;
let set: VariedSet;

beforeAll(async () => {
  db = await useTestDatabase();
  set = await buildVariedReleases(db, 'rpt-elig');
});

interface Row {
  release_id: string;
  release_name: string;
  eligible_for_staging: boolean;
  eligible_for_production: boolean;
  staging_blockers: number;
  production_blockers: number;
}

it('agrees with ops.is_eligible_for_promotion and ops.promotion_blockers for every release', async () => {
  const { view, functions } = await db.as('audit_reader', 'audit-ada', async (c) => {
    const view = await c.query<Row>(
      `select release_id, release_name, eligible_for_staging, eligible_for_production, staging_blockers,
              production_blockers
       from ops.v_promotion_eligibility order by release_name`,
    );
    const functions = await c.query<Row>(
      `select r.release_id, r.release_name,
              ops.is_eligible_for_promotion(r.release_id, 'staging') as eligible_for_staging,
              ops.is_eligible_for_promotion(r.release_id, 'production') as eligible_for_production,
              (select count(*) from ops.promotion_blockers(r.release_id, 'staging'))::int as staging_blockers,
              (select count(*) from ops.promotion_blockers(r.release_id, 'production'))::int as production_blockers
       from ops.releases r order by r.release_name`,
    );
    return { view: view.rows, functions: functions.rows };
  });
  expect(view).toHaveLength(set.releases.length);
  expect(view).toEqual(functions);

  // The set really is varied: every combination a release can be in shows up.
  const combos = new Set(view.map((r) => `${r.eligible_for_staging}/${r.eligible_for_production}`));
  expect([...combos].sort()).toEqual(['false/false', 'true/false', 'true/true']);
  console.log(
    view
      .map(
        (r) =>
          `${r.release_name.padEnd(38)} staging ${String(r.eligible_for_staging).padEnd(5)} (${r.staging_blockers})` +
          `  production ${String(r.eligible_for_production).padEnd(5)} (${r.production_blockers})`,
      )
      .join('\n'),
  );
});

it('counts the blockers ops.promotion_blockers lists, release by release', async () => {
  const release = set.releases.find((r) => r.release_name.endsWith('-fresh'))!;
  const [row] = await db.as('audit_reader', 'audit-ada', async (c) => {
    const { rows } = await c.query<Row>('select * from ops.v_promotion_eligibility where release_id = $1', [
      release.release_id,
    ]);
    return rows;
  });
  // A fresh release: G1 has no checks; G2 waits, has no evidence, no approval; and so on.
  expect(row).toMatchObject({
    eligible_for_staging: false,
    eligible_for_production: false,
    staging_blockers: 4,
    production_blockers: 9,
  });
});
