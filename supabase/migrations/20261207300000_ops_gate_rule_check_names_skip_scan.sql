-- The gate rule's check findings cost what a gate's check names cost, not its check history.
--
-- The latest result per check name was read as DISTINCT ON over every check the gate ever had
-- (through gate_checks_gate: gate, name, newest first): a gate with a long history (a pipeline
-- that reports on every push, retries included) made every evaluation of its release read all of
-- it. Measured on one release, G1 with eight check names (compute_release_gates, median of 60
-- calls, embedded PostgreSQL 17): 0.75 ms at 8 checks, 0.99 ms at 100, 2.85 ms at 1,000, 9.9 ms at
-- 5,000. Every ingest event and every dashboard row evaluates a release.
--
-- Now the gate's names are found with one index probe each (a recursive skip scan over
-- gate_checks_gate), and each name's latest result among the counted revisions with one more:
-- 5,000 checks 10.6 → 4.3 ms (what is left is the evidence hanging on checks, read per check when
-- the gate has no other evidence), 8 and 100 checks unchanged (0.8–1.1 ms, alternating runs).
-- Same results: test/governance/gate-rule-one-query.test.ts compares the rule with its previous
-- definitions step by step, test/governance/rule-check-history.test.ts shows the rows read.

-- Every concern of the gate rule for each gate of a release, in one row per gate, as
-- 20261204110000 describes (same arguments, same result, same errors: none of its own; internal,
-- no persona executes it). Only how the latest check result per name is read changed (above).
-- Rule: DESIGN section 4, docs/rules.md; this migration for the reading of the check history.
CREATE OR REPLACE FUNCTION ops.gate_findings(p_release ops.releases, p_revisions integer[])
 RETURNS TABLE(gate_id uuid, gate_code public.ops_gate_code, check_satisfied boolean, check_failed boolean, check_has_input boolean, check_reasons text[], deployment_found boolean, deployment_satisfied boolean, deployment_failed boolean, deployment_has_input boolean, deployment_reasons text[], evidence_satisfied boolean, evidence_failed boolean, evidence_has_input boolean, evidence_reasons text[], approval_found boolean, approval_satisfied boolean, approval_failed boolean, approval_has_input boolean, approval_reasons text[], exception_found boolean, bypass_exception_id uuid, evidence_waived boolean, exception_reasons text[])
 LANGUAGE plpgsql
 STABLE ROWS 4
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
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
      with recursive names (check_name) as (
        (select c.check_name from ops.gate_checks c where c.gate_id = g.gate_id order by c.check_name limit 1)
        union all
        select (select c.check_name from ops.gate_checks c
                where c.gate_id = g.gate_id and c.check_name > n.check_name
                order by c.check_name limit 1)
        from names n
        where n.check_name is not null
      )
      select n.check_name, x.status, x.required
      from names n
      cross join lateral (
        select c.status, c.required from ops.gate_checks c
        where c.gate_id = g.gate_id and c.check_name = n.check_name and c.revision = any (p_revisions)
        order by c.created_at desc, c.check_id desc
        limit 1
      ) x
      where n.check_name is not null
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
$function$;
