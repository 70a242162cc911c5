// A release from creation to production through GraphQL mutations alone, each step taken by the
// persona (and person) who owns it in real life. After every step promotionEligibility must tell
// the truth for both environments: the eligible flag and every blocker, gate by gate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import {
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  PromoteReleaseDocument,
  PromotionEligibilityDocument,
  RecordCheckDocument,
  RecordHealthCheckDocument,
  ReleaseStatusDocument,
  UpdateDeploymentDocument,
} from '../../src/gql/graphql.js';
import { useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, expectTypename, okData, type TestApi } from './client.js';

/** The people: five personas, five subjects; the release manager did not initiate the release. */
const people = {
  developer: { persona: 'developer', sub: 'dev-dana' },
  ci: { persona: 'ci_service_role', sub: 'ci-github-actions' },
  qa: { persona: 'qa_tester', sub: 'qa-quinn' },
  rm: { persona: 'release_manager', sub: 'rm-rita' },
  sre: { persona: 'sre', sub: 'sre-sam' },
  auditor: { persona: 'audit_reader', sub: 'audit-ada' },
} as const satisfies Record<string, { persona: Persona; sub: string }>;

type Env = 'staging' | 'production';
/** [gate, gate status, reason], in the order ops.promotion_blockers gives them. */
type Blocker = [string, string, string];

let api: TestApi;
let releaseId: string;
let releaseName: string;
let stagingDeploymentId: string;
let productionDeploymentId: string;

beforeAll(async () => {
  api = createTestApi(await useTestDatabase());
});

afterAll(async () => {
  await api?.close();
});

async function eligibility(env: Env) {
  const result = await api.executeOperation({
    operation: PromotionEligibilityDocument,
    variables: { releaseId, environment: env },
    ...people.auditor,
  });
  const e = expectData(result).promotionEligibility!;
  expect(e.releaseId).toBe(releaseId);
  expect(e.environment).toBe(env);
  return {
    eligible: e.eligible,
    blockers: (e.blockers ?? []).map((b): Blocker => [b.gateCode!, b.status!, b.reason!]),
  };
}

/** Eligibility for both environments, as the auditor reads it. */
async function expectEligibility(expected: Record<Env, Blocker[]>) {
  for (const env of ['staging', 'production'] as const) {
    const actual = await eligibility(env);
    expect(actual, env).toEqual({ eligible: expected[env].length === 0, blockers: expected[env] });
  }
}

async function releaseStatus(): Promise<string | null | undefined> {
  const result = await api.executeOperation({
    operation: ReleaseStatusDocument,
    variables: { id: releaseId },
    ...people.rm,
  });
  return expectData(result).release?.status;
}

function promote(env: Env) {
  return api.executeOperation({
    operation: PromoteReleaseDocument,
    variables: { input: { releaseId, environment: env } },
    ...people.rm,
  });
}

const G1_PENDING: Blocker[] = [['G1', 'pending', 'G1: no build checks reported yet']];
const notDeployed: Blocker = ['G4', 'pending', 'G4: the release has not been deployed yet'];

