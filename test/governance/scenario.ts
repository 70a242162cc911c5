// Builds governance scenarios through the SQL write functions, each step as the persona that
// takes it in real life (CI reports builds, QA signs off G2, a release manager G3, an SRE
// deploys), over the same request path as the API (db.as → withPersona).
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterEach, expect } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import type { TestDatabase } from '../support/db.js';

export type GateCode = 'G1' | 'G2' | 'G3' | 'G4';
export type Env = 'staging' | 'production';
export type GateStatus = 'pending' | 'in_progress' | 'passed' | 'failed' | 'bypassed';

/** The people of the scenarios. Subjects are plain text, as service and user subjects are. */
export const who = {
  ci: 'ci-github-actions',
  dev: 'dev-dana',
  qa: 'qa-quinn',
  rm: 'rm-rita',
  rm2: 'rm-raj',
  rm3: 'rm-rosa',
  sre: 'sre-sam',
  auditor: 'audit-ada',
} as const;

export interface Release {
  release_id: string;
  project: string;
  release_name: string;
  initiating_actor: string;
  status: string;
}

export interface Deployment {
  deployment_id: string;
  release_id: string;
  environment: Env;
  status: string;
  g4_status: string;
}

export interface ExceptionRow {
  exception_id: string;
  release_id: string;
  requested_by: string;
  approver_id: string | null;
  impacted_gates: string;
}

async function one<T>(c: pg.ClientBase, sql: string, params: unknown[] = []): Promise<T> {
  const { rows } = await c.query(sql, params);
  return rows[0] as T;
}

