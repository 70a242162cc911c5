// Every function in an exposed schema, with who may execute it, against the intended list: a
// persona executes only entry points that check the caller (persona and visibility), never an
// internal helper. And no owner-rights function can be steered through the caller's temporary
// schema: each runs with search_path = pg_catalog, pg_temp. Both read pg_proc, so a function added
// later by any migration is held to the same rules.
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

const ALL = [...PERSONAS].sort();
const READERS = ['audit_reader', 'release_manager'];

/**
 * The intended grants: function signature → the roles that may execute it. Anything not listed is
 * executable by the owner alone. Why each is safe to expose:
 * - identity readers answer only about the caller (RLS policies and column defaults need them);
 * - ops.exception_is_active and ops.exception_is_active_at read only the row (and instant) given;
 * - eligibility and every write entry point require their personas and check visibility;
 * - the report helpers are for the personas who read everything.
 */
const INTENDED: Record<string, string[]> = {
  'ops.current_claims()': ALL,
  'ops.current_actor()': ALL,
  'ops.current_persona()': ALL,
  'ops.caller_identity()': ALL,
  'ops.caller_stamp()': ALL,
  'ops.owns_release(uuid)': ALL,
  'ops.owns_gate(uuid)': ALL,
  'ops.exception_is_active(ops.exceptions)': ALL,
  'ops.exception_is_active_at(ops.exceptions,timestamp with time zone)': ALL,
  'ops.promotion_blockers(uuid)': ALL,
  'ops.promotion_blockers(uuid,text)': ALL,
  'ops.is_eligible_for_promotion(uuid,text)': ALL,
  'ops.create_release(text,text,text,text,jsonb,text)': ALL,
  'ops.record_check(uuid,ops_gate_code,text,ops_check_status,ops_check_source,boolean,text,jsonb)': ALL,
  'ops.attach_evidence(uuid,ops_artifact_type,text,ops_gate_code,text,text,jsonb,uuid,uuid)': ALL,
  'ops.submit_approval(uuid,ops_approval_decision,ops_gate_code,text,jsonb,uuid)': ALL,
  'ops.request_exception(uuid,ops_exception_type,ops_gate_code[],text,text,timestamp with time zone,timestamp with time zone,jsonb)':
    ALL,
  'ops.approve_exception(uuid,text)': ALL,
  'ops.review_exception(uuid,ops_post_review_status)': ALL,
  'ops.promote_release(uuid,text,text)': ALL,
  'ops.record_deployment(uuid,text,ops_deployment_status,text,uuid,timestamp with time zone)': ALL,
  'ops.update_deployment(uuid,ops_deployment_status)': ALL,
  'ops.record_health_check(uuid,ops_check_status,text,text,text,ops_check_source,jsonb)': ALL,
  'ops.record_incident(uuid,ops_incident_severity,text,timestamp with time zone,timestamp with time zone,jsonb,ops_postmortem_status)':
    ALL,
  'ops.record_recovery_drill(text,text,ops_drill_outcome,boolean,timestamp with time zone,uuid)': ALL,
  'ops.ingest_event(jsonb)': ALL,
  'ops.record_rejected_ingest(jsonb,integer,jsonb)': ALL,
  'ops.gate_evidence(uuid)': READERS,
  // Read only the row they are given (ops.v_exception_status calls them as its reader).
  'ops.exception_standing(ops.exceptions)': READERS,
  // A pure predicate on the list given, in the check constraint on ops.exceptions.impacted_gates:
  // the one persona that inserts into ops.exceptions directly runs it.
  'ops.gate_list_is_plain(ops_gate_code[])': ['release_manager'],
  'ops.exception_state(ops.exceptions)': READERS,
  'ops.exception_time_left(ops.exceptions)': READERS,
  // Invoker's rights, read under the caller's RLS through ops.gate_evidence.
  'ops.counted_revisions(uuid)': READERS,
  'ops.release_gate_evidence(uuid,integer[])': READERS,
  'ops.release_gate_evidence_up_to(uuid,integer[],integer)': READERS,
  'ops.release_evidence(uuid)': READERS,
  'ops.iso_utc(timestamp with time zone)': READERS,
  'ops.release_timeline(uuid)': READERS,
  'ops.release_evidence_bundle(uuid)': READERS,
  // Revisions: a release manager, or the developer who owns the release (checked inside).
  'ops.revise_release(uuid,text,text,text)': ['developer', 'release_manager'],
  // A pure parser of caller-given instants: it reads no table.
  'ops.parse_instant(text,text)': ALL,
  // Policy packs are policy: release managers only; scope notes by whoever feeds the release
  // (a developer only for its own releases, checked inside).
  'ops.install_policy_pack(text,text)': ['release_manager'],
  'ops.record_release_scope(uuid,text,jsonb)': ['ci_service_role', 'developer', 'release_manager'],
  // The ledger and the signed bundle: for the personas who read everything (a finding names rows
  // a developer may not read).
  'ops.verify_ledger()': READERS,
  'ops.verify_ledger(uuid)': READERS,
  'ops.ledger_checkpoint()': READERS,
  'ops.compare_ledger_checkpoint(jsonb)': READERS,
  'ops.ledger_anchor(uuid)': READERS,
  'ops.release_attestation(uuid,text)': READERS,
  // Who holds which persona: granted by the persona administrator only (no persona can make
  // itself or a friend a release manager); read by Supabase Auth when it issues a token.
  'ops.assign_persona(text,text,text)': ['ops_persona_admin'],
  'ops.revoke_persona(text,text)': ['ops_persona_admin'],
  'custom_access_token_hook(jsonb)': ['supabase_auth_admin'],
  // The outbox: whether the caller may read an event's fact, answered under the caller's own
  // grants and RLS (invoker's rights; the outbox_events policy calls it).
  'ops.outbox_event_visible(text,uuid)': ALL,
  // Announcing committed outbox events on the channel: the API's login alone (each instance's
  // events listener, which speaks for no persona), outside ops; the payload comes from the
  // committed row, each event is announced once.
  'ops_outbox_announce(integer)': ['authenticator'],
  // Webhook subscriptions are managed by release managers; the worker's functions (dispatch,
  // delivery target with the secret, attempt record) are the owner's alone.
  'ops.add_webhook(text,text[],text,text,text)': ['release_manager'],
  'ops.remove_webhook(uuid)': ['release_manager'],
  // Timing: the freeze calendar is for everyone (a pure function of the window row it is given, and
  // the active windows); windows are added by release managers and SREs (a freeze only makes
  // promotion harder) and ended by release managers; timing policies are release managers'.
  // Approval requests by a release manager, or the developer who owns the release (checked inside).
  // A release's requests and timing status for whoever may read the release (checked inside).
  'ops.freeze_occurrences(ops.freeze_windows,timestamp with time zone,timestamp with time zone)': ALL,
  // Its guard: refuses a NULL window or bound, reads nothing (called by the function above, as the caller).
  'ops.freeze_occurrences_asked(uuid,timestamp with time zone,timestamp with time zone)': ALL,
  'ops.freeze_windows_active(timestamp with time zone)': ALL,
  'ops.add_freeze_window(text,text,text,timestamp with time zone,timestamp with time zone,text,text,integer,time without time zone,integer,time without time zone)':
    ['release_manager', 'sre'],
  'ops.end_freeze_window(uuid,text)': ['release_manager'],
  'ops.set_soak_policy(text,text,interval,text)': ['release_manager'],
  'ops.set_deadline_policy(ops_gate_code,interval,text,text)': ['release_manager'],
  'ops.request_approval(uuid,ops_gate_code,text)': ['developer', 'release_manager'],
  'ops.release_approval_requests(uuid)': ALL,
  'ops.release_timing_status(uuid)': ALL,
  'ops.approval_request_state(ops.timing_approval_requests)': READERS,
};

