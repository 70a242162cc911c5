// What a gate means, through the API doors: GraphQL mutations, the ingest (over GraphQL and over
// HTTP) and the CLI's time flags. The same six faults as test/governance/gate-semantics.test.ts:
// separation of duties in either order, a failed and a rolled-back staging deployment, another
// revision shipped under an approval, a policy change, and a local time without an offset.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { isoInstant } from '../../src/cli/command.js';
import {
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  IngestEventDocument,
  PromoteReleaseDocument,
  RecordCheckDocument,
  RecordHealthCheckDocument,
  ReleaseHealthDocument,
  ReleaseRevisionsDocument,
  ReleaseTimelineDocument,
  RequestExceptionDocument,
  ReviseReleaseDocument,
  UpdateDeploymentDocument,
} from '../../src/gql/graphql.js';
import { INGEST_PATH } from '../../src/server.js';
import { storedStatusDrift } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, expectTypename, okData, TEST_SECRET, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
});

// Whatever door the facts came through, the stored gate status is what the rule computes.
afterEach(async () => {
  expect(await storedStatusDrift(db)).toEqual([]);
});

const people = {
  developer: { persona: 'developer', sub: 'dev-dana' },
  ci: { persona: 'ci_service_role', sub: 'ci-github-actions' },
  qa: { persona: 'qa_tester', sub: 'qa-quinn' },
  rm: { persona: 'release_manager', sub: 'rm-rita' },
  sre: { persona: 'sre', sub: 'sre-sam' },
  auditor: { persona: 'audit_reader', sub: 'audit-ada' },
} as const satisfies Record<string, { persona: Persona; sub: string }>;

async function createRelease(sourceRef = 'refs/tags/v1', project = 'odoo-core'): Promise<string> {
  const r = await api.executeOperation({
    operation: CreateReleaseDocument,
    variables: { input: { project, releaseName: `gs-${randomUUID().slice(0, 8)}`, sourceRef } },
    ...people.developer,
  });
  return okData(expectData(r).createRelease).id!;
}

async function passG1(releaseId: string) {
  const r = await api.executeOperation({
    operation: RecordCheckDocument,
    variables: { input: { releaseId, gateCode: 'G1', checkName: 'build', status: 'pass' } },
    ...people.ci,
  });
  okData(expectData(r).recordCheck);
}

async function attach(releaseId: string, gateCode: 'G2' | 'G3', who: { persona: Persona; sub: string }) {
  const r = await api.executeOperation({
    operation: AttachEvidenceDocument,
    variables: {
      input: {
        releaseId,
        gateCode,
        artifactType: gateCode === 'G2' ? 'test_result' : 'rollback_plan',
        artifactUrl: `https://evidence.example/${releaseId}/${gateCode}/${randomUUID()}`,
      },
    },
    ...who,
  });
  okData(expectData(r).attachEvidence);
}

function approve(releaseId: string, gateCode: 'G2' | 'G3', who: { persona: Persona; sub: string }) {
  return api
    .executeOperation({
      operation: ApproveGateDocument,
      variables: { input: { releaseId, gateCode, decision: 'approved', rationaleText: 'looks right' } },
      ...who,
    })
    .then((r) => expectData(r).approveGate);
}

async function approved(releaseId: string) {
  await passG1(releaseId);
  await attach(releaseId, 'G2', people.qa);
  okData(await approve(releaseId, 'G2', people.qa));
  await attach(releaseId, 'G3', people.rm);
  okData(await approve(releaseId, 'G3', people.rm));
}

function promote(releaseId: string, environment: 'staging' | 'production', sourceRef?: string) {
  return api
    .executeOperation({
      operation: PromoteReleaseDocument,
      variables: { input: { releaseId, environment, sourceRef } },
      ...people.sre,
    })
    .then((r) => expectData(r).promoteRelease);
}

async function updateDeployment(deploymentId: string, status: 'succeeded' | 'failed' | 'rolled_back') {
  const r = await api.executeOperation({
    operation: UpdateDeploymentDocument,
    variables: { input: { deploymentId, status } },
    ...people.sre,
  });
  okData(expectData(r).updateDeployment);
}

async function healthCheck(deploymentId: string, status: 'pass' | 'fail') {
  const r = await api.executeOperation({
    operation: RecordHealthCheckDocument,
    variables: { input: { deploymentId, status } },
    ...people.sre,
  });
  return expectData(r).recordHealthCheck;
}

