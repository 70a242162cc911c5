// docs/rules.md names, for each governance rule, the table, function or trigger that holds it. Every
// name it gives exists in a freshly migrated database, so the map cannot point at something a later
// migration renamed or dropped.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

interface RuleMapNames {
  functions: string[];
  relations: string[];
  triggers: { name: string; table: string }[];
}

/** The names the map gives, by the notation it states: `ops.f()`, `ops.t`, `trigger n on ops.t`. */
function ruleMapNames(text: string): RuleMapNames {
  const functions = new Set<string>();
  const relations = new Set<string>();
  const triggers = new Map<string, { name: string; table: string }>();
  for (const [, code] of text.matchAll(/`([^`]+)`/g)) {
    const fn = /^ops\.(\w+)\(\)$/.exec(code!);
    const rel = /^ops\.(\w+)$/.exec(code!);
    const trg = /^trigger (\w+) on ops\.(\w+)$/.exec(code!);
    if (fn) functions.add(fn[1]!);
    else if (rel) relations.add(rel[1]!);
    else if (trg) triggers.set(`${trg[2]}.${trg[1]}`, { name: trg[1]!, table: trg[2]! });
  }
  return { functions: [...functions], relations: [...relations], triggers: [...triggers.values()] };
}

const mapText = readFileSync(path.join(projectRoot, 'docs/rules.md'), 'utf8');

describe('docs/rules.md', () => {
  it('is linked from the README', () => {
    expect(readFileSync(path.join(projectRoot, 'README.md'), 'utf8')).toContain('docs/rules.md');
  });

  it('reads the notation it states', () => {
    const names = ruleMapNames('`ops.a()` and `ops.b`, `trigger c on ops.d`, `ops.a()` again, `not.this`');
    expect(names).toEqual({ functions: ['a'], relations: ['b'], triggers: [{ name: 'c', table: 'd' }] });
  });

  it('names only functions, tables, views and triggers that exist', async () => {
    const names = ruleMapNames(mapText);
    expect(names.functions.length).toBeGreaterThan(20);
    expect(names.relations.length).toBeGreaterThan(10);
    expect(names.triggers.length).toBeGreaterThan(15);
    const { rows: fns } = await db.admin.query<{ name: string }>(
      `select distinct p.proname as name from pg_proc p where p.pronamespace = 'ops'::regnamespace
       and p.proname = any ($1)`,
      [names.functions],
    );
    const { rows: rels } = await db.admin.query<{ name: string }>(
      `select c.relname as name from pg_class c where c.relnamespace = 'ops'::regnamespace
       and c.relkind in ('r', 'v', 'p') and c.relname = any ($1)`,
      [names.relations],
    );
    const { rows: trgs } = await db.admin.query<{ name: string; table: string }>(
      `select t.tgname as name, c.relname as table from pg_trigger t join pg_class c on c.oid = t.tgrelid
       where c.relnamespace = 'ops'::regnamespace and not t.tgisinternal`,
    );
    const missing = [
      ...names.functions.filter((f) => !fns.some((r) => r.name === f)).map((f) => `function ops.${f}()`),
      ...names.relations.filter((t) => !rels.some((r) => r.name === t)).map((t) => `table or view ops.${t}`),
      ...names.triggers
        .filter((t) => !trgs.some((r) => r.name === t.name && r.table === t.table))
        .map((t) => `trigger ${t.name} on ops.${t.table}`),
    ];
    expect(missing).toEqual([]);
  });

  it('names every function of the gate rule', async () => {
    // The parts of ops.compute_release_gates: a part added to the rule is added to the map.
    const { rows } = await db.admin.query<{ name: string }>(
      `select distinct p.proname as name from pg_proc p where p.pronamespace = 'ops'::regnamespace
       and p.proname like 'gate\\_%\\_findings' order by 1`,
    );
    // Checks, deployment, evidence, approvals and exceptions (the empty timing hook is gone: 20261204150100).
    expect(rows.length).toBeGreaterThanOrEqual(5);
    const { functions } = ruleMapNames(mapText);
    expect(rows.map((r) => r.name).filter((n) => !functions.includes(n))).toEqual([]);
  });
});
