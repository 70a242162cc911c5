// Timing governance in the SQL core: freeze windows judged at the moment of the write (also for a
// deployment started before the window), weekly windows across daylight-saving changes, soak time
// restarted by a rollback, approval and G4 deadlines judged at read time, and timing_override
// exceptions that lift one release's freeze until they expire.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import {
  approveException,
  blockers,
  createRelease,
  deployStagingWithHealth,
  expectPgError,
  expireException,
  isEligible,
  passG1,
  passG2,
  passG3,
  promote,
  type Release,
  recordHealthCheck,
  requestException,
  storedGates,
  uniqueName,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { eventually } from '../webhooks/receiver.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

interface FreezeWindow {
  window_id: string;
  name: string;
}

function asPersona<T>(persona: Persona, sub: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return db.as(persona, sub, async (c: pg.PoolClient) => (await c.query(sql, params)).rows as T[]);
}

/** A one-off production freeze from a minute ago for an hour, added by a release manager. */
async function freezeNow(
  opts: { project?: string; env?: string; name?: string } = {},
): Promise<FreezeWindow> {
  const [w] = await asPersona<FreezeWindow>(
    'release_manager',
    who.rm,
    `select window_id, name from ops.add_freeze_window(p_name => $1, p_environment => $2,
       p_reason => 'quarter-end close', p_starts_at => now() - interval '1 minute',
       p_ends_at => now() + interval '1 hour', p_project => $3)`,
    [opts.name ?? uniqueName('freeze'), opts.env ?? 'production', opts.project ?? null],
  );
  return w!;
}

async function endFreeze(windowId: string): Promise<void> {
  await asPersona('release_manager', who.rm, `select ops.end_freeze_window($1, 'close finished')`, [
    windowId,
  ]);
}

/** A release with G1-G3 passed and staging confirmed healthy: eligible for production. */
async function readyForProduction(project = 'odoo-core'): Promise<Release> {
  const r = await createRelease(db, { project });
  await passG1(db, r);
  await passG2(db, r);
  await passG3(db, r);
  await deployStagingWithHealth(db, r);
  return r;
}

async function timeline(releaseId: string): Promise<{ kind: string; summary: string }[]> {
  return asPersona('audit_reader', who.auditor, 'select kind, summary from ops.release_timeline($1)', [
    releaseId,
  ]);
}

