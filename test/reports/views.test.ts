// Each reporting view on known scenarios, row for row; the evidence each gate needs comes from
// ops.gate_evidence_requirements, for the gates themselves as for the report; deployments keep the
// history of their status changes.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activeBypass,
  approveException,
  attachEvidence,
  blockers,
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
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { one } from './fixtures.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await useTestDatabase();
});

/** Rows of a view as the auditor reads them. */
function read<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  return db.as('audit_reader', who.auditor, async (c) => (await c.query(sql, params)).rows as T[]);
}

/** The gates as stored, by code: what the view must repeat. */
async function storedGates(releaseId: string) {
  const { rows } = await db.admin.query(
    `select gate_code::text, gate_id, gate_name, status::text, entered_at, resolved_at, resolved_by, exception_id
     from ops.release_gates where release_id = $1 order by gate_code`,
    [releaseId],
  );
  return Object.fromEntries(rows.map((r) => [r.gate_code, r]));
}

describe('v_release_gate_summary', () => {
  let a: Release;
  let rejected: Release;

  beforeAll(async () => {
    a = await createRelease(db, { project: 'rpt-summary', name: 'summary-a' });
    // G1: a flaky build rerun to green, a warning and a skip on checks that are not required.
    await recordCheck(db, a.release_id, 'G1', 'build', 'fail');
    await recordCheck(db, a.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, a.release_id, 'G1', 'lint', 'warning', { required: false });
    await recordCheck(db, a.release_id, 'G1', 'docs', 'skipped', { required: false });
    // G2: e2e rerun to green, a test result, one QA approves, another requests changes.
    await recordCheck(db, a.release_id, 'G2', 'e2e', 'fail');
    await recordCheck(db, a.release_id, 'G2', 'e2e', 'pass');
    await attachEvidence(db, 'qa_tester', who.qa, a.release_id, 'test_result', 'G2');
    await submitApproval(db, 'qa_tester', who.qa, a.release_id, 'G2', 'approved');
    await submitApproval(db, 'qa_tester', 'qa-quentin', a.release_id, 'G2', 'request_changes');
    // G3: a rollback plan on the release (no gate named): G3's own evidence count stays 0.
    await attachEvidence(db, 'release_manager', who.rm, a.release_id, 'rollback_plan', null);

    rejected = await createRelease(db, { project: 'rpt-summary', name: 'summary-rejected' });
    await passG1(db, rejected);
    await attachEvidence(db, 'qa_tester', who.qa, rejected.release_id, 'uat_summary', 'G2');
    // QA approves, then rejects: the latest decision counts.
    await submitApproval(db, 'qa_tester', who.qa, rejected.release_id, 'G2', 'approved');
    await submitApproval(db, 'qa_tester', who.qa, rejected.release_id, 'G2', 'rejected');
  });

  const columns = `gate_code::text, gate_id, gate_name, status::text, entered_at, resolved_at, resolved_by,
    exception_id, release_name, release_status::text, checks_pass, checks_fail, checks_warning, checks_skipped,
    check_runs, evidence_count, approvals, rejections, changes_requested`;

  const counts = (
    checks_pass: number,
    checks_fail: number,
    checks_warning: number,
    checks_skipped: number,
    check_runs: number,
    evidence_count: number,
    approvals: number,
    rejections: number,
    changes_requested: number,
  ) => ({
    checks_pass,
    checks_fail,
    checks_warning,
    checks_skipped,
    check_runs,
    evidence_count,
    approvals,
    rejections,
    changes_requested,
  });

  it('counts the latest result per check name, evidence on the gate, and each approver once', async () => {
    const rows = await read(
      `select ${columns} from ops.v_release_gate_summary where release_id = $1 order by gate_code`,
      [a.release_id],
    );
    const gates = await storedGates(a.release_id);
    const release = { release_name: 'summary-a', release_status: 'in_progress' };
    expect(rows).toEqual([
      { ...gates.G1, ...release, ...counts(1, 0, 1, 1, 4, 0, 0, 0, 0) },
      { ...gates.G2, ...release, ...counts(1, 0, 0, 0, 2, 1, 1, 0, 1) },
      { ...gates.G3, ...release, ...counts(0, 0, 0, 0, 0, 0, 0, 0, 0) },
      { ...gates.G4, ...release, ...counts(0, 0, 0, 0, 0, 0, 0, 0, 0) },
    ]);
    // The stored statuses the rows repeat: G2 held by the request for changes.
    expect(rows.map((r) => (r as { status: string }).status)).toEqual([
      'passed',
      'in_progress',
      'pending',
      'pending',
    ]);
  });

  it("counts an approver's latest decision: approved then rejected is one rejection", async () => {
    const rows = await read(
      `select ${columns} from ops.v_release_gate_summary where release_id = $1 order by gate_code`,
      [rejected.release_id],
    );
    const gates = await storedGates(rejected.release_id);
    const release = { release_name: 'summary-rejected', release_status: 'in_progress' };
    expect(rows).toEqual([
      { ...gates.G1, ...release, ...counts(1, 0, 0, 0, 1, 0, 0, 0, 0) },
      { ...gates.G2, ...release, ...counts(0, 0, 0, 0, 0, 1, 0, 1, 0) },
      { ...gates.G3, ...release, ...counts(0, 0, 0, 0, 0, 0, 0, 0, 0) },
      { ...gates.G4, ...release, ...counts(0, 0, 0, 0, 0, 0, 0, 0, 0) },
    ]);
    expect(gates.G2.status).toBe('failed');
  });
});

