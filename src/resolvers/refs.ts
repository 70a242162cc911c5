// Object references for every domain type, declared once so domain files can point at each other
// without import cycles; each is implemented in the file of its domain.
import { builder } from '../builder.js';
import type * as R from './rows.js';

export const ReleaseRef = builder.objectRef<R.ReleaseRow>('Release');
export const ReleaseRevisionRef = builder.objectRef<R.ReleaseRevisionRow>('ReleaseRevision');
export const ReleaseGateRef = builder.objectRef<R.ReleaseGateRow>('ReleaseGate');
export const GateCheckRef = builder.objectRef<R.GateCheckRow>('GateCheck');
export const ApprovalRef = builder.objectRef<R.ApprovalRow>('Approval');
export const EvidenceArtifactRef = builder.objectRef<R.EvidenceArtifactRow>('EvidenceArtifact');
export const ExceptionRef = builder.objectRef<R.ExceptionRow>('Exception');
export const DeploymentRef = builder.objectRef<R.DeploymentRow>('Deployment');
export const EnvironmentEventRef = builder.objectRef<R.EnvironmentEventRow>('EnvironmentEvent');
export const IngestLogEntryRef = builder.objectRef<R.IngestLogRow>('IngestLogEntry');
export const IncidentRef = builder.objectRef<R.IncidentRow>('Incident');
export const RecoveryDrillRef = builder.objectRef<R.RecoveryDrillRow>('RecoveryDrill');
export const GateTransitionRef = builder.objectRef<R.GateTransitionRow>('GateTransition');
