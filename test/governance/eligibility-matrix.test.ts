// Eligibility, table-driven, against an expectation computed here, in plain TypeScript, from the
// rules of DESIGN.md section 4 and the README's Gates table — not from the SQL: how far the
// release got × the state of a bypass exception × the target environment; and how far it got ×
// what happened to its staging deployment (outcomes, failures, rollbacks) × whether it was revised
// afterwards (and everything done again for the new revision).
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  approveException,
  blockers,
  createRelease,
  deployStagingWithHealth,
  type Env,
  expectPgError,
  expireException,
  type GateCode,
  isEligible,
  passG1,
  passG2,
  passG3,
  promote,
  type Release,
  recordHealthCheck,
  releaseStatus,
  requestException,
  reviseRelease,
  storedGates,
  updateDeployment,
  who,
} from './scenario.js';

const GATES: GateCode[] = ['G1', 'G2', 'G3', 'G4'];
/** Default gate_requirements: staging needs G1, G2; production G1-G4. */
const REQUIRED: Record<Env, GateCode[]> = { staging: ['G1', 'G2'], production: GATES };

/** How far the release got: the gates whose own inputs (checks, evidence, sign-offs, health) are complete. */
const PROGRESS = {
  nothing: [],
  G1: ['G1'],
  'G1+G2': ['G1', 'G2'],
  // Deployed to staging and confirmed healthy, but G3 never signed: G4's facts without G3.
  'G1+G2+staging health': ['G1', 'G2', 'G4'],
  'G1+G2+G3': ['G1', 'G2', 'G3'],
  'all incl. staging health': ['G1', 'G2', 'G3', 'G4'],
} satisfies Record<string, GateCode[]>;
type Progress = keyof typeof PROGRESS;

/** A gate_bypass exception on the first gate the release has not met (G4 when none). */
const EXCEPTIONS = ['none', 'pending (unapproved)', 'active bypass', 'expired bypass'] as const;
type ExceptionState = (typeof EXCEPTIONS)[number];

function bypassTarget(progress: Progress): GateCode {
  const facts: GateCode[] = PROGRESS[progress];
  return GATES.find((g) => !facts.includes(g)) ?? 'G4';
}

/**
 * The rules: a gate is satisfied when its own inputs are complete or an approved, unexpired
 * bypass lists it — and, gates being sequential, only if its predecessor is satisfied. A release
 * is eligible for an environment when every gate the environment requires is satisfied.
 */
function expectedEligible(progress: Progress, exception: ExceptionState, env: Env): boolean {
  const facts = new Set<GateCode>(PROGRESS[progress]);
  const bypassed = new Set<GateCode>(exception === 'active bypass' ? [bypassTarget(progress)] : []);
  const satisfied = new Set<GateCode>();
  for (const [i, g] of GATES.entries()) {
    const predecessorOk = i === 0 || satisfied.has(GATES[i - 1]!);
    if (predecessorOk && (facts.has(g) || bypassed.has(g))) satisfied.add(g);
  }
  return REQUIRED[env].every((g) => satisfied.has(g));
}

let db: TestDatabase;

async function build(progress: Progress, exception: ExceptionState): Promise<Release> {
  const r = await createRelease(db);
  const facts: GateCode[] = PROGRESS[progress];
  if (facts.includes('G1')) await passG1(db, r);
  if (facts.includes('G2')) await passG2(db, r);
  if (facts.includes('G3')) await passG3(db, r);
  if (facts.includes('G4')) await deployStagingWithHealth(db, r);
  if (exception !== 'none') {
    const e = await requestException(db, r.release_id, [bypassTarget(progress)]);
    if (exception !== 'pending (unapproved)') await approveException(db, e.exception_id);
    if (exception === 'expired bypass') await expireException(db, e.exception_id);
  }
  return r;
}

const scenarios = (Object.keys(PROGRESS) as Progress[]).flatMap((progress) =>
  EXCEPTIONS.map((exception) => ({ progress, exception, key: `${progress} | ${exception}` })),
);
const releases = new Map<string, Release>();

beforeAll(async () => {
  db = await useTestDatabase();
  // Each combination in a fresh release, all built in parallel.
  await Promise.all(
    scenarios.map(async (s) => {
      releases.set(s.key, await build(s.progress, s.exception));
    }),
  );
});

