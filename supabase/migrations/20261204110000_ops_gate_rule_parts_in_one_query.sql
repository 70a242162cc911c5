-- The gate rule's parts answered by one query, one plan and one function entry per evaluation.
--
-- ops.compute_release_gates joined six set-returning functions, one per concern: each a function
-- entry of its own (search_path and plan mode switched and restored), its own executor start, its
-- own scan of the release's gates and a tuplestore that the composition hashed again. Per ingest
-- event that was five of the evaluation's ten function entries (bench/profile-ingest.ts). The
-- concerns' text now lives in ops.gate_findings, one query with one common table expression per
-- concern over the release's gates, read once; each ops.gate_<concern>_findings answers its
-- concern's columns of it, for the same rows as before (a concern still says nothing about a gate
-- it has nothing to say about: the deployment part only of G4, the approval part only of gates
-- with an approving persona, the exception part only when the release has exceptions).
-- ops.gate_timing_findings stays the place timing rules plug in, joined as before.
--
-- Same checks, deployments, evidence, approvals and exceptions, same statements of each concern;
-- only where they run changed (test/governance/gate-rule-one-query.test.ts compares every stored
-- gate, reason, blocker, release status and outbox event with the previous definitions).

-- Every concern of the gate rule for each gate of a release, in one row per gate: checks (the
-- latest result per name, required names, stale ones), G4's deployment (the standing deployment of
-- the counted revisions and its health and deadline), evidence requirements not met
-- (ops.release_gate_evidence_up_to), approvals of the gate's persona (n of m, rejections, change
-- requests, stale ones) and exceptions (the bypass and evidence waiver in force; why others do not
-- help). Takes the release row and the revisions whose facts count (ops.counted_revisions);
-- returns per gate, for each concern, whether it has a finding for the gate (deployment_found,
-- approval_found, exception_found; checks and evidence always do), whether it is satisfied, fails
-- the gate outright, has any input, and its reasons; for exceptions the bypassing exception, whether
-- evidence is waived and the reasons other exceptions do not help. Time: exception windows and the
-- G4 deadline are judged at clock_timestamp(). Raises nothing of its own. Internal (the owner's
-- gate rule; no persona executes it). Rule: DESIGN section 4, docs/rules.md (checks, G4, evidence,
-- approvals, exceptions), 20261129002200 (facts per counted revision), 20261129006100 (the reviser
-- does not sign G3), 20261130002100 (the G4 deadline).
create function ops.gate_findings(p_release ops.releases, p_revisions integer[])
returns table (
  gate_id uuid,
  gate_code public.ops_gate_code,
  check_satisfied boolean,
  check_failed boolean,
  check_has_input boolean,
  check_reasons text[],
  deployment_found boolean,
  deployment_satisfied boolean,
  deployment_failed boolean,
  deployment_has_input boolean,
  deployment_reasons text[],
  evidence_satisfied boolean,
  evidence_failed boolean,
  evidence_has_input boolean,
  evidence_reasons text[],
  approval_found boolean,
  approval_satisfied boolean,
  approval_failed boolean,
  approval_has_input boolean,
  approval_reasons text[],
  exception_found boolean,
  bypass_exception_id uuid,
  evidence_waived boolean,
  exception_reasons text[]
)
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  v_reviser text;
  v_any_exception boolean;
