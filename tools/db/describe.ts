// A deterministic, schema-only description of what the migrations build, read from the catalogs
// (no pg_dump: the embedded package ships none, and Debian's pg_dump 15 refuses a PostgreSQL 17
// server). It is written as SQL-like DDL, grouped by object and sorted by name, so a reviewer reads
// the effect of a migration as a diff of supabase/schema.sql. It is a description, not a script:
// objects appear in name order, not dependency order.
//
// Covered: the schema (grants, default privileges), installed extensions, the schema's types and
// the public.<schema>_* ones (enums with labels in order, domains, composites, ranges), sequences,
// tables (columns, constraints, indexes, triggers, row-level security flags, policies, table and
// column grants), views and materialised views, functions and procedures (full definitions and
// grants), owners that differ from the schema owner, and comments.
//
// Version independence (PostgreSQL 15 and 17 give the same text): the session's search_path is set
// to pg_catalog while describing, so every name outside pg_catalog is schema-qualified whatever the
// caller's search_path; an owner's own privileges are left out when complete (PostgreSQL 17's
// MAINTAIN privilege is not counted, it does not exist on 15); grantors are left out; NOT NULL is
// read from pg_attribute, never from pg_constraint; extension versions are left out.
import type pg from 'pg';

interface Acl {
  grantee: string;
  privilege: string;
  grantable: boolean;
}

/** Privileges an owner holds on a fresh object, per acldefault() type (MAINTAIN excluded). */
const OWNER_PRIVILEGES: Record<string, string[]> = {
  r: ['DELETE', 'INSERT', 'REFERENCES', 'SELECT', 'TRIGGER', 'TRUNCATE', 'UPDATE'],
  s: ['SELECT', 'UPDATE', 'USAGE'],
  f: ['EXECUTE'],
  n: ['CREATE', 'USAGE'],
  T: ['USAGE'],
};

const KIND_WORD: Record<string, string> = {
  r: 'table',
  p: 'table',
  f: 'foreign table',
  v: 'view',
  m: 'materialized view',
  S: 'sequence',
};

/** How a trigger that is not simply enabled (pg_trigger.tgenabled 'O') is switched, as ALTER TABLE says it. */
const TRIGGER_STATE: Record<string, string> = { A: 'enable always', R: 'enable replica', D: 'disable' };

const POLICY_COMMAND: Record<string, string> = {
  r: 'select',
  a: 'insert',
  w: 'update',
  d: 'delete',
  '*': 'all',
};

const DEFACL_OBJECT: Record<string, string> = {
  r: 'tables',
  S: 'sequences',
  f: 'functions',
  T: 'types',
  n: 'schemas',
};

/** Byte-wise comparison, independent of locale and collation. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byKey<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => cmp(key(a), key(b));
}

function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    const list = map.get(k);
    if (list) list.push(r);
    else map.set(k, [r]);
  }
  return map;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Grant statements for one object. `target` is e.g. `table ops.releases` or `ops.releases` with a
 * column list; the owner's complete set of privileges is implicit and left out.
 */
function grantLines(acl: Acl[], target: string, owner: string | null, ownerKind: string | null): string[] {
  const byGrantee = groupBy(acl, (a) => a.grantee);
  const lines: string[] = [];
  // Grantees holding the same privileges share one statement.
  const statements = new Map<string, string[]>();
  for (const grantee of [...byGrantee.keys()].sort(cmp)) {
    const plain = new Set<string>();
    const withOption = new Set<string>();
    for (const e of byGrantee.get(grantee)!) (e.grantable ? withOption : plain).add(e.privilege);
    for (const p of withOption) plain.delete(p);
    if (owner !== null && grantee === owner && ownerKind) {
      plain.delete('MAINTAIN');
      withOption.delete('MAINTAIN');
      const full = OWNER_PRIVILEGES[ownerKind] ?? [];
      const held = new Set([...plain, ...withOption]);
      const complete = held.size === full.length && full.every((p) => held.has(p));
      if (!complete) {
        const privs = [...held].sort(cmp).join(', ').toLowerCase() || 'nothing';
        lines.push(`-- the owner ${grantee} holds only: ${privs} on ${target}`);
      }
      continue;
    }
    for (const [set, suffix] of [
      [plain, ''],
      [withOption, ' with grant option'],
    ] as const) {
      if (set.size === 0) continue;
      const key = `${[...set].sort(cmp).join(', ').toLowerCase()}\u0000${suffix}`;
      statements.set(key, [...(statements.get(key) ?? []), grantee]);
    }
  }
  for (const key of [...statements.keys()].sort(cmp)) {
    const [privs, suffix] = key.split('\u0000');
    lines.push(`grant ${privs} on ${target} to ${statements.get(key)!.join(', ')}${suffix};`);
  }
  return lines;
}

