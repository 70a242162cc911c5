// Attacks on verifying one release's ledger through indexed arms of each table's release scope
// (20261204200100): for every fact table holding a row of a release, the owner works behind the
// ledger's back in each way (a fact written with the triggers off, a fact changed, a fact
// deleted), and ops.verify_ledger(release) / ops.ledger_findings(release) must report it, and say
// what the previous definitions (20261129004000) said for that release, for a release with no
// facts, a release that does not exist and every chain. Artifacts whose scope columns are all null
// or point at two releases, the stored arms of every scope (20261205100000) against the whole
// scope, and the owner-only helpers' reach from every persona, are checked too.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import {
  activeBypass,
  createRelease,
  passAll,
  promote,
  type Release,
  recordHealthCheck,
  reviseRelease,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import { behindTriggers, previousLedgerDefinitions } from '../ledger/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

type Kind = 'unrecorded' | 'content_changed' | 'row_missing';

interface Finding {
  chain_id: string | null;
  seq: string | null;
  fact_table: string;
  row_id: string;
  kind: string;
  detail: string;
}

let db: TestDatabase;
const victims = {} as Record<Kind, Release>;
let untouched: Release;
let bare: Release;
/** Per kind: table -> the row tampered with. */
const tampered: Record<Kind, Record<string, string>> = {
  unrecorded: {},
  content_changed: {},
  row_missing: {},
};
const odd: Record<string, string> = {};
let tables: { table_name: string; pk_column: string; release_scope: string }[] = [];

async function findings(c: Pick<pg.PoolClient, 'query'>, releaseId: string | null): Promise<Finding[]> {
  const { rows } = await c.query(
    `select x.chain_id, x.seq, x.fact_table, x.row_id, x.kind, x.detail from ops.ledger_findings($1::uuid) x
     order by x.chain_id, x.seq nulls last, x.fact_table, x.row_id, x.kind`,
    [releaseId],
  );
  return rows;
}

async function report(c: Pick<pg.PoolClient, 'query'>, releaseId: string | null): Promise<unknown> {
  return (await c.query('select ops.ledger_report($1::uuid) as r', [releaseId])).rows[0].r;
}

async function populated(): Promise<Release> {
  const r = await createRelease(db);
  await reviseRelease(db, r.release_id, 'refs/heads/hotfix', 'a one-line fix');
  await db.as('release_manager', 'rm-scope', (c) =>
    c.query(`select ops.record_release_scope($1, 'modules', '["sale"]'::jsonb)`, [r.release_id]),
  );
  await passAll(db, r);
  const e = await activeBypass(db, r.release_id, ['G2']);
  const d = await promote(db, r.release_id, 'production');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  await recordHealthCheck(db, d.deployment_id, 'pass');
  await db.as('sre', who.sre, (c) =>
    c.query(`select ops.record_incident($1, 'sev3'::public.ops_incident_severity, 'a slow page')`, [
      d.deployment_id,
    ]),
  );
  await db.as('release_manager', 'rm-review', (c) =>
    c.query(`select ops.review_exception($1, 'complete'::public.ops_post_review_status)`, [e.exception_id]),
  );
  await db.as('ci_service_role', who.ci, (c) =>
    c.query('select ops.ingest_event($1::jsonb)', [
      JSON.stringify({
        schema_version: 'v1.0',
        idempotency_key: `ledger-attack/${r.release_id}`,
        source_system: 'github_actions',
        release_id: r.release_id,
        emitted_at: new Date().toISOString(),
        event_type: 'environment_event',
        payload: { environment: 'staging', kind: 'maintenance_window', minutes: 30 },
      }),
    ]),
  );
  return r;
}

/** A row of the table on the release's chain that still exists, chosen by its latest entry. */
async function rowOf(c: pg.PoolClient, table: string, pk: string, releaseId: string): Promise<string | null> {
  const { rows } = await c.query(
    `select e.row_id from ops.ledger_entries e join ops.${table} t on t.${pk} = e.row_id
     where e.chain_id = $1 and e.fact_table = $2 order by e.seq desc limit 1`,
    [releaseId, table],
  );
  return rows[0]?.row_id ?? null;
}

