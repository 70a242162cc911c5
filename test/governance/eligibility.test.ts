// The seed plan's Phase 3 acceptance cases, promotion blockers, the gate transition history and
// the release status lifecycle, against real Postgres through the personas' request path.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  activeBypass,
  attachEvidence,
  blockers,
  createRelease,
  deployStagingWithHealth,
  expireException,
  gateId,
  isEligible,
  passAll,
  passG1,
  passG2,
  passG3,
  promote,
  recordCheck,
  recordHealthCheck,
  releaseStatus,
  requestException,
  storedGates,
  submitApproval,
  updateDeployment,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

describe('seed plan: eligibility', () => {
  it('all gates passed → eligible for production (and staging)', async () => {
    const r = await createRelease(db);
    await passAll(db, r);
    expect(await storedGates(db, r.release_id)).toEqual({
      G1: 'passed',
      G2: 'passed',
      G3: 'passed',
      G4: 'passed',
    });
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    expect(await isEligible(db, r.release_id, 'staging')).toBe(true);
  });

  it('G2 failed by a failing check → not eligible for staging nor production', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    await recordCheck(db, r.release_id, 'G2', 'e2e-suite', 'fail');
    expect((await storedGates(db, r.release_id)).G2).toBe('failed');
    expect(await isEligible(db, r.release_id, 'staging')).toBe(false);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    expect(await blockers(db, r.release_id, 'staging')).toContainEqual({
      gate_code: 'G2',
      status: 'failed',
      reason: 'G2: check "e2e-suite" is failing',
    });
  });

  it('G2 failed by a QA rejection → not eligible for staging nor production', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await attachEvidence(db, 'qa_tester', who.qa, r.release_id, 'uat_summary', 'G2');
    await submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2', 'rejected');
    expect((await storedGates(db, r.release_id)).G2).toBe('failed');
    expect(await isEligible(db, r.release_id, 'staging')).toBe(false);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    expect((await blockers(db, r.release_id, 'staging')).map((b) => b.reason)).toContain(
      'G2: a qa_tester rejected it',
    );
  });

  it('G3 bypassed by an active exception → eligible for production once staging confirmed G4; expired → not', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    // Production needs G1-G4; G4 is the staging deployment's health confirmation, which the
    // release earns for real. Before G3 is covered, G4 waits for it.
    await deployStagingWithHealth(db, r);
    expect(await storedGates(db, r.release_id)).toMatchObject({ G3: 'pending', G4: 'in_progress' });
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);

    // Requested by one release manager, approved by another, impacted_gates {G3}.
    const exc = await activeBypass(db, r.release_id, ['G3']);
    expect(exc.requested_by).toBe(who.rm2);
    expect(exc.approver_id).toBe(who.rm3);
    expect(exc.impacted_gates).toBe('{G3}');

    const { rows } = await db.admin.query(
      `select gate_code::text, status::text, exception_id from ops.release_gates
       where release_id = $1 and gate_code in ('G3', 'G4') order by gate_code`,
      [r.release_id],
    );
    expect(rows).toEqual([
      { gate_code: 'G3', status: 'bypassed', exception_id: exc.exception_id },
      { gate_code: 'G4', status: 'passed', exception_id: null },
    ]);
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    expect(await blockers(db, r.release_id, 'production')).toEqual([]);

    // The same exception, expired: not eligible at once, no job, no re-evaluation.
    await expireException(db, exc.exception_id);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    const after = await blockers(db, r.release_id, 'production');
    expect(after.find((b) => b.gate_code === 'G3' && /expired/.test(b.reason))?.reason).toMatch(
      new RegExp(`^G3 bypass exception ${exc.exception_id} expired at \\d{4}-\\d\\d-\\d\\dT`),
    );
    expect(after.some((b) => b.gate_code === 'G4' && /waiting for G3/.test(b.reason))).toBe(true);
    // Staging never needed G3.
    expect(await isEligible(db, r.release_id, 'staging')).toBe(true);
  });

  it('a G3-only bypass does not stand in for the staging confirmation (G4)', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    await activeBypass(db, r.release_id, ['G3']);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    expect(await blockers(db, r.release_id, 'production')).toEqual([
      { gate_code: 'G4', status: 'pending', reason: 'G4: the release has not been deployed yet' },
    ]);
  });

  it('an unapproved exception authorises nothing and says so', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    await deployStagingWithHealth(db, r);
    const exc = await requestException(db, r.release_id, ['G3']);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    expect((await blockers(db, r.release_id, 'production')).map((b) => b.reason)).toContain(
      `G3 bypass exception ${exc.exception_id} awaits approval by a release_manager`,
    );
  });
});