async function stagingHealthy(releaseId: string): Promise<string> {
  const d = okData(await promote(releaseId, 'staging'));
  const deploymentId = d.id!;
  await updateDeployment(deploymentId, 'succeeded');
  okData(await healthCheck(deploymentId, 'pass'));
  return deploymentId;
}

async function health(releaseId: string) {
  const r = await api.executeOperation({
    operation: ReleaseHealthDocument,
    variables: { id: releaseId },
    ...people.rm,
  });
  const release = expectData(r).release!;
  return {
    ...release,
    gate: Object.fromEntries((release.gates ?? []).map((g) => [g.gateCode, g.status])),
    productionReasons: (release.production?.blockers ?? []).map((b) => b.reason).join('\n'),
  };
}

function ingest(persona: Persona, sub: string, releaseId: string, payload: Record<string, unknown>) {
  return api
    .executeOperation({
      operation: IngestEventDocument,
      variables: {
        input: {
          schemaVersion: 'v1.0',
          idempotencyKey: `gs-${randomUUID()}`,
          eventType: 'deployment_event',
          sourceSystem: 'github_actions',
          releaseId,
          payload,
          emittedAt: new Date().toISOString(),
        },
      },
      persona,
      sub,
    })
    .then((r) => expectData(r).ingestEvent);
}

describe('separation of duties in either order (approveGate)', () => {
  it('G3 approved as release_manager, then G2 as qa_tester by the same subject: ForbiddenError', async () => {
    const id = await createRelease();
    await passG1(id);
    await attach(id, 'G2', people.qa);
    await attach(id, 'G3', people.rm);
    const both = 'pat-both-hats';
    okData(await approve(id, 'G3', { persona: 'release_manager', sub: both }));
    const refused = expectTypename(
      await approve(id, 'G2', { persona: 'qa_tester', sub: both }),
      'ForbiddenError',
    );
    expect(refused.message).toMatch(
      /separation of duties: pat-both-hats signed off G3 of release .+ and may not also approve its G2/,
    );
    expect((await health(id)).gate.G2).not.toBe('passed');
  });
});

describe('G4 follows the deployment (promoteRelease, updateDeployment, recordHealthCheck, ingest)', () => {
  it('a staging deployment reported failed, then a passing health check (refused): production refused', async () => {
    const id = await createRelease();
    await approved(id);
    const d = okData(await promote(id, 'staging'));
    await updateDeployment(d.id!, 'failed');
    expect(expectTypename(await healthCheck(d.id!, 'pass'), 'ConflictError').message).toMatch(
      /is failed: a passing health check confirms a deployment that has succeeded/,
    );
    const h = await health(id);
    expect(h.status).toBe('failed');
    expect(h.gate.G4).toBe('failed');
    expect(h.production?.eligible).toBe(false);
    expect(h.productionReasons).toContain(`G4: the staging deployment ${d.id} failed`);
    expect(expectTypename(await promote(id, 'production'), 'ConflictError').message).toMatch(
      /not eligible for production/,
    );
  });

  it('a rollback of the healthy staging deployment, sent through the ingest: production refused', async () => {
    const id = await createRelease();
    await approved(id);
    const staging = await stagingHealthy(id);
    expect((await health(id)).production?.eligible).toBe(true);
    const sent = await ingest('sre', people.sre.sub, id, {
      environment: 'staging',
      status: 'succeeded',
      rollback_of: staging,
    });
    expect(okData(sent).status).toBe('accepted');
    const h = await health(id);
    expect(h.status).toBe('rolled_back');
    expect(h.gate.G4).toBe('failed');
    expect(h.productionReasons).toContain(`G4: the staging deployment ${staging} was rolled back`);
    expectTypename(await promote(id, 'production'), 'ConflictError');
  });

  it('the healthy staging deployment reported rolled_back: production refused', async () => {
    const id = await createRelease();
    await approved(id);
    const staging = await stagingHealthy(id);
    await updateDeployment(staging, 'rolled_back');
    expect((await health(id)).production?.eligible).toBe(false);
    expectTypename(await promote(id, 'production'), 'ConflictError');
  });
});

