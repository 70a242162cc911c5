-- The ingest hot path, from its profile (docs/profiling.md, bench/profile-ingest.ts):
--
-- 1. SQL-language helpers with a SET clause cannot be inlined, and their plan lives only as long as
--    the calling expression's state (one transaction at most): every event planned them again.
--    ops.context_enter (three calls an event), the ledger's two hashes (one to three calls an event
--    each) and the ingest's envelope hash and response are now PL/pgSQL, whose plans the session
--    keeps. Same statements, same results: the canonical forms of the ledger do not change.
-- 2. A gate transition's outbox event carried the blockers by calling ops.promotion_blockers, which
--    recomputed every gate of the release right after ops.evaluate_release had computed them. The
--    evaluation now leaves what it computed in the transaction's owner-only context
--    ('evaluated_gates', per release, only while it stores a change), and the outbox turns that into
--    blockers with the same rule ops.promotion_blockers uses (ops.gate_blockers, the one place it is
--    written). An evaluation that changes nothing stores nothing and writes no context at all.

-- ---------------------------------------------------------------------------------------------
-- 1. Plans kept by the session
-- ---------------------------------------------------------------------------------------------

-- Enters a context for the current transaction (ops.transaction_context). Takes its name, subject
-- and value; returns nothing. Re-entering the same name and subject replaces the value and counts
-- one more level. Called only by owner-rights functions (no persona may execute it). Raises nothing
-- of its own. Rule: 20261129001000 (state only owner-rights code writes).
create or replace function ops.context_enter(p_name text, p_subject uuid, p_value text) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into ops.transaction_context (txid, name, subject, value)
  values (pg_catalog.txid_current(), p_name, p_subject, p_value)
  on conflict (txid, name, subject)
  do update set value = excluded.value, depth = ops.transaction_context.depth + 1;
end
$$;
revoke execute on function ops.context_enter(text, uuid, text) from public;

-- Takes a fact row as jsonb; returns the sha256 (hex) of its canonical content: the text form of
-- the jsonb with null members dropped. Unchanged from 20261129004000 but for the language. Raises
-- nothing. Rule: the ledger's canonical form (20261129004000).
create or replace function ops.ledger_content_hash(p_row jsonb) returns text
language plpgsql immutable strict
set search_path = pg_catalog, pg_temp
as $$
begin
  return pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_strip_nulls(p_row)::text, 'UTF8')), 'hex');
end
$$;
revoke execute on function ops.ledger_content_hash(jsonb) from public;

-- Takes an entry's fields; returns its hash (sha256, hex) over
-- "chain_id|seq|fact_table|row_id|operation|content_hash|prev_hash". Unchanged from 20261129004000
-- but for the language. Raises nothing. Rule: the ledger's canonical form (20261129004000).
create or replace function ops.ledger_entry_hash(
  p_chain_id uuid, p_seq bigint, p_fact_table text, p_row_id uuid, p_operation text,
  p_content_hash text, p_prev_hash text
) returns text
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.concat_ws('|',
    p_chain_id::text, p_seq::text, p_fact_table, p_row_id::text, p_operation, p_content_hash, p_prev_hash), 'UTF8')), 'hex');
end
$$;
revoke execute on function ops.ledger_entry_hash(uuid, bigint, text, uuid, text, text, text) from public;

-- Takes an ingest envelope; returns the sha256 (hex) of its text form without emitted_at (a
-- resend's new timestamp is the same event). Unchanged from 20261129001200 but for the language.
-- Raises nothing.
create or replace function ops.envelope_hash(p_envelope jsonb) returns text
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to((
    case when pg_catalog.jsonb_typeof(p_envelope) = 'object' then p_envelope - 'emitted_at' else p_envelope end
  )::pg_catalog.text, 'UTF8')), 'hex');
end
$$;
revoke execute on function ops.envelope_hash(jsonb) from public;