describe('promotion_blockers', () => {
  it('lists every unmet requirement of a fresh release: G1-G4 for production, G1 and G2 for staging', async () => {
    const r = await createRelease(db);
    const prod = await blockers(db, r.release_id, 'production');
    expect([...new Set(prod.map((b) => b.gate_code))]).toEqual(['G1', 'G2', 'G3', 'G4']);
    expect(prod.every((b) => b.status === 'pending')).toBe(true);
    const reasons = prod.map((b) => b.reason);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'G1: no build checks reported yet',
        'G2: waiting for G1, which is pending',
        'G2: no test_result or uat_summary evidence attached',
        'G2: no qa_tester approval yet',
        'G3: waiting for G2, which is pending',
        'G3: no rollback_plan evidence attached',
        'G3: no release_manager approval yet',
        'G4: waiting for G3, which is pending',
        'G4: the release has not been deployed yet',
      ]),
    );

    const staging = await blockers(db, r.release_id, 'staging');
    expect([...new Set(staging.map((b) => b.gate_code))]).toEqual(['G1', 'G2']);
    expect(staging).toEqual(prod.filter((b) => b.gate_code === 'G1' || b.gate_code === 'G2'));
  });

  it('names only what is still missing as the release progresses', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await attachEvidence(db, 'qa_tester', who.qa, r.release_id, 'test_result', 'G2');
    expect(await blockers(db, r.release_id, 'staging')).toEqual([
      { gate_code: 'G2', status: 'in_progress', reason: 'G2: no qa_tester approval yet' },
    ]);
  });

  it('lists nothing for an eligible release', async () => {
    const r = await createRelease(db);
    await passAll(db, r);
    expect(await blockers(db, r.release_id, 'production')).toEqual([]);
    expect(await blockers(db, r.release_id, 'staging')).toEqual([]);
  });

  it('refuses an unknown environment and an unknown release', async () => {
    const r = await createRelease(db);
    await expect(blockers(db, r.release_id, 'qa' as 'staging')).rejects.toMatchObject({
      code: 'OPS22',
      message: expect.stringMatching(/unknown environment "qa"/),
    });
    await expect(blockers(db, '00000000-0000-4000-8000-000000000000', 'staging')).rejects.toMatchObject({
      code: 'OPS04',
    });
  });
});

describe('gate_transitions', () => {
  it('records a row per status change, with the actor and the reason', async () => {
    const r = await createRelease(db);
    const g1 = await gateId(db, r.release_id, 'G1');
    const g2 = await gateId(db, r.release_id, 'G2');
    await recordCheck(db, r.release_id, 'G1', 'build', 'fail', { sub: 'ci-runner-1' });
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass', { sub: 'ci-runner-2' });
    await attachEvidence(db, 'qa_tester', who.qa, r.release_id, 'test_result', 'G2');
    await submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2');

    const { rows } = await db.admin.query(
      `select gate_id, from_status::text, to_status::text, actor, reason from ops.gate_transitions
       where gate_id in ($1, $2) order by created_at, transition_id`,
      [g1, g2],
    );
    const ofGate = (id: string) =>
      rows.filter((t) => t.gate_id === id).map(({ gate_id: _g, ...t }) => t as Record<string, string>);
    expect(ofGate(g1)).toEqual([
      {
        from_status: 'pending',
        to_status: 'failed',
        actor: 'ci-runner-1',
        reason: 'check "build" reported fail by ci-runner-1',
      },
      {
        from_status: 'failed',
        to_status: 'passed',
        actor: 'ci-runner-2',
        reason: 'check "build" reported pass by ci-runner-2',
      },
    ]);
    expect(ofGate(g2)).toEqual([
      {
        from_status: 'pending',
        to_status: 'in_progress',
        actor: who.qa,
        reason: 'test_result evidence attached by qa-quinn',
      },
      {
        from_status: 'in_progress',
        to_status: 'passed',
        actor: who.qa,
        reason: 'qa_tester approved (gate) by qa-quinn',
      },
    ]);
    // No row without a change: every transition changes the status.
    expect(rows.every((t) => t.from_status !== t.to_status)).toBe(true);
  });

  it('stored statuses agree with the history: the last transition of each gate is its status', async () => {
    const r = await createRelease(db);
    await passAll(db, r);
    const { rows } = await db.admin.query(
      `select g.gate_code::text, g.status::text,
              (select t.to_status::text from ops.gate_transitions t where t.gate_id = g.gate_id
               order by t.created_at desc, t.transition_id desc limit 1) as last
       from ops.release_gates g where g.release_id = $1 order by g.gate_code`,
      [r.release_id],
    );
    for (const row of rows) expect(row.last).toBe(row.status);
  });
});

describe('release status', () => {
  it('goes draft → in_progress → promoted once the production deployment succeeded and its health check passed', async () => {
    const r = await createRelease(db);
    expect(r.status).toBe('draft');
    await passG1(db, r);
    expect(await releaseStatus(db, r.release_id)).toBe('in_progress');
    await passG2(db, r);
    await passG3(db, r);
    await deployStagingWithHealth(db, r);
    expect(await releaseStatus(db, r.release_id)).toBe('in_progress');

    const prod = await promote(db, r.release_id, 'production');
    expect(await releaseStatus(db, r.release_id)).toBe('in_progress');
    await updateDeployment(db, prod.deployment_id, 'succeeded');
    // Succeeded but not yet confirmed healthy: not promoted.
    expect(await releaseStatus(db, r.release_id)).toBe('in_progress');
    const healthy = await recordHealthCheck(db, prod.deployment_id, 'pass');
    expect(healthy.g4_status).toBe('passed');
    expect(await releaseStatus(db, r.release_id)).toBe('promoted');
  });

  it('is not promoted when the production health check fails', async () => {
    const r = await createRelease(db);
    await passAll(db, r);
    const prod = await promote(db, r.release_id, 'production');
    await updateDeployment(db, prod.deployment_id, 'succeeded');
    await recordHealthCheck(db, prod.deployment_id, 'fail');
    expect(await releaseStatus(db, r.release_id)).toBe('failed');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
  });
});