describe('a release walked G1 → production through mutations', () => {
  it('a developer creates it: draft, every gate pending, eligible nowhere', async () => {
    releaseName = `cycle-${Date.now()}`;
    const created = okData(
      (
        await api.executeOperation({
          operation: CreateReleaseDocument,
          variables: { input: { project: 'odoo-core', releaseName, sourceRef: 'refs/heads/main' } },
          ...people.developer,
        })
      ).data?.createRelease,
    );
    releaseId = created.id!;
    expect(created).toMatchObject({
      project: 'odoo-core',
      releaseName,
      status: 'draft',
      initiatingActor: 'dev-dana',
    });
    expect(await releaseStatus()).toBe('draft');

    const g2: Blocker[] = [
      ['G2', 'pending', 'G2: waiting for G1, which is pending'],
      ['G2', 'pending', 'G2: no test_result or uat_summary evidence attached'],
      ['G2', 'pending', 'G2: no qa_tester approval yet'],
    ];
    await expectEligibility({
      staging: [...G1_PENDING, ...g2],
      production: [
        ...G1_PENDING,
        ...g2,
        ['G3', 'pending', 'G3: waiting for G2, which is pending'],
        ['G3', 'pending', 'G3: no rollback_plan evidence attached'],
        ['G3', 'pending', 'G3: no release_manager approval yet'],
        ['G4', 'pending', 'G4: waiting for G3, which is pending'],
        notDeployed,
      ],
    });
  });

  it('CI reports the build passing: G1 passes, G2 blocks', async () => {
    const check = okData(
      (
        await api.executeOperation({
          operation: RecordCheckDocument,
          variables: { input: { releaseId, gateCode: 'G1', checkName: 'build', status: 'pass' } },
          ...people.ci,
        })
      ).data?.recordCheck,
    );
    expect(check).toMatchObject({ checkName: 'build', status: 'pass' });
    expect(await releaseStatus()).toBe('in_progress');

    const g2: Blocker[] = [
      ['G2', 'pending', 'G2: no test_result or uat_summary evidence attached'],
      ['G2', 'pending', 'G2: no qa_tester approval yet'],
    ];
    await expectEligibility({
      staging: g2,
      production: [
        ...g2,
        ['G3', 'pending', 'G3: waiting for G2, which is pending'],
        ['G3', 'pending', 'G3: no rollback_plan evidence attached'],
        ['G3', 'pending', 'G3: no release_manager approval yet'],
        ['G4', 'pending', 'G4: waiting for G3, which is pending'],
        notDeployed,
      ],
    });
  });

  it('QA attaches a test result (G2 in progress), then signs G2 off: eligible for staging', async () => {
    const evidence = okData(
      (
        await api.executeOperation({
          operation: AttachEvidenceDocument,
          variables: {
            input: {
              releaseId,
              gateCode: 'G2',
              artifactType: 'test_result',
              artifactUrl: 'https://ci.example/odoo-core/junit.xml',
              sha256: 'AB'.repeat(32),
            },
          },
          ...people.qa,
        })
      ).data?.attachEvidence,
    );
    expect(evidence).toMatchObject({ artifactType: 'test_result', sha256: 'ab'.repeat(32) });
    await expectEligibility({
      staging: [['G2', 'in_progress', 'G2: no qa_tester approval yet']],
      production: [
        ['G2', 'in_progress', 'G2: no qa_tester approval yet'],
        ['G3', 'pending', 'G3: waiting for G2, which is in_progress'],
        ['G3', 'pending', 'G3: no rollback_plan evidence attached'],
        ['G3', 'pending', 'G3: no release_manager approval yet'],
        ['G4', 'pending', 'G4: waiting for G3, which is pending'],
        notDeployed,
      ],
    });

    const approval = okData(
      (
        await api.executeOperation({
          operation: ApproveGateDocument,
          variables: {
            input: { releaseId, gateCode: 'G2', decision: 'approved', rationaleText: 'suite green' },
          },
          ...people.qa,
        })
      ).data?.approveGate,
    );
    expect(approval).toMatchObject({
      decision: 'approved',
      approverId: 'qa-quinn',
      personaRole: 'qa_tester',
    });
    await expectEligibility({
      staging: [],
      production: [
        ['G3', 'pending', 'G3: no rollback_plan evidence attached'],
        ['G3', 'pending', 'G3: no release_manager approval yet'],
        ['G4', 'pending', 'G4: waiting for G3, which is pending'],
        notDeployed,
      ],
    });
  });

  it('promoting to production before G3 is a ConflictError listing every blocker', async () => {
    const { blockers } = await eligibility('production');
    const refused = expectTypename((await promote('production')).data?.promoteRelease, 'ConflictError');
    expect(refused.message).toMatch(new RegExp(`^release ${releaseId} is not eligible for production: `));
    // The refusal names the same blockers the eligibility query shows, in the same order.
    expect(refused.message).toContain(blockers.map(([, , reason]) => reason).join('; '));
  });

  it('a release manager who did not initiate it attaches the rollback plan and approves G3', async () => {
    okData(
      (
        await api.executeOperation({
          operation: AttachEvidenceDocument,
          variables: {
            input: {
              releaseId,
              gateCode: 'G3',
              artifactType: 'rollback_plan',
              artifactUrl: 'https://wiki.example/odoo-core/rollback',
            },
          },
          ...people.rm,
        })
      ).data?.attachEvidence,
    );
    await expectEligibility({
      staging: [],
      production: [
        ['G3', 'in_progress', 'G3: no release_manager approval yet'],
        ['G4', 'pending', 'G4: waiting for G3, which is in_progress'],
        notDeployed,
      ],
    });

    const approval = okData(
      (
        await api.executeOperation({
          operation: ApproveGateDocument,
          variables: { input: { releaseId, gateCode: 'G3', decision: 'approved' } },
          ...people.rm,
        })
      ).data?.approveGate,
    );
    expect(approval).toMatchObject({ approverId: 'rm-rita', personaRole: 'release_manager' });
    await expectEligibility({ staging: [], production: [notDeployed] });

    const refused = expectTypename((await promote('production')).data?.promoteRelease, 'ConflictError');
    expect(refused.message).toBe(
      `release ${releaseId} is not eligible for production: G4: the release has not been deployed yet`,
    );
  });

  it('the release manager promotes to staging; a second promotion there is a ConflictError', async () => {
    const deployment = okData((await promote('staging')).data?.promoteRelease);
    stagingDeploymentId = deployment.id!;
    expect(deployment).toMatchObject({ environment: 'staging', status: 'in_progress', g4Status: 'pending' });

    const again = expectTypename((await promote('staging')).data?.promoteRelease, 'ConflictError');
    expect(again.message).toBe(`release ${releaseId} is already deployed (or deploying) to staging`);

    // G4 confirms a deployment only once it has succeeded.
    await expectEligibility({
      staging: [],
      production: [
        [
          'G4',
          'in_progress',
          `G4: the staging deployment ${stagingDeploymentId} has not succeeded yet (it is in_progress)`,
        ],
        ['G4', 'in_progress', 'G4: no health_check evidence for the staging deployment'],
      ],
    });
  });

  it('CI reports the staging deployment succeeded and the SRE its passing health check: eligible for production', async () => {
    const updated = okData(
      (
        await api.executeOperation({
          operation: UpdateDeploymentDocument,
          variables: { input: { deploymentId: stagingDeploymentId, status: 'succeeded' } },
          ...people.ci,
        })
      ).data?.updateDeployment,
    );
    expect(updated.status).toBe('succeeded');
    await expectEligibility({
      staging: [],
      production: [
        ['G4', 'in_progress', 'G4: the staging deployment has no passing health check yet'],
        ['G4', 'in_progress', 'G4: no health_check evidence for the staging deployment'],
      ],
    });

    const health = okData(
      (
        await api.executeOperation({
          operation: RecordHealthCheckDocument,
          variables: { input: { deploymentId: stagingDeploymentId, status: 'pass' } },
          ...people.sre,
        })
      ).data?.recordHealthCheck,
    );
    expect(health.g4Status).toBe('passed');
    await expectEligibility({ staging: [], production: [] });
    // Deployed to staging only: not promoted yet.
    expect(await releaseStatus()).toBe('in_progress');
  });

  it('the release manager promotes to production; a second promotion there is a ConflictError', async () => {
    const deployment = okData((await promote('production')).data?.promoteRelease);
    productionDeploymentId = deployment.id!;
    expect(deployment).toMatchObject({
      environment: 'production',
      status: 'in_progress',
      g4Status: 'pending',
    });

    const again = expectTypename((await promote('production')).data?.promoteRelease, 'ConflictError');
    expect(again.message).toBe(`release ${releaseId} is already deployed (or deploying) to production`);

    // G4 now follows the production deployment, which has neither a health check nor its evidence
    // yet (the staging deployment's evidence does not count for it).
    await expectEligibility({
      staging: [],
      production: [
        [
          'G4',
          'in_progress',
          `G4: the production deployment ${productionDeploymentId} has not succeeded yet (it is in_progress)`,
        ],
        ['G4', 'in_progress', 'G4: no health_check evidence for the production deployment'],
      ],
    });
    expect(await releaseStatus()).toBe('in_progress');
  });

  it('the production deployment succeeds and passes its health check: the release is promoted', async () => {
    okData(
      (
        await api.executeOperation({
          operation: UpdateDeploymentDocument,
          variables: { input: { deploymentId: productionDeploymentId, status: 'succeeded' } },
          ...people.ci,
        })
      ).data?.updateDeployment,
    );
    const health = okData(
      (
        await api.executeOperation({
          operation: RecordHealthCheckDocument,
          variables: { input: { deploymentId: productionDeploymentId, status: 'pass', checkName: 'smoke' } },
          ...people.sre,
        })
      ).data?.recordHealthCheck,
    );
    expect(health.g4Status).toBe('passed');
    await expectEligibility({ staging: [], production: [] });
    expect(await releaseStatus()).toBe('promoted');
  });
});
