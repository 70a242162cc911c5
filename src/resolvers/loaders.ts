// Per-request dataloaders: nested fields load in one statement per relation and page, whatever
// the number of parents. Each batch runs as the caller's persona, so RLS applies to it too.
import DataLoader from 'dataloader';
import type { Context } from '../context.js';
import type { EnvironmentValue, GateCodeValue, GateStatusValue } from '../vocabulary.js';
import type * as R from './rows.js';

type Row = Record<string, unknown>;

/** Loads every row of `table` whose `column` is one of the keys, grouped by key. */
function manyBy<T extends object>(ctx: Context, table: string, column: string, orderBy: string) {
  return new DataLoader<string, T[]>(async (keys) => {
    const rows = await ctx.read(async (c) => {
      const r = await c.query<T>(
        `select * from ops.${table} where ${column} = any($1::uuid[]) order by ${orderBy}`,
        [keys],
      );
      return r.rows;
    });
    const groups = new Map<string, T[]>(keys.map((k) => [k, []]));
    for (const row of rows) groups.get(String((row as Row)[column]))?.push(row);
    return keys.map((k) => groups.get(k) ?? []);
  });
}

/** Loads rows of `table` by primary key; null where the row does not exist or RLS hides it. */
function byId<T extends object>(ctx: Context, table: string, column: string) {
  const many = manyBy<T>(ctx, table, column, column);
  return new DataLoader<string, T | null>(async (keys) =>
    (await many.loadMany(keys)).map((r) => (Array.isArray(r) ? (r[0] ?? null) : null)),
  );
}

export interface BlockerRow {
  target_env: EnvironmentValue;
  gate_code: GateCodeValue;
  status: GateStatusValue;
  reason: string;
}

/** Every unmet requirement of each release for every environment, from one gate evaluation each. */
function blockersBy(ctx: Context) {
  return new DataLoader<string, BlockerRow[]>(async (keys) => {
    const rows = await ctx.read(async (c) => {
      const r = await c.query<BlockerRow & { release_id: string }>(
        `select r.release_id, b.* from unnest($1::uuid[]) r(release_id)
         cross join lateral ops.promotion_blockers(r.release_id) b`,
        [keys],
      );
      return r.rows;
    });
    return keys.map((k) => rows.filter((r) => r.release_id === k));
  });
}

function createLoaders(ctx: Context) {
  return {
    blockersByRelease: blockersBy(ctx),
    release: byId<R.ReleaseRow>(ctx, 'releases', 'release_id'),
    gate: byId<R.ReleaseGateRow>(ctx, 'release_gates', 'gate_id'),
    deployment: byId<R.DeploymentRow>(ctx, 'deployments', 'deployment_id'),
    exception: byId<R.ExceptionRow>(ctx, 'exceptions', 'exception_id'),
    gatesByRelease: manyBy<R.ReleaseGateRow>(ctx, 'release_gates', 'release_id', 'gate_code'),
    checksByGate: manyBy<R.GateCheckRow>(ctx, 'gate_checks', 'gate_id', 'created_at, check_id'),
    approvalsByGate: manyBy<R.ApprovalRow>(ctx, 'approvals', 'gate_id', 'created_at, approval_id'),
    approvalsByRelease: manyBy<R.ApprovalRow>(ctx, 'approvals', 'release_id', 'created_at, approval_id'),
    evidenceByGate: manyBy<R.EvidenceArtifactRow>(
      ctx,
      'evidence_artifacts',
      'gate_id',
      'created_at, artifact_id',
    ),
    evidenceByRelease: manyBy<R.EvidenceArtifactRow>(
      ctx,
      'evidence_artifacts',
      'release_id',
      'created_at, artifact_id',
    ),
    evidenceByDeployment: manyBy<R.EvidenceArtifactRow>(
      ctx,
      'evidence_artifacts',
      'deployment_id',
      'created_at, artifact_id',
    ),
    transitionsByGate: manyBy<R.GateTransitionRow>(
      ctx,
      'gate_transitions',
      'gate_id',
      'created_at, transition_id',
    ),
    revisionsByRelease: manyBy<R.ReleaseRevisionRow>(ctx, 'release_revisions', 'release_id', 'revision'),
    exceptionsByRelease: manyBy<R.ExceptionRow>(ctx, 'exceptions', 'release_id', 'created_at, exception_id'),
    deploymentsByRelease: manyBy<R.DeploymentRow>(
      ctx,
      'deployments',
      'release_id',
      'deployed_at, deployment_id',
    ),
    incidentsByDeployment: manyBy<R.IncidentRow>(
      ctx,
      'incidents',
      'deployment_id',
      'detected_at, incident_id',
    ),
    approvalsByException: manyBy<R.ApprovalRow>(ctx, 'approvals', 'exception_id', 'created_at, approval_id'),
  };
}

export type Loaders = ReturnType<typeof createLoaders>;

const perRequest = new WeakMap<Context, Loaders>();

export function loaders(ctx: Context): Loaders {
  let l = perRequest.get(ctx);
  if (!l) {
    l = createLoaders(ctx);
    perRequest.set(ctx, l);
  }
  return l;
}