describe('one revision per release (promoteRelease, ingest, reviseRelease)', () => {
  it('promoteRelease with an unreviewed sourceRef is a ConflictError naming both refs', async () => {
    const id = await createRelease('refs/tags/v1');
    await approved(id);
    const refused = expectTypename(
      await promote(id, 'staging', 'refs/heads/unreviewed-hotfix'),
      'ConflictError',
    );
    expect(refused.message).toMatch(
      /refs\/heads\/unreviewed-hotfix is not the revision of release .+ \(refs\/tags\/v1\)/,
    );
    // Its own revision is deployed, and says so.
    expect(okData(await promote(id, 'staging', 'refs/tags/v1')).sourceRef).toBe('refs/tags/v1');
  });

  it('an ingest deployment_event with another source_ref is refused and records nothing', async () => {
    const id = await createRelease('refs/tags/v1');
    await approved(id);
    const sent = await ingest('ci_service_role', people.ci.sub, id, {
      environment: 'staging',
      status: 'succeeded',
      source_ref: 'refs/heads/unreviewed-hotfix',
    });
    expect(expectTypename(sent, 'ConflictError').message).toMatch(/is not the revision of release/);
    const { rows } = await db.admin.query(
      'select count(*)::int as n from ops.deployments where release_id = $1',
      [id],
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('revised: approvals go stale and say why; re-approved and redeployed, it is promoted', async () => {
    const id = await createRelease('refs/tags/v1');
    await approved(id);
    await stagingHealthy(id);

    const rev = await api.executeOperation({
      operation: ReviseReleaseDocument,
      variables: {
        input: { releaseId: id, sourceRef: 'refs/tags/v1.0.1', reason: 'hotfix: invoice rounding' },
      },
      ...people.developer,
    });
    expect(okData(expectData(rev).reviseRelease)).toMatchObject({
      revision: 2,
      sourceRef: 'refs/tags/v1.0.1',
      previousSourceRef: 'refs/tags/v1',
      revisedBy: people.developer.sub,
    });
    const stale = await health(id);
    expect(stale).toMatchObject({ revision: 2, sourceRef: 'refs/tags/v1.0.1' });
    expect(stale.production?.eligible).toBe(false);
    expect(stale.productionReasons).toContain(
      'G2: the qa_tester approval by qa-quinn is stale: approved for refs/tags/v1, release is now at refs/tags/v1.0.1',
    );
    expect(stale.productionReasons).toContain(
      'G3: the release_manager approval by rm-rita is stale: approved for refs/tags/v1, release is now at refs/tags/v1.0.1',
    );

    await approved(id);
    await stagingHealthy(id);
    const prod = okData(await promote(id, 'production'));
    expect(prod.sourceRef).toBe('refs/tags/v1.0.1');

    const history = expectData(
      await api.executeOperation({
        operation: ReleaseRevisionsDocument,
        variables: { id },
        ...people.auditor,
      }),
    ).release!;
    expect(history.revisions).toEqual([
      {
        revision: 1,
        sourceRef: 'refs/tags/v1',
        previousSourceRef: null,
        reason: 'release created',
        revisedBy: 'dev-dana',
      },
      {
        revision: 2,
        sourceRef: 'refs/tags/v1.0.1',
        previousSourceRef: 'refs/tags/v1',
        reason: 'hotfix: invoice rounding',
        revisedBy: people.developer.sub,
      },
    ]);
    expect(history.approvals?.map((a) => a.revision)).toEqual([1, 1, 2, 2]);
    const timeline = expectData(
      await api.executeOperation({
        operation: ReleaseTimelineDocument,
        variables: { releaseId: id },
        ...people.auditor,
      }),
    ).releaseTimeline;
    expect((timeline ?? []).filter((e) => e.kind === 'revision').map((e) => [e.actor, e.summary])).toEqual([
      [
        people.developer.sub,
        expect.stringMatching(
          /^revision 2: refs\/tags\/v1\.0\.1 \(was refs\/tags\/v1\) by dev-dana: hotfix: invoice rounding;/,
        ),
      ],
    ]);
    expect(history.deployments?.map((d) => [d.environment, d.revision, d.sourceRef])).toEqual([
      ['staging', 1, 'refs/tags/v1'],
      ['staging', 2, 'refs/tags/v1.0.1'],
      ['production', 2, 'refs/tags/v1.0.1'],
    ]);
  });

  it('a qa_tester may not revise (ForbiddenError, no statement)', async () => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: ReviseReleaseDocument,
      variables: { input: { releaseId: randomUUID(), sourceRef: 'refs/x', reason: 'no' } },
      ...people.qa,
    });
    expectTypename(expectData(r).reviseRelease, 'ForbiddenError');
    expect(api.statements.count).toBe(0);
  });
});