interface Token {
  text: string;
  /** Nesting depth of parentheses the token is inside. */
  depth: number;
  /** Inside a parenthesised subquery (a sublink, a FROM subquery or a CTE body). */
  inSubquery: boolean;
}

function tokenize(sql: string): Token[] {
  const raw: string[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    let j = i + 1;
    if (c === "'" || c === '"') {
      const escapes = c === "'" && (raw[raw.length - 1] === 'E' || raw[raw.length - 1] === 'e');
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2;
        else if (sql[j] === c && sql[j + 1] === c) j += 2;
        else if (sql[j] === c) {
          j++;
          break;
        } else j++;
      }
    } else if (/[A-Za-z0-9_]/.test(c)) {
      while (j < sql.length && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
    } else if (/\s/.test(c)) {
      while (j < sql.length && /\s/.test(sql[j]!)) j++;
    }
    raw.push(sql.slice(i, j));
    i = j;
  }
  const tokens: Token[] = [];
  const stack: boolean[] = [];
  for (let k = 0; k < raw.length; k++) {
    const text = raw[k]!;
    if (text === '(') {
      let n = k + 1;
      while (n < raw.length && /^\s+$/.test(raw[n]!)) n++;
      const subquery = /^(SELECT|WITH|VALUES|TABLE)$/.test(raw[n] ?? '');
      tokens.push({ text, depth: stack.length, inSubquery: stack.includes(true) });
      stack.push(subquery);
    } else if (text === ')') {
      stack.pop();
      tokens.push({ text, depth: stack.length, inSubquery: stack.includes(true) });
    } else tokens.push({ text, depth: stack.length, inSubquery: stack.includes(true) });
  }
  return tokens;
}

const IDENT = /^([A-Za-z_][A-Za-z0-9_$]*|"([^"]|"")*")$/;
const FROM_END = /^(WHERE|GROUP|HAVING|WINDOW|ORDER|LIMIT|OFFSET|FETCH|FOR|;)$/;

/**
 * PostgreSQL 16 stopped qualifying column references at the top level of a view over a single
 * relation (it dropped the view's placeholder OLD/NEW range entries, so the rangetable has one
 * entry): 15 prints `SELECT t.a FROM ops.t`, 16 and later `SELECT a FROM ops.t`. Sublinks and
 * subqueries are qualified by both. This rewrites 15's text into the later form: when the top-level
 * FROM holds one item and no join, `<refname>.` is removed before column names outside subqueries
 * and outside the FROM item itself. Applied to PostgreSQL 15 and older only.
 */
