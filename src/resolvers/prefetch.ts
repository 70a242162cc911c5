// A release and the relations a query selects under it, in one statement. The root field looks
// ahead at its selection (fragments included), builds one SELECT whose nested relations are JSON
// aggregates of correlated subqueries, and primes the per-relation dataloaders with the rows, so
// the nested resolvers (and their scope-auth checks) run as before and find their rows already
// loaded. The statement runs as the caller's persona inside the request's transaction: RLS filters
// every relation in it exactly as it filters the loaders' own statements. A relation the persona
// may not read (access.ts, the mirror of the grants) is left out of the statement; its field is
// refused by scope-auth as before. Anything deeper than the tree below loads through the loaders.
//
// Columns: each relation reads only what the operation asks of its type anywhere (the columns
// behind every field of that type the operation selects, and the keys the loaders need), so a row
// primed here serves every path of the request that reaches the same row.
import {
  type DocumentNode,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  TypeInfo,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import { TABLE_READERS } from '../auth/access.js';
import { isPersona, type Persona } from '../auth/personas.js';
import type { Context } from '../context.js';
import { primeRows, RELATIONS } from './loaders.js';
import { readRows } from './read.js';
import { RELEASE, type ReleaseRow, rowFromJson } from './rows.js';

type RelationName = keyof typeof RELATIONS;
type Row = Record<string, unknown>;

/** A GraphQL list field read from a relation, keyed by the parent's `key` column. */
interface Node {
  relation: RelationName;
  /** The GraphQL object type of its rows. */
  type: string;
  key: string;
  /** The by-id loader its rows also prime (e.g. a gate read as a release's gate is the gate). */
  byId?: RelationName;
  fields?: Record<string, Node>;
}

const GATE_FIELDS: Record<string, Node> = {
  checks: { relation: 'checksByGate', type: 'GateCheck', key: 'gate_id' },
  evidence: { relation: 'evidenceByGate', type: 'EvidenceArtifact', key: 'gate_id' },
  approvals: { relation: 'approvalsByGate', type: 'Approval', key: 'gate_id' },
  transitions: { relation: 'transitionsByGate', type: 'GateTransition', key: 'gate_id' },
};

/** The Release type's list fields (releases.ts), each the same loader its resolver calls. */
const RELEASE_FIELDS: Record<string, Node> = {
  gates: {
    relation: 'gatesByRelease',
    type: 'ReleaseGate',
    key: 'release_id',
    byId: 'gate',
    fields: GATE_FIELDS,
  },
  approvals: { relation: 'approvalsByRelease', type: 'Approval', key: 'release_id' },
  evidence: { relation: 'evidenceByRelease', type: 'EvidenceArtifact', key: 'release_id' },
  exceptions: { relation: 'exceptionsByRelease', type: 'Exception', key: 'release_id', byId: 'exception' },
  deployments: {
    relation: 'deploymentsByRelease',
    type: 'Deployment',
    key: 'release_id',
    byId: 'deployment',
  },
  revisions: { relation: 'revisionsByRelease', type: 'ReleaseRevision', key: 'release_id' },
};

/**
 * The columns behind the fields that are not a plain `expose` of one column (those name theirs in
 * the schema: extensions.pothosExposedField); a relation needs the key its resolver loads by. A
 * field named nowhere selects every column.
 */
const FIELD_COLUMNS: Record<string, Record<string, readonly string[]>> = {
  Release: {
    revisions: ['release_id'],
    scopeMetadata: ['scope_metadata'],
    createdAt: ['created_at'],
    gates: ['release_id'],
    approvals: ['release_id'],
    evidence: ['release_id'],
    exceptions: ['release_id'],
    deployments: ['release_id'],
    eligibility: ['release_id'],
  },
  ReleaseRevision: { createdAt: ['created_at'] },
  ReleaseGate: {
    enteredAt: ['entered_at'],
    resolvedAt: ['resolved_at'],
    release: ['release_id'],
    exception: ['exception_id'],
    checks: ['gate_id'],
    evidence: ['gate_id'],
    approvals: ['gate_id'],
    transitions: ['gate_id'],
  },
  GateCheck: { metadata: ['metadata'], createdAt: ['created_at'], gate: ['gate_id'] },
  Approval: {
    rationaleStructured: ['rationale_structured'],
    createdAt: ['created_at'],
    release: ['release_id'],
    gate: ['gate_id'],
    exception: ['exception_id'],
  },
  EvidenceArtifact: { metadata: ['metadata'], createdAt: ['created_at'], deployment: ['deployment_id'] },
  GateTransition: { createdAt: ['created_at'] },
  Exception: {
    impactedGates: ['impacted_gates'],
    approvedAt: ['approved_at'],
    effectiveFrom: ['effective_from'],
    expiresAt: ['expires_at'],
    compensatingControls: ['compensating_controls'],
    createdAt: ['created_at'],
    release: ['release_id'],
    approvals: ['exception_id'],
  },
  Deployment: {
    deployedAt: ['deployed_at'],
    g4ResolvedAt: ['g4_resolved_at'],
    release: ['release_id'],
    incidents: ['deployment_id'],
    evidence: ['deployment_id'],
  },
};

/** Every field the operation selects, by the object type it is selected on (cached per document). */
const fieldsByOperation = new WeakMap<OperationDefinitionNode, Map<string, Set<string>>>();

function fieldsByType(info: GraphQLResolveInfo): Map<string, Set<string>> {
  let found = fieldsByOperation.get(info.operation);
  if (found) return found;
  const byType = new Map<string, Set<string>>();
  const typeInfo = new TypeInfo(info.schema);
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [info.operation, ...Object.values(info.fragments)],
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (!parent) return;
        const set = byType.get(parent.name) ?? new Set<string>();
        set.add(node.name.value);
        byType.set(parent.name, set);
      },
    }),
  );
  found = byType;
  fieldsByOperation.set(info.operation, found);
  return found;
}

