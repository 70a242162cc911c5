// The reporting views obey RLS: each persona sees through a view exactly the rows it sees in the
// tables the view reads (a developer their own releases; the SRE deployments but no releases), and
// a persona that cannot read one of those tables cannot read the view. The grants equal
// src/auth/access.ts, and every view runs with the caller's rights.
import { beforeAll, describe, expect, it } from 'vitest';
import { REPORT_FUNCTION_CALLERS, TABLE_READERS, VIEW_READERS } from '../../src/auth/access.js';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { who } from '../governance/scenario.js';
import { attempt } from '../personas/helpers.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { buildVariedReleases, otherDeveloper, type VariedSet } from './fixtures.js';

let db: TestDatabase;
let set: VariedSet;

beforeAll(async () => {
  db = await useTestDatabase();
  set = await buildVariedReleases(db, 'rpt-rls');
  // A scheduled freeze and an approval request, so the timing views have rows to compare.
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.add_freeze_window('rls', 'production', 'rls', now() + interval '1 day',
               now() + interval '2 days', 'rpt-rls-freeze')`),
  );
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.request_approval(r.release_id, 'G2') from (select release_id from ops.releases
               order by created_at limit 1) r`),
  );
});

const sub: Record<Persona, string> = {
  ci_service_role: who.ci,
  release_manager: who.rm,
  qa_tester: who.qa,
  sre: who.sre,
  developer: who.dev,
  audit_reader: who.auditor,
};

/** For each view: the keys of its rows, and the same keys computed from the tables it reads. */
const VIEWS: Record<keyof typeof VIEW_READERS, { view: string; tables: string }> = {
  v_release_gate_summary: {
    view: 'select gate_id::text as key from ops.v_release_gate_summary',
    tables: 'select g.gate_id::text as key from ops.release_gates g join ops.releases r using (release_id)',
  },
  v_promotion_eligibility: {
    view: 'select release_id::text as key from ops.v_promotion_eligibility',
    tables: 'select release_id::text as key from ops.releases',
  },
  v_evidence_completeness: {
    view: 'select gate_id::text as key from ops.v_evidence_completeness',
    tables: 'select g.gate_id::text as key from ops.release_gates g join ops.releases r using (release_id)',
  },
  v_exception_status: {
    view: 'select exception_id::text as key from ops.v_exception_status',
    tables: 'select e.exception_id::text as key from ops.exceptions e join ops.releases r using (release_id)',
  },
  v_deployment_history: {
    view: 'select deployment_id::text as key from ops.v_deployment_history',
    tables: 'select deployment_id::text as key from ops.deployments',
  },
  v_freeze_calendar: {
    view: 'select window_id::text as key from ops.v_freeze_calendar',
    tables: 'select window_id::text as key from ops.freeze_windows',
  },
  v_approval_requests: {
    view: 'select request_id::text as key from ops.v_approval_requests',
    tables:
      'select q.request_id::text as key from ops.timing_approval_requests q join ops.releases r using (release_id)',
  },
};

async function keys(persona: Persona, sql: string) {
  const outcome = await attempt(db, persona, sub[persona], `${sql} order by 1`);
  return outcome.ok ? { ok: true as const, keys: outcome.rows.map((r) => String(r.key)) } : outcome;
}

describe.each(Object.keys(VIEWS) as (keyof typeof VIEWS)[])('%s', (view) => {
  for (const persona of PERSONAS) {
    const readers: readonly Persona[] = VIEW_READERS[view];
    if (readers.includes(persona)) {
      it(`${persona} sees exactly the rows it sees in the tables`, async () => {
        const through = await keys(persona, VIEWS[view].view);
        const direct = await keys(persona, VIEWS[view].tables);
        expect(direct.ok, 'the persona reads the tables').toBe(true);
        expect(through).toEqual(direct);
        expect((through as { keys: string[] }).keys.length).toBeGreaterThan(0);
      });
    } else {
      it(`${persona} is refused, as it is refused a table the view reads`, async () => {
        const through = await attempt(db, persona, sub[persona], VIEWS[view].view);
        expect(through).toMatchObject({
          ok: false,
          code: '42501',
          message: `permission denied for view ${view}`,
        });
        const { rows } = await db.admin.query<{ table_name: string }>(
          `select table_name from information_schema.view_table_usage
           where view_schema = 'ops' and view_name = $1
             and not has_table_privilege($2, format('ops.%I', table_name), 'SELECT')
           order by 1`,
          [view, persona],
        );
        expect(rows.length, `${persona} cannot read some table of ${view}`).toBeGreaterThan(0);
        for (const { table_name } of rows) {
          const direct = await attempt(db, persona, sub[persona], `select 1 from ops.${table_name} limit 1`);
          expect(direct).toMatchObject({ ok: false, code: '42501' });
        }
      });
    }
  }
});

