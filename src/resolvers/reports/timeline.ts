// ops.release_timeline: every fact about a release in the order it happened.
import { anyOf, REPORT_FUNCTION_CALLERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import type { GateCodeValue, TimelineKindValue } from '../../vocabulary.js';
import { GateCode, TimelineKind } from '../enums.js';
import { uuidArg } from '../ids.js';
import { readRows } from '../read.js';
import { DateTime } from '../scalars.js';

export interface TimelineRow {
  seq: string;
  at: Date;
  kind: TimelineKindValue;
  actor: string | null;
  persona: string | null;
  source_system: string | null;
  ingest_id: string | null;
  gate_code: GateCodeValue | null;
  summary: string;
  entity_id: string;
}

const TimelineEntry = builder.objectRef<TimelineRow>('TimelineEntry').implement({
  description: 'One fact about a release, from ops.release_timeline.',
  fields: (t) => ({
    seq: t.int({ description: 'Position in the timeline, from 1.', resolve: (e) => Number(e.seq) }),
    at: t.field({
      type: DateTime,
      description:
        'When the database recorded the fact (an ingest attempt: when it arrived; an expiry: expiresAt).',
      resolve: (e) => e.at,
    }),
    kind: t.expose('kind', { type: TimelineKind }),
    actor: t.exposeString('actor', { nullable: true, description: 'Who did it: the JWT subject.' }),
    persona: t.exposeString('persona', { nullable: true }),
    sourceSystem: t.exposeString('source_system', { nullable: true }),
    ingestId: t.exposeID('ingest_id', { nullable: true, description: 'The ingest attempt that caused it.' }),
    gateCode: t.expose('gate_code', { type: GateCode, nullable: true }),
    summary: t.exposeString('summary'),
    entityId: t.exposeID('entity_id', { description: 'The row the fact is (its table follows from kind).' }),
  }),
});

builder.queryField('releaseTimeline', (t) =>
  t.withAuth(anyOf(REPORT_FUNCTION_CALLERS.release_timeline)).field({
    type: [TimelineEntry],
    description:
      'Every fact about the release in the order it happened, each with its actor, persona, source and ingest attempt: the decision chain, rebuilt from the database alone (ops.release_timeline).',
    args: { releaseId: t.arg.id({ required: true }) },
    resolve: (_r, args, ctx) =>
      readRows<TimelineRow>(ctx, 'select * from ops.release_timeline($1) order by seq', [
        uuidArg(args.releaseId, 'releaseId'),
      ]),
  }),
);