beforeAll(async () => {
  db = await useTestDatabase();
  victims.unrecorded = await populated();
  victims.content_changed = await populated();
  victims.row_missing = await populated();
  untouched = await populated();
  bare = await createRelease(db);
  tables = (
    await db.admin.query(
      'select table_name, pk_column, release_scope from ops.ledger_fact_tables order by table_name',
    )
  ).rows;

  await behindTriggers(db, async (c) => {
    const attempt = async (sql: string, params: unknown[]) => {
      await c.query('savepoint a');
      try {
        const { rows } = await c.query(sql, params);
        await c.query('release savepoint a');
        return rows[0] ?? null;
      } catch {
        await c.query('rollback to savepoint a');
        return null;
      }
    };
    const columns = async (table: string) =>
      (
        await c.query<{ column_name: string }>(
          `select column_name from information_schema.columns where table_schema = 'ops' and table_name = $1`,
          [table],
        )
      ).rows.map((x) => x.column_name);
    for (const t of tables) {
      const pk = t.pk_column;
      // A copy of one of the release's rows under a new key, written with the triggers off; where a
      // unique key refuses the copy, the row's own entries are removed (the same finding: a row no
      // entry records).
      const source = await rowOf(c, t.table_name, pk, victims.unrecorded.release_id);
      if (source) {
        const copy = await attempt(
          `insert into ops.${t.table_name}
           select (jsonb_populate_record(null::ops.${t.table_name},
                   to_jsonb(x) || jsonb_build_object('${pk}', gen_random_uuid()))).*
           from ops.${t.table_name} x where x.${pk} = $1 returning ${pk} as id`,
          [source],
        );
        if (copy) tampered.unrecorded[t.table_name] = copy.id;
        else {
          await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
          await c.query('delete from ops.ledger_entries where fact_table = $1 and row_id = $2', [
            t.table_name,
            source,
          ]);
          await c.query('alter table ops.ledger_entries enable always trigger ledger_entries_append_only');
          tampered.unrecorded[t.table_name] = source;
        }
      }
      // A recorded fact changed: any column whose change keeps the row valid.
      const changed = await rowOf(c, t.table_name, pk, victims.content_changed.release_id);
      if (changed) {
        const cols = await columns(t.table_name);
        const col = ['created_at', 'recorded_at', 'updated_at', 'requested_at'].find((x) => cols.includes(x));
        if (col) {
          await c.query(
            `update ops.${t.table_name} set ${col} = ${col} - interval '1 second' where ${pk} = $1`,
            [changed],
          );
          tampered.content_changed[t.table_name] = changed;
        }
      }
      // A recorded fact deleted (foreign keys do not fire with the triggers off).
      const gone = await rowOf(c, t.table_name, pk, victims.row_missing.release_id);
      if (gone) {
        await c.query(`delete from ops.${t.table_name} where ${pk} = $1`, [gone]);
        tampered.row_missing[t.table_name] = gone;
      }
    }
    // Artifacts whose scope is odd: every scope column null (if the table allows it), and one
    // belonging to two releases (by release and by another release's check).
    const otherCheck = (
      await c.query(
        `select c.check_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
         where g.release_id = $1 limit 1`,
        [untouched.release_id],
      )
    ).rows[0].check_id;
    const artifact = (rel: string | null, check: string | null, key: string) =>
      attempt(
        `insert into ops.evidence_artifacts (release_id, check_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://tamper.example/' || $3, 'mallory') returning artifact_id as id`,
        [rel, check, key],
      );
    const none = await artifact(null, null, 'nowhere');
    if (none) odd.nowhere = none.id;
    const both = await artifact(bare.release_id, otherCheck, 'two releases');
    if (both) odd.twoReleases = both.id;
    // A whole release written behind the ledger: a copy of the bare one under a new id and name,
    // with no entry and no chain.
    odd.forged = (
      await c.query(
        `insert into ops.releases
         select (jsonb_populate_record(null::ops.releases, to_jsonb(x) || jsonb_build_object(
                   'release_id', gen_random_uuid(), 'release_name', x.release_name || '-forged'))).*
         from ops.releases x where x.release_id = $1 returning release_id as id`,
        [bare.release_id],
      )
    ).rows[0].id;
  });
});