describe('v_evidence_completeness', () => {
  const columns = `gate_code::text, gate_status::text, required, optional, present::text[], missing, evidence_count,
    waived, complete`;
  const row = (
    gate_code: string,
    gate_status: string,
    required: string[],
    optional: string[],
    present: string[],
    missing: string[],
    evidence_count: number,
    waived = false,
  ) => ({
    gate_code,
    gate_status,
    required,
    optional,
    present,
    missing,
    evidence_count,
    waived,
    complete: missing.length === 0 || waived,
  });
  const G2_NEEDS = 'test_result or uat_summary';

  const rowsOf = (releaseId: string) =>
    read(`select ${columns} from ops.v_evidence_completeness where release_id = $1 order by gate_code`, [
      releaseId,
    ]);

  it('a fresh release: G2, G3 and G4 miss their evidence; G1 needs none (the build log is informational)', async () => {
    const r = await createRelease(db, { project: 'rpt-evidence' });
    expect(await rowsOf(r.release_id)).toEqual([
      row('G1', 'pending', [], ['build_log'], [], [], 0),
      row('G2', 'pending', [G2_NEEDS], [], [], [G2_NEEDS], 0),
      row('G3', 'pending', ['rollback_plan'], [], [], ['rollback_plan'], 0),
      row('G4', 'pending', ['health_check'], [], [], ['health_check'], 0),
    ]);
  });

  it('evidence counts where it hangs: a G2 check, the release for G3, the deployment for G4', async () => {
    const r = await createRelease(db, { project: 'rpt-evidence' });
    await attachEvidence(db, 'ci_service_role', who.ci, r.release_id, 'build_log', 'G1');
    await passG1(db, r);
    const check = await recordCheck(db, r.release_id, 'G2', 'uat', 'pass');
    // A UAT summary attached to the G2 check, no gate named.
    await db.as('qa_tester', who.qa, (c) =>
      c.query(
        `select ops.attach_evidence(p_release_id => $1, p_artifact_type => 'uat_summary',
           p_artifact_url => 'https://qa.example/uat', p_check_id => $2)`,
        [r.release_id, check.check_id],
      ),
    );
    await submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2');
    // The rollback plan on the release itself.
    await attachEvidence(db, 'release_manager', who.rm, r.release_id, 'rollback_plan', null);
    await submitApproval(db, 'release_manager', who.rm, r.release_id, 'G3');
    await deployStagingWithHealth(db, r);

    expect(await rowsOf(r.release_id)).toEqual([
      row('G1', 'passed', [], ['build_log'], ['build_log'], [], 1),
      row('G2', 'passed', [G2_NEEDS], [], ['uat_summary'], [], 1),
      row('G3', 'passed', ['rollback_plan'], [], ['rollback_plan'], [], 1),
      row('G4', 'passed', ['health_check'], [], ['health_check'], [], 1),
    ]);
  });

  it("G4 needs the latest deployment's health check: staging's does not count for production", async () => {
    const r = await createRelease(db, { project: 'rpt-evidence' });
    await passAll(db, r);
    await promote(db, r.release_id, 'production');
    expect(await rowsOf(r.release_id)).toEqual([
      row('G1', 'passed', [], ['build_log'], [], [], 0),
      row('G2', 'passed', [G2_NEEDS], [], ['test_result'], [], 1),
      row('G3', 'passed', ['rollback_plan'], [], ['rollback_plan'], [], 1),
      row('G4', 'in_progress', ['health_check'], [], [], ['health_check'], 0),
    ]);
  });

  it('an active evidence waiver completes the gate without making the evidence present', async () => {
    const r = await createRelease(db, { project: 'rpt-evidence' });
    await passG1(db, r);
    const w = await requestException(db, r.release_id, ['G2'], { type: 'evidence_waiver' });
    await approveException(db, w.exception_id);
    const [, g2] = await rowsOf(r.release_id);
    // A waiver is no input of its own: the gate still waits for its QA sign-off.
    expect(g2).toEqual(row('G2', 'pending', [G2_NEEDS], [], [], [G2_NEEDS], 0, true));

    await expireException(db, w.exception_id);
    const [, expired] = await rowsOf(r.release_id);
    expect(expired).toEqual(row('G2', 'pending', [G2_NEEDS], [], [], [G2_NEEDS], 0, false));
  });
});

