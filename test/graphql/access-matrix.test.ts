// Who may call what, end to end: every persona against every query root field and every mutation
// through the real server. A refused call names the personas that may make it and never reaches
// the database. Then the mirror is checked against the authority: TABLE_READERS against the
// table grants, MUTATION_CALLERS against what each SQL function accepts, and ingestEvent against
// ops.ingest_permissions, so src/auth/access.ts cannot drift from the migrations.
import { randomUUID } from 'node:crypto';
import type { GraphQLFormattedError } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_PERSONAS,
  LEDGER_FUNCTION_CALLERS,
  MUTATION_CALLERS,
  type MutationName,
  REPORT_FUNCTION_CALLERS,
  TABLE_READERS,
  VIEW_READERS,
} from '../../src/auth/access.js';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import {
  AddFreezeWindowDocument,
  AddWebhookDocument,
  ApprovalRequestsDocument,
  ApproveExceptionDocument,
  ApproveGateDocument,
  AttachEvidenceDocument,
  CreateReleaseDocument,
  DeadlinePoliciesDocument,
  DeploymentByIdDocument,
  DeploymentHistoryDocument,
  EndFreezeWindowDocument,
  EvidenceCompletenessDocument,
  ExceptionStatusDocument,
  ExceptionsDocument,
  FreezeWindowsDocument,
  IngestEventDocument,
  type IngestEventInput,
  IngestLogDocument,
  InstallPolicyPackDocument,
  LedgerCheckpointComparisonDocument,
  LedgerCheckpointDocument,
  LedgerVerificationDocument,
  PromoteReleaseDocument,
  PromotionEligibilitiesDocument,
  PromotionEligibilityDocument,
  RecordCheckDocument,
  RecordDeploymentDocument,
  RecordHealthCheckDocument,
  RecordIncidentDocument,
  RecordRecoveryDrillDocument,
  RecordReleaseScopeDocument,
  RecoveryDrillsDocument,
  ReleaseByNameDocument,
  ReleaseEvidenceBundleDocument,
  ReleaseGateSummaryDocument,
  ReleaseIdsDocument,
  ReleaseStatusDocument,
  ReleaseTimelineDocument,
  ReleaseTimingDocument,
  RemoveWebhookDocument,
  RequestApprovalDocument,
  RequestExceptionDocument,
  ReviewExceptionDocument,
  ReviseReleaseDocument,
  SetDeadlinePolicyDocument,
  SetSoakPolicyDocument,
  SoakPoliciesDocument,
  UpdateDeploymentDocument,
  ViewerDocument,
  WebhookDeliveriesDocument,
  WebhookSubscriptionsDocument,
  WhatIsFrozenNowDocument,
} from '../../src/gql/graphql.js';
import { schema } from '../../src/schema.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, okData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
/** A real release, initiated by the developer subject used below, so reads by id find it. */
const release = { id: '', project: 'access-matrix', name: `am-${randomUUID().slice(0, 8)}` };
const sub = (persona: Persona) => `am-${persona}`;
/** The root of a checkpoint with no heads: sha256 of the empty string. */
const EMPTY_ROOT = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  const created = okData(
    (
      await api.executeOperation({
        operation: CreateReleaseDocument,
        variables: { input: { project: release.project, releaseName: release.name } },
        persona: 'developer',
        sub: sub('developer'),
      })
    ).data?.createRelease,
  );
  release.id = created.id!;
});

afterAll(async () => {
  await api?.close();
});

/** The personas of `allowed`, in PERSONAS order (how the server lists them). */
const inOrder = (allowed: readonly Persona[]) => PERSONAS.filter((p) => allowed.includes(p));
const sorted = (xs: Iterable<string>) => [...xs].sort();

// ---- Query root fields -------------------------------------------------------------------------

interface QueryCall {
  allowed: readonly Persona[];
  run: (persona: Persona) => Promise<{ data: unknown; errors: GraphQLFormattedError[] | undefined }>;
}

