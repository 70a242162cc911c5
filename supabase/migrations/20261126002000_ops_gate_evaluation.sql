-- Gate evaluation: the rules of G1-G4, exceptions, eligibility and its blockers. Every rule lives
-- here, once; the API doors only call these functions.
--
-- Errors raised by governance functions use their own SQLSTATEs so every door maps them the same
-- way: OPS03 forbidden (persona or separation of duties), OPS04 not found, OPS09 conflict (a
-- state that does not allow the change), OPS22 invalid input.

-- Rows written by an ingest attempt point at its log row, which is written last (the log is
-- append-only, so its result cannot be filled in afterwards): the references are checked at commit.
alter table ops.gate_checks alter constraint gate_checks_ingest_id_fkey deferrable initially deferred;
alter table ops.approvals alter constraint approvals_ingest_id_fkey deferrable initially deferred;
alter table ops.deployments alter constraint deployments_ingest_id_fkey deferrable initially deferred;
alter table ops.evidence_artifacts alter constraint evidence_artifacts_ingest_id_fkey deferrable initially deferred;
alter table ops.environment_events alter constraint environment_events_ingest_id_fkey deferrable initially deferred;
alter table ops.gate_transitions alter constraint gate_transitions_ingest_id_fkey deferrable initially deferred;

-- The ingest attempt the current transaction is processing, if any.
create function ops.current_ingest_id() returns uuid
language sql stable
set search_path = ''
as $$
  select nullif(current_setting('ops.ingest_id', true), '')::uuid
$$;

create function ops.require_persona(p_allowed public.ops_persona[], p_action text) returns public.ops_persona
language plpgsql stable
set search_path = ''
as $$
declare
  v_persona public.ops_persona := ops.current_persona();
begin
  if v_persona is null then
    raise exception 'the token names no ops persona, so it may not %', p_action using errcode = 'OPS03';
  end if;
  if not v_persona = any (p_allowed) then
    raise exception 'persona % may not %; allowed: %', v_persona, p_action, array_to_string(p_allowed, ', ')
      using errcode = 'OPS03';
  end if;
  return v_persona;
end
$$;

-- Whether an exception authorises anything right now: approved by someone other than its
-- requester, and inside its window. Computed when read, so expiry needs no job.
create function ops.exception_is_active(e ops.exceptions) returns boolean
language sql stable
set search_path = ''
as $$
  select e.approver_id is not null
     and e.approver_id <> e.requested_by
     and e.effective_from <= now()
     and now() < e.expires_at
$$;

-- The releases a caller may ask about: all of them, except a developer, who sees their own.
create function ops.assert_can_read_release(p_release_id uuid) returns void
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  if not exists (select 1 from ops.releases where release_id = p_release_id) then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  if ops.current_persona() = 'developer' and not ops.owns_release(p_release_id) then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
end
$$;