describe('a policy change shows in release.gates at once', () => {
  it('a required G1 check added after G1-G3 passed: gates and blockers agree', async () => {
    const project = `gs-${randomUUID().slice(0, 8)}`;
    const id = await createRelease('refs/tags/v1', project);
    await approved(id);
    expect((await health(id)).gate).toMatchObject({ G1: 'passed', G2: 'passed', G3: 'passed' });
    await db.admin.query(
      `insert into ops.check_requirements (project, gate_code, check_name) values ($1, 'G1', 'sbom')`,
      [project],
    );
    const h = await health(id);
    expect(h.staging?.blockers).toContainEqual({
      gateCode: 'G1',
      status: 'in_progress',
      reason: 'G1: required check "sbom" has not reported',
    });
    expect(h.gate).toMatchObject({ G1: 'in_progress', G2: 'in_progress', G3: 'in_progress' });
  });
});

describe('one time: an instant without an offset is refused at every door', () => {
  const LOCAL = '2027-03-28T02:30:00';
  const NO_OFFSET = /"2027-03-28T02:30:00" has no time zone offset: add Z \(UTC\) or an offset/;

  it('GraphQL DateTime: requestException(expiresAt: local time) is refused, nothing recorded', async () => {
    const id = await createRelease();
    const r = await api.executeOperation({
      operation: RequestExceptionDocument,
      variables: {
        input: {
          releaseId: id,
          exceptionType: 'gate_bypass',
          impactedGates: ['G3'],
          reason: 'hotfix',
          riskStatement: 'low',
          expiresAt: LOCAL,
        },
      },
      ...people.rm,
    });
    expect(r.status).toBe(400);
    expect(r.errors?.[0]?.message).toMatch(NO_OFFSET);
    const { rows } = await db.admin.query(
      'select count(*)::int as n from ops.exceptions where release_id = $1',
      [id],
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('GraphQL DateTime: the same instant with Z or an offset is stored as that instant', async () => {
    const id = await createRelease();
    for (const [expiresAt, iso] of [
      ['2027-03-28T02:30:00Z', '2027-03-28T02:30:00.000Z'],
      ['2027-03-28T03:30:00+01:00', '2027-03-28T02:30:00.000Z'],
    ] as const) {
      const r = await api.executeOperation({
        operation: RequestExceptionDocument,
        variables: {
          input: {
            releaseId: id,
            exceptionType: 'gate_bypass',
            impactedGates: ['G3'],
            reason: 'hotfix',
            riskStatement: 'low',
            // An exception authorises for at most 30 days: it takes effect shortly before.
            effectiveFrom: '2027-03-20T00:00:00Z',
            expiresAt,
          },
        },
        ...people.rm,
      });
      expect(okData(expectData(r).requestException).expiresAt).toBe(iso);
    }
  });

  it('HTTP ingest: emitted_at and payload.deployed_at without an offset are a 400 naming the field', async () => {
    const id = await createRelease();
    const token = await mintToken({ secret: TEST_SECRET, persona: 'sre', sub: people.sre.sub });
    const response = await api.server.fetch(
      new Request(`http://ops.test${INGEST_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          schema_version: 'v1.0',
          idempotency_key: `gs-${randomUUID()}`,
          event_type: 'deployment_event',
          source_system: 'github_actions',
          release_id: id,
          emitted_at: LOCAL,
          payload: { environment: 'staging', status: 'in_progress', deployed_at: LOCAL },
        }),
      }),
    );
    expect(response.status).toBe(400);
    const body = (await response.json()) as { detail: { issues: { path: string; message: string }[] } };
    expect(body.detail.issues).toEqual(
      expect.arrayContaining([
        { path: 'emitted_at', message: expect.stringMatching(NO_OFFSET) },
        { path: 'payload.deployed_at', message: expect.stringMatching(NO_OFFSET) },
      ]),
    );
  });

  it('CLI flags: a local time is a usage error; an offset gives one instant whatever TZ the CLI runs in', () => {
    expect(() => isoInstant(LOCAL, '--expires-at')).toThrow(NO_OFFSET);
    const before = process.env.TZ;
    const seen = new Set<string>();
    try {
      for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York']) {
        process.env.TZ = tz;
        expect(() => isoInstant(LOCAL, '--expires-at')).toThrow(NO_OFFSET);
        seen.add(isoInstant('2027-03-28T02:30:00Z', '--expires-at'));
        seen.add(isoInstant('2027-03-27T22:30:00-04:00', '--expires-at'));
      }
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
    expect([...seen]).toEqual(['2027-03-28T02:30:00.000Z']);
  });
});