function queries(): Record<string, QueryCall> {
  const as = (persona: Persona) => ({ persona, sub: sub(persona) });
  return {
    viewer: {
      allowed: ALL_PERSONAS,
      run: (p) => api.executeOperation({ operation: ViewerDocument, ...as(p) }),
    },
    release: {
      allowed: TABLE_READERS.releases,
      run: (p) =>
        api.executeOperation({ operation: ReleaseStatusDocument, variables: { id: release.id }, ...as(p) }),
    },
    releaseByName: {
      allowed: TABLE_READERS.releases,
      run: (p) =>
        api.executeOperation({
          operation: ReleaseByNameDocument,
          variables: { project: release.project, name: release.name },
          ...as(p),
        }),
    },
    releases: {
      allowed: TABLE_READERS.releases,
      run: (p) => api.executeOperation({ operation: ReleaseIdsDocument, variables: { first: 5 }, ...as(p) }),
    },
    promotionEligibility: {
      allowed: ALL_PERSONAS,
      run: (p) =>
        api.executeOperation({
          operation: PromotionEligibilityDocument,
          variables: { releaseId: release.id, environment: 'staging' },
          ...as(p),
        }),
    },
    exceptions: {
      allowed: TABLE_READERS.exceptions,
      run: (p) => api.executeOperation({ operation: ExceptionsDocument, variables: {}, ...as(p) }),
    },
    ingestLog: {
      allowed: TABLE_READERS.event_ingest_log,
      run: (p) => api.executeOperation({ operation: IngestLogDocument, variables: { first: 5 }, ...as(p) }),
    },
    deployment: {
      allowed: TABLE_READERS.deployments,
      run: (p) =>
        api.executeOperation({
          operation: DeploymentByIdDocument,
          variables: { id: randomUUID() },
          ...as(p),
        }),
    },
    recoveryDrills: {
      allowed: TABLE_READERS.recovery_drills,
      run: (p) => api.executeOperation({ operation: RecoveryDrillsDocument, variables: {}, ...as(p) }),
    },
    releaseGateSummary: {
      allowed: VIEW_READERS.v_release_gate_summary,
      run: (p) =>
        api.executeOperation({ operation: ReleaseGateSummaryDocument, variables: { first: 2 }, ...as(p) }),
    },
    promotionEligibilities: {
      allowed: VIEW_READERS.v_promotion_eligibility,
      run: (p) =>
        api.executeOperation({
          operation: PromotionEligibilitiesDocument,
          variables: { first: 2 },
          ...as(p),
        }),
    },
    evidenceCompleteness: {
      allowed: VIEW_READERS.v_evidence_completeness,
      run: (p) =>
        api.executeOperation({ operation: EvidenceCompletenessDocument, variables: { first: 2 }, ...as(p) }),
    },
    exceptionStatus: {
      allowed: VIEW_READERS.v_exception_status,
      run: (p) =>
        api.executeOperation({ operation: ExceptionStatusDocument, variables: { first: 2 }, ...as(p) }),
    },
    deploymentHistory: {
      allowed: VIEW_READERS.v_deployment_history,
      run: (p) =>
        api.executeOperation({ operation: DeploymentHistoryDocument, variables: { first: 2 }, ...as(p) }),
    },
    releaseTimeline: {
      allowed: REPORT_FUNCTION_CALLERS.release_timeline,
      run: (p) =>
        api.executeOperation({
          operation: ReleaseTimelineDocument,
          variables: { releaseId: release.id },
          ...as(p),
        }),
    },
    releaseEvidenceBundle: {
      allowed: REPORT_FUNCTION_CALLERS.release_evidence_bundle,
      run: (p) =>
        api.executeOperation({
          operation: ReleaseEvidenceBundleDocument,
          variables: { releaseId: release.id },
          ...as(p),
        }),
    },
    ledgerVerification: {
      allowed: LEDGER_FUNCTION_CALLERS['verify_ledger(uuid)'],
      run: (p) =>
        api.executeOperation({
          operation: LedgerVerificationDocument,
          variables: { releaseId: release.id },
          ...as(p),
        }),
    },
    webhookSubscriptions: {
      allowed: TABLE_READERS.webhook_subscriptions,
      run: (p) => api.executeOperation({ operation: WebhookSubscriptionsDocument, variables: {}, ...as(p) }),
    },
    webhookDeliveries: {
      allowed: TABLE_READERS.webhook_deliveries,
      run: (p) => api.executeOperation({ operation: WebhookDeliveriesDocument, variables: {}, ...as(p) }),
    },
    // Timing: the calendar and policies are everyone's; a release's timing and approval requests
    // for whoever may read the release (checked in SQL).
    activeFreezes: {
      allowed: ALL_PERSONAS,
      run: (p) => api.executeOperation({ operation: WhatIsFrozenNowDocument, variables: {}, ...as(p) }),
    },
    freezeWindows: {
      allowed: ALL_PERSONAS,
      run: (p) => api.executeOperation({ operation: FreezeWindowsDocument, variables: {}, ...as(p) }),
    },
    soakPolicies: {
      allowed: ALL_PERSONAS,
      run: (p) => api.executeOperation({ operation: SoakPoliciesDocument, variables: {}, ...as(p) }),
    },
    deadlinePolicies: {
      allowed: ALL_PERSONAS,
      run: (p) => api.executeOperation({ operation: DeadlinePoliciesDocument, variables: {}, ...as(p) }),
    },
    releaseTiming: {
      allowed: ALL_PERSONAS,
      run: (p) =>
        api.executeOperation({
          operation: ReleaseTimingDocument,
          variables: { releaseId: release.id },
          ...as(p),
        }),
    },
    approvalRequests: {
      allowed: ALL_PERSONAS,
      run: (p) =>
        api.executeOperation({
          operation: ApprovalRequestsDocument,
          variables: { releaseId: release.id },
          ...as(p),
        }),
    },
    ledgerCheckpoint: {
      allowed: LEDGER_FUNCTION_CALLERS['ledger_checkpoint()'],
      run: (p) => api.executeOperation({ operation: LedgerCheckpointDocument, variables: {}, ...as(p) }),
    },
    ledgerCheckpointComparison: {
      allowed: LEDGER_FUNCTION_CALLERS['compare_ledger_checkpoint(jsonb)'],
      run: (p) =>
        api.executeOperation({
          operation: LedgerCheckpointComparisonDocument,
          variables: { checkpoint: { format: 'ops.ledger-checkpoint/v1', root: EMPTY_ROOT, heads: [] } },
          ...as(p),
        }),
    },
  };
}

