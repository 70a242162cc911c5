-- The gate rule's composition (20261130001000-001300) and the G4 deadline (20261130002100) together.
-- 20261130002200 hooked the G4 deadline into the gate rule as it stood before it was composed of
-- parts, and so replaced the composition: this restores it, with the deadline in the deployment part.

-- G1-G4 of a release as the rule computes them now: the composition of the parts
-- ops.gate_check_findings, gate_deployment_findings, gate_evidence_findings, gate_approval_findings,
-- gate_exception_findings and gate_timing_findings (docs/rules.md). Takes a release id; returns per
-- gate its status, the reasons it is not passed (empty when passed or bypassed) and the exception
-- that bypasses it. OPS04: no such release. Internal (no persona executes it).
create or replace function ops.compute_release_gates(p_release_id uuid)
 RETURNS TABLE(gate_id uuid, gate_code public.ops_gate_code, status public.ops_gate_status, reasons text[], exception_id uuid)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_release ops.releases;
  v_revisions integer[];
  g record;
  v_prev_ok boolean := true;
  v_prev_code public.ops_gate_code;
  v_prev_status public.ops_gate_status;
  v_ok boolean;
  v_status public.ops_gate_status;
  v_reasons text[];
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  v_revisions := ops.counted_revisions(p_release_id);
  for g in
    select rg.gate_id, rg.gate_code,
           coalesce(x.evidence_waived, false) as waived, x.bypass_exception_id, x.reasons as exception_reasons,
           coalesce(c.satisfied, true) and coalesce(d.satisfied, true)
             and (coalesce(x.evidence_waived, false) or coalesce(e.satisfied, true))
             and coalesce(a.satisfied, true) and coalesce(t.satisfied, true) as ok,
           c.failed is true or d.failed is true or e.failed is true or a.failed is true
             or t.failed is true as hard_fail,
           c.has_input is true or d.has_input is true or e.has_input is true or a.has_input is true
             or t.has_input is true as any_input,
           coalesce(c.reasons, '{}') || coalesce(d.reasons, '{}')
             || case when x.evidence_waived then '{}'::text[] else coalesce(e.reasons, '{}') end
             || coalesce(a.reasons, '{}') || coalesce(t.reasons, '{}') as reasons
    from ops.release_gates rg
    join ops.gate_definitions gd on gd.gate_code = rg.gate_code
    left join ops.gate_check_findings(v_release, v_revisions) c on c.gate_id = rg.gate_id
    left join ops.gate_deployment_findings(v_release, v_revisions) d on d.gate_id = rg.gate_id
    left join ops.gate_evidence_findings(v_release, v_revisions) e on e.gate_id = rg.gate_id
    left join ops.gate_approval_findings(v_release, v_revisions) a on a.gate_id = rg.gate_id
    left join ops.gate_exception_findings(v_release, v_revisions) x on x.gate_id = rg.gate_id
    left join ops.gate_timing_findings(v_release, v_revisions) t on t.gate_id = rg.gate_id
    where rg.release_id = p_release_id
    order by gd.position
  loop
    v_reasons := g.reasons;
    if not v_prev_ok then
      v_reasons := pg_catalog.format('%s: waiting for %s, which is %s', g.gate_code, v_prev_code, v_prev_status)
                   || v_reasons;
    end if;
    exception_id := null;
    if g.ok and v_prev_ok then
      v_status := 'passed';
      v_reasons := '{}';
    elsif g.bypass_exception_id is not null and v_prev_ok then
      v_status := 'bypassed';
      exception_id := g.bypass_exception_id;
      v_reasons := '{}';
    elsif g.hard_fail then
      v_status := 'failed';
    elsif g.any_input or (g.ok and not v_prev_ok) then
      v_status := 'in_progress';
    else
      v_status := 'pending';
    end if;
    if v_status not in ('passed', 'bypassed') then
      v_reasons := v_reasons || coalesce(g.exception_reasons, '{}');
    end if;
    gate_id := g.gate_id;
    gate_code := g.gate_code;
    status := v_status;
    reasons := v_reasons;
    return next;
    v_prev_ok := v_status in ('passed', 'bypassed');
    v_prev_code := g.gate_code;
    v_prev_status := v_status;
  end loop;
end
$function$;


-- G4's deployment part: the latest deployment of a counted revision and its verdict. Takes the release
-- row and its counted revisions; returns the G4 finding (satisfied when the deployment stands; failed
-- when it failed, was rolled back, its health check failed, or its health was not confirmed within the
-- G4 deadline of ops.deadline_policies, ops.g4_deadline_reason; reasons in words). Internal.
create or replace function ops.gate_deployment_findings(p_release ops.releases, p_revisions integer[])
 RETURNS TABLE(gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
 LANGUAGE plpgsql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
#variable_conflict use_column
begin
  return query
  select g.gate_id,
         o.verdict = 'stands',
         o.verdict in ('failed', 'rolled_back', 'unhealthy', 'deadline_missed'),
         d.deployment_id is not null,
         case o.verdict
           when 'none' then array[case when old.deployment_id is null then 'G4: the release has not been deployed yet'
             else pg_catalog.format('G4: the %s deployment %s is of %s, release is now at %s', old.environment,
                                    old.deployment_id, ops.revision_label(p_release.release_id, old.revision),
                                    ops.gate_now_label(p_release)) end]
           when 'failed' then array[pg_catalog.format('G4: the %s deployment %s failed', d.environment, d.deployment_id)]
           when 'rolled_back' then
             array[pg_catalog.format('G4: the %s deployment %s was rolled back', d.environment, d.deployment_id)]
           when 'unhealthy' then
             array[pg_catalog.format('G4: the health check of the %s deployment failed', d.environment)]
           when 'deadline_missed' then array[ops.g4_deadline_reason(dep)]
           when 'running' then array[pg_catalog.format('G4: the %s deployment %s has not succeeded yet (it is %s)',
                                                       d.environment, d.deployment_id, d.status)]
           when 'unconfirmed' then
             array[pg_catalog.format('G4: the %s deployment has no passing health check yet', d.environment)]
           else '{}'::text[]
         end
  from ops.release_gates g
  left join lateral (
    select x.* from ops.deployments x
    where x.release_id = p_release.release_id and x.rollback_of is null and x.revision = any (p_revisions)
    order by x.deployed_at desc, x.created_at desc limit 1
  ) d on true
  left join lateral (
    select x.* from ops.deployments x
    where d.deployment_id is null and x.release_id = p_release.release_id and x.rollback_of is null
    order by x.deployed_at desc, x.created_at desc limit 1
  ) old on true
  left join ops.deployments dep on dep.deployment_id = d.deployment_id
  cross join lateral (
    select case
      when d.deployment_id is null then 'none'
      when d.status = 'failed' then 'failed'
      when d.status = 'rolled_back'
        or exists (select 1 from ops.deployments b where b.rollback_of = d.deployment_id) then 'rolled_back'
      when d.g4_status = 'failed' then 'unhealthy'
      when ops.g4_deadline_reason(dep) is not null then 'deadline_missed'
      when d.status <> 'succeeded' then 'running'
      when d.g4_status <> 'passed' then 'unconfirmed'
      else 'stands'
    end as verdict
  ) o
  where g.release_id = p_release.release_id and g.gate_code = 'G4';
end
$function$;