-- Takes an ingest log row and the ingest id it answers for (the original's for a duplicate);
-- returns the ingest's answer: ingest_id, attempt_id, status, http_status and detail (the result
-- for accepted and duplicate attempts, the error otherwise). Unchanged but for the language.
-- Raises nothing.
create or replace function ops.ingest_response(p_log ops.event_ingest_log, p_ingest_id uuid) returns jsonb
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return pg_catalog.jsonb_build_object(
    'ingest_id', p_ingest_id,
    'attempt_id', p_log.ingest_id,
    'status', p_log.processing_status,
    'http_status', p_log.http_status,
    'detail', case when p_log.processing_status in ('accepted', 'duplicate') then p_log.result
                   else p_log.error_detail end);
end
$$;
revoke execute on function ops.ingest_response(ops.event_ingest_log, uuid) from public;

-- ---------------------------------------------------------------------------------------------
-- 2. Blockers from the gates the evaluation computed
-- ---------------------------------------------------------------------------------------------

-- The promotion blockers of a release given its computed gates. Takes the release and its gates
-- as a jsonb array of {gate_code, status, reasons} (what ops.compute_release_gates returns);
-- returns one row per reason a target environment is blocked: every reason of a gate that is
-- neither passed nor bypassed, for each environment requiring that gate (ops.gate_requirements),
-- and every timing blocker (freeze, soak: ops.timing_blockers at the moment of the call), ordered
-- by environment, gate (timing last) and reason. Raises nothing of its own. Internal: called by
-- ops.promotion_blockers and the outbox, never by a persona. Rule: DESIGN section 4 (promotion
-- eligibility); the one place the blockers are derived from gate results.
create function ops.gate_blockers(p_release_id uuid, p_gates jsonb)
returns table (target_env public.ops_environment, gate_code public.ops_gate_code,
               status public.ops_gate_status, reason text)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select x.target_env, x.gate_code, x.status, x.reason from (
    select q.target_env, c.gate_code, c.status, r.reason, r.n
    from pg_catalog.jsonb_to_recordset(p_gates)
           as c(gate_code public.ops_gate_code, status public.ops_gate_status, reasons text[])
    join ops.gate_requirements q on q.gate_code = c.gate_code
    cross join lateral pg_catalog.unnest(case when pg_catalog.cardinality(c.reasons) > 0 then c.reasons
                                   else array[pg_catalog.format('%s is %s', c.gate_code, c.status)] end)
      with ordinality as r(reason, n)
    where c.status not in ('passed', 'bypassed')
    union all
    select t.target_env, null::public.ops_gate_code, null::public.ops_gate_status, t.reason,
           1000 + pg_catalog.row_number() over (partition by t.target_env order by t.kind, t.until)
    from ops.timing_blockers(p_release_id, pg_catalog.clock_timestamp()) t
    ) x
    order by x.target_env, x.gate_code nulls last, x.n;
end
$$;
revoke execute on function ops.gate_blockers(uuid, jsonb) from public;

-- Takes a release the caller may read (OPS04 otherwise, as before); returns every reason each
-- target environment is blocked (ops.gate_blockers over the gates computed now). Same answer as
-- 20261130002100's version, the derivation now shared with the outbox.
create or replace function ops.promotion_blockers(p_release_id uuid)
returns table (target_env public.ops_environment, gate_code public.ops_gate_code,
               status public.ops_gate_status, reason text)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
    select b.target_env, b.gate_code, b.status, b.reason
    from ops.gate_blockers(p_release_id, (
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('gate_code', c.gate_code, 'status', c.status,
                                                                'reasons', c.reasons))
      from ops.compute_release_gates(p_release_id) c)) b;
