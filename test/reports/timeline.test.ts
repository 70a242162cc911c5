// A release walked from creation to production through GraphQL mutations and ingest events, each
// step by the person who takes it, then its decision chain read back with releaseTimeline alone:
// every step, in order, with its actor, persona, source system and the ingest attempt that caused
// it; the same rows over SQL (ops.release_timeline) as over GraphQL.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import {
  ApproveExceptionDocument,
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  IngestEventDocument,
  type IngestEventInput,
  PromoteReleaseDocument,
  RecordHealthCheckDocument,
  RecordIncidentDocument,
  ReleaseStatusDocument,
  ReleaseTimelineDocument,
  type ReleaseTimelineQuery,
  RequestExceptionDocument,
  UpdateDeploymentDocument,
} from '../../src/gql/graphql.js';
import { createTestApi, expectData, expectTypename, okData, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const people = {
  developer: { persona: 'developer', sub: 'dev-dana' },
  ci: { persona: 'ci_service_role', sub: 'ci-github-actions' },
  qa: { persona: 'qa_tester', sub: 'qa-quinn' },
  rm: { persona: 'release_manager', sub: 'rm-rita' },
  rm2: { persona: 'release_manager', sub: 'rm-raj' },
  sre: { persona: 'sre', sub: 'sre-sam' },
  auditor: { persona: 'audit_reader', sub: 'audit-ada' },
} as const satisfies Record<string, { persona: Persona; sub: string }>;

type Entry = NonNullable<ReleaseTimelineQuery['releaseTimeline']>[number];

let db: TestDatabase;
let api: TestApi;
/** What the mutations answered: the ids the timeline must name. */
const ids: Record<string, string> = {};
let timeline: Entry[];

const sha = (c: string) => c.repeat(64);

function envelope(key: string, eventType: IngestEventInput['eventType'], payload: unknown, gateCode?: 'G1') {
  return {
    schemaVersion: 'v1.0',
    idempotencyKey: key,
    eventType,
    sourceSystem: 'github_actions',
    releaseId: ids.release!,
    ...(gateCode ? { gateCode } : {}),
    payload,
    emittedAt: new Date().toISOString(),
  } satisfies IngestEventInput;
}

async function ingest(input: IngestEventInput) {
  return (await api.executeOperation({ operation: IngestEventDocument, variables: { input }, ...people.ci }))
    .data?.ingestEvent;
}

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);

  // 1. A developer creates the release.
  const release = okData(
    (
      await api.executeOperation({
        operation: CreateReleaseDocument,
        variables: {
          input: {
            project: 'rpt-timeline',
            releaseName: `cycle-${randomUUID().slice(0, 8)}`,
            sourceRef: 'refs/tags/v1',
          },
        },
        ...people.developer,
      })
    ).data?.createRelease,
  );
  ids.release = release.id!;

  // 2. CI reports the build through the ingest; the retry is a duplicate; the key reused for a
  //    different payload is refused, and logged.
  const key = `github_actions/${ids.release}/build_complete/1`;
  const build = envelope(key, 'build_complete', {
    status: 'pass',
    artifact_ref: 'https://ci.example/runs/1/log',
    sha256: sha('1'),
  });
  const accepted = okData(await ingest(build));
  expect(accepted.status).toBe('accepted');
  ids.buildIngest = accepted.ingestId!;
  ids.buildCheck = (accepted.detail as { check_id: string }).check_id;
  ids.buildLog = (accepted.detail as { artifact_id: string }).artifact_id;
  const retry = okData(await ingest(build));
  expect(retry).toMatchObject({ status: 'duplicate', ingestId: ids.buildIngest });
  ids.retryAttempt = retry.attemptId!;
  expectTypename(await ingest({ ...build, payload: { status: 'fail' } }), 'ConflictError');

  // 3. QA attaches the test report and signs G2 off.
  ids.testResult = okData(
    (
      await api.executeOperation({
        operation: AttachEvidenceDocument,
        variables: {
          input: {
            releaseId: ids.release,
            gateCode: 'G2',
            artifactType: 'test_result',
            artifactUrl: 'https://ci.example/runs/1/junit.xml',
            sha256: sha('2'),
          },
        },
        ...people.qa,
      })
    ).data?.attachEvidence,
  ).id!;
  ids.g2Approval = okData(
    (
      await api.executeOperation({
        operation: ApproveGateDocument,
        variables: {
          input: { releaseId: ids.release, gateCode: 'G2', decision: 'approved', rationaleText: 'green' },
        },
        ...people.qa,
      })
    ).data?.approveGate,
  ).id!;

  // 4. The release manager attaches the rollback plan; the developer asks for a timing exception,
  //    which a second release manager approves.
  ids.rollbackPlan = okData(
    (
      await api.executeOperation({
        operation: AttachEvidenceDocument,
        variables: {
          input: {
            releaseId: ids.release,
            gateCode: 'G3',
            artifactType: 'rollback_plan',
            artifactUrl: 'https://wiki.example/rollback',
          },
        },
        ...people.rm,
      })
    ).data?.attachEvidence,
  ).id!;
  ids.exception = okData(
    (
      await api.executeOperation({
        operation: RequestExceptionDocument,
        variables: {
          input: {
            releaseId: ids.release,
            exceptionType: 'timing_override',
            impactedGates: ['G4'],
            reason: 'deploy during the freeze',
            riskStatement: 'low',
            expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
          },
        },
        ...people.developer,
      })
    ).data?.requestException,
  ).id!;
  okData(
    (
      await api.executeOperation({
        operation: ApproveExceptionDocument,
        variables: { input: { exceptionId: ids.exception, rationale: 'freeze waived' } },
        ...people.rm2,
      })
    ).data?.approveException,
  );

  // 5. G3 signed off; staging deployed, reported succeeded by CI, confirmed healthy by the SRE.
  ids.g3Approval = okData(
    (
      await api.executeOperation({
        operation: ApproveGateDocument,
        variables: { input: { releaseId: ids.release, gateCode: 'G3', decision: 'approved' } },
        ...people.rm,
      })
    ).data?.approveGate,
  ).id!;
  const promote = async (environment: 'staging' | 'production') =>
    okData(
      (
        await api.executeOperation({
          operation: PromoteReleaseDocument,
          variables: { input: { releaseId: ids.release!, environment } },
          ...people.rm,
        })
      ).data?.promoteRelease,
    ).id!;
  ids.staging = await promote('staging');
  okData(
    (
      await api.executeOperation({
        operation: UpdateDeploymentDocument,
        variables: { input: { deploymentId: ids.staging, status: 'succeeded' } },
        ...people.ci,
      })
    ).data?.updateDeployment,
  );
  const health = async (deploymentId: string) =>
    okData(
      (
        await api.executeOperation({
          operation: RecordHealthCheckDocument,
          variables: { input: { deploymentId, status: 'pass' } },
          ...people.sre,
        })
      ).data?.recordHealthCheck,
    );
  await health(ids.staging);

  // 6. Production: promoted, reported succeeded through the ingest, confirmed healthy; then an
  //    incident on it.
  ids.production = await promote('production');
  const deployed = okData(
    await ingest(
      envelope(`github_actions/${ids.release}/deployment_event/prod-succeeded`, 'deployment_event', {
        deployment_id: ids.production,
        status: 'succeeded',
      }),
    ),
  );
  ids.deployIngest = deployed.ingestId!;
  await health(ids.production);
  ids.incident = okData(
    (
      await api.executeOperation({
        operation: RecordIncidentDocument,
        variables: {
          input: { deploymentId: ids.production, severity: 'sev3', rootCause: 'slow cache warm-up' },
        },
        ...people.sre,
      })
    ).data?.recordIncident,
  ).id!;

  const status = expectData(
    await api.executeOperation({
      operation: ReleaseStatusDocument,
      variables: { id: ids.release },
      ...people.rm,
    }),
  ).release?.status;
  expect(status).toBe('promoted');

  timeline = expectData(
    await api.executeOperation({
      operation: ReleaseTimelineDocument,
      variables: { releaseId: ids.release },
      ...people.auditor,
    }),
  ).releaseTimeline!;
});

