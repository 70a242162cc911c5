// ops.v_evidence_completeness: the evidence each gate of each release needs, what is present and
// what is missing.
import { anyOf, VIEW_READERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import type { ArtifactTypeValue, GateCodeValue, GateStatusValue } from '../../vocabulary.js';
import { ArtifactType, GateCode, GateStatus } from '../enums.js';
import { connectionArgs, connectionType } from '../pagination.js';
import { keysetPage } from '../read.js';
import { gateReportPage } from './gate-summary.js';

export interface EvidenceCompletenessRow {
  release_id: string;
  project: string;
  release_name: string;
  gate_id: string;
  gate_code: GateCodeValue;
  gate_status: GateStatusValue;
  required: string[];
  optional: string[];
  present: ArtifactTypeValue[];
  missing: string[];
  evidence_count: number;
  waived: boolean;
  complete: boolean;
}

const EvidenceCompleteness = builder.objectRef<EvidenceCompletenessRow>('EvidenceCompleteness').implement({
  description:
    "The evidence one gate of one release needs (ops.gate_evidence_requirements), what is present, and what is missing (ops.v_evidence_completeness). A requirement with alternatives reads 'test_result or uat_summary'.",
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    gateId: t.exposeID('gate_id'),
    gateCode: t.expose('gate_code', { type: GateCode }),
    gateStatus: t.expose('gate_status', { type: GateStatus }),
    required: t.exposeStringList('required', { description: 'Requirements that hold the gate.' }),
    optional: t.exposeStringList('optional', {
      description: 'Expected evidence that never holds the gate (G1: the build log).',
    }),
    present: t.expose('present', {
      type: [ArtifactType],
      description: 'Artifact types present that meet one of the requirements.',
    }),
    missing: t.exposeStringList('missing', { description: 'Requirements that hold the gate and are unmet.' }),
    evidenceCount: t.exposeInt('evidence_count', { description: 'Artifacts meeting a requirement.' }),
    waived: t.exposeBoolean('waived', {
      description: 'An active evidence_waiver exception covers the gate.',
    }),
    complete: t.exposeBoolean('complete', { description: 'Nothing missing, or waived.' }),
  }),
});

const EvidenceCompletenessFilter = builder.inputType('EvidenceCompletenessFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseId: t.id(),
    gateCode: t.field({ type: GateCode }),
    complete: t.boolean(),
  }),
});

builder.queryField('evidenceCompleteness', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_evidence_completeness)).field({
    type: connectionType<EvidenceCompletenessRow>('EvidenceCompleteness', EvidenceCompleteness),
    description:
      'Evidence required, present and missing per release and gate: newest release first, G1-G4 within it; at most 100 per page.',
    args: connectionArgs(t.arg, EvidenceCompletenessFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<EvidenceCompletenessRow>(ctx, args, {
        columns: `v.release_id, v.project, v.release_name, v.gate_id, v.gate_code, v.gate_status, v.required,
                  v.optional, v.present::text[] as present, v.missing, v.evidence_count, v.waived, v.complete`,
        from: 'ops.v_evidence_completeness v',
        ...gateReportPage(f, (where) => where.when(f.complete, (p) => `v.complete = ${p}::boolean`)),
      });
    },
  }),
);