describe('a developer', () => {
  it('sees only their own releases through v_promotion_eligibility, each developer their own', async () => {
    for (const developer of [who.dev, otherDeveloper]) {
      const outcome = await attempt(
        db,
        'developer',
        developer,
        'select release_id from ops.v_promotion_eligibility order by release_id',
      );
      expect(outcome.ok).toBe(true);
      const seen = outcome.ok ? outcome.rows.map((r) => String(r.release_id)) : [];
      expect(seen).toEqual([...set.byDeveloper[developer]!].sort());
    }
    expect(set.byDeveloper[otherDeveloper]!.length).toBeGreaterThan(0);
    expect(set.byDeveloper[who.dev]!.length).toBeGreaterThan(set.byDeveloper[otherDeveloper]!.length);
  });

  it('sees no release that is not theirs, even by asking for it', async () => {
    const theirs = set.byDeveloper[otherDeveloper]![0]!;
    const outcome = await attempt(
      db,
      'developer',
      who.dev,
      'select count(*)::int as n from ops.v_promotion_eligibility where release_id = $1',
      [theirs],
    );
    expect(outcome).toMatchObject({ ok: true, rows: [{ n: 0 }] });
  });
});

describe('the catalog', () => {
  it('every view in ops runs with the caller rights (security_invoker)', async () => {
    const { rows } = await db.admin.query<{ relname: string; invoker: boolean }>(
      `select c.relname, coalesce('security_invoker=true' = any (c.reloptions), false) as invoker
       from pg_class c where c.relnamespace = 'ops'::regnamespace and c.relkind = 'v' order by 1`,
    );
    expect(rows.map((r) => r.relname)).toEqual(Object.keys(VIEW_READERS).sort());
    expect(rows.filter((r) => !r.invoker)).toEqual([]);
  });

  it('VIEW_READERS: the personas with SELECT on each view', async () => {
    for (const [view, readers] of Object.entries(VIEW_READERS)) {
      const { rows } = await db.admin.query<{ persona: string }>(
        `select p as persona from unnest($1::text[]) p
         where has_table_privilege(p, format('ops.%I', $2::text), 'SELECT')`,
        [PERSONAS, view],
      );
      expect(rows.map((r) => r.persona).sort(), view).toEqual([...readers].sort());
    }
  });

  it('no persona reads a view without reading every table the view reads', async () => {
    const { rows } = await db.admin.query<{ view: string; table: string }>(
      `select view_name as view, table_name as table from information_schema.view_table_usage
       where view_schema = 'ops' and table_schema = 'ops' order by 1, 2`,
    );
    expect(rows.length).toBeGreaterThan(0);
    const tableReaders = TABLE_READERS as Record<string, readonly Persona[]>;
    for (const { view, table } of rows) {
      const readers: readonly Persona[] = VIEW_READERS[view as keyof typeof VIEW_READERS];
      const allowed = tableReaders[table];
      expect(allowed, `TABLE_READERS names ops.${table}`).toBeDefined();
      for (const persona of readers) {
        expect(allowed, `${persona} reads ops.${view}, so it must read ops.${table}`).toContain(persona);
      }
    }
  });

  it('REPORT_FUNCTION_CALLERS: the personas with EXECUTE on the timeline and the bundle', async () => {
    for (const [fn, callers] of Object.entries(REPORT_FUNCTION_CALLERS)) {
      const { rows } = await db.admin.query<{ persona: string }>(
        `select p as persona from unnest($1::text[]) p
         where has_function_privilege(p, format('ops.%I(uuid)', $2::text), 'EXECUTE')`,
        [PERSONAS, fn],
      );
      expect(rows.map((r) => r.persona).sort(), fn).toEqual([...callers].sort());
    }
  });
});