describe('ops.gate_evidence_requirements is the rule, for the gates and for the report', () => {
  it('a new requirement holds the gate, with its reason, and shows as missing until attached', async () => {
    const r = await createRelease(db, { project: 'rpt-policy' });
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    expect(await blockers(db, r.release_id, 'production')).toEqual([
      { gate_code: 'G4', status: 'pending', reason: 'G4: the release has not been deployed yet' },
    ]);

    const { rows } = await db.admin.query(
      `insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to)
       values ('G3', '{approval_record,reference}', 'gate') returning requirement_id`,
    );
    try {
      expect((await blockers(db, r.release_id, 'production')).slice(0, 1)).toEqual([
        {
          gate_code: 'G3',
          status: 'in_progress',
          reason: 'G3: no approval_record or reference evidence attached',
        },
      ]);
      const [g3] = await read(
        `select required, missing from ops.v_evidence_completeness where release_id = $1 and gate_code = 'G3'`,
        [r.release_id],
      );
      expect(g3).toEqual({
        required: ['approval_record or reference', 'rollback_plan'],
        missing: ['approval_record or reference'],
      });

      await attachEvidence(db, 'release_manager', who.rm, r.release_id, 'approval_record', 'G3');
      expect(await blockers(db, r.release_id, 'production')).toEqual([
        { gate_code: 'G4', status: 'pending', reason: 'G4: the release has not been deployed yet' },
      ]);
    } finally {
      await db.admin.query('delete from ops.gate_evidence_requirements where requirement_id = $1', [
        rows[0].requirement_id,
      ]);
    }
  });

  it('making the build log blocking makes G1 wait for it', async () => {
    const r = await createRelease(db, { project: 'rpt-policy' });
    await passG1(db, r);
    await db.admin.query(`update ops.gate_evidence_requirements set blocking = true where gate_code = 'G1'`);
    try {
      const g1 = (await blockers(db, r.release_id, 'staging')).filter((b) => b.gate_code === 'G1');
      expect(g1).toEqual([
        { gate_code: 'G1', status: 'in_progress', reason: 'G1: no build_log evidence attached' },
      ]);
    } finally {
      await db.admin.query(
        `update ops.gate_evidence_requirements set blocking = false where gate_code = 'G1'`,
      );
    }
  });
});