describe('is_eligible_for_promotion: progress × exception × environment', () => {
  const rows = scenarios.flatMap((s) =>
    (['staging', 'production'] as Env[]).map((env) => ({
      ...s,
      env,
      expected: expectedEligible(s.progress, s.exception, env),
    })),
  );

  it('covers both outcomes in both environments', () => {
    for (const env of ['staging', 'production']) {
      const outcomes = new Set(rows.filter((r) => r.env === env).map((r) => r.expected));
      expect([...outcomes].sort()).toEqual([false, true]);
    }
  });

  it.each(rows)(
    '$progress | exception: $exception | $env → $expected',
    async ({ key, env, expected, exception, progress }) => {
      const r = releases.get(key)!;
      expect(await isEligible(db, r.release_id, env)).toBe(expected);

      // The blockers agree with eligibility, and say why an exception did not help.
      const reasons = (await blockers(db, r.release_id, env)).map((b) => `${b.gate_code}: ${b.reason}`);
      expect(reasons.length === 0).toBe(expected);
      const target = bypassTarget(progress);
      const targetUnmet = !(PROGRESS[progress] as GateCode[]).includes(target);
      if (REQUIRED[env].includes(target) && targetUnmet) {
        if (exception === 'expired bypass')
          expect(reasons.join('\n')).toMatch(/bypass exception .+ expired at/);
        if (exception === 'pending (unapproved)') {
          expect(reasons.join('\n')).toMatch(/bypass exception .+ awaits approval by a release_manager/);
        }
      }
    },
  );
});

// ---- Deployment outcomes, rollbacks and revisions ---------------------------------------------

/** What happened to the staging deployment of the release's current revision. */
const OUTCOMES = [
  'not deployed',
  'in progress',
  'succeeded, no health check',
  'succeeded and healthy',
  'succeeded, health check failed',
  'failed, then a passing health check',
  'healthy, then reported failed',
  'healthy, then a rollback recorded',
  'healthy, then reported rolled_back',
] as const;
type Outcome = (typeof OUTCOMES)[number];

/**
 * at the first revision: G1-G3 facts and the outcome, never revised. revised afterwards: the
 * same, then the release is revised and nothing is done again. revised, all again: revised, then
 * the facts and the outcome recorded again for the new revision.
 */
const REVISIONS = ['at the first revision', 'revised afterwards', 'revised, all again'] as const;
type RevisionMode = (typeof REVISIONS)[number];

/** G1+G2 at least: staging needs them before anything is deployed there. */
const DEPLOYED_PROGRESS = { 'G1+G2': ['G1', 'G2'], 'G1+G2+G3': ['G1', 'G2', 'G3'] } satisfies Record<
  string,
  GateCode[]
>;
type DeployedProgress = keyof typeof DEPLOYED_PROGRESS;

interface Expected {
  eligible: Record<Env, boolean>;
  g4: string;
  releaseStatus: string;
}

/**
 * The rules, from the README's Gates table: only facts of the current revision count; G4 holds
 * only while the latest deployment of that revision stands (succeeded, not rolled back, its health
 * check passed), fails when it failed, was rolled back or its health check failed, and is in
 * progress while it has not succeeded or has no health verdict. The release's status follows its
 * latest deployment, whatever the revision; without one it is draft until something of the current
 * revision is recorded.
 */
function expectedAfterDeployment(progress: DeployedProgress, outcome: Outcome, mode: RevisionMode): Expected {
  const counted = mode !== 'revised afterwards';
  const facts = new Set<GateCode>(counted ? DEPLOYED_PROGRESS[progress] : []);
  const standing = counted && outcome === 'succeeded and healthy';
  if (standing) facts.add('G4');
  const satisfied = new Set<GateCode>();
  for (const [i, g] of GATES.entries()) {
    if ((i === 0 || satisfied.has(GATES[i - 1]!)) && facts.has(g)) satisfied.add(g);
  }
  const g3Satisfied = satisfied.has('G3');
  let g4: string;
  if (!counted || outcome === 'not deployed') g4 = 'pending';
  else if (standing) g4 = g3Satisfied ? 'passed' : 'in_progress';
  else if (outcome === 'in progress' || outcome === 'succeeded, no health check') g4 = 'in_progress';
  else g4 = 'failed';
  const releaseStatus =
    outcome === 'healthy, then a rollback recorded' || outcome === 'healthy, then reported rolled_back'
      ? 'rolled_back'
      : [
            'succeeded, health check failed',
            'failed, then a passing health check',
            'healthy, then reported failed',
          ].includes(outcome)
        ? 'failed'
        : // Nothing deployed and nothing that counts for this revision: back to draft.
          outcome === 'not deployed' && !counted
          ? 'draft'
          : 'in_progress';
  return {
    eligible: {
      staging: REQUIRED.staging.every((g) => satisfied.has(g)),
      production: REQUIRED.production.every((g) => satisfied.has(g)),
    },
    g4,
    releaseStatus,
  };
}