/** The columns to read for rows of `typeName`: see "Columns" above. */
function columnsFor(
  info: GraphQLResolveInfo,
  typeName: string,
  shape: { columns: readonly string[] },
  needed: readonly string[],
): string[] {
  const type = info.schema.getType(typeName) as GraphQLObjectType | undefined;
  const wanted = new Set<string>(needed);
  let every = !type;
  for (const field of fieldsByType(info).get(typeName) ?? []) {
    if (every || field.startsWith('__')) continue;
    const exposed = type?.getFields()[field]?.extensions?.pothosExposedField;
    const columns = typeof exposed === 'string' ? [exposed] : FIELD_COLUMNS[typeName]?.[field];
    if (columns) for (const c of columns) wanted.add(c);
    else every = true;
  }
  return shape.columns.filter((c) => every || wanted.has(c));
}

/** Sub-selections of each field selected in `sets`, by field name (aliases merged). */
function selections(
  info: GraphQLResolveInfo,
  sets: readonly SelectionSetNode[],
): Map<string, SelectionSetNode[]> {
  const found = new Map<string, SelectionSetNode[]>();
  const visit = (set: SelectionSetNode, seen: Set<string>): void => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        const list = found.get(s.name.value) ?? [];
        if (s.selectionSet) list.push(s.selectionSet);
        found.set(s.name.value, list);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        visit(s.selectionSet, seen);
      } else {
        const name = s.name.value;
        const fragment = info.fragments[name];
        if (fragment && !seen.has(name)) visit(fragment.selectionSet, new Set(seen).add(name));
      }
    }
  };
  for (const set of sets) visit(set, new Set());
  return found;
}

/** A planned relation: its node, response key in the JSON, and the relations under it. */
interface Planned {
  field: string;
  node: Node;
  children: Planned[];
}

function plan(
  info: GraphQLResolveInfo,
  persona: Persona,
  fields: Record<string, Node>,
  sets: readonly SelectionSetNode[],
): Planned[] {
  const planned: Planned[] = [];
  for (const [field, subsets] of selections(info, sets)) {
    const node = fields[field];
    if (!node || subsets.length === 0) continue;
    const readers: readonly Persona[] = TABLE_READERS[RELATIONS[node.relation].table];
    if (!readers.includes(persona)) continue;
    planned.push({ field, node, children: node.fields ? plan(info, persona, node.fields, subsets) : [] });
  }
  return planned;
}

/**
 * The JSON array of a planned relation's rows under the row aliased `parent`, each a JSON object of
 * the columns asked for (the keys its loaders need included) and, under "@field", its own
 * relations; in the loader's order.
 */
