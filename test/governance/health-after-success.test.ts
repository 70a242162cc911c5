// A passing health check confirms a deployment that has succeeded: taken while the rollout is in
// progress it probed what ran before, so ops.record_health_check refuses it (OPS09) and writes
// nothing; a failing check counts at any time.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  createRelease,
  expectPgError,
  passG1,
  passG2,
  promote,
  recordHealthCheck,
  storedGates,
  updateDeployment,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function healthRows(deploymentId: string): Promise<{ checks: number; evidence: number }> {
  const { rows } = await db.admin.query<{ checks: number; evidence: number }>(
    `select (select count(*)::int from ops.gate_checks where metadata->>'deployment_id' = $1) as checks,
            (select count(*)::int from ops.evidence_artifacts where deployment_id = $1::uuid) as evidence`,
    [deploymentId],
  );
  return rows[0]!;
}

describe('a health check and the state of its deployment', () => {
  it('a pass for an in-progress deployment is refused and writes nothing; after success it confirms G4', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    const d = await promote(db, r.release_id, 'staging');
    expect(d.status).toBe('in_progress');
    await expectPgError(
      recordHealthCheck(db, d.deployment_id, 'pass'),
      'OPS09',
      new RegExp(
        `deployment ${d.deployment_id} is in_progress: a passing health check confirms a deployment that has succeeded`,
      ),
    );
    expect(await healthRows(d.deployment_id)).toEqual({ checks: 0, evidence: 0 });
    await updateDeployment(db, d.deployment_id, 'succeeded');
    const confirmed = await recordHealthCheck(db, d.deployment_id, 'pass');
    expect(confirmed.g4_status).toBe('passed');
    expect(await healthRows(d.deployment_id)).toEqual({ checks: 1, evidence: 1 });
  });

  it('a pass for a failed deployment is refused', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    const d = await promote(db, r.release_id, 'staging');
    await updateDeployment(db, d.deployment_id, 'failed');
    await expectPgError(
      recordHealthCheck(db, d.deployment_id, 'pass'),
      'OPS09',
      /is failed: a passing health check/,
    );
    expect(await healthRows(d.deployment_id)).toEqual({ checks: 0, evidence: 0 });
  });

  it('a failing check during the rollout counts: G4 fails and the later success does not lift it', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    const d = await promote(db, r.release_id, 'staging');
    const unhealthy = await recordHealthCheck(db, d.deployment_id, 'fail');
    expect(unhealthy.g4_status).toBe('failed');
    await updateDeployment(db, d.deployment_id, 'succeeded');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
  });
});