export function unqualifySingleRelationView(def: string): string {
  const tokens = tokenize(def);
  const top = (t: Token) => t.depth === 0;
  if (tokens.some((t) => top(t) && /^(UNION|INTERSECT|EXCEPT)$/.test(t.text))) return def;
  const from = tokens.findIndex((t) => top(t) && t.text === 'FROM');
  if (from === -1) return def;
  let end = from + 1;
  while (end < tokens.length && !(top(tokens[end]!) && FROM_END.test(tokens[end]!.text))) end++;
  const item = tokens.slice(from + 1, end).filter(top);
  if (item.some((t) => t.text === ',' || t.text === 'JOIN')) return def;
  const names = item.filter((t) => IDENT.test(t.text) && t.text !== 'ONLY');
  const refname = names[names.length - 1]?.text;
  if (!refname) return def;
  const out: string[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    const next = tokens[k + 1];
    const after = tokens[k + 2];
    const strip =
      t.text === refname &&
      !t.inSubquery &&
      (k < from || k >= end) &&
      tokens[k - 1]?.text !== '.' &&
      next?.text === '.' &&
      after !== undefined &&
      IDENT.test(after.text) &&
      tokens[k + 3]?.text !== '(';
    if (strip) {
      k++; // the dot
      continue;
    }
    out.push(t.text);
  }
  return out.join('');
}

const Q = {
  schema: `
    select n.oid::int8::text as oid, quote_ident(n.nspname) as name, quote_ident(pg_get_userbyid(n.nspowner)) as owner,
           obj_description(n.oid, 'pg_namespace') as comment
    from pg_namespace n where n.nspname = $1`,

  // aclexplode rows for any ACL expression; grantee 0 is PUBLIC.
  aclColumns: `
    case when x.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(x.grantee)) end as grantee,
    x.privilege_type as privilege, x.is_grantable as grantable`,

  extensions: `
    select quote_ident(e.extname) as name, quote_ident(n.nspname) as schema
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace
    order by e.extname collate "C"`,

  defaultAcl: `
    select case when d.defaclnamespace = 0 then null else quote_ident(n.nspname) end as schema,
           quote_ident(pg_get_userbyid(d.defaclrole)) as role, d.defaclobjtype as objtype,
           case when x.grantee = 0 then 'public' else quote_ident(pg_get_userbyid(x.grantee)) end as grantee,
           x.privilege_type as privilege, x.is_grantable as grantable
    from pg_default_acl d
    left join pg_namespace n on n.oid = d.defaclnamespace
    cross join lateral aclexplode(d.defaclacl) x
    where d.defaclnamespace = 0 or n.nspname = $1`,
};

/** An object in the schema, or a public one named <schema>_*, and not part of an extension. */
function inScope(nsCol: string, nameCol: string, catalog: string, oidCol: string): string {
  return `(${nsCol} = $1 or (${nsCol} = 'public' and left(${nameCol}, length($1) + 1) = $1 || '_'))
    and not exists (select 1 from pg_depend dep where dep.classid = '${catalog}'::regclass
                    and dep.objid = ${oidCol} and dep.deptype = 'e')`;
}

interface TypeRow {
  oid: string;
  qname: string;
  typtype: string;
  owner: string;
  comment: string | null;
  explicit_acl: boolean;
  base: string | null;
  notnull: boolean;
  default: string | null;
  range_subtype: string | null;
  relid: string;
}

interface RelRow {
  oid: string;
  qname: string;
  relkind: string;
  rls: boolean;
  force_rls: boolean;
  options: string[] | null;
  unlogged: boolean;
  owner: string;
  comment: string | null;
  partkey: string | null;
  partbound: string | null;
  parent: string | null;
  viewdef: string | null;
  acl_kind: string;
}

interface ColumnRow {
  relid: string;
  name: string;
  type: string;
  notnull: boolean;
  default: string | null;
  identity: string;
  generated: string;
  collation: string | null;
  comment: string | null;
  /** Per-column planner options (attoptions, e.g. n_distinct), as `name=value, ...`; null when none. */
  options: string | null;
}

interface FunctionRow {
  oid: string;
  signature: string;
  prokind: string;
  owner: string;
  comment: string | null;
  def: string | null;
  args: string;
  result: string | null;
}

/**
 * Describes `schema` (default `ops`) and the public.<schema>_* types as deterministic text. The
 * client's search_path is changed while describing and restored afterwards.
 */
