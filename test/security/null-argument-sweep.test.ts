// Every function a persona may execute, found in the catalog (so a function granted later is swept
// too), called through the raw SQL door with NULL in each argument position in turn, and with ''
// in each text position, the other arguments real (a release blocked everywhere, its gate, an
// exception, an approval request, a freeze window active now, the ledger's checkpoint). Each call
// is its own rolled-back transaction as the persona.
//
// A question (eligibility, blockers, timing, freeze, "may I see", exception standing, ledger
// verification, evidence) must never answer the permissive way for a missing or empty argument:
// the permissive answer of each is listed below, reviewed. A call that is no question must write
// nothing unless the argument is listed as optional for it (a write assigns the transaction an id,
// which the sweep reads before rolling back). A function in none of the lists fails the sweep
// until it is classified.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import { createRelease, type Release, requestException, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

type Rows = Record<string, unknown>[];

/** The first column of the first row. */
const first = (rows: Rows): unknown => (rows[0] ? Object.values(rows[0])[0] : undefined);

/** Each question function and what its permissive answer looks like. */
const QUESTIONS: Record<string, (rows: Rows) => boolean> = {
  'ops.is_eligible_for_promotion(uuid,text)': (r) => first(r) === true,
  'ops.promotion_blockers(uuid)': (r) => r.length === 0,
  'ops.promotion_blockers(uuid,text)': (r) => r.length === 0,
  'ops.release_timing_status(uuid)': (r) => r.length === 0,
  'ops.freeze_windows_active(timestamp with time zone)': (r) => r.length === 0,
  'ops.freeze_occurrences(ops.freeze_windows,timestamp with time zone,timestamp with time zone)': (r) =>
    r.length === 0,
  'ops.freeze_occurrences_asked(uuid,timestamp with time zone,timestamp with time zone)': (r) =>
    first(r) === true,
  'ops.exception_is_active(ops.exceptions)': (r) => first(r) === true,
  'ops.exception_is_active_at(ops.exceptions,timestamp with time zone)': (r) => first(r) === true,
  'ops.exception_state(ops.exceptions)': (r) => first(r) === 'active',
  'ops.exception_standing(ops.exceptions)': (r) => r[0]?.state === 'active',
  'ops.exception_time_left(ops.exceptions)': (r) => first(r) != null,
  'ops.approval_request_state(ops.timing_approval_requests)': (r) => first(r) === 'decided',
  'ops.outbox_event_visible(text,uuid)': (r) => first(r) === true,
  // The exception gates' shape check (20261207000000): a missing or empty list is never "plain".
  'ops.gate_list_is_plain(ops_gate_code[])': (r) => first(r) === true,
  'ops.owns_gate(uuid)': (r) => first(r) === true,
  'ops.owns_release(uuid)': (r) => first(r) === true,
  'ops.verify_ledger(uuid)': (r) => (first(r) as { ok?: boolean } | null)?.ok === true,
  'ops.verify_ledger()': (r) => (first(r) as { ok?: boolean } | null)?.ok === true,
  'ops.compare_ledger_checkpoint(jsonb)': (r) => (first(r) as { ok?: boolean } | null)?.ok === true,
  'ops.release_attestation(uuid,text)': (r) =>
    JSON.stringify(first(r) ?? null).includes('"verificationResult":"PASSED"'),
  'ops.gate_evidence(uuid)': (r) => r.length === 0,
  'ops.release_gate_evidence(uuid,integer[])': (r) => r.length === 0,
  'ops.release_gate_evidence_up_to(uuid,integer[],integer)': (r) => r.length === 0,
};