/** Polls (generously) until fn returns true; the machine may be busy. */
async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('freeze windows', () => {
  it('refuse a promotion during the window, naming it and when it ends; other projects and staging go on', async () => {
    const r = await readyForProduction('freeze-a');
    const other = await readyForProduction('freeze-b');
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    const w = await freezeNow({ project: 'freeze-a' });
    try {
      expect(await isEligible(db, r.release_id, 'production')).toBe(false);
      const b = await blockers(db, r.release_id, 'production');
      expect(b).toEqual([
        expect.objectContaining({
          gate_code: null,
          reason: expect.stringMatching(
            new RegExp(
              `^freeze "${w.name}" \\(${w.window_id}\\) is active for production of freeze-a until \\d{4}-`,
            ),
          ),
        }),
      ]);
      await expectPgError(promote(db, r.release_id, 'production'), 'OPS09', /freeze ".*" .* is active/);
      // Another project, and the release's other environment, are not frozen.
      expect(await isEligible(db, other.release_id, 'production')).toBe(true);
      expect(await isEligible(db, r.release_id, 'staging')).toBe(true);
    } finally {
      await endFreeze(w.window_id);
    }
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    const d = await promote(db, r.release_id, 'production');
    expect(d.status).toBe('in_progress');
    const kinds = (await timeline(r.release_id)).map((e) => e.kind);
    expect(kinds).toContain('freeze_started');
    expect(kinds).toContain('freeze_ended');
  });

  it('refuse the completion of a promotion started before the window; a failure or rollback still goes through', async () => {
    const r = await readyForProduction('freeze-c');
    const d = await promote(db, r.release_id, 'production');
    const w = await freezeNow({ project: 'freeze-c' });
    try {
      await expectPgError(
        updateDeployment(db, d.deployment_id, 'succeeded'),
        'OPS09',
        /freeze ".*" .* is active/,
      );
      // Even the table owner, writing directly, cannot complete it.
      await expectPgError(
        db.admin.query(`update ops.deployments set status = 'succeeded' where deployment_id = $1`, [
          d.deployment_id,
        ]),
        'OPS09',
        /freeze/,
      );
      const failed = await updateDeployment(db, d.deployment_id, 'failed');
      expect(failed.status).toBe('failed');
    } finally {
      await endFreeze(w.window_id);
    }
  });

  it('are managed by release managers; an SRE may add one but not end it; others may do neither', async () => {
    const w = await freezeNow({ project: 'freeze-d' });
    const [sreWindow] = await asPersona<FreezeWindow>(
      'sre',
      who.sre,
      `select window_id, name from ops.add_freeze_window('incident freeze', 'production', 'sev1 in progress',
         now(), now() + interval '2 hours', 'freeze-d')`,
    );
    expect(sreWindow!.window_id).toBeTruthy();
    await expectPgError(
      asPersona('sre', who.sre, `select ops.end_freeze_window($1, 'done')`, [w.window_id]),
      '42501',
      /permission denied/,
    );
    for (const persona of ['developer', 'qa_tester', 'ci_service_role', 'audit_reader'] as const) {
      await expectPgError(
        asPersona(
          persona,
          'someone',
          `select ops.add_freeze_window('x', 'production', 'y', now(), now() + interval '1 hour')`,
        ),
        '42501',
        /permission denied/,
      );
    }
    await endFreeze(w.window_id);
    await expectPgError(endFreeze(w.window_id), 'OPS09', /already ended/);
    await endFreeze(sreWindow!.window_id);
    // Bad input is refused with a clear reason.
    await expectPgError(
      asPersona(
        'release_manager',
        who.rm,
        `select ops.add_freeze_window('x', 'production', 'y', now(), null)`,
      ),
      'OPS22',
      /not valid/,
    );
    await expectPgError(
      asPersona(
        'release_manager',
        who.rm,
        `select ops.add_freeze_window('x', 'production', 'y', now(), null, null, 'Mars/Olympus', 5, '16:00', 1, '06:00')`,
      ),
      'OPS22',
      /not an IANA zone/,
    );
    // A recorded window changes only by ending it.
    await expectPgError(
      db.admin.query(`update ops.freeze_windows set reason = 'rewritten' where window_id = $1`, [
        w.window_id,
      ]),
      'OPS22',
      /recorded as it was added/,
    );
  });

  it('recurring weekly in an IANA zone land on the right instants across daylight-saving changes', async () => {
    const { rows } = await db.admin.query(
      `insert into ops.freeze_windows (name, environment, reason, starts_at, time_zone, weekly_from_dow,
         weekly_from_time, weekly_until_dow, weekly_until_time)
       values ('weekend', 'production', 'no weekend changes', '2027-01-01T00:00:00Z', 'Europe/Brussels', 5, '16:00', 1, '06:00')
       returning window_id`,
    );
    const id = rows[0]!.window_id;
    const occurrences = async (from: string, until: string) =>
      (
        await asPersona<{ s: string; e: string }>(
          'audit_reader',
          who.auditor,
          `select to_char(o.starts_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as s,
                  to_char(o.ends_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI"Z"') as e
           from ops.freeze_windows w, ops.freeze_occurrences(w, $2, $3) o where w.window_id = $1`,
          [id, from, until],
        )
      ).map((o) => `${o.s}/${o.e}`);
    // Spring forward (Sunday 2027-03-28): Friday 16:00 CET is 15:00Z, Monday 06:00 CEST is 04:00Z.
    expect(await occurrences('2027-03-16T00:00:00Z', '2027-04-03T00:00:00Z')).toEqual([
      '2027-03-19T15:00Z/2027-03-22T05:00Z',
      '2027-03-26T15:00Z/2027-03-29T04:00Z',
      '2027-04-02T14:00Z/2027-04-05T04:00Z',
    ]);
    // Fall back (Sunday 2027-10-31): Friday 16:00 CEST is 14:00Z, Monday 06:00 CET is 05:00Z.
    expect(await occurrences('2027-10-28T00:00:00Z', '2027-10-30T00:00:00Z')).toEqual([
      '2027-10-29T14:00Z/2027-11-01T05:00Z',
    ]);
    const activeAt = async (at: string) =>
      (
        await asPersona<{ window_id: string }>(
          'developer',
          who.dev,
          'select window_id from ops.freeze_windows_active($1)',
          [at],
        )
      ).some((w) => w.window_id === id);
    // 04:30Z on Monday 2027-03-29 is 06:30 CEST: over (a fixed +01:00 offset would say 05:30, still frozen).
    expect(await activeAt('2027-03-29T03:59:00Z')).toBe(true);
    expect(await activeAt('2027-03-29T04:30:00Z')).toBe(false);
    expect(await activeAt('2027-03-26T14:59:00Z')).toBe(false);
    expect(await activeAt('2027-03-26T15:00:00Z')).toBe(true);
  });
});

