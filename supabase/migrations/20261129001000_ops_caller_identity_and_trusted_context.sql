-- Owner-rights code that nothing a caller creates or sets can steer.
--
-- 1. search_path: `set search_path = ''` still searches the caller's temporary schema first for
--    types and relations, so a persona could shadow `text` with a pg_temp domain whose CHECK runs
--    its own code as the owner. Every function of the schema now runs with
--    `search_path = pg_catalog, pg_temp` (pg_temp last, explicitly: the PostgreSQL manual's safe
--    form). The SQL helpers deliberately left without a SET clause (so the planner can inline them)
--    run with their caller's rights and take the search_path of the owner-rights code that calls
--    them. test/security/function-exposure.test.ts holds every later function to the same rule.
-- 2. Identity: the persona is the role the transaction assumed (SET ROLE needs membership, which
--    claims cannot grant); claims that name another persona are refused; the actor is the claims'
--    `sub`, required whenever a persona is assumed. A session that assumed no persona (the owner's
--    maintenance work) is recorded as 'db:' || session_user, as before.
-- 3. What the evaluator is doing, why, and which ingest attempt caused a write live in
--    ops.transaction_context, which only owner-rights code writes, keyed by the transaction: no
--    custom setting a caller can set_config decides a rule or writes the audit any more.

-- ---------------------------------------------------------------------------------------------
-- 1. search_path of every existing function
-- ---------------------------------------------------------------------------------------------

do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_catalog.pg_proc p
    where p.pronamespace = 'ops'::regnamespace and p.proconfig is not null
  loop
    execute format('alter function %s set search_path = pg_catalog, pg_temp', f);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 3. State only owner-rights code writes, for the current transaction
-- ---------------------------------------------------------------------------------------------

-- One row per thing the current transaction is doing on the owner's behalf: `evaluating` a
-- release (value: the reason recorded on its gate transitions), an `ingest` attempt (value: its
-- ingest_id), `approving_exception` / `reviewing_exception` (subject: the exception). depth counts
-- nested entries. Rows live only while their function runs; a rolled-back transaction leaves none.
-- No persona has any privilege on the table.
create table ops.transaction_context (
  txid bigint not null,
  name text not null,
  subject uuid not null,
  value text,
  depth integer not null default 1,
  primary key (txid, name, subject)
);
alter table ops.transaction_context enable row level security;
revoke all on ops.transaction_context from public;
-- The personas who read everything read this too (it holds nothing but what is in progress).
grant select on ops.transaction_context to release_manager, audit_reader;
create policy transaction_context_read_all on ops.transaction_context for select to release_manager, audit_reader
  using (true);

-- Enters a context for the current transaction. Takes its name, subject and value; returns
-- nothing. Called only by owner-rights functions (no persona may execute it).
create function ops.context_enter(p_name text, p_subject uuid, p_value text) returns void
language sql
set search_path = pg_catalog, pg_temp
as $$
  insert into ops.transaction_context (txid, name, subject, value)
  values (pg_catalog.txid_current(), p_name, p_subject, p_value)
  on conflict (txid, name, subject)
  do update set value = excluded.value, depth = ops.transaction_context.depth + 1
$$;

-- Leaves a context entered by ops.context_enter (the row goes when its last entry leaves).
create function ops.context_leave(p_name text, p_subject uuid) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_depth integer;
begin
  update ops.transaction_context c set depth = c.depth - 1
  where c.txid = pg_catalog.txid_current() and c.name = p_name and c.subject = p_subject
  returning c.depth into v_depth;
  if v_depth is not null and v_depth <= 0 then
    delete from ops.transaction_context c
    where c.txid = pg_catalog.txid_current() and c.name = p_name and c.subject = p_subject;
  end if;
end
$$;

-- The value of a context the current transaction is in, or NULL when it is in none. A
-- transaction that has written nothing has no txid yet, and so is in no context.
create function ops.context_value(p_name text, p_subject uuid) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select c.value from ops.transaction_context c
  where c.txid = pg_catalog.txid_current_if_assigned() and c.name = p_name and c.subject = p_subject
$$;

-- The ingest attempt the current transaction is processing, if any: set only by ops.ingest_event.
create or replace function ops.current_ingest_id() returns uuid
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select ops.context_value('ingest', '00000000-0000-0000-0000-000000000000')::uuid
$$;

-- Rows that record an ingest_id take it from the context, never from the writer: a direct INSERT
-- cannot attribute a decision to another producer's ingest attempt. Owner's rights, so that it
-- can read the context whoever inserts.
create function ops.stamp_ingest_id() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  new.ingest_id := ops.current_ingest_id();
  return new;
end
$$;

do $$
declare
  t text;
begin
  foreach t in array array['gate_checks', 'approvals', 'deployments', 'evidence_artifacts', 'environment_events',
                           'gate_transitions', 'deployment_transitions'] loop
    execute format('create trigger %I before insert on ops.%I for each row execute function ops.stamp_ingest_id()',
                   t || '_stamp_ingest', t);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 2. Identity
-- ---------------------------------------------------------------------------------------------