-- Computes the status of each of a release's gates from the facts, in order, with the reasons a
-- gate is not satisfied. Pure: it stores nothing (ops.evaluate_release does).
create function ops.compute_release_gates(p_release_id uuid)
returns table (
  gate_id uuid,
  gate_code public.ops_gate_code,
  status public.ops_gate_status,
  reasons text[],
  exception_id uuid
)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_release ops.releases;
  g record;
  v_prev_ok boolean := true;
  v_prev_code public.ops_gate_code;
  v_prev_status public.ops_gate_status;
  v_reasons text[];
  v_hard_fail boolean;
  v_any_input boolean;
  v_checks_ok boolean;
  v_any_required boolean;
  v_evidence_ok boolean;
  v_approvals_ok boolean;
  v_policy ops.gate_policies;
  v_required_names text[];
  v_latest record;
  v_approved int;
  v_rejected boolean;
  v_changes boolean;
  v_any_approval boolean;
  v_waived boolean;
  v_bypass ops.exceptions;
  v_exc ops.exceptions;
  v_dep ops.deployments;
  v_ok boolean;
  v_status public.ops_gate_status;
  v_exception uuid;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;

  for g in
    select rg.gate_id, rg.gate_code from ops.release_gates rg
    join ops.gate_definitions d on d.gate_code = rg.gate_code
    where rg.release_id = p_release_id order by d.position
  loop
    v_reasons := '{}';
    v_hard_fail := false;
    v_any_input := false;
    v_exception := null;
    select * into v_policy from ops.gate_policies p where p.gate_code = g.gate_code;

    -- Active exceptions covering this gate: a bypass, or a waiver of its evidence.
    select * into v_bypass from ops.exceptions e
      where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
        and e.exception_type = 'gate_bypass' and ops.exception_is_active(e)
      order by e.expires_at desc limit 1;
    v_waived := exists (
      select 1 from ops.exceptions e
      where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
        and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e));

    -- Checks: the latest result per check name counts. Required: the names listed for the
    -- project and gate, else every check reported on the gate as required.
    select coalesce(array_agg(cr.check_name order by cr.check_name), '{}') into v_required_names
      from ops.check_requirements cr where cr.project = v_release.project and cr.gate_code = g.gate_code;
    v_checks_ok := true;
    v_any_required := false;
    for v_latest in
      with latest as (
        select distinct on (c.check_name) c.check_name, c.status, c.required
        from ops.gate_checks c where c.gate_id = g.gate_id
        order by c.check_name, c.created_at desc, c.check_id desc
      ),
      required as (
        select n as check_name from unnest(v_required_names) n
        union
        select l.check_name from latest l where cardinality(v_required_names) = 0 and l.required
      )
      select coalesce(r.check_name, l.check_name) as check_name, l.status,
             (r.check_name is not null) as is_required
      from required r full join latest l on l.check_name = r.check_name
      order by 1
    loop
      if v_latest.status is not null then
        v_any_input := true;
      end if;
      v_any_required := v_any_required or v_latest.is_required;
      -- A failing check fails the gate when it is required; on G2, whatever it is (section 4).
      if v_latest.status = 'fail' and (v_latest.is_required or g.gate_code = 'G2') then
        v_hard_fail := true;
        v_checks_ok := false;
        v_reasons := v_reasons || format('%s: check "%s" is failing', g.gate_code, v_latest.check_name);
      elsif v_latest.is_required and v_latest.status is null then
        v_checks_ok := false;
        v_reasons := v_reasons || format('%s: required check "%s" has not reported', g.gate_code, v_latest.check_name);
      elsif v_latest.is_required and v_latest.status <> 'pass' then
        v_checks_ok := false;
        v_reasons := v_reasons || format('%s: required check "%s" is %s, not pass', g.gate_code,
                                         v_latest.check_name, v_latest.status);
      end if;
    end loop;
    if g.gate_code = 'G1' and not v_any_required then
      v_checks_ok := false;
      v_reasons := v_reasons || 'G1: no build checks reported yet'::text;
    end if;

    -- Evidence each gate needs.
    v_evidence_ok := true;
    if g.gate_code = 'G2' then
      v_evidence_ok := v_waived or exists (
        select 1 from ops.evidence_artifacts a
        where a.artifact_type in ('test_result', 'uat_summary')
          and (a.gate_id = g.gate_id or a.check_id in (select c.check_id from ops.gate_checks c where c.gate_id = g.gate_id)));
      if not v_evidence_ok then
        v_reasons := v_reasons || 'G2: no test_result or uat_summary evidence attached'::text;
      end if;
    elsif g.gate_code = 'G3' then
      v_evidence_ok := v_waived or exists (
        select 1 from ops.evidence_artifacts a
        where a.artifact_type = 'rollback_plan'
          and (a.gate_id = g.gate_id or (a.release_id = p_release_id and a.gate_id is null)));
      if not v_evidence_ok then
        v_reasons := v_reasons || 'G3: no rollback_plan evidence attached'::text;
      end if;
    elsif g.gate_code = 'G4' then
      -- The release's latest deployment (rollbacks aside) carries the operational confirmation.
      select * into v_dep from ops.deployments d
        where d.release_id = p_release_id and d.rollback_of is null
        order by d.deployed_at desc, d.created_at desc limit 1;
      if v_dep.deployment_id is null then
        v_evidence_ok := false;
        v_reasons := v_reasons || 'G4: the release has not been deployed yet'::text;
      else
        v_any_input := true;
        if v_dep.g4_status = 'failed' then
          v_hard_fail := true;
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the health check of the %s deployment failed', v_dep.environment);
        elsif v_dep.g4_status <> 'passed' then
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the %s deployment has no passing health check yet', v_dep.environment);
        end if;
        if not v_waived and not exists (
          select 1 from ops.evidence_artifacts a
          where a.artifact_type = 'health_check' and a.deployment_id = v_dep.deployment_id) then
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: no health_check evidence for the %s deployment', v_dep.environment);
        end if;
      end if;
    end if;
    if exists (select 1 from ops.evidence_artifacts a where a.gate_id = g.gate_id) then
      v_any_input := true;
    end if;

    -- Approvals: each approver's latest decision on the gate counts, from the gate's persona.
    v_approvals_ok := true;
    if v_policy.approver_persona is not null then
      with latest as (
        select distinct on (a.approver_id) a.approver_id, a.decision
        from ops.approvals a
        where a.gate_id = g.gate_id and a.persona_role = v_policy.approver_persona
        order by a.approver_id, a.created_at desc, a.approval_id desc
      )
      select count(*) filter (where l.decision = 'approved'),
             coalesce(bool_or(l.decision = 'rejected'), false),
             coalesce(bool_or(l.decision = 'request_changes'), false),
             count(*) > 0
        into v_approved, v_rejected, v_changes, v_any_approval
        from latest l;
      if v_any_approval then
        v_any_input := true;
      end if;
      if v_rejected then
        v_hard_fail := true;
        v_approvals_ok := false;
        v_reasons := v_reasons || format('%s: a %s rejected it', g.gate_code, v_policy.approver_persona);
      elsif v_changes then
        v_approvals_ok := false;
        v_reasons := v_reasons || format('%s: a %s requested changes', g.gate_code, v_policy.approver_persona);
      end if;
      if v_approved < v_policy.min_approvals and not v_rejected then
        v_approvals_ok := false;
        v_reasons := v_reasons || case
          when v_approved = 0 then format('%s: no %s approval yet', g.gate_code, v_policy.approver_persona)
          else format('%s: %s of %s required %s approvals', g.gate_code, v_approved, v_policy.min_approvals,
                      v_policy.approver_persona)
        end;
      end if;
    end if;

    -- Gates are sequential.
    if not v_prev_ok then
      v_reasons := format('%s: waiting for %s, which is %s', g.gate_code, v_prev_code, v_prev_status) || v_reasons;
    end if;

    v_ok := v_checks_ok and v_evidence_ok and v_approvals_ok;
    if v_ok and v_prev_ok then
      v_status := 'passed';
      v_reasons := '{}';
    elsif v_bypass.exception_id is not null and v_prev_ok then
      v_status := 'bypassed';
      v_exception := v_bypass.exception_id;
      v_reasons := '{}';
    elsif v_hard_fail then
      v_status := 'failed';
    elsif v_any_input or (v_ok and not v_prev_ok) then
      v_status := 'in_progress';
    else
      v_status := 'pending';
    end if;

    -- Say why an exception that mentions the gate does not help.
    if v_status not in ('passed', 'bypassed') then
      for v_exc in
        select * from ops.exceptions e
        where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
          and e.exception_type = 'gate_bypass' and not ops.exception_is_active(e)
        order by e.created_at
      loop
        v_reasons := v_reasons || case
          when v_exc.expires_at <= now() then
            format('%s bypass exception %s expired at %s', g.gate_code, v_exc.exception_id,
                   to_char(v_exc.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
          when v_exc.approver_id is null then
            format('%s bypass exception %s awaits approval by a release_manager', g.gate_code, v_exc.exception_id)
          else
            format('%s bypass exception %s takes effect at %s', g.gate_code, v_exc.exception_id,
                   to_char(v_exc.effective_from at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
        end;
      end loop;
    end if;

    gate_id := g.gate_id;
    gate_code := g.gate_code;
    status := v_status;
    reasons := v_reasons;
    exception_id := v_exception;
    return next;

    v_prev_ok := v_status in ('passed', 'bypassed');
    v_prev_code := g.gate_code;
    v_prev_status := v_status;
  end loop;
end
$$;
