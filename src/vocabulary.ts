// The project's vocabulary: every list of values that mirrors a Postgres enum type, defined once.
// The GraphQL enums, the ingest envelope, the CLI and the row types all take their values from
// here; test/db/vocabulary.test.ts compares each list with enum_range(null::<type>) in the
// database (and fails when the database gains an enum type no list mirrors). Imported by the Edge
// Function too: no imports, so it runs anywhere.

export const PERSONAS = [
  'ci_service_role',
  'release_manager',
  'qa_tester',
  'sre',
  'developer',
  'audit_reader',
] as const;
export const GATE_CODES = ['G1', 'G2', 'G3', 'G4'] as const;
export const GATE_STATUSES = ['pending', 'in_progress', 'passed', 'failed', 'bypassed'] as const;
export const RELEASE_STATUSES = ['draft', 'in_progress', 'promoted', 'rolled_back', 'failed'] as const;
export const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;
/** The environments a release is deployed to: ENVIRONMENTS without dev. */
export const DEPLOY_ENVIRONMENTS = ['staging', 'production'] as const;
export const CHECK_STATUSES = ['pass', 'fail', 'warning', 'skipped'] as const;
export const CHECK_SOURCES = ['github_actions', 'agent', 'manual', 'monitoring'] as const;
export const APPROVAL_DECISIONS = ['approved', 'rejected', 'request_changes'] as const;
export const APPROVAL_SCOPES = ['release', 'gate', 'exception'] as const;
export const ARTIFACT_TYPES = [
  'build_log',
  'test_result',
  'uat_summary',
  'approval_record',
  'rollback_plan',
  'health_check',
  'restore_drill',
  'incident_report',
  'reference',
] as const;
export const EVIDENCE_SCOPES = ['gate', 'gate_or_release', 'latest_deployment'] as const;
export const EVENT_TYPES = [
  'build_complete',
  'check_result',
  'gate_signoff',
  'evidence_attached',
  'deployment_event',
  'health_check',
  'environment_event',
] as const;
export const EXCEPTION_TYPES = ['gate_bypass', 'evidence_waiver', 'timing_override'] as const;
export const POST_REVIEW_STATUSES = ['pending', 'complete', 'waived'] as const;
export const DEPLOYMENT_STATUSES = ['in_progress', 'succeeded', 'failed', 'rolled_back'] as const;
export const G4_STATUSES = ['pending', 'passed', 'failed'] as const;
export const PROCESSING_STATUSES = ['accepted', 'duplicate', 'rejected', 'error'] as const;
export const INCIDENT_SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'] as const;
export const POSTMORTEM_STATUSES = ['not_required', 'pending', 'complete'] as const;
export const DRILL_OUTCOMES = ['success', 'partial', 'failed'] as const;

/** Each Postgres enum type (schema public) and the list that mirrors it, in the type's order. */
export const POSTGRES_ENUMS = {
  ops_persona: PERSONAS,
  ops_gate_code: GATE_CODES,
  ops_gate_status: GATE_STATUSES,
  ops_release_status: RELEASE_STATUSES,
  ops_environment: ENVIRONMENTS,
  ops_check_status: CHECK_STATUSES,
  ops_check_source: CHECK_SOURCES,
  ops_approval_decision: APPROVAL_DECISIONS,
  ops_approval_scope: APPROVAL_SCOPES,
  ops_artifact_type: ARTIFACT_TYPES,
  ops_evidence_scope: EVIDENCE_SCOPES,
  ops_event_type: EVENT_TYPES,
  ops_exception_type: EXCEPTION_TYPES,
  ops_post_review_status: POST_REVIEW_STATUSES,
  ops_deployment_status: DEPLOYMENT_STATUSES,
  ops_g4_status: G4_STATUSES,
  ops_processing_status: PROCESSING_STATUSES,
  ops_incident_severity: INCIDENT_SEVERITIES,
  ops_postmortem_status: POSTMORTEM_STATUSES,
  ops_drill_outcome: DRILL_OUTCOMES,
} as const;

/** Lists that are part of a Postgres enum's values (each in the type's order). */
export const POSTGRES_ENUM_SUBSETS = {
  ops_environment: [DEPLOY_ENVIRONMENTS],
} as const;

// Values computed by views and functions (text, not enum types): listed here so they too are
// defined once; test/reports covers what the views return.
/** ops.v_exception_status.state. */
export const EXCEPTION_WINDOW_STATES = ['active', 'expired', 'pending_approval', 'scheduled'] as const;
/** ops.v_deployment_history.kind. */
export const DEPLOYMENT_KINDS = ['deployment', 'rollback'] as const;
/** ops.release_timeline(...).kind. */
export const TIMELINE_KINDS = [
  'release_created',
  'revision',
  'ingest_attempt',
  'check',
  'health_check',
  'evidence',
  'approval',
  'rejection',
  'changes_requested',
  'exception_requested',
  'exception_approval',
  'exception_rejection',
  'exception_changes_requested',
  'exception_expired',
  'gate_transition',
  'deployment',
  'rollback',
  'deployment_transition',
  'incident',
  'environment_event',
  // timing (ops.timing_timeline, 20261130002200)
  'freeze_started',
  'freeze_ended',
  'override_used',
  'approval_requested',
  'approval_request_expired',
  'g4_deadline_missed',
] as const;

type Of<T extends readonly string[]> = T[number];
export type GateCodeValue = Of<typeof GATE_CODES>;
export type GateStatusValue = Of<typeof GATE_STATUSES>;
export type ReleaseStatusValue = Of<typeof RELEASE_STATUSES>;
export type EnvironmentValue = Of<typeof ENVIRONMENTS>;
export type DeployEnvironmentValue = Of<typeof DEPLOY_ENVIRONMENTS>;
export type CheckStatusValue = Of<typeof CHECK_STATUSES>;
export type CheckSourceValue = Of<typeof CHECK_SOURCES>;
export type ApprovalDecisionValue = Of<typeof APPROVAL_DECISIONS>;
export type ApprovalScopeValue = Of<typeof APPROVAL_SCOPES>;
export type ArtifactTypeValue = Of<typeof ARTIFACT_TYPES>;
export type EventTypeValue = Of<typeof EVENT_TYPES>;
export type ExceptionTypeValue = Of<typeof EXCEPTION_TYPES>;
export type PostReviewStatusValue = Of<typeof POST_REVIEW_STATUSES>;
export type DeploymentStatusValue = Of<typeof DEPLOYMENT_STATUSES>;
export type G4StatusValue = Of<typeof G4_STATUSES>;
export type ProcessingStatusValue = Of<typeof PROCESSING_STATUSES>;
export type IncidentSeverityValue = Of<typeof INCIDENT_SEVERITIES>;
export type PostmortemStatusValue = Of<typeof POSTMORTEM_STATUSES>;
export type DrillOutcomeValue = Of<typeof DRILL_OUTCOMES>;
export type ExceptionWindowStateValue = Of<typeof EXCEPTION_WINDOW_STATES>;
export type DeploymentKindValue = Of<typeof DEPLOYMENT_KINDS>;
export type TimelineKindValue = Of<typeof TIMELINE_KINDS>;
