-- G1-G4 read the evidence they need from ops.gate_evidence_requirements (through
-- ops.gate_evidence) instead of naming artifact types in code, so the gate rule and the evidence
-- completeness report read one definition. The rules are otherwise those of
-- 20261126002000_ops_gate_evaluation.sql, and the reasons read the same for the seeded
-- requirements. One widening: a rollback_plan attached to one of G3's checks now counts for G3, as
-- evidence on its checks always counted for G2. What changed besides is cost: a release's
-- exceptions and its project's required checks are looked up per gate only when there are any
-- (ops.v_promotion_eligibility evaluates every release of a page).

create or replace function ops.compute_release_gates(p_release_id uuid)
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
  v_requirement record;
  v_has_exceptions boolean;
  v_has_check_requirements boolean;
  v_ok boolean;
  v_status public.ops_gate_status;
  v_exception uuid;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  -- Asked once per release: most releases have no exception and their project lists no required
  -- checks, and then the per-gate queries about those are skipped (eligibility pages evaluate
  -- dozens of releases per request).
  v_has_exceptions := exists (select 1 from ops.exceptions e where e.release_id = p_release_id);
  v_has_check_requirements := exists (
    select 1 from ops.check_requirements cr where cr.project = v_release.project);

  for g in
    select rg.gate_id, rg.gate_code, p as policy from ops.release_gates rg
    join ops.gate_definitions d on d.gate_code = rg.gate_code
    left join ops.gate_policies p on p.gate_code = rg.gate_code
    where rg.release_id = p_release_id order by d.position
  loop
    v_reasons := '{}';
    v_hard_fail := false;
    v_any_input := false;
    v_exception := null;
    v_policy := g.policy;

    -- Active exceptions covering this gate: a bypass, or a waiver of its evidence.
    v_bypass := null;
    v_waived := false;
    if v_has_exceptions then
      select * into v_bypass from ops.exceptions e
        where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
          and e.exception_type = 'gate_bypass' and ops.exception_is_active(e)
        order by e.expires_at desc limit 1;
      v_waived := exists (
        select 1 from ops.exceptions e
        where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
          and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e));
    end if;

    -- Checks: the latest result per check name counts. Required: the names listed for the
    -- project and gate, else every check reported on the gate as required.
    v_required_names := '{}';
    if v_has_check_requirements then
      select coalesce(array_agg(cr.check_name order by cr.check_name), '{}') into v_required_names
        from ops.check_requirements cr where cr.project = v_release.project and cr.gate_code = g.gate_code;
    end if;
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

    -- G4 confirms the release's latest deployment (rollbacks aside): its health check verdict.
    v_evidence_ok := true;
    if g.gate_code = 'G4' then
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
      end if;
    end if;

    -- Evidence each gate needs: ops.gate_evidence_requirements, read through ops.gate_evidence (the
    -- same definition ops.v_evidence_completeness reports). Informational requirements never hold a
    -- gate; an active evidence waiver covers the rest.
    for v_requirement in
      select e.artifact_types, e.attached_to, e.deployment_id, e.deployment_environment
      from ops.gate_evidence(g.gate_id) e
      where e.blocking and cardinality(e.artifact_ids) = 0
    loop
      if v_waived then
        continue;
      end if;
      v_evidence_ok := false;
      if v_requirement.attached_to <> 'latest_deployment' then
        v_reasons := v_reasons || format('%s: no %s evidence attached', g.gate_code,
                                         array_to_string(v_requirement.artifact_types, ' or '));
      elsif v_requirement.deployment_id is not null then
        -- Without a deployment the reason above already says so.
        v_reasons := v_reasons || format('%s: no %s evidence for the %s deployment', g.gate_code,
                                         array_to_string(v_requirement.artifact_types, ' or '),
                                         v_requirement.deployment_environment);
      end if;
    end loop;
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
    if v_has_exceptions and v_status not in ('passed', 'bypassed') then
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


-- As 20261126003100_ops_function_privileges.sql: nothing in ops is callable by PUBLIC.
revoke execute on all functions in schema ops from public;