export async function describeSchema(client: pg.ClientBase, schema = 'ops'): Promise<string> {
  const saved = (await client.query<{ v: string }>(`select current_setting('search_path') as v`)).rows[0]!.v;
  await client.query(`select set_config('search_path', 'pg_catalog', false)`);
  try {
    return await describe(client, schema);
  } finally {
    await client.query(`select set_config('search_path', $1, false)`, [saved]);
  }
}

async function describe(client: pg.ClientBase, schema: string): Promise<string> {
  const q = async <T>(sql: string, params: unknown[] = [schema]): Promise<T[]> =>
    (await client.query(sql, params)).rows as T[];
  const out: string[] = [];
  const section = (title: string) => out.push('', `-- ${'='.repeat(94)}`, `-- ${title}`, '');

  const version = Number(
    (await q<{ v: string }>(`select current_setting('server_version_num') as v`, []))[0]!.v,
  );
  const [ns] = await q<{ oid: string; name: string; owner: string; comment: string | null }>(Q.schema);
  if (!ns) return `-- schema ${schema} does not exist\n`;
  const schemaOwner = ns.owner;
  const ownerLine = (kind: string, name: string, owner: string) =>
    owner === schemaOwner ? [] : [`alter ${kind} ${name} owner to ${owner};`];
  const commentLine = (kind: string, name: string, comment: string | null) =>
    comment === null ? [] : [`comment on ${kind} ${name} is ${literal(comment)};`];

  // Schema, its grants and default privileges; extensions.
  section(`schema ${ns.name}`);
  out.push(`create schema ${ns.name};`);
  out.push(...commentLine('schema', ns.name, ns.comment));
  const schemaAcl = await q<Acl>(
    `select ${Q.aclColumns} from pg_namespace n cross join lateral aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x
     where n.nspname = $1`,
  );
  out.push(...grantLines(schemaAcl, `schema ${ns.name}`, schemaOwner, 'n'));

  const defacl = await q<{ schema: string | null; role: string; objtype: string } & Acl>(Q.defaultAcl);
  const defaclGroups = groupBy(defacl, (d) => `${d.schema ?? ''}\u0000${d.role}\u0000${d.objtype}`);
  for (const key of [...defaclGroups.keys()].sort(cmp)) {
    const rows = defaclGroups.get(key)!;
    const { schema: s, role, objtype } = rows[0]!;
    const who = role === schemaOwner ? '' : ` for role ${role}`;
    const where = s === null ? '' : ` in schema ${s}`;
    const ownerKind = objtype === 'S' ? 's' : objtype;
    for (const line of grantLines(rows, DEFACL_OBJECT[objtype] ?? objtype, role, ownerKind)) {
      out.push(`alter default privileges${who}${where} ${line}`);
    }
  }

  const extensions = await q<{ name: string; schema: string }>(Q.extensions, []);
  if (extensions.length > 0) out.push('');
  for (const e of extensions) out.push(`create extension ${e.name} with schema ${e.schema};`);

  // Types.
  const types = await q<TypeRow>(
    `select t.oid::int8::text as oid, format_type(t.oid, null) as qname, t.typtype,
            quote_ident(pg_get_userbyid(t.typowner)) as owner, obj_description(t.oid, 'pg_type') as comment,
            t.typacl is not null as explicit_acl,
            case when t.typtype = 'd' then format_type(t.typbasetype, t.typtypmod) end as base,
            t.typnotnull as notnull, t.typdefault as default,
            (select format_type(r.rngsubtype, null) from pg_range r where r.rngtypid = t.oid) as range_subtype,
            t.typrelid::int8::text as relid
     from pg_type t join pg_namespace n on n.oid = t.typnamespace
     where ${inScope('n.nspname', 't.typname', 'pg_type', 't.oid')}
       and (t.typtype in ('e', 'd', 'r')
            or (t.typtype = 'c' and (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c'))
     order by format_type(t.oid, null) collate "C"`,
  );
  if (types.length > 0) section('types');
  const typeOids = types.map((t) => t.oid);
  const labels = groupBy(
    await q<{ typid: string; label: string }>(
      `select enumtypid::int8::text as typid, enumlabel as label from pg_enum
       where enumtypid = any($1::oid[]) order by enumtypid, enumsortorder`,
      [typeOids],
    ),
    (r) => r.typid,
  );
  const domainChecks = groupBy(
    await q<{ typid: string; name: string; def: string }>(
      `select contypid::int8::text as typid, quote_ident(conname) as name, pg_get_constraintdef(oid) as def
       from pg_constraint where contypid = any($1::oid[]) and contype = 'c' order by conname collate "C"`,
      [typeOids],
    ),
    (r) => r.typid,
  );
  const compositeAttrs = groupBy(
    await q<{ relid: string; name: string; type: string }>(
      `select a.attrelid::int8::text as relid, quote_ident(a.attname) as name,
              format_type(a.atttypid, a.atttypmod) as type
       from pg_attribute a where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
       order by a.attrelid, a.attnum`,
      [types.map((t) => t.relid)],
    ),
    (r) => r.relid,
  );
  const typeAcl = groupBy(
    await q<Acl & { typid: string }>(
      `select t.oid::int8::text as typid, ${Q.aclColumns}
       from pg_type t cross join lateral aclexplode(t.typacl) x where t.oid = any($1::oid[])`,
      [typeOids],
    ),
    (r) => r.typid,
  );
  for (const t of types) {
    if (t.typtype === 'e') {
      const list = (labels.get(t.oid) ?? []).map((l) => literal(l.label));
      out.push(`create type ${t.qname} as enum (${list.join(', ')});`);
    } else if (t.typtype === 'd') {
      let line = `create domain ${t.qname} as ${t.base}`;
      if (t.default !== null) line += ` default ${t.default}`;
      if (t.notnull) line += ' not null';
      for (const c of domainChecks.get(t.oid) ?? []) line += `\n  constraint ${c.name} ${c.def}`;
      out.push(`${line};`);
    } else if (t.typtype === 'r') {
      out.push(`create type ${t.qname} as range (subtype = ${t.range_subtype});`);
    } else {
      const attrs = (compositeAttrs.get(t.relid) ?? []).map((a) => `  ${a.name} ${a.type}`);
      out.push(`create type ${t.qname} as (\n${attrs.join(',\n')}\n);`);
    }
    out.push(...ownerLine('type', t.qname, t.owner));
    out.push(...commentLine('type', t.qname, t.comment));
    if (t.explicit_acl) out.push(...grantLines(typeAcl.get(t.oid) ?? [], `type ${t.qname}`, t.owner, 'T'));
  }

  // Relations. Identity sequences are described by their column.
  const rels = await q<RelRow>(
    `select c.oid::int8::text as oid, format('%I.%I', n.nspname, c.relname) as qname, c.relkind,
            c.relrowsecurity as rls, c.relforcerowsecurity as force_rls, c.reloptions as options,
            c.relpersistence = 'u' as unlogged, quote_ident(pg_get_userbyid(c.relowner)) as owner,
            obj_description(c.oid, 'pg_class') as comment,
            case when c.relkind = 'p' then pg_get_partkeydef(c.oid) end as partkey,
            case when c.relispartition then pg_get_expr(c.relpartbound, c.oid) end as partbound,
            (select format('%I.%I', pn.nspname, pc.relname) from pg_inherits i
               join pg_class pc on pc.oid = i.inhparent join pg_namespace pn on pn.oid = pc.relnamespace
             where i.inhrelid = c.oid order by i.inhseqno limit 1) as parent,
            case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid, true) end as viewdef,
            case when c.relkind = 'S' then 's' else 'r' end as acl_kind
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'f', 'v', 'm', 'S')
       and ${inScope('n.nspname', 'c.relname', 'pg_class', 'c.oid')}
       and not (c.relkind = 'S' and exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                                            and d.objid = c.oid and d.deptype = 'i'))
     order by c.relname collate "C", n.nspname collate "C"`,
  );
  const relOids = rels.map((r) => r.oid);
  const columns = groupBy(
    await q<ColumnRow>(
      `select a.attrelid::int8::text as relid, quote_ident(a.attname) as name,
              format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as notnull,
              pg_get_expr(d.adbin, d.adrelid) as default, a.attidentity as identity, a.attgenerated as generated,
              case when a.attcollation <> t.typcollation
                then (select format('%I.%I', cn.nspname, co.collname) from pg_collation co
                      join pg_namespace cn on cn.oid = co.collnamespace where co.oid = a.attcollation) end as collation,
              col_description(a.attrelid, a.attnum) as comment,
              array_to_string(a.attoptions, ', ') as options
       from pg_attribute a
       join pg_type t on t.oid = a.atttypid
       left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
       where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped
       order by a.attrelid, a.attnum`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const constraints = groupBy(
    await q<{ relid: string; name: string; def: string }>(
      `select conrelid::int8::text as relid, quote_ident(conname) as name, pg_get_constraintdef(oid) as def
       from pg_constraint where conrelid = any($1::oid[]) and contype in ('c', 'f', 'p', 'u', 'x')
       order by conrelid, conname collate "C"`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const indexes = groupBy(
    await q<{ relid: string; def: string }>(
      `select i.indrelid::int8::text as relid, pg_get_indexdef(i.indexrelid) as def
       from pg_index i join pg_class c on c.oid = i.indexrelid
       where i.indrelid = any($1::oid[])
         and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid
                         and k.conrelid = i.indrelid and k.contype in ('p', 'u', 'x'))
       order by i.indrelid, c.relname collate "C"`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const triggers = groupBy(
    await q<{ relid: string; def: string; name: string; enabled: string }>(
      `select tgrelid::int8::text as relid, pg_get_triggerdef(oid) as def, quote_ident(tgname) as name,
              tgenabled as enabled from pg_trigger
       where tgrelid = any($1::oid[]) and not tgisinternal and tgparentid = 0
       order by tgrelid, tgname collate "C"`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const policies = groupBy(
    await q<{
      relid: string;
      name: string;
      permissive: boolean;
      cmd: string;
      roles: string[];
      qual: string | null;
      withcheck: string | null;
    }>(
      `select p.polrelid::int8::text as relid, quote_ident(p.polname) as name, p.polpermissive as permissive,
              p.polcmd as cmd,
              array(select case when r = 0 then 'public' else quote_ident(pg_get_userbyid(r)) end
                    from unnest(p.polroles) r)::text[] as roles,
              pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as withcheck
       from pg_policy p where p.polrelid = any($1::oid[])
       order by p.polrelid, p.polname collate "C"`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const relAcl = groupBy(
    await q<Acl & { relid: string }>(
      `select c.oid::int8::text as relid, ${Q.aclColumns}
       from pg_class c cross join lateral aclexplode(coalesce(c.relacl,
         acldefault(case when c.relkind = 'S' then 's' else 'r' end::"char", c.relowner))) x
       where c.oid = any($1::oid[])`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const columnAcl = groupBy(
    await q<Acl & { relid: string; column: string }>(
      `select a.attrelid::int8::text as relid, quote_ident(a.attname) as column, ${Q.aclColumns}
       from pg_attribute a cross join lateral aclexplode(a.attacl) x
       where a.attrelid = any($1::oid[]) and a.attnum > 0 and not a.attisdropped`,
      [relOids],
    ),
    (r) => r.relid,
  );
  const sequences = new Map(
    (
      await q<{
        relid: string;
        type: string;
        start: string;
        increment: string;
        min: string;
        max: string;
        cache: string;
        cycle: boolean;
        owned_by: string | null;
      }>(
        `select s.seqrelid::int8::text as relid, format_type(s.seqtypid, null) as type, s.seqstart::text as start,
                s.seqincrement::text as increment, s.seqmin::text as min, s.seqmax::text as max,
                s.seqcache::text as cache, s.seqcycle as cycle,
                (select format('%I.%I.%I', tn.nspname, tc.relname, ta.attname) from pg_depend d
                   join pg_class tc on tc.oid = d.refobjid join pg_namespace tn on tn.oid = tc.relnamespace
                   join pg_attribute ta on ta.attrelid = d.refobjid and ta.attnum = d.refobjsubid
                 where d.classid = 'pg_class'::regclass and d.objid = s.seqrelid and d.deptype = 'a') as owned_by
         from pg_sequence s where s.seqrelid = any($1::oid[])`,
        [relOids],
      )
    ).map((s) => [s.relid, s]),
  );

  const kinds: Array<[string, string[]]> = [
    ['sequences', ['S']],
    ['tables', ['r', 'p', 'f']],
    ['views', ['v', 'm']],
  ];
  for (const [title, relkinds] of kinds) {
    const list = rels.filter((r) => relkinds.includes(r.relkind));
    if (list.length === 0) continue;
    section(title);
    for (const r of list) {
      const word = KIND_WORD[r.relkind]!;
      const withOptions = r.options?.length ? ` with (${[...r.options].sort(cmp).join(', ')})` : '';
      if (r.relkind === 'S') {
        const s = sequences.get(r.oid)!;
        out.push(
          `create sequence ${r.qname} as ${s.type} increment by ${s.increment} minvalue ${s.min} maxvalue ${s.max}` +
            ` start with ${s.start} cache ${s.cache}${s.cycle ? ' cycle' : ''}` +
            `${s.owned_by ? ` owned by ${s.owned_by}` : ''};`,
        );
      } else if (r.relkind === 'v' || r.relkind === 'm') {
        const def = version < 160000 ? unqualifySingleRelationView(r.viewdef!) : r.viewdef!;
        out.push(`create ${word} ${r.qname}${withOptions} as`, def.replace(/\s+$/, ''));
        if (!out[out.length - 1]!.endsWith(';')) out[out.length - 1] += ';';
        for (const c of columns.get(r.oid) ?? []) {
          out.push(...commentLine('column', `${r.qname}.${c.name}`, c.comment));
        }
      } else {
        const body: string[] = [];
        for (const c of columns.get(r.oid) ?? []) {
          let line = `  ${c.name} ${c.type}`;
          if (c.collation) line += ` collate ${c.collation}`;
          if (c.identity === 'a') line += ' generated always as identity';
          else if (c.identity === 'd') line += ' generated by default as identity';
          if (c.generated === 's') line += ` generated always as (${c.default}) stored`;
          else if (c.default !== null) line += ` default ${c.default}`;
          if (c.notnull) line += ' not null';
          body.push(line);
        }
        for (const k of constraints.get(r.oid) ?? []) body.push(`  constraint ${k.name} ${k.def}`);
        let head = `create ${r.unlogged ? 'unlogged ' : ''}${word} ${r.qname}`;
        let tail = '';
        if (r.partbound !== null) head += ` partition of ${r.parent}`;
        else if (r.parent !== null) tail += ` inherits (${r.parent})`;
        if (r.partbound !== null) tail += ` ${r.partbound}`;
        if (r.partkey !== null) tail += ` partition by ${r.partkey}`;
        out.push(`${head} (`, body.join(',\n'), `)${tail}${withOptions};`);
        for (const c of columns.get(r.oid) ?? []) {
          out.push(...commentLine('column', `${r.qname}.${c.name}`, c.comment));
        }
      }
      out.push(...ownerLine(word, r.qname, r.owner));
      out.push(...commentLine(word, r.qname, r.comment));
      for (const i of indexes.get(r.oid) ?? []) out.push(`${i.def};`);
      for (const t of triggers.get(r.oid) ?? []) {
        out.push(`${t.def};`);
        // Fired in every session_replication_role (A), only in replica sessions (R), or never (D).
        const state = TRIGGER_STATE[t.enabled];
        if (state) out.push(`alter table ${r.qname} ${state} trigger ${t.name};`);
      }
      for (const c of columns.get(r.oid) ?? [])
        if (c.options) out.push(`alter table ${r.qname} alter column ${c.name} set (${c.options});`);
      if (r.rls) out.push(`alter table ${r.qname} enable row level security;`);
      if (r.force_rls) out.push(`alter table ${r.qname} force row level security;`);
      for (const p of policies.get(r.oid) ?? []) {
        let line = `create policy ${p.name} on ${r.qname}`;
        if (!p.permissive) line += ' as restrictive';
        line += ` for ${POLICY_COMMAND[p.cmd] ?? p.cmd} to ${[...p.roles].sort(cmp).join(', ')}`;
        if (p.qual !== null) line += ` using (${p.qual})`;
        if (p.withcheck !== null) line += ` with check (${p.withcheck})`;
        out.push(`${line};`);
      }
      out.push(
        ...grantLines(
          relAcl.get(r.oid) ?? [],
          `${word === 'sequence' ? 'sequence' : 'table'} ${r.qname}`,
          r.owner,
          r.acl_kind,
        ),
      );
      const colGrants = groupBy(columnAcl.get(r.oid) ?? [], (a) => a.column);
      for (const col of [...colGrants.keys()].sort(cmp)) {
        for (const line of grantLines(colGrants.get(col)!, `${r.qname}`, null, null)) {
          // grant <privs> on ops.t to r  ->  grant <privs> (col) on ops.t to r
          out.push(line.replace(/^grant (.+?) on /, `grant $1 (${col}) on `));
        }
      }
      out.push('');
    }
  }

  // Functions and procedures.
  const functions = await q<FunctionRow>(
    `select p.oid::int8::text as oid,
            format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as signature,
            p.prokind, quote_ident(pg_get_userbyid(p.proowner)) as owner,
            obj_description(p.oid, 'pg_proc') as comment,
            case when p.prokind <> 'a' then pg_get_functiondef(p.oid) end as def,
            pg_get_function_arguments(p.oid) as args, pg_get_function_result(p.oid) as result
     from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where ${inScope('n.nspname', 'p.proname', 'pg_proc', 'p.oid')}
       -- Not the constructors a range type makes for itself.
       and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                       and d.deptype = 'i')`,
  );
  functions.sort(byKey((f) => f.signature));
  const functionAcl = groupBy(
    await q<Acl & { fid: string }>(
      `select p.oid::int8::text as fid, ${Q.aclColumns}
       from pg_proc p cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
       where p.oid = any($1::oid[])`,
      [functions.map((f) => f.oid)],
    ),
    (r) => r.fid,
  );
  if (functions.length > 0) section('functions');
  for (const f of functions) {
    const word = f.prokind === 'p' ? 'procedure' : f.prokind === 'a' ? 'aggregate' : 'function';
    if (f.def !== null) out.push(`${f.def.replace(/\s+$/, '')};`);
    else out.push(`-- aggregate ${f.signature} returns ${f.result}`);
    out.push(...ownerLine(word, f.signature, f.owner));
    out.push(...commentLine(word, f.signature, f.comment));
    out.push(...grantLines(functionAcl.get(f.oid) ?? [], `${word} ${f.signature}`, f.owner, 'f'));
    out.push('');
  }

  return `${out
    .join('\n')
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim()}\n`;
}

export const SCHEMA_FILE_HEADER = [
  '-- Generated by `npm run db:schema` from supabase/migrations: do not edit. test/db/drift.test.ts fails',
  '-- when it no longer matches what the migrations build. A description read from the catalogs, sorted',
  '-- by name (not dependency order): for review, not for execution.',
].join('\n');

/** The content of supabase/schema.sql for a description. */
export function renderSchemaFile(description: string): string {
  return `${SCHEMA_FILE_HEADER}\n\n${description}`;
}

/** The description inside supabase/schema.sql (its header removed). */
export function schemaFileDescription(content: string): string {
  const body = content.startsWith(SCHEMA_FILE_HEADER) ? content.slice(SCHEMA_FILE_HEADER.length) : content;
  return body.replace(/^\n+/, '');
}