describe('query root fields × personas', () => {
  it('the matrix covers every query root field', () => {
    expect(sorted(Object.keys(queries()))).toEqual(sorted(Object.keys(schema.getQueryType()!.getFields())));
  });

  for (const [field, { allowed, run }] of Object.entries(queries())) {
    for (const persona of PERSONAS) {
      if (allowed.includes(persona)) {
        it(`${field}: ${persona} may read it`, async () => {
          const result = await run(persona);
          expect(result.errors).toBeUndefined();
          expect((result.data as Record<string, unknown>)[field]).toBeDefined();
        });
      } else {
        it(`${field}: ${persona} is refused (FORBIDDEN) without a statement`, async () => {
          api.statements.reset();
          const result = await run(persona);
          expect(api.statements.count).toBe(0);
          expect(result.data).toEqual({ [field]: null });
          expect(result.errors).toHaveLength(1);
          expect(result.errors![0]).toMatchObject({
            message: `Query.${field} requires one of the personas: ${inOrder(allowed).join(', ')}`,
            path: [field],
            extensions: { code: 'FORBIDDEN', requiredPersonas: inOrder(allowed) },
          });
        });
      }
    }
  }
});

// ---- Mutations ---------------------------------------------------------------------------------

type Member = { __typename: string; message?: string | null; requiredPersonas?: string[] | null };
interface MutationOutcome {
  member: Member | null | undefined;
  errors: GraphQLFormattedError[] | undefined;
}

