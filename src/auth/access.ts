// Who may read and call what over GraphQL: a mirror of the RLS policies and the SQL functions'
// persona checks, so a forbidden call fails before touching the database. The database stays the
// authority; test/graphql/access-matrix.test.ts keeps this mirror equal to it.
import type { Persona } from './personas.js';

const RM = 'release_manager';
const AUDIT = 'audit_reader';

/** Personas that may SELECT each ops table (RLS may still narrow rows, e.g. a developer's own). */
export const TABLE_READERS = {
  releases: ['ci_service_role', RM, 'qa_tester', 'developer', AUDIT],
  release_gates: ['ci_service_role', RM, AUDIT],
  gate_checks: ['ci_service_role', RM, 'qa_tester', 'developer', AUDIT],
  approvals: [RM, AUDIT],
  evidence_artifacts: [RM, 'qa_tester', AUDIT],
  exceptions: [RM, AUDIT],
  deployments: [RM, 'sre', AUDIT],
  environment_events: [RM, 'sre', AUDIT],
  event_ingest_log: [RM, AUDIT],
  incidents: [RM, AUDIT],
  recovery_drills: [RM, 'sre', AUDIT],
  gate_transitions: [RM, AUDIT],
  deployment_transitions: [RM, 'sre', AUDIT],
  gate_evidence_requirements: [RM, AUDIT],
  release_revisions: ['ci_service_role', RM, 'qa_tester', 'developer', AUDIT],
  // The tamper-evident ledger: read by those who read everything, written by no persona.
  ledger_chains: [RM, AUDIT],
  ledger_entries: [RM, AUDIT],
  ledger_fact_tables: [RM, AUDIT],
  ledger_pending: [RM, AUDIT],
  // The registry's release scopes as arms (20261205100000): the owner's alone.
  ledger_release_scope_arms: [RM, AUDIT],
  // The outbox: every persona, each event only when it may read the fact behind it (RLS).
  outbox_events: ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT],
  // Webhooks: subscriptions and their deliveries; the secrets are read by no persona.
  webhook_subscriptions: [RM, AUDIT],
  webhook_deliveries: [RM, AUDIT],
  webhook_attempts: [RM, AUDIT],
  webhook_secrets: [],
  // Timing (20261130002000): the calendar and policies for everyone, release-bound facts for readers.
  freeze_windows: ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT],
  soak_policies: ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT],
  deadline_policies: ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT],
  timing_approval_requests: [RM, AUDIT],
  deadline_transitions: [RM, AUDIT],
  timing_override_uses: [RM, AUDIT],
} as const satisfies Record<string, readonly Persona[]>;

export type OpsTable = keyof typeof TABLE_READERS;

/**
 * Personas that may SELECT each reporting view: those who may read every table the view reads
 * (the views are security_invoker, so RLS still narrows rows, e.g. to a developer's own releases).
 */
export const VIEW_READERS = {
  v_release_gate_summary: [RM, AUDIT],
  v_promotion_eligibility: ['ci_service_role', RM, 'qa_tester', 'developer', AUDIT],
  v_evidence_completeness: [RM, AUDIT],
  v_exception_status: [RM, AUDIT],
  v_deployment_history: [RM, 'sre', AUDIT],
  // Timing (20261130002200): the calendar is everyone's; approval requests as their table.
  v_freeze_calendar: ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT],
  v_approval_requests: [RM, AUDIT],
} as const satisfies Record<string, readonly Persona[]>;

/** Personas granted EXECUTE on the functions that rebuild a release's decision chain. */
export const REPORT_FUNCTION_CALLERS = {
  release_timeline: [RM, AUDIT],
  release_evidence_bundle: [RM, AUDIT],
} as const satisfies Record<string, readonly Persona[]>;

/**
 * Personas granted EXECUTE on the ledger's functions (20261129004000_ops_ledger.sql,
 * 20261129004100_ops_release_attestation.sql), by signature. Not the developer: a finding names
 * rows of every fact table, most of which a developer may not read.
 */
export const LEDGER_FUNCTION_CALLERS = {
  'verify_ledger(uuid)': [RM, AUDIT],
  'verify_ledger()': [RM, AUDIT],
  'ledger_checkpoint()': [RM, AUDIT],
  'compare_ledger_checkpoint(jsonb)': [RM, AUDIT],
  'ledger_anchor(uuid)': [RM, AUDIT],
  'release_attestation(uuid, text)': [RM, AUDIT],
} as const satisfies Record<string, readonly Persona[]>;

/** Personas each mutation's SQL function accepts (ops.require_persona in the migrations). */
export const MUTATION_CALLERS = {
  createRelease: [RM, 'developer', 'ci_service_role'],
  addWebhook: [RM],
  removeWebhook: [RM],
  recordCheck: ['ci_service_role', 'developer'],
  attachEvidence: ['qa_tester', RM, 'ci_service_role', 'sre'],
  approveGate: ['qa_tester', RM],
  requestException: [RM, 'qa_tester', 'sre', 'developer'],
  approveException: [RM],
  reviewException: [RM],
  promoteRelease: [RM, 'sre'],
  reviseRelease: [RM, 'developer'],
  recordDeployment: ['ci_service_role', 'sre'],
  updateDeployment: ['ci_service_role', 'sre'],
  recordHealthCheck: ['ci_service_role', 'sre'],
  recordIncident: ['sre', RM],
  recordRecoveryDrill: ['sre'],
  installPolicyPack: [RM],
  recordReleaseScope: ['ci_service_role', RM, 'developer'],
  // Everyone who may send at least one event type (ops.ingest_permissions).
  ingestEvent: ['ci_service_role', 'developer', 'qa_tester', RM, 'sre'],
  // Timing (20261130002100): an SRE may add a freeze (it only makes promotion harder), only a
  // release manager ends one or sets timing policies.
  addFreezeWindow: [RM, 'sre'],
  endFreezeWindow: [RM],
  setSoakPolicy: [RM],
  setDeadlinePolicy: [RM],
  requestApproval: [RM, 'developer'],
} as const satisfies Record<string, readonly Persona[]>;

export type MutationName = keyof typeof MUTATION_CALLERS;

/** Everyone with a persona: functions that check visibility themselves (eligibility, blockers). */
export const ALL_PERSONAS = ['ci_service_role', RM, 'qa_tester', 'sre', 'developer', AUDIT] as const;

/** A scope-auth map granting any of the personas. */
export function anyOf(personas: readonly Persona[]): Partial<Record<Persona, boolean>> {
  return Object.fromEntries(personas.map((p) => [p, true]));
}
