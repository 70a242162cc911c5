// ops.v_release_gate_summary: every gate of every release with its checks, evidence and approvals
// counted; also the gates of the eligibility page, read in the page's own statement when it asks
// for them (GATE_SUMMARIES_JSON), else loaded per release (one statement for the whole page).
import DataLoader from 'dataloader';
import { anyOf, VIEW_READERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import type { Context } from '../../context.js';
import type { ReleaseStatusValue } from '../../vocabulary.js';
import { GateCode, GateStatus, ReleaseStatus } from '../enums.js';
import { optionalUuidArg } from '../ids.js';
import { connectionArgs, connectionType } from '../pagination.js';
import { Conditions, keysetPage, readRows } from '../read.js';
import { type ReleaseGateRow, rowFromJson } from '../rows.js';
import { DateTime } from '../scalars.js';

/** A gate's row (ReleaseGateRow) with its release's names and status and its counts. */
export interface GateSummaryRow extends ReleaseGateRow {
  project: string;
  release_name: string;
  release_status: ReleaseStatusValue;
  checks_pass: number;
  checks_fail: number;
  checks_warning: number;
  checks_skipped: number;
  check_runs: number;
  evidence_count: number;
  approvals: number;
  rejections: number;
  changes_requested: number;
}

/** The view's columns the type exposes (GateSummaryRow). */
const GATE_SUMMARY_COLUMNS = `v.release_id, v.project, v.release_name, v.release_status, v.gate_id, v.gate_code, v.gate_name, v.status, v.entered_at, v.resolved_at, v.resolved_by, v.exception_id, v.checks_pass, v.checks_fail, v.checks_warning, v.checks_skipped, v.check_runs, v.evidence_count, v.approvals, v.rejections, v.changes_requested`;

export const ReleaseGateSummary = builder.objectRef<GateSummaryRow>('ReleaseGateSummary').implement({
  description:
    'One gate of one release (ops.v_release_gate_summary). Check counts are over the latest result per check name, the one that decides the gate; checkRuns counts every result. Approvals, rejections and changesRequested count each approver by their latest decision on the gate.',
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    releaseStatus: t.expose('release_status', { type: ReleaseStatus }),
    gateId: t.exposeID('gate_id'),
    gateCode: t.expose('gate_code', { type: GateCode }),
    gateName: t.exposeString('gate_name'),
    status: t.expose('status', { type: GateStatus }),
    enteredAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.entered_at }),
    resolvedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.resolved_at }),
    resolvedBy: t.exposeString('resolved_by', { nullable: true }),
    exceptionId: t.exposeID('exception_id', {
      nullable: true,
      description: 'The exception that bypasses the gate, when it is bypassed.',
    }),
    checksPass: t.exposeInt('checks_pass'),
    checksFail: t.exposeInt('checks_fail'),
    checksWarning: t.exposeInt('checks_warning'),
    checksSkipped: t.exposeInt('checks_skipped'),
    checkRuns: t.exposeInt('check_runs'),
    evidenceCount: t.exposeInt('evidence_count', { description: 'Artifacts attached to the gate itself.' }),
    approvals: t.exposeInt('approvals'),
    rejections: t.exposeInt('rejections'),
    changesRequested: t.exposeInt('changes_requested'),
  }),
});

/**
 * Keyset condition for rows ordered by (release created_at desc, release_id desc, gate_code): the
 * cursor names a gate, whose release and code place it.
 */
function afterGate(w: Conditions, after: [string, string], createdAt: string): void {
  const at = w.param(after[0]);
  const gate = w.param(after[1]);
  const release = `(select g.release_id from ops.release_gates g where g.gate_id = ${gate}::uuid)`;
  const code = `(select g.gate_code from ops.release_gates g where g.gate_id = ${gate}::uuid)`;
  // The first condition bounds the index scan; the second skips the cursor's release's earlier gates.
  w.add(`(${createdAt}, v.release_id) <= (${at}::timestamptz, ${release})`);
  w.add(`((${createdAt}, v.release_id) < (${at}::timestamptz, ${release}) or v.gate_code > ${code})`);
}

/** Gates of a release newest release first, G1-G4 within it. */
const BY_RELEASE_THEN_GATE = 'v.release_created_at desc, v.release_id desc, v.gate_code';