const later = () => new Date(Date.now() + 86_400_000).toISOString();

/** An event each persona may send (by ops.ingest_permissions), so only the fake release refuses it. */
function ingestInput(persona: Persona): IngestEventInput {
  const common = {
    schemaVersion: 'v1.0',
    idempotencyKey: `am-${randomUUID()}`,
    sourceSystem: 'github_actions',
    releaseId: randomUUID(),
    emittedAt: new Date().toISOString(),
  };
  switch (persona) {
    case 'qa_tester':
    case 'release_manager':
      return {
        ...common,
        eventType: 'evidence_attached',
        payload: { artifact_type: 'test_result', artifact_url: 'https://ci.example/junit.xml' },
      };
    case 'sre':
      return {
        ...common,
        eventType: 'deployment_event',
        payload: { environment: 'staging', status: 'in_progress' },
      };
    default:
      return { ...common, eventType: 'build_complete', payload: { status: 'pass' } };
  }
}

/** Each mutation with input that is valid but names rows that do not exist (where it names any). */
function mutations(): Record<MutationName, (persona: Persona) => Promise<MutationOutcome>> {
  const as = (persona: Persona) => ({ persona, sub: sub(persona) });
  const id = () => randomUUID();
  return {
    createRelease: async (p) => {
      const r = await api.executeOperation({
        operation: CreateReleaseDocument,
        variables: { input: { project: 'access-matrix', releaseName: `m-${p}-${id()}` } },
        ...as(p),
      });
      return { member: r.data?.createRelease, errors: r.errors };
    },
    addWebhook: async (p) => {
      const r = await api.executeOperation({
        operation: AddWebhookDocument,
        variables: { input: { url: 'https://hooks.example.com/ops', eventKinds: ['gate.transition'] } },
        ...as(p),
      });
      return { member: r.data?.addWebhook, errors: r.errors };
    },
    removeWebhook: async (p) => {
      const r = await api.executeOperation({
        operation: RemoveWebhookDocument,
        variables: { id: id() },
        ...as(p),
      });
      return { member: r.data?.removeWebhook, errors: r.errors };
    },
    reviseRelease: async (p) => {
      const r = await api.executeOperation({
        operation: ReviseReleaseDocument,
        variables: { input: { releaseId: id(), sourceRef: 'refs/tags/v2', reason: 'hotfix' } },
        ...as(p),
      });
      return { member: r.data?.reviseRelease, errors: r.errors };
    },
    recordCheck: async (p) => {
      const r = await api.executeOperation({
        operation: RecordCheckDocument,
        variables: { input: { releaseId: id(), gateCode: 'G1', checkName: 'build', status: 'pass' } },
        ...as(p),
      });
      return { member: r.data?.recordCheck, errors: r.errors };
    },
    attachEvidence: async (p) => {
      const r = await api.executeOperation({
        operation: AttachEvidenceDocument,
        variables: {
          input: {
            releaseId: id(),
            artifactType: 'test_result',
            artifactUrl: 'https://ci.example/junit.xml',
          },
        },
        ...as(p),
      });
      return { member: r.data?.attachEvidence, errors: r.errors };
    },
    approveGate: async (p) => {
      const r = await api.executeOperation({
        operation: ApproveGateDocument,
        variables: { input: { releaseId: id(), gateCode: 'G2', decision: 'approved' } },
        ...as(p),
      });
      return { member: r.data?.approveGate, errors: r.errors };
    },
    requestException: async (p) => {
      const r = await api.executeOperation({
        operation: RequestExceptionDocument,
        variables: {
          input: {
            releaseId: id(),
            exceptionType: 'gate_bypass',
            impactedGates: ['G1'],
            reason: 'hotfix',
            riskStatement: 'low',
            expiresAt: later(),
          },
        },
        ...as(p),
      });
      return { member: r.data?.requestException, errors: r.errors };
    },
    approveException: async (p) => {
      const r = await api.executeOperation({
        operation: ApproveExceptionDocument,
        variables: { input: { exceptionId: id() } },
        ...as(p),
      });
      return { member: r.data?.approveException, errors: r.errors };
    },
    reviewException: async (p) => {
      const r = await api.executeOperation({
        operation: ReviewExceptionDocument,
        variables: { input: { exceptionId: id(), postReviewStatus: 'complete' } },
        ...as(p),
      });
      return { member: r.data?.reviewException, errors: r.errors };
    },
    promoteRelease: async (p) => {
      const r = await api.executeOperation({
        operation: PromoteReleaseDocument,
        variables: { input: { releaseId: id(), environment: 'staging' } },
        ...as(p),
      });
      return { member: r.data?.promoteRelease, errors: r.errors };
    },
    recordDeployment: async (p) => {
      const r = await api.executeOperation({
        operation: RecordDeploymentDocument,
        variables: { input: { releaseId: id(), environment: 'staging' } },
        ...as(p),
      });
      return { member: r.data?.recordDeployment, errors: r.errors };
    },
    updateDeployment: async (p) => {
      const r = await api.executeOperation({
        operation: UpdateDeploymentDocument,
        variables: { input: { deploymentId: id(), status: 'succeeded' } },
        ...as(p),
      });
      return { member: r.data?.updateDeployment, errors: r.errors };
    },
    recordHealthCheck: async (p) => {
      const r = await api.executeOperation({
        operation: RecordHealthCheckDocument,
        variables: { input: { deploymentId: id(), status: 'pass' } },
        ...as(p),
      });
      return { member: r.data?.recordHealthCheck, errors: r.errors };
    },
    recordIncident: async (p) => {
      const r = await api.executeOperation({
        operation: RecordIncidentDocument,
        variables: { input: { deploymentId: id(), severity: 'sev3' } },
        ...as(p),
      });
      return { member: r.data?.recordIncident, errors: r.errors };
    },
    recordRecoveryDrill: async (p) => {
      const r = await api.executeOperation({
        operation: RecordRecoveryDrillDocument,
        variables: { input: { environment: 'staging', drillType: 'restore', outcome: 'success' } },
        ...as(p),
      });
      return { member: r.data?.recordRecoveryDrill, errors: r.errors };
    },
    installPolicyPack: async (p) => {
      const r = await api.executeOperation({
        operation: InstallPolicyPackDocument,
        variables: { input: { project: `access-matrix-${id()}`, pack: 'odoo' } },
        ...as(p),
      });
      return { member: r.data?.installPolicyPack, errors: r.errors };
    },
    recordReleaseScope: async (p) => {
      const r = await api.executeOperation({
        operation: RecordReleaseScopeDocument,
        variables: { input: { releaseId: id(), key: 'odoo_modules', value: ['sale'] } },
        ...as(p),
      });
      return { member: r.data?.recordReleaseScope, errors: r.errors };
    },
    addFreezeWindow: async (p) => {
      const r = await api.executeOperation({
        operation: AddFreezeWindowDocument,
        variables: {
          input: {
            name: 'access matrix',
            environment: 'production',
            reason: 'access matrix',
            startsAt: later(),
            endsAt: new Date(Date.now() + 2 * 86_400_000).toISOString(),
            project: `access-matrix-${id()}`,
          },
        },
        ...as(p),
      });
      return { member: r.data?.addFreezeWindow, errors: r.errors };
    },
    endFreezeWindow: async (p) => {
      const r = await api.executeOperation({
        operation: EndFreezeWindowDocument,
        variables: { input: { windowId: id(), reason: 'access matrix' } },
        ...as(p),
      });
      return { member: r.data?.endFreezeWindow, errors: r.errors };
    },
    setSoakPolicy: async (p) => {
      const r = await api.executeOperation({
        operation: SetSoakPolicyDocument,
        variables: {
          input: {
            fromEnvironment: 'staging',
            toEnvironment: 'production',
            minSoakSeconds: 0,
            project: `access-matrix-${id()}`,
          },
        },
        ...as(p),
      });
      return { member: r.data?.setSoakPolicy, errors: r.errors };
    },
    setDeadlinePolicy: async (p) => {
      const r = await api.executeOperation({
        operation: SetDeadlinePolicyDocument,
        variables: { input: { gateCode: 'G2', withinSeconds: 3600, project: `access-matrix-${id()}` } },
        ...as(p),
      });
      return { member: r.data?.setDeadlinePolicy, errors: r.errors };
    },
    requestApproval: async (p) => {
      const r = await api.executeOperation({
        operation: RequestApprovalDocument,
        variables: { input: { releaseId: id(), gateCode: 'G2' } },
        ...as(p),
      });
      return { member: r.data?.requestApproval, errors: r.errors };
    },
    ingestEvent: async (p) => {
      const r = await api.executeOperation({
        operation: IngestEventDocument,
        variables: { input: ingestInput(p) },
        ...as(p),
      });
      return { member: r.data?.ingestEvent, errors: r.errors };
    },
  };
}

