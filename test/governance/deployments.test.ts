// The promotion block is a trigger on ops.deployments: no door, no direct INSERT and not even the
// table owner can record a deployment of a release that is not eligible for the environment.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  createRelease,
  deployWithHealth,
  expectPgError,
  isEligible,
  passAll,
  passG1,
  passG2,
  promote,
  type Release,
  releaseStatus,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** A direct INSERT as the superuser owner, with no claims at all. */
function ownerInsert(releaseId: string, env: string, rollbackOf: string | null = null) {
  return db.admin.query(
    `insert into ops.deployments (release_id, environment, status, rollback_of)
     values ($1, $2::public.ops_environment, 'succeeded', $3) returning deployment_id, deployed_by`,
    [releaseId, env, rollbackOf],
  );
}

async function deploymentCount(releaseId: string, env: string): Promise<number> {
  const { rows } = await db.admin.query(
    'select count(*)::int as n from ops.deployments where release_id = $1 and environment = $2',
    [releaseId, env],
  );
  return rows[0]!.n;
}

describe('a direct INSERT INTO ops.deployments, as the table owner', () => {
  it('of an ineligible production deployment fails', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    // Eligible for staging, not production.
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    const { rows } = await db.admin.query(
      'select current_user, usesuper from pg_user where usename = current_user',
    );
    expect(rows[0]!.usesuper).toBe(true);
    await expectPgError(
      ownerInsert(r.release_id, 'production'),
      'OPS09',
      new RegExp(
        `release ${r.release_id} is not eligible for production: .*G3: no rollback_plan evidence attached`,
      ),
    );
    expect(await deploymentCount(r.release_id, 'production')).toBe(0);
  });

  it('of a fresh release to staging fails, naming G1 and G2', async () => {
    const r = await createRelease(db);
    await expectPgError(
      ownerInsert(r.release_id, 'staging'),
      'OPS09',
      /is not eligible for staging: G1: no build checks reported yet; G2: waiting for G1/,
    );
  });

  it('of an eligible production deployment succeeds', async () => {
    const r = await createRelease(db);
    await passAll(db, r);
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    const { rows } = await ownerInsert(r.release_id, 'production');
    expect(rows[0]!.deployed_by).toMatch(/^db:/);
    expect(await deploymentCount(r.release_id, 'production')).toBe(1);
  });

  it('through the persona path an sre is refused the same way (OPS09), even inserting directly', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await expectPgError(promote(db, r.release_id, 'staging'), 'OPS09', /is not eligible for staging: G2:/);
    await expectPgError(
      db.as('sre', who.sre, (c) =>
        c.query(`insert into ops.deployments (release_id, environment) values ($1, 'staging')`, [
          r.release_id,
        ]),
      ),
      'OPS09',
      /is not eligible for staging/,
    );
  });
});

describe('rollbacks', () => {
  async function deployedToProduction(): Promise<{ r: Release; deploymentId: string }> {
    const r = await createRelease(db);
    await passAll(db, r);
    const d = await deployWithHealth(db, r, 'production');
    return { r, deploymentId: d.deployment_id };
  }

  it('a rollback (rollback_of set) is allowed for a release deployed there, though no longer eligible', async () => {
    const { r, deploymentId } = await deployedToProduction();
    // Break eligibility after the fact: a failing re-run of the build.
    await db.as('ci_service_role', who.ci, (c) =>
      c.query(`select ops.record_check($1, 'G1', 'build', 'fail')`, [r.release_id]),
    );
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    await expect(ownerInsert(r.release_id, 'production', deploymentId)).resolves.toMatchObject({
      rowCount: 1,
    });
    expect(await releaseStatus(db, r.release_id)).toBe('rolled_back');
  });

  it('a rollback of a deployment in another environment or of another release is refused', async () => {
    const { r, deploymentId } = await deployedToProduction();
    await expectPgError(
      ownerInsert(r.release_id, 'staging', deploymentId),
      'OPS22',
      /a rollback must undo a deployment of the same release in staging/,
    );
    const other = await createRelease(db);
    await expectPgError(
      ownerInsert(other.release_id, 'production', deploymentId),
      'OPS22',
      /a rollback must undo a deployment of the same release in production/,
    );
  });

  it("a deployment's release, environment and rollback target cannot change afterwards", async () => {
    const { deploymentId } = await deployedToProduction();
    await expectPgError(
      db.admin.query(`update ops.deployments set environment = 'staging' where deployment_id = $1`, [
        deploymentId,
      ]),
      'OPS22',
      /cannot change/,
    );
  });
});

describe('concurrent promotions', () => {
  for (const env of ['staging', 'production'] as const) {
    it(`two promote_release calls for one release to ${env} create exactly one deployment; the other gets OPS09`, async () => {
      const r = await createRelease(db);
      if (env === 'staging') {
        await passG1(db, r);
        await passG2(db, r);
      } else {
        await passAll(db, r); // includes the staging deployment and its health check
      }
      expect(await isEligible(db, r.release_id, env)).toBe(true);
      const before = await deploymentCount(r.release_id, env);

      // Two connections, each holding its transaction open a moment after promoting, so the
      // second really runs while the first is uncommitted.
      const attempt = (sub: string) =>
        db.as('sre', sub, async (c) => {
          const { rows } = await c.query('select deployment_id from ops.promote_release($1, $2)', [
            r.release_id,
            env,
          ]);
          await c.query('select pg_sleep(0.3)');
          return rows[0]!.deployment_id as string;
        });
      const results = await Promise.allSettled([attempt('sre-one'), attempt('sre-two')]);

      const ok = results.filter((x) => x.status === 'fulfilled');
      const failed = results.filter((x): x is PromiseRejectedResult => x.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      expect(failed[0]!.reason).toMatchObject({
        code: 'OPS09',
        message: expect.stringMatching(new RegExp(`is already deployed \\(or deploying\\) to ${env}`)),
      });
      expect(await deploymentCount(r.release_id, env)).toBe(before + 1);
    });
  }
});