/**
 * The page of a per-gate report over a view `v` (release_created_at, release_id, gate_id,
 * gate_code, project): newest release first, G1-G4 within it, filtered by project, release and
 * gate; `more` adds the report's own filters.
 */
export function gateReportPage(
  f: { project?: string | null; releaseId?: string | null; gateCode?: string | null },
  more: (where: Conditions) => Conditions = (where) => where,
) {
  return {
    where: more(
      new Conditions()
        .when(f.project, (p) => `v.project = ${p}`)
        .when(optionalUuidArg(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
        .when(f.gateCode, (p) => `v.gate_code = ${p}::ops_gate_code`),
    ),
    at: 'v.release_created_at',
    id: 'v.release_id',
    direction: 'desc' as const,
    orderBy: BY_RELEASE_THEN_GATE,
    afterCondition: (w: Conditions, after: [string, string]) => afterGate(w, after, 'v.release_created_at'),
    idOf: (r: { gate_id: string }) => r.gate_id,
  };
}

const ReleaseGateSummaryFilter = builder.inputType('ReleaseGateSummaryFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseId: t.id(),
    gateCode: t.field({ type: GateCode }),
    status: t.field({ type: GateStatus }),
  }),
});

builder.queryField('releaseGateSummary', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_release_gate_summary)).field({
    type: connectionType<GateSummaryRow>('ReleaseGateSummary', ReleaseGateSummary),
    description:
      'Every gate of every release with its checks, evidence and approvals counted: newest release first, G1-G4 within it; at most 100 per page.',
    args: connectionArgs(t.arg, ReleaseGateSummaryFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<GateSummaryRow>(ctx, args, {
        columns: GATE_SUMMARY_COLUMNS,
        from: 'ops.v_release_gate_summary v',
        ...gateReportPage(f, (where) => where.when(f.status, (p) => `v.status = ${p}::ops_gate_status`)),
      });
    },
  }),
);

/**
 * A release's gate summaries as one JSON array in the loader's order (gate code), for a statement
 * over releases aliased `v` that reads them with its own rows (the dashboard page:
 * eligibility.ts). Same view, same columns, same persona and snapshot as the loader's statement.
 */
const GATE_SUMMARY_MEMBERS = GATE_SUMMARY_COLUMNS.split(', ')
  .map((c) => c.slice('v.'.length))
  .map((c) => `'${c}', g.${c}`)
  .join(', ');
export const GATE_SUMMARIES_JSON = `(select coalesce(pg_catalog.json_agg(pg_catalog.json_build_object(${GATE_SUMMARY_MEMBERS})
    order by g.gate_code), '[]') from ops.v_release_gate_summary g where g.release_id = v.release_id)`;

const GATE_SUMMARY_TIMESTAMPS = { timestamps: ['entered_at', 'resolved_at'] } as const;

/** Gives the loader a release's summaries read as GATE_SUMMARIES_JSON, so it asks no statement for them. */
export function primeGateSummaries(ctx: Context, releaseId: string, json: Record<string, unknown>[]): void {
  gateSummariesOf(ctx).prime(
    releaseId,
    json.map((row) => rowFromJson<GateSummaryRow>(GATE_SUMMARY_TIMESTAMPS, row)),
  );
}

/** The gate summaries of many releases in one statement, whatever the number of releases. */
const gateSummaries = new WeakMap<Context, DataLoader<string, GateSummaryRow[]>>();

export function gateSummariesOf(ctx: Context): DataLoader<string, GateSummaryRow[]> {
  let loader = gateSummaries.get(ctx);
  if (!loader) {
    loader = new DataLoader(async (ids) => {
      const rows = await readRows<GateSummaryRow>(
        ctx,
        `select ${GATE_SUMMARY_COLUMNS} from ops.v_release_gate_summary v
         where v.release_id = any($1::uuid[]) order by v.release_id, v.gate_code`,
        [ids],
      );
      const byRelease = new Map<string, GateSummaryRow[]>(ids.map((id) => [id, []]));
      for (const row of rows) byRelease.get(row.release_id)?.push(row);
      return ids.map((id) => byRelease.get(id) ?? []);
    });
    gateSummaries.set(ctx, loader);
  }
  return loader;
}