async function deploymentOutcome(r: Release, outcome: Outcome): Promise<void> {
  if (outcome === 'not deployed') return;
  const d = await promote(db, r.release_id, 'staging');
  switch (outcome) {
    case 'in progress':
      return;
    case 'succeeded, no health check':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      return;
    case 'succeeded and healthy':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      await recordHealthCheck(db, d.deployment_id, 'pass');
      return;
    case 'succeeded, health check failed':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      await recordHealthCheck(db, d.deployment_id, 'fail');
      return;
    case 'failed, then a passing health check':
      await updateDeployment(db, d.deployment_id, 'failed');
      // A pass confirms only a deployment that has succeeded: refused, nothing written.
      await expectPgError(recordHealthCheck(db, d.deployment_id, 'pass'), 'OPS09', /a passing health check/);
      return;
    case 'healthy, then reported failed':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      await recordHealthCheck(db, d.deployment_id, 'pass');
      await updateDeployment(db, d.deployment_id, 'failed');
      return;
    case 'healthy, then a rollback recorded':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      await recordHealthCheck(db, d.deployment_id, 'pass');
      await db.as('sre', who.sre, (c) =>
        c.query(
          `select ops.record_deployment(p_release_id => $1, p_environment => 'staging', p_status => 'succeeded',
             p_rollback_of => $2)`,
          [r.release_id, d.deployment_id],
        ),
      );
      return;
    case 'healthy, then reported rolled_back':
      await updateDeployment(db, d.deployment_id, 'succeeded');
      await recordHealthCheck(db, d.deployment_id, 'pass');
      await updateDeployment(db, d.deployment_id, 'rolled_back');
      return;
  }
}

async function buildDeployed(
  progress: DeployedProgress,
  outcome: Outcome,
  mode: RevisionMode,
): Promise<Release> {
  const r = await createRelease(db, { sourceRef: 'refs/tags/v1' });
  const facts = async () => {
    await passG1(db, r);
    await passG2(db, r);
    if (progress === 'G1+G2+G3') await passG3(db, r);
    await deploymentOutcome(r, outcome);
  };
  await facts();
  if (mode !== 'at the first revision') {
    await reviseRelease(db, r.release_id, 'refs/tags/v1.0.1', 'hotfix');
    if (mode === 'revised, all again') await facts();
  }
  return r;
}

const deployedScenarios = (Object.keys(DEPLOYED_PROGRESS) as DeployedProgress[]).flatMap((progress) =>
  OUTCOMES.flatMap((outcome) =>
    REVISIONS.map((mode) => ({
      progress,
      outcome,
      mode,
      key: `${progress} | ${outcome} | ${mode}`,
      expected: expectedAfterDeployment(progress, outcome, mode),
    })),
  ),
);
const deployedReleases = new Map<string, Release>();

describe('progress × staging deployment outcome × revision', () => {
  beforeAll(async () => {
    await Promise.all(
      deployedScenarios.map(async (s) => {
        deployedReleases.set(s.key, await buildDeployed(s.progress, s.outcome, s.mode));
      }),
    );
  });

  it('covers eligible and ineligible production, and every G4 status the rule can give', () => {
    expect(new Set(deployedScenarios.map((s) => s.expected.eligible.production))).toEqual(
      new Set([true, false]),
    );
    expect(new Set(deployedScenarios.map((s) => s.expected.g4))).toEqual(
      new Set(['pending', 'in_progress', 'passed', 'failed']),
    );
  });

  it.each(deployedScenarios)('$progress | $outcome | $mode', async ({ key, expected }) => {
    const r = deployedReleases.get(key)!;
    for (const env of ['staging', 'production'] as const) {
      expect(await isEligible(db, r.release_id, env), env).toBe(expected.eligible[env]);
      expect((await blockers(db, r.release_id, env)).length === 0, `${env} blockers`).toBe(
        expected.eligible[env],
      );
    }
    expect((await storedGates(db, r.release_id)).G4).toBe(expected.g4);
    expect(await releaseStatus(db, r.release_id)).toBe(expected.releaseStatus);
  });
});