describe('one release’s ledger, tampered with in every table', () => {
  it('reports each tampered row of each table on its release', async () => {
    // The tables every populated release has rows in: each must have been tampered with.
    const core = [
      'approvals',
      'deployment_transitions',
      'deployments',
      'environment_events',
      'event_ingest_log',
      'evidence_artifacts',
      'exception_reviews',
      'exceptions',
      'gate_checks',
      'gate_transitions',
      'incidents',
      'release_gates',
      'release_revisions',
      'release_scope_changes',
      'releases',
    ];
    for (const kind of ['unrecorded', 'row_missing'] as const) {
      expect(Object.keys(tampered[kind]), kind).toEqual(expect.arrayContaining(core));
    }
    expect(Object.keys(tampered.content_changed).length).toBeGreaterThanOrEqual(core.length - 1);
    for (const kind of ['unrecorded', 'content_changed', 'row_missing'] as const) {
      const got = await findings(db.admin, victims[kind].release_id);
      for (const [table, row] of Object.entries(tampered[kind])) {
        expect(
          got.some((f) => f.fact_table === table && f.row_id === row && f.kind === kind),
          `${kind} ${table} ${row}`,
        ).toBe(true);
      }
      // And verify_ledger, as a reader calls it, is not ok.
      const r = await db.as(
        'audit_reader',
        'auditor',
        async (c) =>
          (await c.query('select ops.verify_ledger($1::uuid) as r', [victims[kind].release_id])).rows[0].r,
      );
      expect(r.ok, kind).toBe(false);
    }
  });

  it('reports a release written behind the ledger, with no chain, as unrecorded', async () => {
    const r = await db.as(
      'release_manager',
      'rm-forged',
      async (c) => (await c.query('select ops.verify_ledger($1::uuid) as r', [odd.forged])).rows[0].r,
    );
    expect(r).toMatchObject({ ok: false, chains: 0, entries: 0, head: null });
    expect(r.findings).toEqual([
      expect.objectContaining({
        fact_table: 'releases',
        row_id: odd.forged,
        kind: 'unrecorded',
        release_id: odd.forged,
      }),
    ]);
  });

  it('reports the artifact tied to two releases on the release it names directly', async () => {
    if (!odd.twoReleases) throw new Error('the artifact of two releases could not be written');
    const got = await findings(db.admin, bare.release_id);
    expect(got.some((f) => f.row_id === odd.twoReleases && f.kind === 'unrecorded')).toBe(true);
    const viaCheck = await findings(db.admin, untouched.release_id);
    expect(viaCheck.some((f) => f.row_id === odd.twoReleases && f.kind === 'unrecorded')).toBe(true);
  });

  it('says what the previous definitions said, for every release, none, a missing one and every chain', async () => {
    const targets = [
      victims.unrecorded.release_id,
      victims.content_changed.release_id,
      victims.row_missing.release_id,
      untouched.release_id,
      bare.release_id,
      odd.forged as string,
      '00000000-0000-4000-8000-000000000000',
      null,
    ];
    const current: unknown[] = [];
    for (const t of targets) current.push({ f: await findings(db.admin, t), r: await report(db.admin, t) });
    const c = await db.admin.connect();
    const previous: unknown[] = [];
    try {
      await c.query('begin');
      for (const sql of previousLedgerDefinitions()) await c.query(sql);
      for (const t of targets) previous.push({ f: await findings(c, t), r: await report(c, t) });
    } finally {
      await c.query('rollback');
      c.release();
    }
    expect(current).toEqual(previous);
    // Every chain's run reports the artifact that belongs to no release, if one could be written.
    const all = (current.at(-1) as { f: Finding[] }).f;
    if (odd.nowhere) expect(all.some((f) => f.row_id === odd.nowhere && f.kind === 'unrecorded')).toBe(true);
  });

  it('reads each table through its stored arms, whose union is what the whole scope selects', async () => {
    const { rows: stored } = await db.admin.query<{ table_name: string; arms: string[] }>(
      `select f.table_name, array_agg(a.arm order by a.arm_no) as arms
       from ops.ledger_fact_tables f join ops.ledger_release_scope_arms a using (table_name)
       group by f.table_name order by f.table_name`,
    );
    expect(stored.map((s) => s.table_name)).toEqual(tables.map((t) => t.table_name));
    expect(stored.find((s) => s.table_name === 'evidence_artifacts')?.arms).toHaveLength(4);
    for (const t of tables) {
      const a = stored.find((s) => s.table_name === t.table_name)?.arms ?? [];
      expect(a.join(' or '), t.table_name).toBe(t.release_scope);
      for (const release of [untouched.release_id, bare.release_id, victims.unrecorded.release_id]) {
        const { rows } = await db.admin.query(
          `select count(*) filter (where (${t.release_scope.replaceAll('$1', '$1::uuid')}))::int as whole,
                  count(*) filter (where ${a.map((x) => `(${x.replaceAll('$1', '$1::uuid')})`).join(' or ')})::int as arms
           from ops.${t.table_name} t where $1::uuid is not null`,
          [release],
        );
        expect(rows[0].arms, t.table_name).toBe(rows[0].whole);
      }
    }
  });

  it('no persona reaches the owner-only helpers or the gate evaluation, through any door', async () => {
    for (const persona of PERSONAS) {
      for (const fn of [
        'ops.ledger_release_scope_arms_verify(text)',
        'ops.ledger_findings(uuid)',
        'ops.ledger_report(uuid)',
        'ops.evaluate_release(uuid, text)',
      ]) {
        const { rows } = await db.admin.query('select has_function_privilege($1, $2, $3) as ok', [
          persona,
          fn,
          'execute',
        ]);
        expect(rows[0].ok, `${persona} ${fn}`).toBe(false);
      }
      await expect(
        db.as(persona, `p-${persona}`, (c) =>
          c.query(`select ops.ledger_release_scope_arms_verify('releases')`),
        ),
        persona,
      ).rejects.toMatchObject({ code: '42501' });
    }
    for (const fn of [
      'ops.ledger_release_scope_arms_verify(text)',
      'ops.ledger_findings(uuid)',
      'ops.ledger_report(uuid)',
    ]) {
      for (const role of ['authenticator', 'public']) {
        const { rows } = await db.admin.query(
          `select coalesce(bool_or(a.grantee = coalesce((select oid from pg_roles where rolname = $2), 0)), false) as granted
           from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
           where p.oid = $1::regprocedure`,
          [fn, role],
        );
        expect(rows[0].granted, `${role} ${fn}`).toBe(false);
      }
    }
  });
});
