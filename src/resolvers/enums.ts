// GraphQL enums, from the lists of src/vocabulary.ts (which mirror the Postgres enum types; a test
// compares them with the database, and the drift check on schema.graphql shows any change).
import { builder } from '../builder.js';
import {
  APPROVAL_DECISIONS,
  APPROVAL_SCOPES,
  ARTIFACT_TYPES,
  CHECK_SOURCES,
  CHECK_STATUSES,
  DEPLOY_ENVIRONMENTS,
  DEPLOYMENT_KINDS,
  DEPLOYMENT_STATUSES,
  DRILL_OUTCOMES,
  ENVIRONMENTS,
  EVENT_TYPES,
  EXCEPTION_TYPES,
  EXCEPTION_WINDOW_STATES,
  G4_STATUSES,
  GATE_CODES,
  GATE_STATUSES,
  INCIDENT_SEVERITIES,
  POST_REVIEW_STATUSES,
  POSTMORTEM_STATUSES,
  PROCESSING_STATUSES,
  RELEASE_STATUSES,
  TIMELINE_KINDS,
} from '../vocabulary.js';

export const GateCode = builder.enumType('GateCode', { values: GATE_CODES });
export const GateStatus = builder.enumType('GateStatus', { values: GATE_STATUSES });
export const ReleaseStatus = builder.enumType('ReleaseStatus', { values: RELEASE_STATUSES });
export const Environment = builder.enumType('Environment', { values: ENVIRONMENTS });
export const DeployEnvironment = builder.enumType('DeployEnvironment', { values: DEPLOY_ENVIRONMENTS });
export const CheckStatus = builder.enumType('CheckStatus', { values: CHECK_STATUSES });
export const CheckSource = builder.enumType('CheckSource', { values: CHECK_SOURCES });
export const ApprovalDecision = builder.enumType('ApprovalDecision', { values: APPROVAL_DECISIONS });
export const ApprovalScope = builder.enumType('ApprovalScope', { values: APPROVAL_SCOPES });
export const ArtifactType = builder.enumType('ArtifactType', { values: ARTIFACT_TYPES });
export const ExceptionType = builder.enumType('ExceptionType', { values: EXCEPTION_TYPES });
export const PostReviewStatus = builder.enumType('PostReviewStatus', { values: POST_REVIEW_STATUSES });
export const DeploymentStatus = builder.enumType('DeploymentStatus', { values: DEPLOYMENT_STATUSES });
export const G4Status = builder.enumType('G4Status', { values: G4_STATUSES });
export const EventType = builder.enumType('EventType', { values: EVENT_TYPES });
export const ProcessingStatus = builder.enumType('ProcessingStatus', { values: PROCESSING_STATUSES });
export const IncidentSeverity = builder.enumType('IncidentSeverity', { values: INCIDENT_SEVERITIES });
export const PostmortemStatus = builder.enumType('PostmortemStatus', { values: POSTMORTEM_STATUSES });
export const DrillOutcome = builder.enumType('DrillOutcome', { values: DRILL_OUTCOMES });
export const ExceptionState = builder.enumType('ExceptionState', {
  values: ['ACTIVE', 'EXPIRED', 'PENDING_REVIEW'] as const,
  description:
    'ACTIVE: approved and inside its window; EXPIRED: past expires_at; PENDING_REVIEW: post-review pending.',
});
export const ExceptionWindowState = builder.enumType('ExceptionWindowState', {
  values: EXCEPTION_WINDOW_STATES,
  description:
    'active: approved and inside its window; expired: past expires_at; pending_approval: not approved yet; scheduled: approved, window not open yet. Computed at read time.',
});
export const DeploymentKind = builder.enumType('DeploymentKind', {
  values: DEPLOYMENT_KINDS,
  description: 'rollback: a deployment that undoes an earlier one of the same release (rollbackOf).',
});
export const TimelineKind = builder.enumType('TimelineKind', { values: TIMELINE_KINDS });