describe('mutations × personas', () => {
  it('the matrix covers every mutation', () => {
    expect(sorted(Object.keys(MUTATION_CALLERS))).toEqual(
      sorted(Object.keys(schema.getMutationType()!.getFields())),
    );
  });

  for (const [name, call] of Object.entries(mutations()) as [
    MutationName,
    (p: Persona) => Promise<MutationOutcome>,
  ][]) {
    const allowed: readonly Persona[] = MUTATION_CALLERS[name];
    for (const persona of PERSONAS) {
      if (allowed.includes(persona)) {
        it(`${name}: ${persona} gets past the persona check`, async () => {
          const { member, errors } = await call(persona);
          expect(errors).toBeUndefined();
          // Fake ids: NotFoundError (or success where nothing is referenced); never ForbiddenError.
          expect(member?.__typename).toMatch(/Success$|^NotFoundError$/);
        });
      } else {
        it(`${name}: ${persona} is refused with ForbiddenError without a statement`, async () => {
          api.statements.reset();
          const { member, errors } = await call(persona);
          expect(api.statements.count).toBe(0);
          expect(errors).toBeUndefined();
          expect(member).toEqual({
            __typename: 'ForbiddenError',
            code: 'FORBIDDEN',
            message: `Mutation.${name} requires one of the personas: ${inOrder(allowed).join(', ')}`,
            requiredPersonas: inOrder(allowed),
          });
        });
      }
    }
  }
});