describe('soak time', () => {
  it('counts from the G4 confirmation in staging, says how long is left, and restarts after a rollback', async () => {
    const project = uniqueName('soak');
    await asPersona(
      'release_manager',
      who.rm,
      `select ops.set_soak_policy('staging', 'production', '2 hours', $1)`,
      [project],
    );
    const r = await readyForProduction(project);
    let b = await blockers(db, r.release_id, 'production');
    expect(b.map((x) => x.reason)).toEqual([
      expect.stringMatching(/^soak: .* stood healthy in staging for .* of 02:00:00; .* left \(until /),
    ]);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    await expectPgError(promote(db, r.release_id, 'production'), 'OPS09', /soak/);

    // Once the soak has elapsed, the release is eligible. The confirmation and the success are
    // recorded as they happened and cannot be moved back, so the policy is shortened instead
    // (the release manager changes only its duration) and restored afterwards.
    const { rows } = await db.admin.query(
      `select deployment_id from ops.deployments where release_id = $1 and environment = 'staging'`,
      [r.release_id],
    );
    const staging = rows[0]!.deployment_id;
    const soak = (length: string) =>
      asPersona('release_manager', who.rm, `select ops.set_soak_policy('staging', 'production', $2, $1)`, [
        project,
        length,
      ]);
    await soak('1 second');
    await eventually(async () => isEligible(db, r.release_id, 'production'), 'the soak to elapse');
    await soak('2 hours');

    // A rollback in staging: the soak is not standing any more ...
    await asPersona('sre', who.sre, `select ops.record_deployment($1, 'staging', 'succeeded', null, $2)`, [
      r.release_id,
      staging,
    ]);
    b = await blockers(db, r.release_id, 'production');
    expect(b.map((x) => x.reason)).toContainEqual(
      expect.stringMatching(/^soak: the staging deployment .* is not standing healthy \(rolled back/),
    );
    // ... and a new confirmed deployment starts it again from zero.
    const again = await promote(db, r.release_id, 'staging');
    await updateDeployment(db, again.deployment_id, 'succeeded');
    await recordHealthCheck(db, again.deployment_id, 'pass');
    b = await blockers(db, r.release_id, 'production');
    expect(b.map((x) => x.reason)).toEqual([
      expect.stringMatching(/^soak: .* for 00:00:\d\d of 02:00:00; 0[12]:\d\d:\d\d left/),
    ]);
  });
});

describe('deadlines', () => {
  it('an approval request nobody decided in time becomes expired, recorded once, and the release shows it', async () => {
    const project = uniqueName('deadline');
    await asPersona('release_manager', who.rm, `select ops.set_deadline_policy('G2', '1 second', null, $1)`, [
      project,
    ]);
    await asPersona('release_manager', who.rm, `select ops.set_deadline_policy('G3', '1 hour', null, $1)`, [
      project,
    ]);
    const r = await createRelease(db, { project });
    await passG1(db, r);
    const [req] = await asPersona<{ request_id: string; due_at: Date }>(
      'developer',
      who.dev,
      `select request_id, due_at from ops.request_approval($1, 'G2', 'please test the invoicing change')`,
      [r.release_id],
    );
    expect(req!.due_at).toBeTruthy();
    const state = async () =>
      (
        await asPersona<{ request_id: string; state: string }>(
          'developer',
          who.dev,
          'select request_id, state from ops.release_approval_requests($1)',
          [r.release_id],
        )
      ).find((q) => q.request_id === req!.request_id)?.state;
    await waitFor(async () => (await state()) === 'expired', 'the G2 request to expire');
    // Recorded by the sweep once, however often it runs.
    const sweep = async () =>
      (await db.admin.query('select ops.record_deadline_transitions() as n')).rows[0]!.n;
    expect(await sweep()).toBeGreaterThanOrEqual(1);
    expect(await sweep()).toBe(0);
    const recorded = await db.admin.query(
      `select to_state, reason from ops.deadline_transitions where subject_id = $1`,
      [req!.request_id],
    );
    expect(recorded.rows).toEqual([
      { to_state: 'expired', reason: expect.stringMatching(/^G2 approval requested by dev-dana/) },
    ]);
    expect((await timeline(r.release_id)).map((e) => e.kind)).toEqual(
      expect.arrayContaining(['approval_requested', 'approval_request_expired']),
    );
    // A request decided in time is 'decided'; a second open request for the same gate is refused.
    await passG2(db, r);
    await asPersona('release_manager', who.rm2, `select ops.request_approval($1, 'G3')`, [r.release_id]);
    await expectPgError(
      asPersona('release_manager', who.rm2, `select ops.request_approval($1, 'G3')`, [r.release_id]),
      'OPS09',
      /already requested/,
    );
    await passG3(db, r);
    const states = await asPersona<{ gate_code: string; state: string }>(
      'release_manager',
      who.rm,
      'select gate_code::text, state from ops.release_approval_requests($1) order by requested_at',
      [r.release_id],
    );
    expect(states).toEqual([
      { gate_code: 'G2', state: 'expired' },
      { gate_code: 'G3', state: 'decided' },
    ]);
    // A developer requests approvals only on their own releases.
    await expectPgError(
      asPersona('developer', 'dev-other', `select ops.request_approval($1, 'G2')`, [r.release_id]),
      'OPS04',
      /does not exist/,
    );
  });

  it('G4 fails with "health not confirmed within N minutes" when the deployment is not confirmed in time', async () => {
    const project = uniqueName('g4deadline');
    await asPersona(
      'release_manager',
      who.rm,
      `select ops.set_deadline_policy('G4', '30 minutes', 'staging', $1)`,
      [project],
    );
    const r = await createRelease(db, { project });
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    // Deployed 40 minutes ago and never confirmed healthy.
    const [d] = await asPersona<{ deployment_id: string }>(
      'ci_service_role',
      who.ci,
      `select deployment_id from ops.record_deployment($1, 'staging', 'succeeded', null, null, now() - interval '40 minutes')`,
      [r.release_id],
    );
    const b = await blockers(db, r.release_id, 'production');
    expect(b).toContainEqual(
      expect.objectContaining({
        gate_code: 'G4',
        status: 'failed',
        reason: expect.stringMatching(
          /^G4: health not confirmed within 30 minutes of the staging deployment/,
        ),
      }),
    );
    // A late confirmation does not make it in time.
    await recordHealthCheck(db, d!.deployment_id, 'pass');
    expect(await storedGates(db, r.release_id)).toMatchObject({ G4: 'failed' });
    expect((await blockers(db, r.release_id, 'production')).map((x) => x.reason)).toContainEqual(
      expect.stringMatching(/health not confirmed within 30 minutes/),
    );
  });

  it('the sweep moves the stored G4 of an unconfirmed deployment once its deadline passed', async () => {
    const project = uniqueName('g4sweep');
    await asPersona(
      'release_manager',
      who.rm,
      `select ops.set_deadline_policy('G4', '2 seconds', null, $1)`,
      [project],
    );
    const r = await createRelease(db, { project });
    await passG1(db, r);
    await passG2(db, r);
    await asPersona('ci_service_role', who.ci, `select ops.record_deployment($1, 'staging', 'succeeded')`, [
      r.release_id,
    ]);
    expect(await storedGates(db, r.release_id)).toMatchObject({ G4: 'in_progress' });
    // Read time knows first ...
    await waitFor(
      async () =>
        (await blockers(db, r.release_id, 'production')).some((b) =>
          /health not confirmed within 2 seconds/.test(b.reason),
        ),
      'the G4 deadline to pass',
    );
    expect(await storedGates(db, r.release_id)).toMatchObject({ G4: 'in_progress' });
    // ... the sweep records it and moves the stored gate, once.
    expect(
      (await db.admin.query('select ops.record_deadline_transitions() as n')).rows[0]!.n,
    ).toBeGreaterThanOrEqual(1);
    expect(await storedGates(db, r.release_id)).toMatchObject({ G4: 'failed' });
    const { rows } = await db.admin.query(
      `select t.reason from ops.gate_transitions t join ops.release_gates g on g.gate_id = t.gate_id
       where g.release_id = $1 and g.gate_code = 'G4' and t.to_status = 'failed'`,
      [r.release_id],
    );
    expect(rows.map((x) => x.reason)).toEqual([
      expect.stringMatching(/health not confirmed within 2 seconds/),
    ]);
    expect((await timeline(r.release_id)).map((e) => e.kind)).toContain('g4_deadline_missed');
  });
});

describe('timing_override exceptions', () => {
  it("lift exactly one release's freeze until they expire, and not while unapproved or self-approved", async () => {
    const project = uniqueName('override');
    const r = await readyForProduction(project);
    const neighbour = await readyForProduction(project);
    const w = await freezeNow({ project });
    try {
      const e = await requestException(db, r.release_id, ['G4'], {
        type: 'timing_override',
        expiresIn: '2 hours',
      });
      // Requested, not approved: still frozen.
      expect(await isEligible(db, r.release_id, 'production')).toBe(false);
      // The requester cannot approve it.
      await expectPgError(
        approveException(db, e.exception_id, who.rm2),
        'OPS03',
        /separation of duties|requested/,
      );
      expect(await isEligible(db, r.release_id, 'production')).toBe(false);
      await approveException(db, e.exception_id, who.rm3);
      expect(await isEligible(db, r.release_id, 'production')).toBe(true);
      // Only that release.
      expect(await isEligible(db, neighbour.release_id, 'production')).toBe(false);
      const d = await promote(db, r.release_id, 'production');
      await updateDeployment(db, d.deployment_id, 'succeeded');
      const uses = await db.admin.query(
        `select lifted, window_id, exception_id from ops.timing_override_uses where release_id = $1`,
        [r.release_id],
      );
      expect(uses.rows).toEqual([{ lifted: 'freeze', window_id: w.window_id, exception_id: e.exception_id }]);
      expect((await timeline(r.release_id)).map((x) => x.kind)).toContain('override_used');

      // Expired: the freeze holds again for the release.
      const r2 = await readyForProduction(project);
      const e2 = await requestException(db, r2.release_id, ['G4'], {
        type: 'timing_override',
        expiresIn: '2 hours',
      });
      await approveException(db, e2.exception_id, who.rm3);
      expect(await isEligible(db, r2.release_id, 'production')).toBe(true);
      await expireException(db, e2.exception_id);
      expect(await isEligible(db, r2.release_id, 'production')).toBe(false);
      await expectPgError(promote(db, r2.release_id, 'production'), 'OPS09', /freeze/);
    } finally {
      await endFreeze(w.window_id);
    }
  });

  it('lift a soak time for the release they were approved for', async () => {
    const project = uniqueName('soak-override');
    await asPersona(
      'release_manager',
      who.rm,
      `select ops.set_soak_policy('staging', 'production', '1 day', $1)`,
      [project],
    );
    const r = await readyForProduction(project);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
    const e = await requestException(db, r.release_id, ['G4'], { type: 'timing_override' });
    await approveException(db, e.exception_id, who.rm3);
    expect(await isEligible(db, r.release_id, 'production')).toBe(true);
    await promote(db, r.release_id, 'production');
    const uses = await db.admin.query(`select lifted from ops.timing_override_uses where release_id = $1`, [
      r.release_id,
    ]);
    expect(uses.rows).toEqual([{ lifted: 'soak' }]);
  });
});

describe('the ledger', () => {
  it('covers freeze windows, policies and override uses', async () => {
    const { rows } = await db.admin.query(
      `select fact_table, count(*)::int as n from ops.ledger_entries
       where fact_table in ('freeze_windows', 'soak_policies', 'deadline_policies', 'timing_override_uses',
                            'timing_approval_requests', 'deadline_transitions')
       group by fact_table order by fact_table`,
    );
    expect(rows.map((x) => x.fact_table)).toEqual([
      'deadline_policies',
      'deadline_transitions',
      'freeze_windows',
      'soak_policies',
      'timing_approval_requests',
      'timing_override_uses',
    ]);
    const report = await asPersona<{ r: { ok: boolean } }>(
      'audit_reader',
      who.auditor,
      'select ops.verify_ledger() as r',
    );
    expect(report[0]!.r.ok).toBe(true);
  });
});
