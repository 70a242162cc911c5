-- An ingest event evaluates its release once, after everything it wrote, instead of once per row:
-- a build_complete writes a check and its build log, a health_check a check, its evidence and the
-- deployment's verdict, and each row's trigger used to recompute all four gates.
--
-- While ops.apply_ingest_event applies an event, the re-evaluation triggers on the release's facts
-- note what they saw in ops.transaction_context (owner-only: no persona writes it, and no setting a
-- caller can change steers it) instead of evaluating; the event then evaluates the release once,
-- its gate transitions naming every fact the event wrote ('check "build" reported pass by ci;
-- build_log evidence attached by ci'). Facts of another release, and every write outside an ingest,
-- are evaluated at once as before. The event's answer reads the gate status after that evaluation.
--
-- The hot path's small helpers move to PL/pgSQL, whose plans are kept for the session (a SQL
-- function that cannot be inlined is planned again at every call, and a SET clause prevents
-- inlining).

-- Trigger (AFTER INSERT or UPDATE on gate_checks, evidence_artifacts, approvals, exceptions,
-- deployments): re-evaluates the release the row belongs to, with a reason naming the row and who
-- wrote it; inside an ingest event of that release, notes the reason for the event's one
-- evaluation instead. Rule: DESIGN section 4 (stored status follows every fact).
create or replace function ops.reevaluate_after_change() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release uuid;
  v_what text;
begin
  case tg_table_name
    when 'gate_checks' then
      select g.release_id into v_release from ops.release_gates g where g.gate_id = new.gate_id;
      v_what := pg_catalog.format('check "%s" reported %s', new.check_name, new.status);
    when 'evidence_artifacts' then
      v_release := coalesce(
        new.release_id,
        (select g.release_id from ops.release_gates g where g.gate_id = new.gate_id),
        (select g.release_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
          where c.check_id = new.check_id),
        (select d.release_id from ops.deployments d where d.deployment_id = new.deployment_id));
      v_what := pg_catalog.format('%s evidence attached', new.artifact_type);
    when 'approvals' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s %s (%s)', new.persona_role, new.decision, new.scope);
    when 'exceptions' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s exception for %s %s', new.exception_type,
                                  pg_catalog.array_to_string(new.impacted_gates, ', '),
                                  case when new.approver_id is null then 'requested' else 'approved' end);
    when 'deployments' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s deployment %s, G4 %s', new.environment, new.status, new.g4_status);
  end case;
  if v_release is null then
    return null;
  end if;
  v_what := pg_catalog.format('%s by %s', v_what, ops.current_actor());
  -- Inside an ingest event of this release: noted for the event's one evaluation.
  update ops.transaction_context c
    set value = case when c.value = '' then v_what else c.value || '; ' || v_what end
  where c.txid = pg_catalog.txid_current_if_assigned() and c.name = 'deferred_evaluation'
    and c.subject = v_release;
  if not found then
    perform ops.evaluate_release(v_release, v_what);
  end if;
  return null;
end
$$;
revoke execute on function ops.reevaluate_after_change() from public;

-- The event's effects, as ops.apply_ingest_event wrote them until now (body and settings kept).
alter function ops.apply_ingest_event(jsonb) rename to apply_ingest_facts;
comment on function ops.apply_ingest_facts(jsonb) is
  'The effects of one accepted ingest event on the domain tables; called only by ops.apply_ingest_event.';
revoke execute on function ops.apply_ingest_facts(jsonb) from public;

-- Applies one accepted ingest event: writes its facts (ops.apply_ingest_facts) with the release's
-- re-evaluation deferred, then evaluates the release once. Takes the envelope (validated by
-- ops.ingest_event); returns the event's result, its gate_status read after the evaluation.
-- Errors: those of the writes (OPS03, OPS04, OPS09, OPS22, 22xxx, 23xxx). Internal: called only by
-- ops.ingest_event, inside its per-attempt block. Rule: DESIGN section 6 (event effects).
create function ops.apply_ingest_event(p_envelope jsonb) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set "TimeZone" = 'UTC'
set "DateStyle" = 'ISO, YMD'
as $$
declare
  v_release uuid := (p_envelope ->> 'release_id')::uuid;
  v_result jsonb;
  v_what text;
begin
  perform ops.context_enter('deferred_evaluation', v_release, '');
  v_result := ops.apply_ingest_facts(p_envelope);
  delete from ops.transaction_context c
  where c.txid = pg_catalog.txid_current() and c.name = 'deferred_evaluation' and c.subject = v_release
  returning c.value into v_what;
  if v_what <> '' then
    perform ops.evaluate_release(v_release, v_what);
  end if;
  if v_result ? 'gate_status' then
    v_result := v_result || pg_catalog.jsonb_build_object('gate_status', coalesce(
      (select g.status from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
       where c.check_id = (v_result ->> 'check_id')::uuid),
      (select g.status from ops.approvals a join ops.release_gates g on g.gate_id = a.gate_id
       where a.approval_id = (v_result ->> 'approval_id')::uuid)));
  end if;
  return v_result;
end
$$;
revoke execute on function ops.apply_ingest_event(jsonb) from public;

-- The claims of the transaction's caller (request.jwt.claims), '{}' when none. Takes nothing;
-- returns jsonb. Input, never a permission: the persona is the role (ops.current_persona).
create or replace function ops.current_claims() returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb);
end
$$;