-- The caller's persona: the role the transaction assumed (current_setting('role') is the SET ROLE
-- value, unchanged inside owner-rights functions and triggers), NULL when it assumed none. Raises
-- OPS03 when the claims name a different persona (`role` or app_metadata.ops_role); other `role`
-- values (Supabase's 'authenticated') name no persona and are ignored.
create or replace function ops.current_persona() returns public.ops_persona
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := pg_catalog.current_setting('role');
  v_claims jsonb;
  v_named text;
begin
  if v_role is null or not v_role = any (pg_catalog.enum_range(null::public.ops_persona)::text[]) then
    return null;
  end if;
  v_claims := ops.current_claims();
  foreach v_named in array array[v_claims ->> 'role', v_claims -> 'app_metadata' ->> 'ops_role'] loop
    if v_named is distinct from v_role
       and v_named = any (pg_catalog.enum_range(null::public.ops_persona)::text[]) then
      raise exception 'the claims name persona %, but the transaction assumed %', v_named, v_role
        using errcode = 'OPS03';
    end if;
  end loop;
  return v_role::public.ops_persona;
end
$$;

-- The caller's subject as text (service subjects such as `github_actions` are not UUIDs, so
-- auth.uid() cannot be used). Raises OPS03 when a persona is assumed without a `sub` claim: every
-- decision has a named actor. Without a persona (the owner's maintenance session) the `sub` when
-- given, else the database user.
create or replace function ops.current_actor() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_sub text := nullif(ops.current_claims() ->> 'sub', '');
begin
  if ops.current_persona() is not null then
    if v_sub is null then
      raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
    end if;
    return v_sub;
  end if;
  return coalesce(v_sub, 'db:' || session_user);
end
$$;

-- ---------------------------------------------------------------------------------------------
-- 3. The evaluator alone writes stored gate status; reasons and causes from the context
-- ---------------------------------------------------------------------------------------------

-- Recomputes and stores every gate of the release and the release status. Takes the release and
-- the reason recorded on the gate transitions it causes (NULL: "recomputed from …"); returns
-- nothing. Internal: called by the triggers that follow every change of a gate's inputs and by
-- owner-rights functions, never by a persona. Times are the moment of the write.
create or replace function ops.evaluate_release(p_release_id uuid, p_reason text default null) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  v_status public.ops_release_status;
begin
  perform ops.context_enter('evaluating', p_release_id,
    coalesce(p_reason, 'recomputed from the gate''s checks, evidence, approvals and exceptions'));
  for c in select * from ops.compute_release_gates(p_release_id) loop
    update ops.release_gates g set
      status = c.status,
      exception_id = c.exception_id,
      entered_at = case when c.status <> 'pending' then coalesce(g.entered_at, pg_catalog.clock_timestamp())
                        else g.entered_at end,
      resolved_at = case when c.status in ('passed', 'failed', 'bypassed') then pg_catalog.clock_timestamp() end,
      resolved_by = case when c.status in ('passed', 'failed', 'bypassed') then ops.current_actor() end
    where g.gate_id = c.gate_id
      and (g.status is distinct from c.status or g.exception_id is distinct from c.exception_id);
  end loop;
  perform ops.context_leave('evaluating', p_release_id);
  v_status := ops.derive_release_status(p_release_id);
  update ops.releases r set status = v_status where r.release_id = p_release_id and r.status <> v_status;
end
$$;

-- Stored gate status is written by ops.evaluate_release only: any other change of status (by a
-- persona, or by hand in a maintenance session) raises OPS03. A gate cannot pass or be bypassed
-- before its predecessor (OPS09), nor move to another release (OPS22).
create or replace function ops.release_gates_guard() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_prev record;
begin
  if new.release_id <> old.release_id or new.gate_code <> old.gate_code then
    raise exception 'a gate cannot move to another release or gate code' using errcode = 'OPS22';
  end if;
  if new.status is distinct from old.status and new.status in ('passed', 'bypassed') then
    select g.gate_code, g.status into v_prev
    from ops.release_gates g
    join ops.gate_definitions d on d.gate_code = g.gate_code
    where g.release_id = new.release_id
      and d.position = (select d2.position - 1 from ops.gate_definitions d2 where d2.gate_code = new.gate_code);
    if found and v_prev.status not in ('passed', 'bypassed') then
      raise exception 'gate % cannot be % before % has passed (it is %)', new.gate_code, new.status,
        v_prev.gate_code, v_prev.status using errcode = 'OPS09';
    end if;
  end if;
  if (new.status is distinct from old.status or new.exception_id is distinct from old.exception_id)
     and ops.context_value('evaluating', new.release_id) is null then
    raise exception 'gate % cannot be set to % by hand: it is computed from checks, evidence and approvals; request an exception to bypass it',
      new.gate_code, new.status using errcode = 'OPS03';
  end if;
  return new;
end
$$;

-- Appends the gate transition: the reason the evaluator was given, the caller as actor, the ingest
-- attempt from the context.
create or replace function ops.release_gates_record_transition() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into ops.gate_transitions (gate_id, from_status, to_status, reason, actor, ingest_id)
  values (new.gate_id, old.status, new.status,
          coalesce(ops.context_value('evaluating', new.release_id), 'set by ' || ops.current_actor()),
          ops.current_actor(), ops.current_ingest_id());
  return null;
end
$$;

-- Nobody updates stored gate status but the evaluator (owner's rights).
revoke update on ops.release_gates from release_manager;
drop policy release_gates_update_rm on ops.release_gates;

-- ---------------------------------------------------------------------------------------------
-- Time rules read the clock at the moment of the write
-- ---------------------------------------------------------------------------------------------

-- Whether an exception authorises anything right now: approved by someone other than its
-- requester, and inside its window at clock_timestamp() (not the transaction's start).
create or replace function ops.exception_is_active(e ops.exceptions) returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select e.approver_id is not null
     and e.approver_id <> e.requested_by
     and e.effective_from <= pg_catalog.clock_timestamp()
     and pg_catalog.clock_timestamp() < e.expires_at
$$;

-- An exception is requested for the future, never already expired (23514).
create or replace function ops.exceptions_refuse_past_expiry() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.expires_at <= pg_catalog.clock_timestamp() then
    raise exception 'exception expires_at (%) must be in the future', new.expires_at
      using errcode = '23514';
  end if;
  return new;
end
$$;

revoke execute on all functions in schema ops from public;
