// GraphQL enums, from the same lists the ingest envelope validates against (which mirror the
// Postgres enum types; the drift check on schema.graphql shows any change).
import { builder } from '../builder.js';
import {
  APPROVAL_DECISIONS,
  ARTIFACT_TYPES,
  CHECK_STATUSES,
  DEPLOY_ENVIRONMENTS,
  DEPLOYMENT_STATUSES,
  EVENT_TYPES,
  GATE_CODES,
} from '../ingest/envelope.js';

export const GATE_STATUSES = ['pending', 'in_progress', 'passed', 'failed', 'bypassed'] as const;
export const RELEASE_STATUSES = ['draft', 'in_progress', 'promoted', 'rolled_back', 'failed'] as const;
export const ENVIRONMENTS = ['dev', 'staging', 'production'] as const;
export const CHECK_SOURCES = ['github_actions', 'agent', 'manual', 'monitoring'] as const;
export const EXCEPTION_TYPES = ['gate_bypass', 'evidence_waiver', 'timing_override'] as const;
export const POST_REVIEW_STATUSES = ['pending', 'complete', 'waived'] as const;
export const G4_STATUSES = ['pending', 'passed', 'failed'] as const;
export const PROCESSING_STATUSES = ['accepted', 'duplicate', 'rejected', 'error'] as const;
export const INCIDENT_SEVERITIES = ['sev1', 'sev2', 'sev3', 'sev4'] as const;
export const POSTMORTEM_STATUSES = ['not_required', 'pending', 'complete'] as const;
export const DRILL_OUTCOMES = ['success', 'partial', 'failed'] as const;
export const APPROVAL_SCOPES = ['release', 'gate', 'exception'] as const;

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