/** Functions that are no question: readers and writers. Listed so that a new one is reviewed. */
const OTHERS = new Set([
  'ops.add_freeze_window(text,text,text,timestamp with time zone,timestamp with time zone,text,text,integer,time without time zone,integer,time without time zone)',
  'ops.add_webhook(text,text[],text,text,text)',
  'ops.approve_exception(uuid,text)',
  'ops.attach_evidence(uuid,ops_artifact_type,text,ops_gate_code,text,text,jsonb,uuid,uuid)',
  'ops.caller_identity()',
  'ops.caller_stamp()',
  'ops.counted_revisions(uuid)',
  'ops.create_release(text,text,text,text,jsonb,text)',
  'ops.current_actor()',
  'ops.current_claims()',
  'ops.current_persona()',
  'ops.end_freeze_window(uuid,text)',
  'ops.ingest_event(jsonb)',
  'ops.install_policy_pack(text,text)',
  'ops.iso_utc(timestamp with time zone)',
  'ops.ledger_anchor(uuid)',
  'ops.ledger_checkpoint()',
  'ops.parse_instant(text,text)',
  'ops.promote_release(uuid,text,text)',
  'ops.record_check(uuid,ops_gate_code,text,ops_check_status,ops_check_source,boolean,text,jsonb)',
  'ops.record_deployment(uuid,text,ops_deployment_status,text,uuid,timestamp with time zone)',
  'ops.record_health_check(uuid,ops_check_status,text,text,text,ops_check_source,jsonb)',
  'ops.record_incident(uuid,ops_incident_severity,text,timestamp with time zone,timestamp with time zone,jsonb,ops_postmortem_status)',
  'ops.record_recovery_drill(text,text,ops_drill_outcome,boolean,timestamp with time zone,uuid)',
  'ops.record_rejected_ingest(jsonb,integer,jsonb)',
  'ops.record_release_scope(uuid,text,jsonb)',
  'ops.release_approval_requests(uuid)',
  'ops.release_evidence(uuid)',
  'ops.release_evidence_bundle(uuid)',
  'ops.release_timeline(uuid)',
  'ops.remove_webhook(uuid)',
  'ops.request_approval(uuid,ops_gate_code,text)',
  'ops.request_exception(uuid,ops_exception_type,ops_gate_code[],text,text,timestamp with time zone,timestamp with time zone,jsonb)',
  'ops.review_exception(uuid,ops_post_review_status)',
  'ops.revise_release(uuid,text,text,text)',
  'ops.set_deadline_policy(ops_gate_code,interval,text,text)',
  'ops.set_soak_policy(text,text,interval,text)',
  'ops.submit_approval(uuid,ops_approval_decision,ops_gate_code,text,jsonb,uuid)',
  'ops.update_deployment(uuid,ops_deployment_status)',
]);

/**
 * Arguments without a declared default that a call may still take as NULL (or '') and write: the
 * ingest records the refused envelope itself (status rejected). An argument with a declared
 * default (read from the catalog) is optional: NULL stands for its default (record_check's
 * p_required and p_metadata, create_release's p_scope_metadata coalesce to theirs).
 */
const OPTIONAL = new Set(['ops.ingest_event(jsonb) p_envelope']);