begin
  if p_release.revision > 1 then
    select v.revised_by into v_reviser from ops.release_revisions v
    where v.release_id = p_release.release_id and v.revision = p_release.revision;
  end if;
  v_any_exception := exists (select 1 from ops.exceptions e where e.release_id = p_release.release_id);
  return query
  with gates as (
    select g.gate_id, g.gate_code,
           coalesce((select pg_catalog.array_agg(cr.check_name order by cr.check_name) from ops.check_requirements cr
                     where cr.project = p_release.project and cr.gate_code = g.gate_code), '{}') as required_names
    from ops.release_gates g where g.release_id = p_release.release_id
  ),
  -- Checks. Per gate, through gate_checks_gate (gate, name, newest first): the cost follows the
  -- release's checks, whatever the table holds.
  latest as (
    select g.gate_id, l.check_name, l.status, l.required
    from gates g
    cross join lateral (
      select distinct on (c.check_name) c.check_name, c.status, c.required
      from ops.gate_checks c
      where c.gate_id = g.gate_id and c.revision = any (p_revisions)
      order by c.check_name, c.created_at desc, c.check_id desc
    ) l
  ),
  checks as (
    select g.gate_id,
           f.blocking is not true and (g.gate_code <> 'G1' or f.any_required is true) and s.reasons is null
             as satisfied,
           coalesce(f.fails, false) as failed,
           coalesce(f.any_input, false) as has_input,
           coalesce(f.reasons, '{}')
             || case when g.gate_code = 'G1' and f.any_required is not true
                     then array['G1: no build checks reported yet'] else '{}'::text[] end
             || coalesce(s.reasons, '{}') as reasons
    from gates g
    left join lateral (
      select pg_catalog.bool_or(x.reason is not null) as blocking,
             pg_catalog.bool_or(x.fails) as fails,
             pg_catalog.bool_or(x.status is not null) as any_input,
             pg_catalog.bool_or(x.is_required) as any_required,
             pg_catalog.array_agg(x.reason order by x.check_name) filter (where x.reason is not null) as reasons
      from (
        select y.check_name, y.status, y.is_required,
               y.status = 'fail' and (y.is_required or g.gate_code = 'G2') as fails,
               case
                 when y.status = 'fail' and (y.is_required or g.gate_code = 'G2') then
                   pg_catalog.format('%s: check "%s" is failing', g.gate_code, y.check_name)
                 when y.is_required and y.status is null then
                   pg_catalog.format('%s: required check "%s" has not reported', g.gate_code, y.check_name)
                 when y.is_required and y.status <> 'pass' then
                   pg_catalog.format('%s: required check "%s" is %s, not pass', g.gate_code, y.check_name, y.status)
               end as reason
        from (
          select coalesce(r.check_name, l.check_name) as check_name, l.status, r.check_name is not null as is_required
          from (
            select n as check_name from pg_catalog.unnest(g.required_names) n
            union
            select l2.check_name from latest l2
            where l2.gate_id = g.gate_id and pg_catalog.cardinality(g.required_names) = 0 and l2.required
          ) r
          full join (select l3.check_name, l3.status from latest l3 where l3.gate_id = g.gate_id) l
            on l.check_name = r.check_name
        ) y
      ) x
    ) f on true
    left join lateral (
      select pg_catalog.array_agg(
               pg_catalog.format('%s: check "%s" %s for %s, release is now at %s', g.gate_code, st.check_name,
                                 case st.status when 'pass' then 'passed' when 'fail' then 'failed'
                                                else 'was ' || st.status end,
                                 ops.revision_label(p_release.release_id, st.revision), ops.gate_now_label(p_release))
               order by st.check_name) as reasons
      from (
        select distinct on (c.check_name) c.check_name, c.status, c.revision
        from ops.gate_checks c
        where p_release.revision > 1 and c.gate_id = g.gate_id and c.revision <> all (p_revisions)
          and (c.required or c.check_name = any (g.required_names))
          and not exists (select 1 from ops.gate_checks n where n.gate_id = g.gate_id
                          and n.check_name = c.check_name and n.revision = any (p_revisions))
        order by c.check_name, c.created_at desc, c.check_id desc
      ) st
    ) s on true
  ),
  -- G4: the standing deployment of the counted revisions, its health and its deadline.
  deployments as (
    select g.gate_id,
           o.verdict = 'stands' as satisfied,
           o.verdict in ('failed', 'rolled_back', 'unhealthy', 'deadline_missed') as failed,
           d.deployment_id is not null as has_input,
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
           end as reasons
    from gates g
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
    where g.gate_code = 'G4'
  ),
  -- Evidence: requirements no artifact meets (one asked for per requirement).
  unmet as (
    select e.gate_id,
           pg_catalog.array_agg(case
             when e.attached_to <> 'latest_deployment' then
               pg_catalog.format('%s: no %s evidence attached', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '))
             else
               pg_catalog.format('%s: no %s evidence for the %s deployment', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '), e.deployment_environment)
           end order by e.ordinality) filter (where e.attached_to <> 'latest_deployment' or e.deployment_id is not null)
             as reasons
    from ops.release_gate_evidence_up_to(p_release.release_id, p_revisions, 1) with ordinality e
    join gates g on g.gate_id = e.gate_id
    -- Without a deployment G4's deployment finding already says so; the gate is still held.
    where e.blocking and pg_catalog.cardinality(e.artifact_ids) = 0
    group by e.gate_id
  ),
  evidence as (
    select g.gate_id, u.gate_id is null as satisfied, false as failed,
           x.any_evidence is not null as has_input,
           coalesce(u.reasons, '{}') as reasons
    from gates g
    left join unmet u on u.gate_id = g.gate_id
    -- Per gate through evidence_artifacts_gate: as an EXISTS, PostgreSQL may hash the whole table.
    left join lateral (
      select true as any_evidence from ops.evidence_artifacts a
      where a.gate_id = g.gate_id and a.revision = any (p_revisions)
      limit 1
    ) x on true
  ),
  -- Approvals: each approver's latest decision for the gate's persona, n of m, stale ones.
  approvals as (
    select g.gate_id,
           not a.rejected and not a.changes and a.approved >= p.min_approvals as satisfied,
           a.rejected as failed,
           a.decided > 0 as has_input,
           case when a.rejected then array[pg_catalog.format('%s: a %s rejected it', g.gate_code, p.approver_persona)]
                when a.changes then
                  array[pg_catalog.format('%s: a %s requested changes', g.gate_code, p.approver_persona)]
                else '{}'::text[] end
           || case when a.approved < p.min_approvals and not a.rejected then
                array[case when a.approved = 0 then pg_catalog.format('%s: no %s approval yet', g.gate_code,
                                                                       p.approver_persona)
                           else pg_catalog.format('%s: %s of %s required %s approvals', g.gate_code, a.approved,
                                                  p.min_approvals, p.approver_persona) end]
                || coalesce(st.reasons, '{}')
              else '{}'::text[] end as reasons
    from gates g
    join ops.gate_policies p on p.gate_code = g.gate_code and p.approver_persona is not null
    cross join lateral (
      select pg_catalog.count(*) filter (where l.decision = 'approved')::integer as approved,
             coalesce(pg_catalog.bool_or(l.decision = 'rejected'), false) as rejected,
             coalesce(pg_catalog.bool_or(l.decision = 'request_changes'), false) as changes,
             pg_catalog.count(*) as decided
      from (
        select distinct on (x.approver_id) x.decision
        from ops.approvals x
        where x.gate_id = g.gate_id and x.persona_role = p.approver_persona and x.revision = any (p_revisions)
          and not (g.gate_code = 'G3' and x.approver_id = v_reviser and x.revision <> p_release.revision)
        order by x.approver_id, x.created_at desc, x.approval_id desc
      ) l
    ) a
    left join lateral (
      select pg_catalog.array_agg(
               pg_catalog.format('%s: the %s approval by %s is stale: approved for %s, release is now at %s',
                                 g.gate_code, p.approver_persona, s.approver_id,
                                 ops.revision_label(p_release.release_id, s.revision), ops.gate_now_label(p_release))
               order by s.approver_id) filter (where s.decision = 'approved') as reasons
      from (
        select distinct on (x.approver_id) x.approver_id, x.decision, x.revision
        from ops.approvals x
        where p_release.revision > 1 and x.gate_id = g.gate_id and x.persona_role = p.approver_persona
          and x.revision <> all (p_revisions)
          and not exists (select 1 from ops.approvals n where n.gate_id = g.gate_id
                          and n.approver_id = x.approver_id and n.revision = any (p_revisions))
        order by x.approver_id, x.created_at desc, x.approval_id desc
      ) s
    ) st on true
  ),
  -- Exceptions: the bypass and the evidence waiver in force; why the release's other bypasses do
  -- not help. Nothing at all when the release has no exceptions.
  exceptions as (
    select g.gate_id,
           (select e.exception_id from ops.exceptions e
            where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
              and e.exception_type = 'gate_bypass' and ops.exception_is_active(e) and e.revision = any (p_revisions)
            order by e.expires_at desc limit 1) as bypass_exception_id,
           exists (select 1 from ops.exceptions e
                   where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
                     and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e)
                     and e.revision = any (p_revisions)) as evidence_waived,
           coalesce((
             select pg_catalog.array_agg(case
                      when e.revision <> all (p_revisions) then
                        pg_catalog.format('%s bypass exception %s was requested for %s, release is now at %s',
                                          g.gate_code, e.exception_id, ops.revision_label(p_release.release_id, e.revision),
                                          ops.gate_now_label(p_release))
                      when e.expires_at <= pg_catalog.clock_timestamp() then
                        pg_catalog.format('%s bypass exception %s expired at %s', g.gate_code, e.exception_id,
                                          pg_catalog.to_char(e.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                      when e.approver_id is null then
                        pg_catalog.format('%s bypass exception %s awaits approval by a release_manager', g.gate_code,
                                          e.exception_id)
                      else
                        pg_catalog.format('%s bypass exception %s takes effect at %s', g.gate_code, e.exception_id,
                                          pg_catalog.to_char(e.effective_from at time zone 'UTC',
                                                             'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    end order by e.created_at)
             from ops.exceptions e
             where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
               and e.exception_type = 'gate_bypass'
               and (not ops.exception_is_active(e) or e.revision <> all (p_revisions))), '{}') as reasons
    from gates g
    where v_any_exception
  )
  select g.gate_id, g.gate_code,
         c.satisfied, c.failed, c.has_input, c.reasons,
         d.gate_id is not null, d.satisfied, d.failed, d.has_input, d.reasons,
         e.satisfied, e.failed, e.has_input, e.reasons,
         a.gate_id is not null, a.satisfied, a.failed, a.has_input, a.reasons,
         x.gate_id is not null, x.bypass_exception_id, x.evidence_waived, x.reasons
  from gates g
  left join checks c on c.gate_id = g.gate_id
  left join deployments d on d.gate_id = g.gate_id
  left join evidence e on e.gate_id = g.gate_id
  left join approvals a on a.gate_id = g.gate_id
  left join exceptions x on x.gate_id = g.gate_id;
end
$$;
revoke execute on function ops.gate_findings(ops.releases, integer[]) from public;

-- Each concern's findings as ops.gate_findings answers them (its text lives there). Take the
-- release row and the counted revisions; return one row per gate the concern has something to say
-- about: satisfied, fails the gate outright, any input, reasons (for exceptions: the bypassing
-- exception, whether evidence is waived, the reasons). Raise nothing. Internal.
create or replace function ops.gate_check_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select f.gate_id, f.check_satisfied, f.check_failed, f.check_has_input, f.check_reasons
  from ops.gate_findings(p_release, p_revisions) f;
end
$$;
revoke execute on function ops.gate_check_findings(ops.releases, integer[]) from public;

create or replace function ops.gate_deployment_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select f.gate_id, f.deployment_satisfied, f.deployment_failed, f.deployment_has_input, f.deployment_reasons
  from ops.gate_findings(p_release, p_revisions) f where f.deployment_found;
end
$$;
revoke execute on function ops.gate_deployment_findings(ops.releases, integer[]) from public;

create or replace function ops.gate_evidence_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select f.gate_id, f.evidence_satisfied, f.evidence_failed, f.evidence_has_input, f.evidence_reasons
  from ops.gate_findings(p_release, p_revisions) f;
end
$$;
revoke execute on function ops.gate_evidence_findings(ops.releases, integer[]) from public;

create or replace function ops.gate_approval_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select f.gate_id, f.approval_satisfied, f.approval_failed, f.approval_has_input, f.approval_reasons
  from ops.gate_findings(p_release, p_revisions) f where f.approval_found;
end
$$;
revoke execute on function ops.gate_approval_findings(ops.releases, integer[]) from public;

create or replace function ops.gate_exception_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, bypass_exception_id uuid, evidence_waived boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  select f.gate_id, f.bypass_exception_id, f.evidence_waived, f.exception_reasons
  from ops.gate_findings(p_release, p_revisions) f where f.exception_found;
end
$$;
revoke execute on function ops.gate_exception_findings(ops.releases, integer[]) from public;

-- G1-G4 of a release as the rule computes them now: every concern's findings from one query
-- (ops.gate_findings) and the timing concern (ops.gate_timing_findings), composed as before (gates
-- are sequential, a bypass passes a gate whose predecessors passed, the status follows from the
-- findings). Takes a release id; returns per gate its status, the reasons it is not passed (empty
-- when passed or bypassed) and the exception that bypasses it. Time: judged at clock_timestamp()
-- by the parts. OPS04: no such release. Internal (no persona executes it). Rule: DESIGN section 4.
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
  v_status public.ops_gate_status;
  v_reasons text[];
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  v_revisions := ops.counted_revisions(p_release_id);
  for g in
    select f.gate_id, f.gate_code,
           coalesce(f.evidence_waived, false) as waived, f.bypass_exception_id, f.exception_reasons,
           coalesce(f.check_satisfied, true) and coalesce(f.deployment_satisfied, true)
             and (coalesce(f.evidence_waived, false) or coalesce(f.evidence_satisfied, true))
             and coalesce(f.approval_satisfied, true) and coalesce(t.satisfied, true) as ok,
           f.check_failed is true or f.deployment_failed is true or f.evidence_failed is true
             or f.approval_failed is true or t.failed is true as hard_fail,
           f.check_has_input is true or f.deployment_has_input is true or f.evidence_has_input is true
             or f.approval_has_input is true or t.has_input is true as any_input,
           coalesce(f.check_reasons, '{}') || coalesce(f.deployment_reasons, '{}')
             || case when f.evidence_waived then '{}'::text[] else coalesce(f.evidence_reasons, '{}') end
             || coalesce(f.approval_reasons, '{}') || coalesce(t.reasons, '{}') as reasons
    from ops.gate_findings(v_release, v_revisions) f
    join ops.gate_definitions gd on gd.gate_code = f.gate_code
    left join ops.gate_timing_findings(v_release, v_revisions) t on t.gate_id = f.gate_id
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
revoke execute on function ops.compute_release_gates(uuid) from public;