export function uniqueName(prefix = 'r'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A release created by a developer (its initiating actor), with its four pending gates. */
export function createRelease(
  db: TestDatabase,
  opts: { project?: string; name?: string; persona?: Persona; sub?: string; sourceRef?: string } = {},
): Promise<Release> {
  watch(db);
  return db.as(opts.persona ?? 'developer', opts.sub ?? who.dev, (c) =>
    one<Release>(
      c,
      `select release_id, project, release_name, initiating_actor, status::text
       from ops.create_release(p_project => $1, p_release_name => $2, p_source_ref => $3)`,
      [opts.project ?? 'odoo-core', opts.name ?? uniqueName(), opts.sourceRef ?? 'refs/heads/main'],
    ),
  );
}

export interface Revision {
  revision: number;
  source_ref: string;
  artifact_digest: string | null;
}

/** Moves the release to another revision (ops.revise_release), by a release manager unless told. */
export function reviseRelease(
  db: TestDatabase,
  releaseId: string,
  sourceRef: string,
  reason: string,
  // By default the developer who owns the release revises it (a hotfix on the release branch);
  // whoever revises does not sign off G3 of that revision (separation of duties).
  persona: Persona = 'developer',
  sub: string = who.dev,
  artifactDigest: string | null = null,
): Promise<Revision> {
  return db.as(persona, sub, (c) =>
    one<Revision>(c, `select revision, source_ref, artifact_digest from ops.revise_release($1, $2, $3, $4)`, [
      releaseId,
      sourceRef,
      artifactDigest,
      reason,
    ]),
  );
}

// ---- Stored gate status equals the rule -------------------------------------------------------

const watched = new Set<TestDatabase>();

/** Remembers a database a scenario ran in, so its stored status is checked after each test. */
function watch(db: TestDatabase): void {
  watched.add(db);
}

export interface StatusDrift {
  release_id: string;
  gate_code: string;
  stored: string;
  computed: string;
}

/**
 * Every release whose stored gate status (ops.release_gates) or release status differs from what
 * the rule computes now (ops.compute_release_gates, ops.derive_release_status). Promoted releases
 * keep the gates that let them through, so they are left out, as the policy-change
 * re-evaluation leaves them out. One difference is time's, not a write's: a gate stored as
 * bypassed by an exception that has expired since reads bypassed until the release's next fact
 * re-evaluates it (eligibility and promotion judge the exception at the moment they are asked,
 * so nothing passes on it); that one is not counted.
 */
export async function storedStatusDrift(db: TestDatabase): Promise<StatusDrift[]> {
  const { rows } = await db.admin.query<StatusDrift>(
    `select r.release_id, c.gate_code::text, g.status::text as stored, c.status::text as computed
     from ops.releases r
     cross join lateral ops.compute_release_gates(r.release_id) c
     join ops.release_gates g on g.gate_id = c.gate_id
     where r.status <> 'promoted' and g.status is distinct from c.status
       and not (g.status = 'bypassed' and exists (
         select 1 from ops.exceptions e where e.exception_id = g.exception_id and e.expires_at <= clock_timestamp()))
     union all
     select r.release_id, 'release', r.status::text, ops.derive_release_status(r.release_id)::text
     from ops.releases r
     where r.status is distinct from ops.derive_release_status(r.release_id)
     order by 1, 2`,
  );
  return rows;
}

// After every test that built a scenario: the stored status is what the rule says.
afterEach(async () => {
  for (const db of watched) {
    expect(await storedStatusDrift(db), 'stored gate status differs from the computed one').toEqual([]);
  }
});

export function recordCheck(
  db: TestDatabase,
  releaseId: string,
  gate: GateCode,
  name: string,
  status: 'pass' | 'fail' | 'warning' | 'skipped',
  opts: { required?: boolean; sub?: string } = {},
): Promise<{ check_id: string }> {
  return db.as('ci_service_role', opts.sub ?? who.ci, (c) =>
    one(
      c,
      `select check_id from ops.record_check(p_release_id => $1, p_gate_code => $2::public.ops_gate_code,
         p_check_name => $3, p_status => $4::public.ops_check_status, p_required => $5)`,
      [releaseId, gate, name, status, opts.required ?? true],
    ),
  );
}

export function attachEvidence(
  db: TestDatabase,
  persona: Persona,
  sub: string,
  releaseId: string,
  type: string,
  gate: GateCode | null,
): Promise<{ artifact_id: string }> {
  return db.as(persona, sub, (c) =>
    one(
      c,
      `select artifact_id from ops.attach_evidence(p_release_id => $1, p_artifact_type => $2::public.ops_artifact_type,
         p_artifact_url => $3, p_gate_code => $4::public.ops_gate_code)`,
      [releaseId, type, `https://evidence.example/${releaseId}/${type}/${randomUUID()}`, gate],
    ),
  );
}

export function submitApproval(
  db: TestDatabase,
  persona: Persona,
  sub: string,
  releaseId: string,
  gate: GateCode,
  decision: 'approved' | 'rejected' | 'request_changes' = 'approved',
): Promise<{ approval_id: string }> {
  return db.as(persona, sub, (c) =>
    one(
      c,
      `select approval_id from ops.submit_approval(p_release_id => $1,
         p_decision => $2::public.ops_approval_decision, p_gate_code => $3::public.ops_gate_code,
         p_rationale_text => 'scenario')`,
      [releaseId, decision, gate],
    ),
  );
}

/** G1: the build check reported passing by CI. */
export async function passG1(db: TestDatabase, r: Release): Promise<void> {
  await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
}

/** G2: a test_result artifact on the gate and a QA sign-off. */
export async function passG2(db: TestDatabase, r: Release, qa: string = who.qa): Promise<void> {
  await attachEvidence(db, 'qa_tester', qa, r.release_id, 'test_result', 'G2');
  await submitApproval(db, 'qa_tester', qa, r.release_id, 'G2');
}

/** G3: a rollback plan and a release manager's sign-off (someone who neither initiated it nor signed G2). */
export async function passG3(db: TestDatabase, r: Release, rm: string = who.rm): Promise<void> {
  await attachEvidence(db, 'release_manager', rm, r.release_id, 'rollback_plan', 'G3');
  await submitApproval(db, 'release_manager', rm, r.release_id, 'G3');
}

export function promote(
  db: TestDatabase,
  releaseId: string,
  env: Env,
  sub: string = who.sre,
): Promise<Deployment> {
  return db.as('sre', sub, (c) =>
    one<Deployment>(
      c,
      `select deployment_id, release_id, environment::text, status::text, g4_status::text
       from ops.promote_release($1, $2)`,
      [releaseId, env],
    ),
  );
}

export function updateDeployment(
  db: TestDatabase,
  deploymentId: string,
  status: 'in_progress' | 'succeeded' | 'failed' | 'rolled_back',
): Promise<Deployment> {
  return db.as('sre', who.sre, (c) =>
    one<Deployment>(
      c,
      `select deployment_id, release_id, environment::text, status::text, g4_status::text
       from ops.update_deployment($1, $2::public.ops_deployment_status)`,
      [deploymentId, status],
    ),
  );
}

export function recordHealthCheck(
  db: TestDatabase,
  deploymentId: string,
  status: 'pass' | 'fail',
): Promise<Deployment> {
  return db.as('sre', who.sre, (c) =>
    one<Deployment>(
      c,
      `select deployment_id, release_id, environment::text, status::text, g4_status::text
       from ops.record_health_check($1, $2::public.ops_check_status)`,
      [deploymentId, status],
    ),
  );
}

/** Promote, report the deployment succeeded and its health check passed: the G4 confirmation. */
export async function deployWithHealth(db: TestDatabase, r: Release, env: Env): Promise<Deployment> {
  const d = await promote(db, r.release_id, env);
  await updateDeployment(db, d.deployment_id, 'succeeded');
  return recordHealthCheck(db, d.deployment_id, 'pass');
}

export function deployStagingWithHealth(db: TestDatabase, r: Release): Promise<Deployment> {
  return deployWithHealth(db, r, 'staging');
}

/** G1-G4 all passed: the release is eligible for production. */
export async function passAll(db: TestDatabase, r: Release): Promise<void> {
  await passG1(db, r);
  await passG2(db, r);
  await passG3(db, r);
  await deployStagingWithHealth(db, r);
}

export function requestException(
  db: TestDatabase,
  releaseId: string,
  gates: GateCode[],
  opts: { persona?: Persona; sub?: string; type?: string; expiresIn?: string } = {},
): Promise<ExceptionRow> {
  return db.as(opts.persona ?? 'release_manager', opts.sub ?? who.rm2, (c) =>
    one<ExceptionRow>(
      c,
      `select exception_id, release_id, requested_by, approver_id, impacted_gates::text
       from ops.request_exception(p_release_id => $1, p_exception_type => $2::public.ops_exception_type,
         p_impacted_gates => $3::public.ops_gate_code[], p_reason => 'hotfix for a customer outage',
         p_risk_statement => 'low: change is a one-line config flip',
         p_expires_at => now() + $4::interval,
         p_compensating_controls => '["extra monitoring for 24h"]'::jsonb)`,
      [releaseId, opts.type ?? 'gate_bypass', `{${gates.join(',')}}`, opts.expiresIn ?? '1 day'],
    ),
  );
}

export function approveException(
  db: TestDatabase,
  exceptionId: string,
  sub: string = who.rm3,
): Promise<ExceptionRow> {
  return db.as('release_manager', sub, (c) =>
    one<ExceptionRow>(
      c,
      `select exception_id, release_id, requested_by, approver_id, impacted_gates::text
       from ops.approve_exception($1, 'risk accepted')`,
      [exceptionId],
    ),
  );
}

/** A bypass requested by one release manager and approved by another: active now. */
export async function activeBypass(
  db: TestDatabase,
  releaseId: string,
  gates: GateCode[],
): Promise<ExceptionRow> {
  const e = await requestException(db, releaseId, gates);
  return approveException(db, e.exception_id);
}

/**
 * Moves an exception's window into the past, as the superuser (exceptions cannot be inserted
 * already expired). Eligibility reads the clock, so nothing else needs to happen.
 */
export async function expireException(db: TestDatabase, exceptionId: string): Promise<void> {
  await db.admin.query(
    `update ops.exceptions set effective_from = now() - interval '2 hours', expires_at = now() - interval '1 hour'
     where exception_id = $1`,
    [exceptionId],
  );
}

/** Eligibility as the auditor reads it: computed at read time. */
export function isEligible(db: TestDatabase, releaseId: string, env: Env): Promise<boolean> {
  return db.as('audit_reader', who.auditor, async (c) => {
    const row = await one<{ eligible: boolean }>(
      c,
      'select ops.is_eligible_for_promotion($1, $2) as eligible',
      [releaseId, env],
    );
    return row.eligible;
  });
}

export interface Blocker {
  gate_code: GateCode;
  status: GateStatus;
  reason: string;
}

export function blockers(db: TestDatabase, releaseId: string, env: Env): Promise<Blocker[]> {
  return db.as('audit_reader', who.auditor, async (c) => {
    const { rows } = await c.query(
      'select gate_code::text, status::text, reason from ops.promotion_blockers($1, $2)',
      [releaseId, env],
    );
    return rows as Blocker[];
  });
}

/** The gate statuses as stored (kept current by the triggers). */
export async function storedGates(
  db: TestDatabase,
  releaseId: string,
): Promise<Record<GateCode, GateStatus>> {
  const { rows } = await db.admin.query(
    'select gate_code::text, status::text from ops.release_gates where release_id = $1',
    [releaseId],
  );
  return Object.fromEntries(rows.map((r) => [r.gate_code, r.status])) as Record<GateCode, GateStatus>;
}

export async function gateId(db: TestDatabase, releaseId: string, gate: GateCode): Promise<string> {
  const { rows } = await db.admin.query(
    'select gate_id from ops.release_gates where release_id = $1 and gate_code = $2',
    [releaseId, gate],
  );
  return rows[0]!.gate_id;
}

export async function releaseStatus(db: TestDatabase, releaseId: string): Promise<string> {
  const { rows } = await db.admin.query('select status::text from ops.releases where release_id = $1', [
    releaseId,
  ]);
  return rows[0]!.status;
}

/** Asserts a Postgres error with the SQLSTATE and a distinctive part of the message. */
export async function expectPgError(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await expect(p).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
}

/** Opens a transaction on `c` at `isolation` as `persona` with the claims of `sub` (the raw SQL door). */
export async function beginAs(
  c: pg.ClientBase,
  persona: Persona,
  sub: string,
  isolation: 'read committed' | 'repeatable read' | 'serializable' = 'read committed',
): Promise<void> {
  await c.query(`begin isolation level ${isolation}`);
  await c.query(`select set_config('role', $1, true)`, [persona]);
  await c.query(`select set_config('request.jwt.claims', $1, true)`, [
    JSON.stringify({ sub, role: persona, app_metadata: { ops_role: persona } }),
  ]);
}

/**
 * Two transactions at once: `second` runs on `c2` while `c1` holds what it wrote, then `c1`
 * commits and `c2` commits after `second` (or rolls back when it or its commit fails). `c1`
 * commits once `c2` waits for a lock (seen through `admin` in pg_stat_activity), or once `second`
 * has finished without waiting; a fixed pause instead let a busy machine commit `c1` before
 * `second` had started, which then ran after the other transaction rather than against it.
 * Returns the error `c2` met, undefined when it committed.
 */
export async function commitWhileWaiting(
  admin: Pick<pg.Pool, 'query'>,
  c1: pg.ClientBase,
  c2: pg.ClientBase,
  second: () => Promise<unknown>,
): Promise<(Error & { code?: string }) | undefined> {
  let failed: (Error & { code?: string }) | undefined;
  let settled = false;
  const pid = (c2 as unknown as { processID: number }).processID;
  const later = second()
    .then(() => c2.query('commit'))
    .catch(async (e: Error & { code?: string }) => {
      failed = e;
      await c2.query('rollback');
    })
    .finally(() => {
      settled = true;
    });
  const until = Date.now() + 60_000;
  while (!settled && Date.now() < until) {
    const { rows } = await admin.query<{ waiting: boolean }>(
      `select wait_event_type = 'Lock' as waiting from pg_stat_activity where pid = $1`,
      [pid],
    );
    if (rows[0]?.waiting) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await c1.query('commit');
  await later;
  return failed;
}