let db: TestDatabase;
let release: Release;
/** SQL expressions for an argument, by argument name, then by type. */
let byName: Record<string, string>;
let byType: Record<string, string>;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  const exception = await requestException(db, release.release_id, ['G2']);
  await db.as('developer', who.dev, (c) =>
    c.query(`select ops.request_approval($1, 'G2', 'please test')`, [release.release_id]),
  );
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.add_freeze_window(p_name => 'sweep freeze', p_environment => 'production',
               p_reason => 'quarter-end close', p_starts_at => now() - interval '1 minute',
               p_ends_at => now() + interval '1 hour')`),
  );
  const lit = async (sql: string, params: unknown[] = []) => {
    const { rows } = await db.admin.query<{ v: string }>(sql, params);
    expect(rows[0]?.v, sql).toBeTruthy();
    return pgText(rows[0]!.v);
  };
  const gate = await lit(
    `select gate_id::text as v from ops.release_gates where release_id = $1 and gate_code = 'G2'`,
    [release.release_id],
  );
  byName = {
    p_release_id: `${pgText(release.release_id)}::uuid`,
    p_gate_id: `${gate}::uuid`,
    p_exception_id: `${pgText(exception.exception_id)}::uuid`,
    p_source_table: `'releases'`,
    p_source_id: `${pgText(release.release_id)}::uuid`,
    p_target_env: `'production'`,
    p_environment: `'production'`,
    p_from: `now() - interval '1 hour'`,
    p_until: `now() + interval '1 hour'`,
    p_revisions: `'{1}'::integer[]`,
    p_window_id: `(select window_id from ops.freeze_windows where name = 'sweep freeze')`,
    p_checkpoint: `${await lit('select ops.ledger_checkpoint()::text as v')}::jsonb`,
    p_project: `'odoo-core'`,
    p_release_name: `'sweep-' || gen_random_uuid()`,
    p_name: `'sweep-' || gen_random_uuid()`,
    p_check_name: `'sweep-check'`,
    p_source_ref: `'refs/heads/main'`,
    p_artifact_digest: `'sha256:${'a'.repeat(64)}'`,
    p_sha256: `'${'a'.repeat(64)}'`,
    p_artifact_url: `'https://example.com/artifact'`,
    p_url: `'https://example.com/hook'`,
    p_reason: `'sweep reason'`,
    p_risk_statement: `'low'`,
    p_rationale: `'sweep rationale'`,
    p_rationale_text: `'sweep rationale'`,
    p_note: `'sweep note'`,
    p_key: `'sweep.key'`,
    p_value: `'"v"'::jsonb`,
    p_starts_at: 'now()',
    p_ends_at: `now() + interval '1 hour'`,
    p_effective_from: 'now()',
    p_expires_at: `now() + interval '1 day'`,
    p_deployed_at: `now() - interval '1 minute'`,
    p_executed_at: `now() - interval '1 minute'`,
    p_from_env: `'staging'`,
    p_to_env: `'production'`,
    p_drill_type: `'restore'`,
    p_http_status: '400',
    p_error: `'{"error":"invalid_json","message":"sweep"}'::jsonb`,
    p_time_zone: 'null::text',
  };
  byType = {
    'ops.exceptions': `${await lit('select x::text as v from ops.exceptions x where exception_id = $1', [exception.exception_id])}::ops.exceptions`,
    'ops.freeze_windows': `${await lit(`select x::text as v from ops.freeze_windows x where name = 'sweep freeze'`)}::ops.freeze_windows`,
    'ops.timing_approval_requests': `${await lit('select x::text as v from ops.timing_approval_requests x where release_id = $1', [release.release_id])}::ops.timing_approval_requests`,
    uuid: `${pgText(release.release_id)}::uuid`,
    text: `'x'`,
    integer: '1',
    'timestamp with time zone': 'now()',
    jsonb: `'{}'::jsonb`,
    boolean: 'true',
    interval: `interval '1 hour'`,
    ops_approval_decision: `'approved'`,
    ops_artifact_type: `'test_result'`,
    ops_check_source: `'github_actions'`,
    ops_check_status: `'pass'`,
    ops_deployment_status: `'in_progress'`,
    ops_drill_outcome: `'success'`,
    ops_exception_type: `'gate_bypass'`,
    ops_gate_code: `'G2'`,
    'ops_gate_code[]': `'{G2}'`,
    ops_incident_severity: `'sev3'`,
    ops_post_review_status: `'complete'`,
    ops_postmortem_status: `'pending'`,
  };
}, 120_000);

/** A SQL string literal. */
function pgText(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

interface Fn {
  name: string;
  proc: string;
  kind: string;
  types: string[];
  names: string[];
  defaulted: string[];
}

/** Every function in ops the persona may execute, with its argument types and names. */
async function executable(persona: Persona): Promise<Fn[]> {
  const { rows } = await db.admin.query<Fn>(
    `select p.oid::regprocedure::text as name, p.oid::regproc::text as proc, p.prokind::text as kind,
            coalesce((select array_agg(format_type(t, null) order by i)
                      from unnest(p.proargtypes) with ordinality a(t, i)), '{}') as types,
            coalesce(p.proargnames[1:p.pronargs], '{}') as names,
            coalesce(p.proargnames[p.pronargs - p.pronargdefaults + 1:p.pronargs], '{}') as defaulted
     from pg_proc p
     where p.pronamespace = 'ops'::regnamespace
       and p.prorettype <> 'trigger'::regtype
       and p.prokind in ('f', 'p')
       and has_function_privilege($1, p.oid, 'execute')
     order by 1`,
    [persona],
  );
  return rows;
}

/** The real argument for a position: by name, else by type, else NULL of its type. */
function realArg(f: Fn, i: number): string {
  const name = f.names[i] ?? '';
  const type = f.types[i]!;
  const value = byName[name] ?? byType[type];
  return value === undefined ? `null::${type}` : `(${value})::${type}`;
}

/** Each call: NULL in each position, and '' in each text position, the others real. */
function calls(f: Fn): { arg: string; what: string; sql: string }[] {
  const out: { arg: string; what: string; sql: string }[] = [];
  const make = (i: number, value: string) => {
    const args = f.types.map((_t, j) => (j === i ? value : realArg(f, j)));
    return `${f.kind === 'p' ? 'call' : 'select * from'} ${f.proc}(${args.join(', ')})`;
  };
  f.types.forEach((type, i) => {
    const arg = f.names[i] ?? `$${i + 1}`;
    out.push({ arg, what: 'NULL', sql: make(i, `null::${type}`) });
    if (type === 'text') out.push({ arg, what: "''", sql: make(i, `''`) });
  });
  return out;
}

/** One call in its own transaction as the persona: its rows or its SQLSTATE, and whether it wrote. */
async function call(
  c: pg.ClientBase,
  persona: Persona,
  sql: string,
): Promise<{ rows: Rows | null; code: string | null; wrote: boolean }> {
  await c.query('begin');
  try {
    await c.query(`select set_config('role', $1, true), set_config('request.jwt.claims', $2, true)`, [
      persona,
      // The developer is the release's own (its initiator), so it reads the release as the others do.
      JSON.stringify({ sub: persona === 'developer' ? who.dev : `sweep-${persona}`, role: persona }),
    ]);
    await c.query('savepoint s');
    let rows: Rows | null = null;
    let code: string | null = null;
    try {
      rows = (await c.query(sql)).rows;
    } catch (err) {
      code = (err as { code?: string }).code ?? 'error';
      await c.query('rollback to savepoint s');
    }
    const { rows: x } = await c.query('select pg_current_xact_id_if_assigned() is not null as wrote');
    return { rows, code, wrote: Boolean(x[0]?.wrote) && rows !== null };
  } finally {
    await c.query('rollback');
  }
}

describe('NULL and empty arguments through every function a persona may execute', () => {
  it('the real arguments make the questions meaningful: a release blocked everywhere, a freeze active now', async () => {
    const c = await db.api.connect();
    try {
      const ask = async (sql: string) => (await call(c, 'release_manager', sql)).rows;
      expect(
        first((await ask(`select ops.is_eligible_for_promotion(${byName.p_release_id}, 'production')`))!),
      ).toBe(false);
      expect((await ask(`select * from ops.freeze_windows_active(null)`))!.length).toBeGreaterThan(0);
      // The developer sweeps its own release: it reads it, and it is blocked for it too.
      const dev = async (sql: string) => first((await call(c, 'developer', sql)).rows!);
      expect(await dev(`select ops.owns_release(${byName.p_release_id})`)).toBe(true);
      expect(await dev(`select ops.is_eligible_for_promotion(${byName.p_release_id}, 'staging')`)).toBe(
        false,
      );
      expect(
        (await ask(
          `select * from ops.freeze_occurrences(${byType['ops.freeze_windows']}, ${byName.p_from}, ${byName.p_until})`,
        ))!.length,
      ).toBeGreaterThan(0);
      expect((await ask(`select * from ops.gate_evidence(${byName.p_gate_id})`))!.length).toBeGreaterThan(0);
      expect(
        (await ask(`select * from ops.release_timing_status(${byName.p_release_id})`))!.length,
      ).toBeGreaterThan(0);
    } finally {
      c.release();
    }
  });

  it.each(PERSONAS.map((p) => [p] as const))(
    '%s: no question answers permissively, and nothing is written for an argument that is not optional',
    async (persona) => {
      const fns = await executable(persona);
      expect(fns.length).toBeGreaterThan(5);
      const unclassified = fns.map((f) => f.name).filter((n) => !(n in QUESTIONS) && !OTHERS.has(n));
      expect(unclassified, 'functions to classify in this sweep').toEqual([]);
      const wrong: string[] = [];
      const c = await db.api.connect();
      try {
        for (const f of fns) {
          for (const k of calls(f)) {
            const got = await call(c, persona, k.sql);
            const permissive = QUESTIONS[f.name];
            if (permissive && got.rows && permissive(got.rows)) {
              wrong.push(`${f.name} ${k.arg}=${k.what}: answered ${JSON.stringify(got.rows).slice(0, 160)}`);
            }
            if (got.wrote && !f.defaulted.includes(k.arg) && !OPTIONAL.has(`${f.name} ${k.arg}`)) {
              wrong.push(`${f.name} ${k.arg}=${k.what}: wrote`);
            }
          }
        }
      } finally {
        c.release();
      }
      expect(wrong).toEqual([]);
    },
    300_000,
  );
});