-- The caller, read once: the persona (the role the transaction assumed, NULL when it is not one
-- of the six) and the claims' sub (NULL when absent). Takes nothing. OPS03 when the claims name
-- another persona than the role. The one reading behind ops.current_persona, ops.current_actor and
-- ops.stamp_created_by; every persona may call it, as those (it answers only about the caller).
-- Rule: DESIGN section 5 (identity inside SQL).
create function ops.caller_identity(out persona public.ops_persona, out sub text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := pg_catalog.current_setting('role');
  v_claims jsonb := ops.current_claims();
  v_named text;
begin
  sub := nullif(v_claims ->> 'sub', '');
  if v_role is null or not v_role = any (pg_catalog.enum_range(null::public.ops_persona)::text[]) then
    return;
  end if;
  foreach v_named in array array[v_claims ->> 'role', v_claims -> 'app_metadata' ->> 'ops_role'] loop
    if v_named is distinct from v_role
       and v_named = any (pg_catalog.enum_range(null::public.ops_persona)::text[]) then
      raise exception 'the claims name persona %, but the transaction assumed %', v_named, v_role
        using errcode = 'OPS03';
    end if;
  end loop;
  persona := v_role::public.ops_persona;
end
$$;
revoke execute on function ops.caller_identity() from public;
grant execute on function ops.caller_identity()
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The persona of the transaction: the role it assumed when that is one of the six, else NULL.
-- Takes nothing; returns the persona. OPS03 when the claims name another persona.
create or replace function ops.current_persona() returns public.ops_persona
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (ops.caller_identity()).persona;
end
$$;

-- Who acts: the claims' sub when a persona acts (required: OPS03 without it), otherwise the sub or
-- 'db:<session user>' for owner-side work. Takes nothing; returns text. The claims are read once.
-- Rule: DESIGN section 5 (identity inside SQL).
create or replace function ops.current_actor() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller record := ops.caller_identity();
begin
  if v_caller.persona is not null then
    if v_caller.sub is null then
      raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
    end if;
    return v_caller.sub;
  end if;
  return coalesce(v_caller.sub, 'db:' || session_user);
end
$$;

-- Trigger (BEFORE INSERT): stamps when (the moment of the write), who and as which persona, from
-- one reading of the caller (ops.caller_identity), whatever the row says. OPS03 as current_actor.
create or replace function ops.stamp_created_by() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller record := ops.caller_identity();
begin
  if v_caller.persona is not null and v_caller.sub is null then
    raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
  end if;
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := coalesce(v_caller.sub, 'db:' || session_user);
  new.created_persona := v_caller.persona;
  return new;
end
$$;

-- Owner-only per-transaction context (ops.transaction_context): the value named p_name for
-- p_subject in this transaction, NULL when none (or when the transaction has written nothing yet).
create or replace function ops.context_value(p_name text, p_subject uuid) returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select c.value from ops.transaction_context c
          where c.txid = pg_catalog.txid_current_if_assigned() and c.name = p_name and c.subject = p_subject);
end
$$;

-- The ingest attempt being applied in this transaction (ops.ingest_event), NULL outside one.
create or replace function ops.current_ingest_id() returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return ops.context_value('ingest', '00000000-0000-0000-0000-000000000000')::uuid;
end
$$;

-- See 20261130001000: the revisions whose facts count now. PL/pgSQL so its plan is kept.
create or replace function ops.counted_revisions(p_release_id uuid) returns integer[]
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    return null;
  end if;
  if v_release.revision = 1 then
    return array[1];
  end if;
  return (
    select pg_catalog.array_agg(v.revision order by v.revision)
    from ops.release_revisions v
    where v.release_id = p_release_id
      and (v.revision = v_release.revision
           or (v.source_ref is not distinct from v_release.source_ref
               and v.artifact_digest is not distinct from v_release.artifact_digest
               and not exists (select 1 from ops.release_scope_changes s
                               where s.release_id = p_release_id and s.created_at >= v.created_at))));
end
$$;

-- See 20261130001000: the label of the release's current revision. PL/pgSQL so its plan is kept.
create or replace function ops.gate_now_label(p_release ops.releases) returns text
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return coalesce(p_release.source_ref, 'no source ref') || coalesce(' (' || p_release.artifact_digest || ')', '');
end
$$;

-- The release's status from its deployments and stored gates: rolled_back when its latest
-- deployment is a rollback or rolled back; promoted when its latest production deployment
-- succeeded with G4 passed; failed when the latest deployment failed or its health check did;
-- in_progress once a gate left pending or anything was deployed; draft otherwise. Takes a release
-- id; returns the status. Rule: DESIGN section 4 (promoted when production is confirmed).
create or replace function ops.derive_release_status(p_release_id uuid) returns public.ops_release_status
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_latest ops.deployments;
  v_prod ops.deployments;
begin
  select * into v_latest from ops.deployments d where d.release_id = p_release_id
    order by d.deployed_at desc, d.created_at desc limit 1;
  if v_latest.deployment_id is not null and (v_latest.rollback_of is not null or v_latest.status = 'rolled_back') then
    return 'rolled_back';
  end if;
  select * into v_prod from ops.deployments d
    where d.release_id = p_release_id and d.environment = 'production' and d.rollback_of is null
    order by d.deployed_at desc, d.created_at desc limit 1;
  if v_prod.status = 'succeeded' and v_prod.g4_status = 'passed' then
    return 'promoted';
  end if;
  if v_latest.status = 'failed' or v_latest.g4_status = 'failed' then
    return 'failed';
  end if;
  if v_latest.deployment_id is not null
     or exists (select 1 from ops.release_gates g where g.release_id = p_release_id and g.status <> 'pending') then
    return 'in_progress';
  end if;
  return 'draft';
end
$$;
