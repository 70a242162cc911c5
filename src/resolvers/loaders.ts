// Per-request dataloaders: nested fields load in one statement per relation and page, whatever
// the number of parents, selecting the columns their GraphQL type needs (rows.ts). Each batch runs
// as the caller's persona, so RLS applies to it too. A root field that reads a whole tree in one
// statement (prefetch.ts) primes them, and nested fields then find their rows here.
import DataLoader from 'dataloader';
import type { OpsTable } from '../auth/access.js';
import type { Context } from '../context.js';
import type { EnvironmentValue, GateCodeValue, GateStatusValue } from '../vocabulary.js';
import * as R from './rows.js';

type Row = Record<string, unknown>;

/** Loads every row of `table` whose `column` is one of the keys, grouped by key. */
function manyBy<T extends object>(ctx: Context, relation: Relation) {
  const { shape, table, column, orderBy } = relation;
  const order = orderBy.map((c) => `t.${c}`).join(', ');
  return new DataLoader<string, T[]>(async (keys) => {
    const rows = await ctx.read(async (c) => {
      const r = await c.query<T>(
        `select ${shape.list('t')} from ops.${table} t where t.${column} = any($1::uuid[]) order by ${order}`,
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
function byId<T extends object>(ctx: Context, relation: Relation) {
  const many = manyBy<T>(ctx, relation);
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

/** The relations loaded by key: which table, keyed by which column, in which order. */
export const RELATIONS = {
  release: { shape: R.RELEASE, table: 'releases', column: 'release_id', orderBy: ['release_id'] },
  gate: { shape: R.RELEASE_GATE, table: 'release_gates', column: 'gate_id', orderBy: ['gate_id'] },
  deployment: {
    shape: R.DEPLOYMENT,
    table: 'deployments',
    column: 'deployment_id',
    orderBy: ['deployment_id'],
  },
  exception: { shape: R.EXCEPTION, table: 'exceptions', column: 'exception_id', orderBy: ['exception_id'] },
  gatesByRelease: {
    shape: R.RELEASE_GATE,
    table: 'release_gates',
    column: 'release_id',
    orderBy: ['gate_code'],
  },
  checksByGate: {
    shape: R.GATE_CHECK,
    table: 'gate_checks',
    column: 'gate_id',
    orderBy: ['created_at', 'check_id'],
  },
  approvalsByGate: {
    shape: R.APPROVAL,
    table: 'approvals',
    column: 'gate_id',
    orderBy: ['created_at', 'approval_id'],
  },
  approvalsByRelease: {
    shape: R.APPROVAL,
    table: 'approvals',
    column: 'release_id',
    orderBy: ['created_at', 'approval_id'],
  },
  approvalsByException: {
    shape: R.APPROVAL,
    table: 'approvals',
    column: 'exception_id',
    orderBy: ['created_at', 'approval_id'],
  },
  evidenceByGate: {
    shape: R.EVIDENCE_ARTIFACT,
    table: 'evidence_artifacts',
    column: 'gate_id',
    orderBy: ['created_at', 'artifact_id'],
  },
  evidenceByRelease: {
    shape: R.EVIDENCE_ARTIFACT,
    table: 'evidence_artifacts',
    column: 'release_id',
    orderBy: ['created_at', 'artifact_id'],
  },
  evidenceByDeployment: {
    shape: R.EVIDENCE_ARTIFACT,
    table: 'evidence_artifacts',
    column: 'deployment_id',
    orderBy: ['created_at', 'artifact_id'],
  },
  transitionsByGate: {
    shape: R.GATE_TRANSITION,
    table: 'gate_transitions',
    column: 'gate_id',
    orderBy: ['created_at', 'transition_id'],
  },
  revisionsByRelease: {
    shape: R.RELEASE_REVISION,
    table: 'release_revisions',
    column: 'release_id',
    orderBy: ['revision'],
  },
  exceptionsByRelease: {
    shape: R.EXCEPTION,
    table: 'exceptions',
    column: 'release_id',
    orderBy: ['created_at', 'exception_id'],
  },
  deploymentsByRelease: {
    shape: R.DEPLOYMENT,
    table: 'deployments',
    column: 'release_id',
    orderBy: ['deployed_at', 'deployment_id'],
  },
  incidentsByDeployment: {
    shape: R.INCIDENT,
    table: 'incidents',
    column: 'deployment_id',
    orderBy: ['detected_at', 'incident_id'],
  },
} as const satisfies Record<string, Relation>;

export interface Relation {
  shape: { list: (alias: string) => string; timestamps: readonly string[] };
  table: OpsTable;
  column: string;
  orderBy: readonly string[];
}

const L = RELATIONS;

/** How each loader is made for a request (on its first use: most requests need a few of them). */
const FACTORIES = {
  blockersByRelease: (ctx: Context) => blockersBy(ctx),
  release: (ctx: Context) => byId<R.ReleaseRow>(ctx, L.release),
  gate: (ctx: Context) => byId<R.ReleaseGateRow>(ctx, L.gate),
  deployment: (ctx: Context) => byId<R.DeploymentRow>(ctx, L.deployment),
  exception: (ctx: Context) => byId<R.ExceptionRow>(ctx, L.exception),
  gatesByRelease: (ctx: Context) => manyBy<R.ReleaseGateRow>(ctx, L.gatesByRelease),
  checksByGate: (ctx: Context) => manyBy<R.GateCheckRow>(ctx, L.checksByGate),
  approvalsByGate: (ctx: Context) => manyBy<R.ApprovalRow>(ctx, L.approvalsByGate),
  approvalsByRelease: (ctx: Context) => manyBy<R.ApprovalRow>(ctx, L.approvalsByRelease),
  evidenceByGate: (ctx: Context) => manyBy<R.EvidenceArtifactRow>(ctx, L.evidenceByGate),
  evidenceByRelease: (ctx: Context) => manyBy<R.EvidenceArtifactRow>(ctx, L.evidenceByRelease),
  evidenceByDeployment: (ctx: Context) => manyBy<R.EvidenceArtifactRow>(ctx, L.evidenceByDeployment),
  transitionsByGate: (ctx: Context) => manyBy<R.GateTransitionRow>(ctx, L.transitionsByGate),
  revisionsByRelease: (ctx: Context) => manyBy<R.ReleaseRevisionRow>(ctx, L.revisionsByRelease),
  exceptionsByRelease: (ctx: Context) => manyBy<R.ExceptionRow>(ctx, L.exceptionsByRelease),
  deploymentsByRelease: (ctx: Context) => manyBy<R.DeploymentRow>(ctx, L.deploymentsByRelease),
  incidentsByDeployment: (ctx: Context) => manyBy<R.IncidentRow>(ctx, L.incidentsByDeployment),
  approvalsByException: (ctx: Context) => manyBy<R.ApprovalRow>(ctx, L.approvalsByException),
} satisfies Record<keyof typeof RELATIONS | 'blockersByRelease', (ctx: Context) => unknown>;

type LoaderName = keyof typeof FACTORIES;
export type Loaders = { readonly [K in LoaderName]: ReturnType<(typeof FACTORIES)[K]> };
/** What a loader answers for one key. */
type Loaded<K extends LoaderName> = Loaders[K] extends DataLoader<string, infer V> ? V : never;
type AnyLoader = DataLoader<string, unknown>;

/**
 * A request's loaders, each made on first use, and the rows a whole-tree read primed (prefetch.ts),
 * kept where a resolver can take them without a promise: a field whose rows are already here
 * completes in the same turn, as the executor completes a plain value.
 */
class RequestLoaders {
  private readonly made = new Map<LoaderName, AnyLoader>();
  private primed: Map<LoaderName, Map<string, unknown>> | undefined;

  constructor(private readonly ctx: Context) {}

  loader(name: LoaderName): AnyLoader {
    let loader = this.made.get(name);
    if (!loader) {
      loader = FACTORIES[name](this.ctx) as AnyLoader;
      // A loader made after a tree read starts with its rows, as one made before was primed.
      for (const [key, value] of this.primed?.get(name) ?? []) loader.prime(key, value);
      this.made.set(name, loader);
    }
    return loader;
  }

  /** As DataLoader's prime: a key already primed keeps its first value. */
  prime(name: LoaderName, key: string, value: unknown): void {
    this.primed ??= new Map();
    let rows = this.primed.get(name);
    if (!rows) {
      rows = new Map();
      this.primed.set(name, rows);
    }
    if (rows.has(key)) return;
    rows.set(key, value);
    this.made.get(name)?.prime(key, value);
  }

  load(name: LoaderName, key: string): unknown {
    const rows = this.primed?.get(name);
    if (rows?.has(key)) return rows.get(key);
    return this.loader(name).load(key);
  }
}

// Loaders(ctx).<name> reads the loader through a getter on the prototype (made once, not per request).
for (const name of Object.keys(FACTORIES) as LoaderName[]) {
  Object.defineProperty(RequestLoaders.prototype, name, {
    get(this: RequestLoaders) {
      return this.loader(name);
    },
  });
}

const perRequest = new WeakMap<Context, RequestLoaders>();

function requestLoaders(ctx: Context): RequestLoaders {
  let l = perRequest.get(ctx);
  if (!l) {
    l = new RequestLoaders(ctx);
    perRequest.set(ctx, l);
  }
  return l;
}

/** The request's loaders by name (each made on first use). */
export function loaders(ctx: Context): Loaders {
  return requestLoaders(ctx) as unknown as Loaders;
}

/**
 * The rows of `key` for loader `name`: the rows a whole-tree read primed as they are (no promise),
 * else the loader's (batched with the other keys asked for in the same turn).
 */
export function loadRows<K extends LoaderName>(
  ctx: Context,
  name: K,
  key: string,
): Loaded<K> | Promise<Loaded<K>> {
  return requestLoaders(ctx).load(name, key) as Loaded<K> | Promise<Loaded<K>>;
}

/** Primes loader `name` with `value` for `key` (a key already primed keeps its first value). */
export function primeRows(ctx: Context, name: LoaderName, key: string, value: unknown): void {
  requestLoaders(ctx).prime(name, key, value);
}