// ---- The mirror against the database -----------------------------------------------------------

describe('src/auth/access.ts equals the database', () => {
  it('TABLE_READERS: the personas with SELECT on each table', async () => {
    for (const [table, readers] of Object.entries(TABLE_READERS)) {
      const { rows } = await db.admin.query<{ persona: string }>(
        `select p as persona from unnest($1::text[]) p
         where has_table_privilege(p, format('ops.%I', $2::text), 'SELECT')`,
        [PERSONAS, table],
      );
      expect(sorted(rows.map((r) => r.persona)), `ops.${table}`).toEqual(sorted(readers));
    }
  });

  /** Each mutation's SQL function, called with dummy arguments. */
  const SQL_CALLS: Record<Exclude<MutationName, 'ingestEvent'>, [sql: string, args: () => unknown[]]> = {
    createRelease: ['select ops.create_release($1, $2)', () => ['access-drift', `d-${randomUUID()}`]],
    addWebhook: [
      `select ops.add_webhook('https://hooks.example.com/x', '{}', null, null, $1)`,
      () => [`whsec_${Buffer.from(randomUUID()).toString('base64')}`],
    ],
    removeWebhook: ['select ops.remove_webhook($1)', () => [randomUUID()]],
    recordCheck: [`select ops.record_check($1, 'G1', 'build', 'pass')`, () => [randomUUID()]],
    attachEvidence: [
      `select ops.attach_evidence($1, 'test_result', 'https://ci.example/x')`,
      () => [randomUUID()],
    ],
    approveGate: [`select ops.submit_approval($1, 'approved', 'G2')`, () => [randomUUID()]],
    requestException: [
      `select ops.request_exception($1, 'gate_bypass', '{G1}', 'hotfix', 'low', now() + interval '1 day')`,
      () => [randomUUID()],
    ],
    approveException: ['select ops.approve_exception($1)', () => [randomUUID()]],
    reviewException: [`select ops.review_exception($1, 'complete')`, () => [randomUUID()]],
    promoteRelease: [`select ops.promote_release($1, 'staging')`, () => [randomUUID()]],
    reviseRelease: [`select ops.revise_release($1, 'refs/tags/v2', null, 'hotfix')`, () => [randomUUID()]],
    recordDeployment: [`select ops.record_deployment($1, 'staging')`, () => [randomUUID()]],
    updateDeployment: [`select ops.update_deployment($1, 'succeeded')`, () => [randomUUID()]],
    recordHealthCheck: [`select ops.record_health_check($1, 'pass')`, () => [randomUUID()]],
    recordIncident: [`select ops.record_incident($1, 'sev3')`, () => [randomUUID()]],
    recordRecoveryDrill: [`select ops.record_recovery_drill('staging', 'restore', 'success')`, () => []],
    installPolicyPack: [
      `select * from ops.install_policy_pack($1, 'odoo')`,
      () => [`access-drift-${randomUUID()}`],
    ],
    recordReleaseScope: [
      `select ops.record_release_scope($1, 'odoo_modules', '["sale"]')`,
      () => [randomUUID()],
    ],
    addFreezeWindow: [
      `select ops.add_freeze_window('drift', 'production', 'drift', now() + interval '1 day', now() + interval '2 days', $1)`,
      () => [`access-drift-${randomUUID()}`],
    ],
    endFreezeWindow: [`select ops.end_freeze_window($1, 'drift')`, () => [randomUUID()]],
    setSoakPolicy: [
      `select ops.set_soak_policy('staging', 'production', '0', $1)`,
      () => [`access-drift-${randomUUID()}`],
    ],
    setDeadlinePolicy: [
      `select ops.set_deadline_policy('G2', '1 hour', null, $1)`,
      () => [`access-drift-${randomUUID()}`],
    ],
    requestApproval: [`select ops.request_approval($1, 'G2')`, () => [randomUUID()]],
  };

  /** Refused: the persona check (OPS03 "... may not ...") or no EXECUTE at all (42501). */
  function refusedPersona(err: unknown): boolean {
    const e = err as { code?: string; message?: string };
    return (e.code === 'OPS03' && /\bmay not\b/.test(e.message ?? '')) || e.code === '42501';
  }

  for (const [name, [sql, args]] of Object.entries(SQL_CALLS)) {
    it(`MUTATION_CALLERS.${name}: the personas its SQL function accepts`, async () => {
      const accepted: string[] = [];
      for (const persona of PERSONAS) {
        try {
          await db.as(persona, `drift-${persona}`, (c) => c.query(sql, args()));
          accepted.push(persona);
        } catch (err) {
          if (!refusedPersona(err)) accepted.push(persona);
        }
      }
      expect(sorted(accepted)).toEqual(sorted(MUTATION_CALLERS[name as MutationName]));
    });
  }

  it('MUTATION_CALLERS.ingestEvent: every persona ops.ingest_permissions lets send some event', async () => {
    const { rows } = await db.admin.query<{ persona: string }>(
      'select distinct persona::text as persona from ops.ingest_permissions',
    );
    expect(sorted(rows.map((r) => r.persona))).toEqual(sorted(MUTATION_CALLERS.ingestEvent));
  });
});
