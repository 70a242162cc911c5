// Row shapes of the ops tables as the read paths select them (snake_case, Date for timestamptz):
// each interface holds exactly the columns its GraphQL type exposes or needs to reach a relation,
// and each *_COLUMNS list names those columns for SELECT lists (never `select *`), checked against
// the interface at compile time. GraphQL object types are backed by these directly; a mutation's
// full row (callRow) is a superset and serves as well.
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

export interface ReleaseRow {
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
  created_at: Date;
  created_by: string;
}

export interface ReleaseRevisionRow {
  revision_id: string;
  release_id: string;
  revision: number;
  source_ref: string | null;
  artifact_digest: string | null;
  previous_source_ref: string | null;
  previous_artifact_digest: string | null;
  reason: string;
  revised_by: string;
  created_at: Date;
}

export interface ReleaseGateRow {
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

export interface GateCheckRow {
  check_id: string;
  gate_id: string;
  check_name: string;
  source_system: CheckSourceValue;
  status: CheckStatusValue;
  required: boolean;
  artifact_ref: string | null;
  metadata: Json;
  ingest_id: string | null;
  created_at: Date;
  created_by: string;
}

export interface ApprovalRow {
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
  created_at: Date;
}

export interface EvidenceArtifactRow {
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
  created_at: Date;
  created_by: string;
}

export interface ExceptionRow {
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
  created_at: Date;
}

export interface DeploymentRow {
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

export interface EnvironmentEventRow {
  event_id: string;
  environment: string;
  event_type: string;
  source_system: string;
  release_id: string | null;
  payload: Json;
  idempotency_key: string;
  ingest_id: string | null;
  created_at: Date;
}

export interface IngestLogRow {
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
  created_by: string;
  created_persona: string | null;
}

export interface IncidentRow {
  incident_id: string;
  deployment_id: string;
  severity: IncidentSeverityValue;
  detected_at: Date;
  resolved_at: Date | null;
  timeline: Json;
  root_cause: string | null;
  postmortem_status: PostmortemStatusValue;
  created_by: string;
}

export interface RecoveryDrillRow {
  drill_id: string;
  environment: EnvironmentValue;
  drill_type: string;
  executed_by: string;
  executed_at: Date;
  outcome: DrillOutcomeValue;
  restore_validated: boolean;
  evidence_artifact_id: string | null;
}

export interface GateTransitionRow {
  transition_id: string;
  gate_id: string;
  from_status: GateStatusValue;
  to_status: GateStatusValue;
  reason: string;
  actor: string;
  ingest_id: string | null;
  created_at: Date;
}

/**
 * Postgres arrays of enums arrive as '{G1,G3}' text; normalise to a list of the enum's values. A
 * list not numbered from 1 arrives with its bounds first ('[0:0]={G2}', stored before
 * 20261207000000 refused such lists): the bounds are dropped, the values kept in order.
 */
export function pgArray<T extends string>(value: T[] | string): T[] {
  if (Array.isArray(value)) return value;
  const inner = value.replace(/^(\[-?\d+:-?\d+\])+=/, '').replace(/^\{|\}$/g, '');
  // The database holds only the enum's values (test/db/vocabulary.test.ts keeps the lists equal).
  return inner ? (inner.split(',') as T[]) : [];
}

// ---- Column lists ------------------------------------------------------------------------------

type Missing<Row, C extends readonly PropertyKey[]> = Exclude<keyof Row, C[number]>;
type DateKeys<Row> = {
  [K in keyof Row]-?: unknown extends Row[K] ? never : Date extends Row[K] ? K : never;
}[keyof Row];

/**
 * A table's read shape: `columns` are exactly the keys of Row (a missing one does not compile) and
 * `timestamps` exactly its timestamptz columns, which a JSON aggregate delivers as text (rowFromJson
 * turns them back into Dates, as node-postgres gives them).
 */
function shape<Row>() {
  return <
    const C extends readonly (keyof Row & string)[],
    const T extends readonly (DateKeys<Row> & string)[],
  >(
    columns: C & ([Missing<Row, C>] extends [never] ? unknown : { missing: Missing<Row, C> }),
    timestamps: T &
      ([Exclude<DateKeys<Row>, T[number]>] extends [never] ? unknown : { missing: DateKeys<Row> }),
  ) => ({
    columns: columns as C,
    timestamps: timestamps as T,
    list: (alias: string) => selectList(alias, columns),
  });
}

function selectList(alias: string, columns: readonly string[]): string {
  return columns.map((c) => `${alias}.${c}`).join(', ');
}

export const RELEASE = shape<ReleaseRow>()(
  [
    'release_id',
    'project',
    'release_name',
    'environment_target',
    'source_ref',
    'artifact_digest',
    'revision',
    'scope_metadata',
    'initiating_actor',
    'status',
    'created_at',
    'created_by',
  ],
  ['created_at'],
);

export const RELEASE_REVISION = shape<ReleaseRevisionRow>()(
  [
    'revision_id',
    'release_id',
    'revision',
    'source_ref',
    'artifact_digest',
    'previous_source_ref',
    'previous_artifact_digest',
    'reason',
    'revised_by',
    'created_at',
  ],
  ['created_at'],
);

export const RELEASE_GATE = shape<ReleaseGateRow>()(
  [
    'gate_id',
    'release_id',
    'gate_code',
    'gate_name',
    'status',
    'entered_at',
    'resolved_at',
    'resolved_by',
    'exception_id',
  ],
  ['entered_at', 'resolved_at'],
);

export const GATE_CHECK = shape<GateCheckRow>()(
  [
    'check_id',
    'gate_id',
    'check_name',
    'source_system',
    'status',
    'required',
    'artifact_ref',
    'metadata',
    'ingest_id',
    'created_at',
    'created_by',
  ],
  ['created_at'],
);

export const APPROVAL = shape<ApprovalRow>()(
  [
    'approval_id',
    'release_id',
    'gate_id',
    'exception_id',
    'approver_id',
    'persona_role',
    'decision',
    'scope',
    'rationale_structured',
    'rationale_text',
    'ingest_id',
    'revision',
    'created_at',
  ],
  ['created_at'],
);

export const EVIDENCE_ARTIFACT = shape<EvidenceArtifactRow>()(
  [
    'artifact_id',
    'release_id',
    'gate_id',
    'check_id',
    'deployment_id',
    'artifact_type',
    'source_system',
    'artifact_url',
    'sha256',
    'metadata',
    'ingest_id',
    'created_at',
    'created_by',
  ],
  ['created_at'],
);

export const EXCEPTION = shape<ExceptionRow>()(
  [
    'exception_id',
    'release_id',
    'exception_type',
    'impacted_gates',
    'reason',
    'risk_statement',
    'requested_by',
    'approver_id',
    'approved_at',
    'effective_from',
    'expires_at',
    'compensating_controls',
    'post_review_status',
    'created_at',
  ],
  ['approved_at', 'effective_from', 'expires_at', 'created_at'],
);

export const DEPLOYMENT = shape<DeploymentRow>()(
  [
    'deployment_id',
    'release_id',
    'environment',
    'deployed_at',
    'deployed_by',
    'source_ref',
    'status',
    'rollback_of',
    'g4_status',
    'g4_resolved_at',
    'ingest_id',
    'revision',
    'artifact_digest',
  ],
  ['deployed_at', 'g4_resolved_at'],
);

export const ENVIRONMENT_EVENT = shape<EnvironmentEventRow>()(
  [
    'event_id',
    'environment',
    'event_type',
    'source_system',
    'release_id',
    'payload',
    'idempotency_key',
    'ingest_id',
    'created_at',
  ],
  ['created_at'],
);

export const INGEST_LOG = shape<IngestLogRow>()(
  [
    'ingest_id',
    'source_system',
    'event_type',
    'idempotency_key',
    'schema_version',
    'release_id',
    'gate_code',
    'payload_hash',
    'envelope',
    'received_at',
    'processing_status',
    'http_status',
    'error_detail',
    'result',
    'duplicate_of',
    'created_by',
    'created_persona',
  ],
  ['received_at'],
);

export const INCIDENT = shape<IncidentRow>()(
  [
    'incident_id',
    'deployment_id',
    'severity',
    'detected_at',
    'resolved_at',
    'timeline',
    'root_cause',
    'postmortem_status',
    'created_by',
  ],
  ['detected_at', 'resolved_at'],
);

export const RECOVERY_DRILL = shape<RecoveryDrillRow>()(
  [
    'drill_id',
    'environment',
    'drill_type',
    'executed_by',
    'executed_at',
    'outcome',
    'restore_validated',
    'evidence_artifact_id',
  ],
  ['executed_at'],
);

export const GATE_TRANSITION = shape<GateTransitionRow>()(
  ['transition_id', 'gate_id', 'from_status', 'to_status', 'reason', 'actor', 'ingest_id', 'created_at'],
  ['created_at'],
);

/** A row delivered inside a JSON aggregate, made the same as node-postgres delivers it. */
export function rowFromJson<Row>(
  shape: { timestamps: readonly string[] },
  value: Record<string, unknown>,
): Row {
  for (const column of shape.timestamps) {
    const at = value[column];
    if (typeof at === 'string') value[column] = new Date(at);
  }
  return value as Row;
}
