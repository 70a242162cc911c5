// A set of releases in varied states, built through the governance functions (test/governance/
// scenario.ts), for the tests that compare the reporting views with the functions and tables
// they summarise: every gate outcome, approvals of each kind, exceptions in every state,
// deployments, rollbacks and failed health checks, two developers' releases.
import type pg from 'pg';
import {
  activeBypass,
  approveException,
  attachEvidence,
  createRelease,
  deployStagingWithHealth,
  expireException,
  passAll,
  passG1,
  passG2,
  passG3,
  promote,
  type Release,
  recordCheck,
  recordHealthCheck,
  requestException,
  submitApproval,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import type { TestDatabase } from '../support/db.js';

/** The second developer: their releases must stay invisible to the first. */
export const otherDeveloper = 'dev-devin';

export interface VariedSet {
  releases: Release[];
  /** Releases initiated by who.dev and by otherDeveloper. */
  byDeveloper: Record<string, string[]>;
}

export async function one<T>(c: pg.ClientBase, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await c.query(sql, params);
  return rows[0] as T;
}

/** About twenty releases of `project`, each stopped in a different state. */
export async function buildVariedReleases(db: TestDatabase, project: string): Promise<VariedSet> {
  const releases: Release[] = [];
  const byDeveloper: Record<string, string[]> = { [who.dev]: [], [otherDeveloper]: [] };
  const make = async (name: string, sub: string = who.dev) => {
    const r = await createRelease(db, { project, name: `${project}-${name}`, sub });
    releases.push(r);
    byDeveloper[sub]!.push(r.release_id);
    return r;
  };

  await make('fresh');
  await make('fresh-other', otherDeveloper);
  await passG1(db, await make('g1-passed'));

  const g1Failed = await make('g1-failed');
  await recordCheck(db, g1Failed.release_id, 'G1', 'build', 'fail');

  const g1Rerun = await make('g1-flaky-rerun', otherDeveloper);
  await recordCheck(db, g1Rerun.release_id, 'G1', 'build', 'fail');
  await recordCheck(db, g1Rerun.release_id, 'G1', 'build', 'pass');

  const g2Evidence = await make('g2-evidence-only');
  await passG1(db, g2Evidence);
  await attachEvidence(db, 'qa_tester', who.qa, g2Evidence.release_id, 'test_result', 'G2');

  const g2Passed = await make('g2-passed');
  await passG1(db, g2Passed);
  await passG2(db, g2Passed);

  const g2Rejected = await make('g2-rejected');
  await passG1(db, g2Rejected);
  await attachEvidence(db, 'qa_tester', who.qa, g2Rejected.release_id, 'uat_summary', 'G2');
  await submitApproval(db, 'qa_tester', who.qa, g2Rejected.release_id, 'G2', 'rejected');

  const g2Changes = await make('g2-changes-requested');
  await passG1(db, g2Changes);
  await passG2(db, g2Changes);
  await submitApproval(db, 'qa_tester', 'qa-quentin', g2Changes.release_id, 'G2', 'request_changes');

  const g2Failing = await make('g2-failing-optional-check');
  await passG1(db, g2Failing);
  await passG2(db, g2Failing);
  await recordCheck(db, g2Failing.release_id, 'G2', 'e2e', 'fail', { required: false });

  const g3Evidence = await make('g3-evidence-only');
  await passG1(db, g3Evidence);
  await passG2(db, g3Evidence);
  await attachEvidence(db, 'release_manager', who.rm, g3Evidence.release_id, 'rollback_plan', null);

  const g3Passed = await make('g3-passed');
  await passG1(db, g3Passed);
  await passG2(db, g3Passed);
  await passG3(db, g3Passed);

  const deploying = await make('staging-deploying');
  await passG1(db, deploying);
  await passG2(db, deploying);
  await passG3(db, deploying);
  await promote(db, deploying.release_id, 'staging');

  await passAll(db, await make('staging-healthy', otherDeveloper));

  const unhealthy = await make('staging-unhealthy');
  await passG1(db, unhealthy);
  await passG2(db, unhealthy);
  await passG3(db, unhealthy);
  const d = await promote(db, unhealthy.release_id, 'staging');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  await recordHealthCheck(db, d.deployment_id, 'fail');

  const promoted = await make('promoted');
  await passAll(db, promoted);
  const prod = await promote(db, promoted.release_id, 'production');
  await updateDeployment(db, prod.deployment_id, 'succeeded');
  await recordHealthCheck(db, prod.deployment_id, 'pass');

  const rolledBack = await make('rolled-back');
  await passAll(db, rolledBack);
  const rbProd = await promote(db, rolledBack.release_id, 'production');
  await updateDeployment(db, rbProd.deployment_id, 'failed');
  await db.as('sre', who.sre, (c) =>
    c.query(
      `select ops.record_deployment(p_release_id => $1, p_environment => 'production', p_status => 'succeeded',
         p_rollback_of => $2)`,
      [rolledBack.release_id, rbProd.deployment_id],
    ),
  );

  const bypassed = await make('g2-bypassed');
  await passG1(db, bypassed);
  await activeBypass(db, bypassed.release_id, ['G2']);

  const expired = await make('g2-bypass-expired');
  await passG1(db, expired);
  const e = await activeBypass(db, expired.release_id, ['G2']);
  await expireException(db, e.exception_id);

  const pending = await make('g2-bypass-pending');
  await passG1(db, pending);
  await requestException(db, pending.release_id, ['G2']);

  const waived = await make('g2-evidence-waived');
  await passG1(db, waived);
  const w = await requestException(db, waived.release_id, ['G2'], { type: 'evidence_waiver' });
  await approveException(db, w.exception_id);
  await submitApproval(db, 'qa_tester', who.qa, waived.release_id, 'G2');

  const staged = await make('g4-without-g3');
  await passG1(db, staged);
  await passG2(db, staged);
  await deployStagingWithHealth(db, staged);

  return { releases, byDeveloper };
}