afterAll(async () => {
  await api?.close();
});

const [DEV, CI, QA, RM, RM2, SRE] = [
  'dev-dana',
  'ci-github-actions',
  'qa-quinn',
  'rm-rita',
  'rm-raj',
  'sre-sam',
];
const GH = 'github_actions';

/**
 * The chain, step by step: [kind, actor, persona, gate, source system, the ingest attempt that
 * caused it (its name in `ids`; 'self' for the refused attempt, whose id no answer carries)].
 */
const EXPECTED: [string, string | null, string | null, string | null, string | null, string | null][] = [
  ['release_created', DEV, 'developer', null, null, null],
  // CI's build report through the ingest: the attempt, then what it caused, all naming it; the
  // event's facts, then the one evaluation of the release they caused.
  ['ingest_attempt', CI, 'ci_service_role', null, GH, 'buildIngest'],
  ['check', CI, 'ci_service_role', 'G1', GH, 'buildIngest'],
  ['evidence', CI, 'ci_service_role', 'G1', GH, 'buildIngest'],
  ['gate_transition', CI, 'ci_service_role', 'G1', GH, 'buildIngest'],
  // The retry (duplicate) and the key reused for another payload (refused): attempts only.
  ['ingest_attempt', CI, 'ci_service_role', null, GH, 'retryAttempt'],
  ['ingest_attempt', CI, 'ci_service_role', null, GH, 'self'],
  ['evidence', QA, 'qa_tester', 'G2', 'manual', null],
  ['gate_transition', QA, 'qa_tester', 'G2', null, null],
  ['approval', QA, 'qa_tester', 'G2', null, null],
  ['gate_transition', QA, 'qa_tester', 'G2', null, null],
  ['evidence', RM, 'release_manager', 'G3', 'manual', null],
  ['gate_transition', RM, 'release_manager', 'G3', null, null],
  ['exception_requested', DEV, 'developer', null, null, null],
  ['exception_approval', RM2, 'release_manager', null, null, null],
  ['approval', RM, 'release_manager', 'G3', null, null],
  ['gate_transition', RM, 'release_manager', 'G3', null, null],
  ['deployment', RM, 'release_manager', null, null, null],
  ['gate_transition', RM, 'release_manager', 'G4', null, null],
  ['deployment_transition', CI, 'ci_service_role', null, null, null],
  ['health_check', SRE, 'sre', 'G4', 'monitoring', null],
  ['evidence', SRE, 'sre', 'G4', 'monitoring', null],
  ['deployment_transition', SRE, 'sre', null, null, null],
  ['gate_transition', SRE, 'sre', 'G4', null, null],
  ['deployment', RM, 'release_manager', null, null, null],
  ['gate_transition', RM, 'release_manager', 'G4', null, null],
  ['ingest_attempt', CI, 'ci_service_role', null, GH, 'deployIngest'],
  ['deployment_transition', CI, 'ci_service_role', null, GH, 'deployIngest'],
  ['health_check', SRE, 'sre', 'G4', 'monitoring', null],
  ['evidence', SRE, 'sre', 'G4', 'monitoring', null],
  ['deployment_transition', SRE, 'sre', null, null, null],
  ['gate_transition', SRE, 'sre', 'G4', null, null],
  ['incident', SRE, 'sre', null, null, null],
];