function relationSql(info: GraphQLResolveInfo, p: Planned, parent: string, depth: number): string {
  const { shape, table, column, orderBy } = RELATIONS[p.node.relation];
  const t = `t${depth}`;
  const needed = [
    ...(p.node.byId ? [RELATIONS[p.node.byId].column] : []),
    ...p.children.map((c) => c.node.key),
  ];
  const members = [
    ...columnsFor(info, p.node.type, shape, needed).map((c) => `'${c}', ${t}.${c}`),
    ...p.children.map((c) => `'@${c.field}', ${relationSql(info, c, t, depth + 1)}`),
  ];
  const order = orderBy.map((c) => `${t}.${c}`).join(', ');
  return `(select coalesce(json_agg(json_build_object(${members.join(', ')}) order by ${order}), '[]')
    from ops.${table} ${t} where ${t}.${column} = ${parent}.${p.node.key})`;
}

/** Takes the planned relations' rows out of `row` and primes their loaders with them. */
function prime(ctx: Context, planned: readonly Planned[], row: Row): void {
  for (const p of planned) {
    const value = row[`@${p.field}`];
    delete row[`@${p.field}`];
    const relation = RELATIONS[p.node.relation];
    const rows = ((value ?? []) as Row[]).map((v) => rowFromJson<Row>(relation.shape, v));
    for (const child of rows) {
      prime(ctx, p.children, child);
      if (p.node.byId) primeRows(ctx, p.node.byId, String(child[RELATIONS[p.node.byId].column]), child);
    }
    primeRows(ctx, p.node.relation, String(row[p.node.key]), rows);
  }
}

/** A planned statement and what it was planned from: the same inputs always give the same text. */
interface Statement {
  schema: GraphQLSchema;
  operation: OperationDefinitionNode;
  fieldNodes: readonly FieldNode[];
  persona: Persona | null;
  condition: string;
  sql: string;
  planned: Planned[];
}

/**
 * Planned statements, by the first field node of the selection they were planned for (documents
 * are parsed once and cached by Yoga, so a repeated query finds its plan here). An entry is used
 * only when every input matches by identity: the schema, the operation (its fragments decide the
 * columns), every field node merged into the selection (@include/@skip may change them with the
 * variables), the persona (it decides the relations) and the condition. A few per node at most.
 */
const statements = new WeakMap<FieldNode, Statement[]>();
const STATEMENTS_PER_NODE = 8;

function statementFor(
  info: GraphQLResolveInfo,
  persona: Persona | null,
  condition: string,
): { sql: string; planned: Planned[] } {
  const first = info.fieldNodes[0]!;
  const known = statements.get(first) ?? [];
  const found = known.find(
    (s) =>
      s.schema === info.schema &&
      s.operation === info.operation &&
      s.persona === persona &&
      s.condition === condition &&
      s.fieldNodes.length === info.fieldNodes.length &&
      s.fieldNodes.every((f, i) => f === info.fieldNodes[i]),
  );
  if (found) return found;
  const sets = info.fieldNodes.flatMap((f: FieldNode) => (f.selectionSet ? [f.selectionSet] : []));
  const planned = persona ? plan(info, persona, RELEASE_FIELDS, sets) : [];
  const sql = `select ${[
    ...columnsFor(info, 'Release', RELEASE, ['release_id']).map((c) => `t0.${c}`),
    ...planned.map((p) => `${relationSql(info, p, 't0', 1)} as "@${p.field}"`),
  ].join(', ')} from ops.releases t0 where ${condition}`;
  const entry: Statement = {
    schema: info.schema,
    operation: info.operation,
    fieldNodes: [...info.fieldNodes],
    persona,
    condition,
    sql,
    planned,
  };
  statements.set(first, [entry, ...known].slice(0, STATEMENTS_PER_NODE));
  return entry;
}

/**
 * The release matching `condition` (on alias t0, with its parameters), or null when none is
 * visible to the caller, with every relation the field's selection asks for loaded in the same
 * statement. Database errors become the API's errors (read.ts).
 */
export async function readReleaseTree(
  ctx: Context,
  info: GraphQLResolveInfo,
  condition: string,
  params: unknown[],
): Promise<ReleaseRow | null> {
  const persona = ctx.identity?.persona;
  const { sql, planned } = statementFor(info, isPersona(persona) ? persona : null, condition);
  const rows = await readRows<Row>(ctx, sql, params);
  const row = rows[0];
  if (!row) return null;
  prime(ctx, planned, row);
  const release = row as unknown as ReleaseRow;
  primeRows(ctx, 'release', release.release_id, release);
  return release;
}