interface FunctionRow {
  signature: string;
  definer: boolean;
  config: string[] | null;
  language: string;
  executors: string[];
}

/** Every function the project created in ops and public (extensions' functions aside). */
async function functions(): Promise<FunctionRow[]> {
  const { rows } = await db.admin.query<FunctionRow>(
    `select n.nspname || '.' || p.proname || '(' ||
              coalesce((select string_agg(format_type(t, null), ',' order by i)
                        from unnest(p.proargtypes) with ordinality a(t, i)), '') || ')' as signature,
            p.prosecdef as definer, p.proconfig as config, l.lanname as language,
            coalesce(array(
              select case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end
              from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
              where a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner
              order by 1), '{}') as executors
     from pg_proc p
     join pg_namespace n on n.oid = p.pronamespace
     join pg_language l on l.oid = p.prolang
     where n.nspname in ('ops', 'public')
       and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid
                       and d.deptype = 'e')
     order by 1`,
  );
  return rows.map((r) => ({ ...r, signature: r.signature.replaceAll('public.', '') }));
}

describe('functions in exposed schemas', () => {
  it('each is executable by exactly the roles intended, and by nobody else (PUBLIC, anon, authenticated)', async () => {
    const actual = Object.fromEntries((await functions()).map((f) => [f.signature, f.executors]));
    const expected = Object.fromEntries(Object.keys(actual).map((s) => [s, INTENDED[s] ?? []]));
    expect(actual).toEqual(expected);
  });

  it('every intended entry point exists (the list above is not stale)', async () => {
    const present = new Set((await functions()).map((f) => f.signature));
    expect(Object.keys(INTENDED).filter((s) => !present.has(s))).toEqual([]);
  });

  it('every owner-rights function runs with search_path = pg_catalog, pg_temp', async () => {
    const wrong = (await functions())
      .filter((f) => f.definer)
      .filter((f) => !(f.config ?? []).includes('search_path=pg_catalog, pg_temp'))
      .map((f) => `${f.signature}: ${JSON.stringify(f.config)}`);
    expect(wrong).toEqual([]);
  });

  it('a function that sets a search_path at all sets the safe one; those without are inlinable SQL helpers', async () => {
    const fns = await functions();
    const unsafe = fns
      .filter((f) =>
        (f.config ?? []).some((c) => c.startsWith('search_path=') && c !== 'search_path=pg_catalog, pg_temp'),
      )
      .map((f) => `${f.signature}: ${JSON.stringify(f.config)}`);
    expect(unsafe).toEqual([]);
    // Without a SET clause a function takes its caller's search_path: allowed only for invoker's-
    // rights SQL functions (inlined into the calling query), which owner-rights code calls with
    // its own safe search_path.
    const unset = fns
      .filter((f) => !(f.config ?? []).some((c) => c.startsWith('search_path=')))
      .filter((f) => f.definer || f.language !== 'sql')
      .map((f) => f.signature);
    expect(unset).toEqual([]);
  });

  it('a pg_temp type named like a built-in is not used by owner-rights code (the search_path at work)', async () => {
    // As a persona: shadow text and jsonb in pg_temp with domains whose CHECK records that it ran,
    // then call owner-rights entry points. The domains' CHECK must never run.
    const c = new (await import('pg')).default.Client({ connectionString: db.apiUrl });
    await c.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('role', 'developer', true)`);
      await c.query(`select set_config('request.jwt.claims', '{"sub":"dev-x","role":"developer"}', true)`);
      await c.query(`create function pg_temp.ran(v pg_catalog.text) returns boolean language plpgsql as $f$
        begin perform pg_catalog.set_config('attack.ran_as', current_user::pg_catalog.text, true); return true; end $f$`);
      await c.query('create domain pg_temp.text as pg_catalog.text check (pg_temp.ran(value))');
      await c.query(
        'create domain pg_temp.jsonb as pg_catalog.jsonb check (pg_temp.ran(value::pg_catalog.text))',
      );
      const release = await c.query(`select (ops.create_release('p', 'shadowed')).release_id as id`);
      await c.query('select ops.ingest_event($1::pg_catalog.jsonb)', [
        JSON.stringify({
          schema_version: 'v1.0',
          idempotency_key: 'k',
          event_type: 'build_complete',
          source_system: 'github_actions',
          release_id: release.rows[0].id,
          payload: { status: 'pass' },
        }),
      ]);
      const { rows } = await c.query(`select current_setting('attack.ran_as', true) as v`);
      expect(rows[0].v ?? '').toBe('');
    } finally {
      await c.query('rollback').catch(() => {});
      await c.end();
    }
  });
});