end
$$;
revoke execute on function ops.promotion_blockers(uuid) from public;
grant execute on function ops.promotion_blockers(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Recomputes a release's four gates and stores what changed, then its derived status. Takes a
-- release id and the reason the gate transitions record (null: a generic one); returns nothing.
-- Takes the release's row lock until the transaction ends (20261130006200). The gates are computed
-- once; when any differs from what is stored, the computed gates stay in the owner-only context
-- ('evaluated_gates', the release) while they are stored, so that the outbox events of the
-- transitions take their blockers from them instead of computing the gates again. Internal
-- (triggers and governance functions call it). Rule: DESIGN section 4 (stored status follows every
-- fact).
create or replace function ops.evaluate_release(p_release_id uuid, p_reason text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  v_gates jsonb;
  v_changed boolean;
  v_actor text;
  v_status public.ops_release_status;
begin
  perform 1 from ops.releases r where r.release_id = p_release_id for no key update;
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('gate_id', x.gate_id, 'gate_code', x.gate_code,
           'status', x.status, 'reasons', x.reasons, 'exception_id', x.exception_id) order by x.ord),
         pg_catalog.bool_or(g.status is distinct from x.status or g.exception_id is distinct from x.exception_id)
    into v_gates, v_changed
  from ops.compute_release_gates(p_release_id) with ordinality as x(gate_id, gate_code, status, reasons, exception_id, ord)
  join ops.release_gates g on g.gate_id = x.gate_id;
  if coalesce(v_changed, false) then
    v_actor := ops.current_actor();
    perform ops.context_enter('evaluating', p_release_id,
      coalesce(p_reason, 'recomputed from the gate''s checks, evidence, approvals and exceptions'));
    perform ops.context_enter('evaluated_gates', p_release_id, v_gates::text);
    -- One statement per gate, in the gates' order: the guard reads the predecessor as stored.
    for c in select * from pg_catalog.jsonb_to_recordset(v_gates)
                      as y(gate_id uuid, status public.ops_gate_status, exception_id uuid) loop
      update ops.release_gates g set
        status = c.status,
        exception_id = c.exception_id,
        entered_at = case when c.status <> 'pending' then coalesce(g.entered_at, pg_catalog.clock_timestamp())
                          else g.entered_at end,
        resolved_at = case when c.status in ('passed', 'failed', 'bypassed') then pg_catalog.clock_timestamp() end,
        resolved_by = case when c.status in ('passed', 'failed', 'bypassed') then v_actor end
      where g.gate_id = c.gate_id
        and (g.status is distinct from c.status or g.exception_id is distinct from c.exception_id);
    end loop;
    perform ops.context_leave('evaluated_gates', p_release_id);
    perform ops.context_leave('evaluating', p_release_id);
  end if;
  v_status := ops.derive_release_status(p_release_id);
  update ops.releases r set status = v_status where r.release_id = p_release_id and r.status <> v_status;
end
$$;
revoke execute on function ops.evaluate_release(uuid, text) from public;

-- Takes the event's parts; writes the outbox row and notifies channel 'ops_outbox' with
-- {"event_id","release_id","project","kind"} (delivered at commit, never for a rollback). With
-- p_with_blockers, the event carries the release's promotion blockers: from the gates the running
-- evaluation computed when there is one (ops.evaluate_release), else computed now. Returns
-- nothing. Raises nothing of its own. Owner-only: called by the outbox triggers. Rule: issue of
-- the outbox (README: Events and webhooks).
create or replace function ops.outbox_write(
  p_kind text, p_release_id uuid, p_environment public.ops_environment, p_source_table text,
  p_source_id uuid, p_actor text, p_change jsonb, p_with_blockers boolean
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_project text;
  v_target public.ops_environment;
  v_event_id uuid;
  v_blockers jsonb;
  v_gates text;
begin
  select r.project, r.environment_target into v_project, v_target
  from ops.releases r where r.release_id = p_release_id;
  if p_with_blockers then
    v_gates := ops.context_value('evaluated_gates', p_release_id);
    if v_gates is not null then
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b)), '[]'::jsonb) into v_blockers
      from ops.gate_blockers(p_release_id, v_gates::jsonb) b;
    else
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b)), '[]'::jsonb) into v_blockers
      from ops.promotion_blockers(p_release_id) b;
    end if;
  end if;
  insert into ops.outbox_events (kind, release_id, project, environment, source_table, source_id,
                                 actor, change, blockers)
  values (p_kind, p_release_id, v_project, coalesce(p_environment, v_target), p_source_table,
          p_source_id, coalesce(p_actor, ''), p_change, v_blockers)
  returning event_id into v_event_id;
  perform pg_catalog.pg_notify('ops_outbox', pg_catalog.json_build_object(
    'event_id', v_event_id, 'release_id', p_release_id, 'project', v_project, 'kind', p_kind)::text);
end
$$;
revoke execute on function ops.outbox_write(text, uuid, public.ops_environment, text, uuid, text, jsonb, boolean) from public;