describe('v_exception_status', () => {
  it('active, expired, pending approval and scheduled, computed now, with the time left while active', async () => {
    const r = await createRelease(db, { project: 'rpt-exceptions' });
    const opts = { type: 'timing_override' };
    const active = await approveException(
      db,
      (await requestException(db, r.release_id, ['G3'], opts)).exception_id,
    );
    const expired = await approveException(
      db,
      (await requestException(db, r.release_id, ['G2'], opts)).exception_id,
    );
    await expireException(db, expired.exception_id);
    await db.as('release_manager', who.rm, (c) =>
      c.query(`select ops.review_exception($1, 'complete')`, [expired.exception_id]),
    );
    const pending = await requestException(db, r.release_id, ['G4'], opts);
    const lapsed = await requestException(db, r.release_id, ['G1', 'G2'], opts);
    await expireException(db, lapsed.exception_id);
    const scheduled = await db.as('release_manager', who.rm2, (c) =>
      one<{ exception_id: string }>(
        c,
        `select exception_id from ops.request_exception(p_release_id => $1, p_exception_type => 'timing_override',
           p_impacted_gates => '{G4}', p_reason => 'change freeze next week', p_risk_statement => 'low',
           p_effective_from => now() + interval '1 hour', p_expires_at => now() + interval '1 day')`,
        [r.release_id],
      ),
    );
    await approveException(db, scheduled.exception_id);

    const rows = await read<Record<string, unknown>>(
      `select exception_id, release_name, exception_type::text, impacted_gates::text[], state, post_review_status::text,
              extract(epoch from time_left)::float8 as time_left, requested_by, approver_id
       from ops.v_exception_status where release_id = $1`,
      [r.release_id],
    );
    const byId = Object.fromEntries(rows.map((x) => [x.exception_id, x]));
    const base = { release_name: r.release_name, exception_type: 'timing_override', requested_by: who.rm2 };
    expect(rows).toHaveLength(5);
    expect(byId[active.exception_id]).toEqual({
      ...base,
      exception_id: active.exception_id,
      impacted_gates: ['G3'],
      state: 'active',
      post_review_status: 'pending',
      time_left: expect.any(Number),
      approver_id: who.rm3,
    });
    const left = byId[active.exception_id]!.time_left as number;
    expect(left).toBeGreaterThan(86_400 - 600);
    expect(left).toBeLessThanOrEqual(86_400);
    expect(byId[expired.exception_id]).toEqual({
      ...base,
      exception_id: expired.exception_id,
      impacted_gates: ['G2'],
      state: 'expired',
      post_review_status: 'complete',
      time_left: null,
      approver_id: who.rm3,
    });
    expect(byId[pending.exception_id]).toEqual({
      ...base,
      exception_id: pending.exception_id,
      impacted_gates: ['G4'],
      state: 'pending_approval',
      post_review_status: 'pending',
      time_left: null,
      approver_id: null,
    });
    expect(byId[lapsed.exception_id]).toEqual({
      ...base,
      exception_id: lapsed.exception_id,
      impacted_gates: ['G1', 'G2'],
      state: 'expired',
      post_review_status: 'pending',
      time_left: null,
      approver_id: null,
    });
    expect(byId[scheduled.exception_id]).toEqual({
      ...base,
      exception_id: scheduled.exception_id,
      impacted_gates: ['G4'],
      state: 'scheduled',
      post_review_status: 'pending',
      time_left: null,
      approver_id: who.rm3,
    });
  });

  it('the state is ops.exception_is_active at read time: active turns expired the moment the window closes', async () => {
    const r = await createRelease(db, { project: 'rpt-exceptions' });
    const e = await activeBypass(db, r.release_id, ['G1']);
    const state = async () =>
      (
        await read<{ state: string }>('select state from ops.v_exception_status where exception_id = $1', [
          e.exception_id,
        ])
      )[0]!.state;
    expect(await state()).toBe('active');
    await expireException(db, e.exception_id);
    expect(await state()).toBe('expired');
  });

  it('an exception that expires while the reading transaction is open reads as expired, not pending', async () => {
    const r = await createRelease(db, { project: 'rpt-exceptions' });
    const e = await activeBypass(db, r.release_id, ['G1']);
    const seen = await db.as('audit_reader', who.auditor, async (c) => {
      const before = await c.query<{ state: string }>(
        'select state from ops.v_exception_status where exception_id = $1',
        [e.exception_id],
      );
      // The window closes now, after this transaction began (now() stays at its start).
      await db.admin.query(
        'update ops.exceptions set expires_at = clock_timestamp() where exception_id = $1',
        [e.exception_id],
      );
      const after = await c.query<{ state: string; time_left: string | null }>(
        'select state, time_left::text from ops.v_exception_status where exception_id = $1',
        [e.exception_id],
      );
      return { before: before.rows[0]!.state, after: after.rows[0]! };
    });
    expect(seen).toEqual({ before: 'active', after: { state: 'expired', time_left: null } });
  });
});