/** The name in `ids` of the entry's ingest attempt; 'self' for an attempt not named there. */
function ingestName(e: Entry): string | null {
  if (e.ingestId === null || e.ingestId === undefined) return null;
  const named = Object.entries(ids).find(([, id]) => id === e.ingestId)?.[0];
  return named ?? (e.ingestId === e.entityId ? 'self' : e.ingestId);
}

describe('releaseTimeline of a release walked to production', () => {
  it('has every step in order, with its actor, persona, gate, source system and causing ingest attempt', () => {
    expect(
      timeline.map((e) => [e.kind, e.actor, e.persona, e.gateCode, e.sourceSystem, ingestName(e)]),
    ).toEqual(EXPECTED);
  });

  it('numbers the entries in time order', () => {
    expect(timeline.map((e) => e.seq)).toEqual(timeline.map((_, i) => i + 1));
    const at = timeline.map((e) => Date.parse(e.at!));
    expect(at).toEqual([...at].sort((a, b) => a - b));
  });

  it('names the rows each step wrote: the ids the mutations and the ingest answered with', () => {
    const entity = (seq: number) => timeline[seq - 1]!.entityId;
    expect(entity(1)).toBe(ids.release);
    expect(entity(2)).toBe(ids.buildIngest);
    expect(entity(3)).toBe(ids.buildCheck);
    expect(entity(4)).toBe(ids.buildLog);
    expect(entity(6)).toBe(ids.retryAttempt);
    expect(entity(8)).toBe(ids.testResult);
    expect(entity(10)).toBe(ids.g2Approval);
    expect(entity(12)).toBe(ids.rollbackPlan);
    expect(entity(14)).toBe(ids.exception);
    expect(entity(16)).toBe(ids.g3Approval);
    expect(entity(18)).toBe(ids.staging);
    expect(entity(25)).toBe(ids.production);
    expect(entity(27)).toBe(ids.deployIngest);
    expect(entity(33)).toBe(ids.incident);
  });

  it('says what happened, and why each gate moved, in one line each', () => {
    const summary = (seq: number) => timeline[seq - 1]!.summary;
    const key = `github_actions/${ids.release}/build_complete/1`;
    expect(summary(2)).toBe(`build_complete event ${key}: accepted (HTTP 200)`);
    expect(summary(3)).toBe('G1 check "build" reported pass');
    expect(summary(4)).toBe(`build_log evidence on G1: https://ci.example/runs/1/log (sha256 ${sha('1')})`);
    // One event, one evaluation, after its facts, for the fact that decides.
    expect(summary(5)).toBe('G1 pending -> passed: check "build" reported pass by ci-github-actions');
    expect(summary(6)).toBe(
      `build_complete event ${key}: duplicate (HTTP 200), duplicate of ingest ${ids.buildIngest}`,
    );
    expect(summary(7)).toBe(
      // A refusal by its error code only: what the sender sent stays in the ingest log.
      'build_complete event: rejected (HTTP 409): idempotency_key_conflict',
    );
    expect(summary(10)).toBe('qa_tester qa-quinn approved G2: green');
    expect(summary(11)).toBe('G2 in_progress -> passed: qa_tester approved (gate) by qa-quinn');
    expect(summary(15)).toBe(`release_manager rm-raj approved exception ${ids.exception}: freeze waived`);
    expect(summary(18)).toMatch(
      new RegExp(`^deployment ${ids.staging} to staging: in_progress, deployed at \\S+Z from refs/tags/v1$`),
    );
    expect(summary(20)).toBe(`staging deployment ${ids.staging}: in_progress -> succeeded`);
    expect(summary(23)).toBe(`staging deployment ${ids.staging}: G4 pending -> passed`);
    expect(summary(24)).toBe('G4 in_progress -> passed: staging deployment succeeded, G4 passed by sre-sam');
    expect(summary(26)).toBe(
      'G4 passed -> in_progress: production deployment in_progress, G4 pending by rm-rita',
    );
    expect(summary(33)).toMatch(/^sev3 incident on the production deployment .+: slow cache warm-up$/);
    expect(timeline.every((e) => !/[\r\n]/.test(e.summary!))).toBe(true);
  });

  it('is the same chain over SQL as over GraphQL: ops.release_timeline is the one source', async () => {
    const rows = await db.as('release_manager', 'rm-rosa', async (c) => {
      const { rows } = await c.query(
        `select seq::int, kind, actor, persona::text, source_system, ingest_id, gate_code::text, summary, entity_id
         from ops.release_timeline($1) order by seq`,
        [ids.release],
      );
      return rows;
    });
    expect(rows).toEqual(
      timeline.map((e) => ({
        seq: e.seq,
        kind: e.kind,
        actor: e.actor,
        persona: e.persona,
        source_system: e.sourceSystem,
        ingest_id: e.ingestId,
        gate_code: e.gateCode,
        summary: e.summary,
        entity_id: e.entityId,
      })),
    );
  });

  it('answers NotFound for an unknown release and a validation error for a malformed id', async () => {
    const unknown = await api.executeOperation({
      operation: ReleaseTimelineDocument,
      variables: { releaseId: randomUUID() },
      ...people.auditor,
    });
    expect(unknown.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const malformed = await api.executeOperation({
      operation: ReleaseTimelineDocument,
      variables: { releaseId: 'not-a-uuid' },
      ...people.auditor,
    });
    expect(malformed.errors?.[0]?.extensions?.code).toBe('VALIDATION');
  });
});
