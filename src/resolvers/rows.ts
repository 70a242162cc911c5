// Row shapes of the ops tables as node-postgres returns them (snake_case, Date for timestamptz).
// GraphQL object types are backed by these directly.
import type {
  ApprovalDecisionValue,
  ApprovalScopeValue,
  ArtifactTypeValue,
  CheckSourceValue,
  CheckStatusValue,
  DeploymentStatusValue,
  DrillOutcomeValue,
  EnvironmentValue,
  ExceptionTypeValue,
  G4StatusValue,
  GateCodeValue,
  GateStatusValue,
  IncidentSeverityValue,
  PostmortemStatusValue,
  PostReviewStatusValue,
  ProcessingStatusValue,
  ReleaseStatusValue,
} from '../vocabulary.js';

type Json = unknown;

interface Written {
  created_at: Date;
  created_by: string;
  created_persona: string | null;
}

export interface ReleaseRow extends Written {
  release_id: string;
  project: string;
  release_name: string;
  environment_target: EnvironmentValue;
  source_ref: string | null;
  artifact_digest: string | null;
  /** The current revision (ops.release_revisions); changed only by ops.revise_release. */
  revision: number;
  scope_metadata: Json;
  initiating_actor: string;
  status: ReleaseStatusValue;
}

export interface ReleaseRevisionRow extends Written {
  revision_id: string;
  release_id: string;
  revision: number;
  source_ref: string | null;
  artifact_digest: string | null;
  previous_source_ref: string | null;
  previous_artifact_digest: string | null;
  reason: string;
  revised_by: string;
}

export interface ReleaseGateRow extends Written {
  gate_id: string;
  release_id: string;
  gate_code: GateCodeValue;
  gate_name: string;
  status: GateStatusValue;
  entered_at: Date | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  exception_id: string | null;
}

export interface GateCheckRow extends Written {
  check_id: string;
  gate_id: string;
  check_name: string;
  source_system: CheckSourceValue;
  status: CheckStatusValue;
  required: boolean;
  artifact_ref: string | null;
  metadata: Json;
  ingest_id: string | null;
}

export interface ApprovalRow extends Written {
  approval_id: string;
  release_id: string;
  gate_id: string | null;
  exception_id: string | null;
  approver_id: string;
  persona_role: string;
  decision: ApprovalDecisionValue;
  scope: ApprovalScopeValue;
  rationale_structured: Json;
  rationale_text: string | null;
  ingest_id: string | null;
  revision: number;
}

export interface EvidenceArtifactRow extends Written {
  artifact_id: string;
  release_id: string | null;
  gate_id: string | null;
  check_id: string | null;
  deployment_id: string | null;
  artifact_type: ArtifactTypeValue;
  source_system: string;
  artifact_url: string;
  sha256: string | null;
  metadata: Json;
  ingest_id: string | null;
}

export interface ExceptionRow extends Written {
  exception_id: string;
  release_id: string;
  exception_type: ExceptionTypeValue;
  impacted_gates: GateCodeValue[] | string;
  reason: string;
  risk_statement: string;
  requested_by: string;
  approver_id: string | null;
  approved_at: Date | null;
  effective_from: Date;
  expires_at: Date;
  compensating_controls: Json;
  post_review_status: PostReviewStatusValue;
}

export interface DeploymentRow extends Written {
  deployment_id: string;
  release_id: string;
  environment: EnvironmentValue;
  deployed_at: Date;
  deployed_by: string;
  source_ref: string | null;
  status: DeploymentStatusValue;
  rollback_of: string | null;
  g4_status: G4StatusValue;
  g4_resolved_at: Date | null;
  ingest_id: string | null;
  revision: number;
  artifact_digest: string | null;
}

export interface EnvironmentEventRow extends Written {
  event_id: string;
  environment: string;
  event_type: string;
  source_system: string;
  release_id: string | null;
  payload: Json;
  idempotency_key: string;
  ingest_id: string | null;
}

export interface IngestLogRow extends Written {
  ingest_id: string;
  source_system: string | null;
  event_type: string | null;
  idempotency_key: string | null;
  schema_version: string | null;
  release_id: string | null;
  gate_code: string | null;
  payload_hash: string | null;
  envelope: Json;
  received_at: Date;
  processing_status: ProcessingStatusValue;
  http_status: number | null;
  error_detail: Json;
  result: Json;
  duplicate_of: string | null;
}

export interface IncidentRow extends Written {
  incident_id: string;
  deployment_id: string;
  severity: IncidentSeverityValue;
  detected_at: Date;
  resolved_at: Date | null;
  timeline: Json;
  root_cause: string | null;
  postmortem_status: PostmortemStatusValue;
}

export interface RecoveryDrillRow extends Written {
  drill_id: string;
  environment: EnvironmentValue;
  drill_type: string;
  executed_by: string;
  executed_at: Date;
  outcome: DrillOutcomeValue;
  restore_validated: boolean;
  evidence_artifact_id: string | null;
}

export interface GateTransitionRow extends Written {
  transition_id: string;
  gate_id: string;
  from_status: GateStatusValue;
  to_status: GateStatusValue;
  reason: string;
  actor: string;
  ingest_id: string | null;
}

/** Postgres arrays of enums arrive as '{G1,G3}' text; normalise to a list of the enum's values. */
export function pgArray<T extends string>(value: T[] | string): T[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^\{|\}$/g, '');
  // The database holds only the enum's values (test/db/vocabulary.test.ts keeps the lists equal).
  return inner ? (inner.split(',') as T[]) : [];
}