describe('v_deployment_history', () => {
  it('deployments and rollbacks per environment, with the G4 outcome and the time to it', async () => {
    const r = await createRelease(db, { project: 'rpt-deployments' });
    await passAll(db, r);
    const { rows: staging } = await db.admin.query(
      `select deployment_id from ops.deployments where release_id = $1 and environment = 'staging'`,
      [r.release_id],
    );
    const stagingId: string = staging[0].deployment_id;
    const production = await promote(db, r.release_id, 'production');
    await updateDeployment(db, production.deployment_id, 'failed');
    await recordHealthCheck(db, production.deployment_id, 'fail');
    // A rollback withdraws G4, so it comes after the production attempt.
    const rollback = await db.as('sre', who.sre, (c) =>
      one<{ deployment_id: string }>(
        c,
        `select deployment_id from ops.record_deployment(p_release_id => $1, p_environment => 'staging',
           p_status => 'succeeded', p_rollback_of => $2)`,
        [r.release_id, stagingId],
      ),
    );

    const rows = await read(
      `select deployment_id, environment::text, kind, status::text, rollback_of, rolled_back_by, deployed_by,
              g4_status::text, time_to_g4::text
       from ops.v_deployment_history where release_id = $1 order by deployed_at desc, deployment_id desc`,
      [r.release_id],
    );
    const { rows: times } = await db.admin.query(
      `select deployment_id, (g4_resolved_at - deployed_at)::text as time_to_g4 from ops.deployments
       where release_id = $1 and g4_resolved_at is not null`,
      [r.release_id],
    );
    const timeTo = Object.fromEntries(times.map((t) => [t.deployment_id, t.time_to_g4]));
    expect(rows).toEqual([
      {
        deployment_id: rollback.deployment_id,
        environment: 'staging',
        kind: 'rollback',
        status: 'succeeded',
        rollback_of: stagingId,
        rolled_back_by: null,
        deployed_by: who.sre,
        g4_status: 'pending',
        time_to_g4: null,
      },
      {
        deployment_id: production.deployment_id,
        environment: 'production',
        kind: 'deployment',
        status: 'failed',
        rollback_of: null,
        rolled_back_by: null,
        deployed_by: who.sre,
        g4_status: 'failed',
        time_to_g4: timeTo[production.deployment_id],
      },
      {
        deployment_id: stagingId,
        environment: 'staging',
        kind: 'deployment',
        status: 'succeeded',
        rollback_of: null,
        rolled_back_by: rollback.deployment_id,
        deployed_by: who.sre,
        g4_status: 'passed',
        time_to_g4: timeTo[stagingId],
      },
    ]);
    expect(timeTo[stagingId]).toMatch(/^00:00:0\d\.\d+$/);
  });
});

describe('ops.deployment_transitions', () => {
  it('records each status and G4 change of a deployment with who made it', async () => {
    const r = await createRelease(db, { project: 'rpt-deployments' });
    await passG1(db, r);
    await passG2(db, r);
    const d = await promote(db, r.release_id, 'staging');
    await updateDeployment(db, d.deployment_id, 'succeeded');
    await recordHealthCheck(db, d.deployment_id, 'pass');
    const { rows } = await db.admin.query(
      `select from_status::text, to_status::text, from_g4_status::text, to_g4_status::text, actor, created_persona::text
       from ops.deployment_transitions where deployment_id = $1 order by created_at`,
      [d.deployment_id],
    );
    expect(rows).toEqual([
      {
        from_status: 'in_progress',
        to_status: 'succeeded',
        from_g4_status: 'pending',
        to_g4_status: 'pending',
        actor: who.sre,
        created_persona: 'sre',
      },
      {
        from_status: 'succeeded',
        to_status: 'succeeded',
        from_g4_status: 'pending',
        to_g4_status: 'passed',
        actor: who.sre,
        created_persona: 'sre',
      },
    ]);
  });

  it('is append-only', async () => {
    const { rows } = await db.admin.query('select transition_id from ops.deployment_transitions limit 1');
    await expect(
      db.admin.query(`update ops.deployment_transitions set actor = 'someone' where transition_id = $1`, [
        rows[0].transition_id,
      ]),
    ).rejects.toMatchObject({ code: 'P0001' });
    await expect(
      db.admin.query('delete from ops.deployment_transitions where transition_id = $1', [
        rows[0].transition_id,
      ]),
    ).rejects.toMatchObject({ code: 'P0001' });
  });
});

describe('the views are read-only reports', () => {
  it('refuses writes even to the owner', async () => {
    await expect(db.admin.query('delete from ops.v_deployment_history')).rejects.toMatchObject({
      code: '42501',
      message: expect.stringMatching(/read-only report/),
    });
  });
});
