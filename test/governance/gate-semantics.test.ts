// What a gate means, at the SQL core: separation of duties in either order (and under
// concurrency), G4 following deployment outcomes and rollbacks, one revision per release, and
// stored gate status kept current when policy changes. Each scenario is a fault a careful release
// manager, SRE or auditor would find; the API doors are tested in test/graphql/gate-semantics.test.ts.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  attachEvidence,
  blockers,
  createRelease,
  deployStagingWithHealth,
  expectPgError,
  isEligible,
  passG1,
  passG2,
  passG3,
  promote,
  type Release,
  recordHealthCheck,
  releaseStatus,
  reviseRelease,
  storedGates,
  submitApproval,
  updateDeployment,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** Someone holding both the qa_tester and the release_manager persona. */
const DUAL = 'dual-dora';
const SOD = /separation of duties: dual-dora .*(G2|G3).* may not/;

async function readyForSignOffs(): Promise<Release> {
  const r = await createRelease(db);
  await passG1(db, r);
  await attachEvidence(db, 'qa_tester', who.qa, r.release_id, 'test_result', 'G2');
  await attachEvidence(db, 'release_manager', who.rm, r.release_id, 'rollback_plan', 'G3');
  return r;
}

describe('separation of duties is a property of the release, not of the order of events', () => {
  it('G3 signed as release_manager first, then G2 as qa_tester by the same subject: refused', async () => {
    const r = await readyForSignOffs();
    await submitApproval(db, 'release_manager', DUAL, r.release_id, 'G3');
    await expectPgError(submitApproval(db, 'qa_tester', DUAL, r.release_id, 'G2'), 'OPS03', SOD);
    const gates = await storedGates(db, r.release_id);
    expect(gates.G2).not.toBe('passed');
    expect(gates.G3).not.toBe('passed');
  });

  it('G2 first, then G3: refused as before', async () => {
    const r = await readyForSignOffs();
    await submitApproval(db, 'qa_tester', DUAL, r.release_id, 'G2');
    await expectPgError(submitApproval(db, 'release_manager', DUAL, r.release_id, 'G3'), 'OPS03', SOD);
  });

  it('a rejection counts as a decision: who rejected G3 does not then sign G2', async () => {
    const r = await readyForSignOffs();
    await submitApproval(db, 'release_manager', DUAL, r.release_id, 'G3', 'rejected');
    await expectPgError(submitApproval(db, 'qa_tester', DUAL, r.release_id, 'G2'), 'OPS03', SOD);
    // The same subject may change their own decision on the same gate.
    await submitApproval(db, 'release_manager', DUAL, r.release_id, 'G3');
  });

  it('two concurrent transactions, G2 and G3 by one subject: exactly one commits', async () => {
    const r = await readyForSignOffs();
    let releaseFirst!: () => void;
    const firstMayCommit = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    const first = db.as('qa_tester', DUAL, async (c) => {
      await c.query(
        `select ops.submit_approval(p_release_id => $1, p_decision => 'approved', p_gate_code => 'G2')`,
        [r.release_id],
      );
      await firstMayCommit;
    });
    const secondSettled = db
      .as('release_manager', DUAL, (c) =>
        c.query(
          `select ops.submit_approval(p_release_id => $1, p_decision => 'approved', p_gate_code => 'G3')`,
          [r.release_id],
        ),
      )
      .then(
        () => 'committed',
        (e: pg.DatabaseError) => e,
      );
    // Hold the first open until the second has either finished or is waiting on it.
    let settled = false;
    void secondSettled.then(() => {
      settled = true;
    });
    for (let i = 0; i < 600 && !settled; i++) {
      const { rows } = await db.admin.query(
        `select count(*)::int as n from pg_stat_activity
         where datname = current_database() and wait_event_type = 'Lock'`,
      );
      if (rows[0]!.n > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    releaseFirst();
    await first;
    const second = await secondSettled;
    expect(second).not.toBe('committed');
    expect(second).toMatchObject({ code: 'OPS03', message: expect.stringMatching(SOD) });
    const { rows } = await db.admin.query(
      `select count(*)::int as n from ops.approvals where release_id = $1 and approver_id = $2`,
      [r.release_id, DUAL],
    );
    expect(rows[0]!.n).toBe(1);
  });
});

async function approvedRelease(sourceRef = 'refs/tags/v1'): Promise<Release> {
  const r = await createRelease(db, { sourceRef });
  await passG1(db, r);
  await passG2(db, r);
  await passG3(db, r);
  return r;
}

function recordDeployment(
  releaseId: string,
  env: string,
  opts: { status?: string; sourceRef?: string; rollbackOf?: string; persona?: Persona } = {},
) {
  return db.as(opts.persona ?? 'sre', who.sre, async (c) => {
    const { rows } = await c.query(
      `select deployment_id, status::text, source_ref from ops.record_deployment(p_release_id => $1,
         p_environment => $2, p_status => $3::public.ops_deployment_status, p_source_ref => $4,
         p_rollback_of => $5)`,
      [releaseId, env, opts.status ?? 'in_progress', opts.sourceRef ?? null, opts.rollbackOf ?? null],
    );
    return rows[0] as { deployment_id: string; status: string; source_ref: string };
  });
}

async function expectProductionBlocked(r: Release, reason: RegExp): Promise<void> {
  expect(await isEligible(db, r.release_id, 'production')).toBe(false);
  const why = (await blockers(db, r.release_id, 'production')).map((b) => b.reason).join('\n');
  expect(why).toMatch(reason);
  await expectPgError(promote(db, r.release_id, 'production'), 'OPS09', /is not eligible for production/);
}

describe('G4 follows what happened to the deployment', () => {
  it('a failed staging deployment with a passing health check afterwards does not pass G4 (the pass is refused)', async () => {
    const r = await approvedRelease();
    const d = await promote(db, r.release_id, 'staging');
    await updateDeployment(db, d.deployment_id, 'failed');
    await expectPgError(
      recordHealthCheck(db, d.deployment_id, 'pass'),
      'OPS09',
      /is failed: a passing health check/,
    );
    expect(await releaseStatus(db, r.release_id)).toBe('failed');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
    await expectProductionBlocked(r, /G4: the staging deployment .* failed/);
  });

  it('a passing health check, then the deployment reported failed: G4 withdrawn, saying why', async () => {
    const r = await approvedRelease();
    const d = await promote(db, r.release_id, 'staging');
    await updateDeployment(db, d.deployment_id, 'succeeded');
    await recordHealthCheck(db, d.deployment_id, 'pass');
    expect((await storedGates(db, r.release_id)).G4).toBe('passed');
    await updateDeployment(db, d.deployment_id, 'failed');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
    await expectProductionBlocked(r, /G4: the staging deployment .* failed/);
    const { rows } = await db.admin.query(
      `select t.reason from ops.gate_transitions t join ops.release_gates g on g.gate_id = t.gate_id
       where g.release_id = $1 and g.gate_code = 'G4' and t.from_status = 'passed'`,
      [r.release_id],
    );
    expect(rows.map((x) => x.reason).join('\n')).toMatch(/staging deployment failed/);
  });

  it('a health check without a succeeded deployment does not pass G4 (the pass is refused)', async () => {
    const r = await approvedRelease();
    const d = await promote(db, r.release_id, 'staging');
    await expectPgError(
      recordHealthCheck(db, d.deployment_id, 'pass'),
      'OPS09',
      /is in_progress: a passing health check/,
    );
    expect((await storedGates(db, r.release_id)).G4).toBe('in_progress');
    await expectProductionBlocked(r, /G4: the staging deployment .* has not succeeded/);
  });

  it('a rollback recorded for the healthy staging deployment withdraws G4', async () => {
    const r = await approvedRelease();
    const d = await deployStagingWithHealth(db, r);
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    await recordDeployment(r.release_id, 'staging', { status: 'succeeded', rollbackOf: d.deployment_id });
    expect(await releaseStatus(db, r.release_id)).toBe('rolled_back');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
    await expectProductionBlocked(r, /G4: the staging deployment .* was rolled back/);
  });

  it('the healthy staging deployment reported rolled_back withdraws G4', async () => {
    const r = await approvedRelease();
    const d = await deployStagingWithHealth(db, r);
    await updateDeployment(db, d.deployment_id, 'rolled_back');
    expect(await releaseStatus(db, r.release_id)).toBe('rolled_back');
    expect((await storedGates(db, r.release_id)).G4).toBe('failed');
    await expectProductionBlocked(r, /G4: the staging deployment .* was rolled back/);
  });

  it('after a rollback, a new healthy staging deployment passes G4 again', async () => {
    const r = await approvedRelease();
    const d = await deployStagingWithHealth(db, r);
    await updateDeployment(db, d.deployment_id, 'rolled_back');
    await deployStagingWithHealth(db, r);
    expect((await storedGates(db, r.release_id)).G4).toBe('passed');
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
  });
});

describe('a release is bound to one revision', () => {
  it('promote_release with another source_ref is refused', async () => {
    const r = await approvedRelease();
    await expectPgError(
      db.as('sre', who.sre, (c) =>
        c.query(`select ops.promote_release($1, 'staging', 'refs/heads/unreviewed-hotfix')`, [r.release_id]),
      ),
      'OPS09',
      /refs\/heads\/unreviewed-hotfix is not the revision of release .* \(refs\/tags\/v1\)/,
    );
  });

  it('record_deployment with another source_ref is refused, whoever reports it', async () => {
    const r = await approvedRelease();
    await expectPgError(
      recordDeployment(r.release_id, 'staging', {
        sourceRef: 'refs/heads/other',
        persona: 'ci_service_role',
      }),
      'OPS09',
      /is not the revision of release/,
    );
    const d = await recordDeployment(r.release_id, 'staging', { persona: 'ci_service_role' });
    expect(d.source_ref).toBe('refs/tags/v1');
  });

  it("a deployment's source_ref never changes, not even by the sre who made it", async () => {
    const r = await approvedRelease();
    const d = await promote(db, r.release_id, 'staging');
    await expectPgError(
      db.as('sre', who.sre, (c) =>
        c.query(
          `update ops.deployments set source_ref = 'refs/heads/unreviewed-hotfix' where deployment_id = $1`,
          [d.deployment_id],
        ),
      ),
      '42501',
      /permission denied for table deployments/,
    );
    // Whoever could write the column (the owner) is refused by the rule itself.
    await expectPgError(
      db.admin.query(`update ops.deployments set source_ref = 'refs/heads/x' where deployment_id = $1`, [
        d.deployment_id,
      ]),
      'OPS22',
      /a deployment's revision never changes/,
    );
  });

  it('revising makes checks, evidence and approvals stale; re-approved, it is promoted', async () => {
    const r = await approvedRelease();
    await deployStagingWithHealth(db, r);
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);

    const rev = await reviseRelease(
      db,
      r.release_id,
      'refs/tags/v1.0.1',
      'hotfix for the invoice rounding bug',
    );
    expect(rev).toMatchObject({ revision: 2, source_ref: 'refs/tags/v1.0.1' });
    const gates = await storedGates(db, r.release_id);
    expect(gates).toEqual({ G1: 'pending', G2: 'pending', G3: 'pending', G4: 'pending' });
    const why = (await blockers(db, r.release_id, 'production')).map((b) => b.reason).join('\n');
    expect(why).toContain(
      `G2: the qa_tester approval by ${who.qa} is stale: approved for refs/tags/v1, release is now at refs/tags/v1.0.1`,
    );
    expect(why).toContain(
      `G3: the release_manager approval by ${who.rm} is stale: approved for refs/tags/v1, release is now at refs/tags/v1.0.1`,
    );
    expect(why).toMatch(
      /G1: check "build" passed for refs\/tags\/v1, release is now at refs\/tags\/v1\.0\.1/,
    );
    // The old staging deployment does not stand for the new revision.
    await expectPgError(promote(db, r.release_id, 'production'), 'OPS09', /is not eligible for production/);

    // Re-checked, re-approved (the same people may approve again), redeployed: promoted.
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    const staging = await deployStagingWithHealth(db, r);
    expect(staging).toMatchObject({ status: 'succeeded', g4_status: 'passed' });
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    const prod = await promote(db, r.release_id, 'production');
    const { rows } = await db.admin.query(
      'select source_ref, revision from ops.deployments where deployment_id = $1',
      [prod.deployment_id],
    );
    expect(rows[0]).toEqual({ source_ref: 'refs/tags/v1.0.1', revision: 2 });

    const timeline = await db.as('audit_reader', who.auditor, (c) =>
      c.query(`select kind, summary from ops.release_timeline($1) where kind = 'revision'`, [r.release_id]),
    );
    expect(timeline.rows.map((x) => x.summary)).toEqual([
      expect.stringMatching(
        /revision 2: refs\/tags\/v1\.0\.1 \(was refs\/tags\/v1\) by dev-dana: hotfix for the invoice rounding bug/,
      ),
    ]);
  });

  it('only a release_manager or the developer who owns the release revises it, with a reason', async () => {
    const r = await approvedRelease();
    await expectPgError(
      reviseRelease(db, r.release_id, 'refs/x', 'because', 'qa_tester', who.qa),
      '42501',
      /./,
    );
    await expectPgError(
      reviseRelease(db, r.release_id, 'refs/x', 'because', 'developer', 'dev-other'),
      'OPS04',
      /does not exist/,
    );
    await expectPgError(
      reviseRelease(db, r.release_id, 'refs/x', '  ', 'release_manager', who.rm),
      'OPS22',
      /reason/,
    );
    await expectPgError(
      reviseRelease(db, r.release_id, 'refs/tags/v1', 'same', 'release_manager', who.rm),
      'OPS09',
      /already at/,
    );
    await expect(
      reviseRelease(db, r.release_id, 'refs/x', 'fix', 'developer', who.dev),
    ).resolves.toMatchObject({
      revision: 2,
    });
    // Nobody writes the revision history or the release's revision directly.
    await expectPgError(
      db.as('release_manager', who.rm, (c) =>
        c.query(
          `insert into ops.release_revisions (release_id, revision, source_ref, reason) values ($1, 9, 'x', 'y')`,
          [r.release_id],
        ),
      ),
      '42501',
      /permission denied/,
    );
    await expectPgError(
      db.admin.query(`update ops.releases set source_ref = 'refs/y' where release_id = $1`, [r.release_id]),
      'OPS03',
      /ops.revise_release/,
    );
  });

  it('a release in production is not revised', async () => {
    const r = await approvedRelease();
    await deployStagingWithHealth(db, r);
    await promote(db, r.release_id, 'production');
    await expectPgError(reviseRelease(db, r.release_id, 'refs/tags/v2', 'more'), 'OPS09', /production/);
  });
});

describe('stored gate status follows policy changes', () => {
  it('a required G1 check added after G1-G3 passed takes G1 out of passed in the stored status too', async () => {
    const project = `proj-${Math.random().toString(36).slice(2, 8)}`;
    const r = await createRelease(db, { project });
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    expect(await storedGates(db, r.release_id)).toMatchObject({ G1: 'passed', G2: 'passed', G3: 'passed' });
    await db.admin.query(
      `insert into ops.check_requirements (project, gate_code, check_name) values ($1, 'G1', 'sbom')`,
      [project],
    );
    expect((await blockers(db, r.release_id, 'staging')).map((b) => b.reason)).toContain(
      'G1: required check "sbom" has not reported',
    );
    expect(await storedGates(db, r.release_id)).toMatchObject({ G1: 'in_progress', G2: 'in_progress' });
    await db.admin.query(`delete from ops.check_requirements where project = $1`, [project]);
    expect(await storedGates(db, r.release_id)).toMatchObject({ G1: 'passed', G2: 'passed', G3: 'passed' });
  });

  it('a higher G2 minimum in gate_policies and a new evidence requirement are reflected at once', async () => {
    const r = await approvedRelease();
    await db.admin.query(`update ops.gate_policies set min_approvals = 2 where gate_code = 'G2'`);
    try {
      expect((await storedGates(db, r.release_id)).G2).toBe('in_progress');
    } finally {
      await db.admin.query(`update ops.gate_policies set min_approvals = 1 where gate_code = 'G2'`);
    }
    expect((await storedGates(db, r.release_id)).G2).toBe('passed');
    await db.admin.query(
      `insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to) values ('G3', '{uat_summary}', 'gate')`,
    );
    try {
      expect((await storedGates(db, r.release_id)).G3).toBe('in_progress');
    } finally {
      await db.admin.query(
        `delete from ops.gate_evidence_requirements where artifact_types = '{uat_summary}'`,
      );
    }
    expect((await storedGates(db, r.release_id)).G3).toBe('passed');
  });
});

describe('one time in SQL: ops.parse_instant', () => {
  const at = (tz: string, text: string) =>
    db.as('sre', who.sre, async (c) => {
      await c.query(`select set_config('TimeZone', $1, true)`, [tz]);
      const { rows } = await c.query(
        `select to_char(ops.parse_instant($1, 'payload.deployed_at') at time zone 'UTC',
                        'YYYY-MM-DD"T"HH24:MI:SS"Z"') as utc`,
        [text],
      );
      return rows[0]!.utc as string;
    });

  it('a local time is refused whatever the session TimeZone; with an offset it is one instant everywhere', async () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York']) {
      await expectPgError(
        at(tz, '2027-03-28T02:30:00'),
        'OPS22',
        /payload\.deployed_at "2027-03-28T02:30:00" has no time zone offset/,
      );
      expect(await at(tz, '2027-03-28T02:30:00Z')).toBe('2027-03-28T02:30:00Z');
      expect(await at(tz, '2027-03-28T04:30:00+02:00')).toBe('2027-03-28T02:30:00Z');
    }
    // What the bare cast does instead: three instants for one text.
    const cast = await Promise.all(
      ['UTC', 'Europe/Berlin', 'America/New_York'].map((tz) =>
        db.as('sre', who.sre, async (c) => {
          await c.query(`select set_config('TimeZone', $1, true)`, [tz]);
          const { rows } = await c.query(
            `select to_char('2027-03-28T02:30:00'::timestamptz at time zone 'UTC', 'HH24:MI') as utc`,
          );
          return rows[0]!.utc as string;
        }),
      ),
    );
    expect(new Set(cast).size).toBe(3);
    await expectPgError(at('UTC', 'next tuesday'), 'OPS22', /is not an ISO-8601 instant/);
  });
});
