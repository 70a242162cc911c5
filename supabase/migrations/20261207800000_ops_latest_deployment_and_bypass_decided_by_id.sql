-- "The latest deployment" and "the bypass in force" are decided by the rows, not by the plan.
--
-- Every rule that takes a release's latest deployment ordered its deployments by
-- (deployed_at desc, created_at desc) and took the first. Two deployments written in one
-- transaction with the same deployed_at (an sre or a pipeline recording staging and production
-- together, through RPC or raw SQL: created_at is the transaction's now() for both) tie on both
-- keys, and which one came first was the plan's choice: an index scan returns ties in their
-- physical order, a sort in no defined order. So the release's status, G4's finding, the soak
-- rule, the latest-deployment evidence and the deployment a health_check without a deployment_id
-- lands on could differ between two evaluations of the same rows (a generic plan against a custom
-- one, a table before and after VACUUM or ANALYZE), and an auditor rebuilding a decision from the
-- database could get another answer than the one stored. Likewise the gate rule reported as "the
-- bypass in force" the active gate_bypass with the latest expires_at, and two with the same expiry
-- were a tie the plan decided: the exception a passed gate is attributed to.
--
-- Now each ordering ends on the row's key: deployments (deployed_at desc, created_at desc,
-- deployment_id desc), bypasses (expires_at desc, created_at desc, exception_id desc). Rows that
-- did not tie are ordered as before, so nothing stored changes for them; for rows that did tie the
-- answer is now the same in every plan. The functions below are their previous definitions
-- (20261207500000, 20261205220000, 20261207300000 and earlier: supabase/schema.sql before this
-- migration) with only those ORDER BY clauses extended; arguments, results, errors, comments and
-- grants are unchanged. Shown by test/governance/latest-deployment-ties.test.ts.
-- Rule: DESIGN section 4 (G4, release status, soak), docs/rules.md.

create or replace function ops.apply_ingest_facts(p_envelope jsonb)
 RETURNS jsonb
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET "TimeZone" TO 'UTC'
 SET "DateStyle" TO 'ISO, YMD'
AS $function$
declare
  v_type public.ops_event_type := (p_envelope ->> 'event_type')::public.ops_event_type;
  v_release uuid := (p_envelope ->> 'release_id')::uuid;
  v_gate public.ops_gate_code := (p_envelope ->> 'gate_code')::public.ops_gate_code;
  v_payload jsonb := coalesce(p_envelope -> 'payload', '{}'::jsonb);
  v_source text := p_envelope ->> 'source_system';
  v_check_source public.ops_check_source :=
    case when p_envelope ->> 'source_system' in (select unnest(enum_range(null::public.ops_check_source))::text)
         then (p_envelope ->> 'source_system')::public.ops_check_source else 'agent' end;
  v_check ops.gate_checks;
  v_artifact ops.evidence_artifacts;
  v_approval ops.approvals;
  v_deployment ops.deployments;
  v_event ops.environment_events;
  v_deployment_id uuid;
begin
  case v_type
    when 'build_complete' then
      v_check := ops.record_check(v_release, 'G1', coalesce(v_payload ->> 'check_name', 'build'),
                                  (v_payload ->> 'status')::public.ops_check_status, v_check_source, true,
                                  v_payload ->> 'artifact_ref', coalesce(v_payload -> 'metadata', '{}'::jsonb));
      if coalesce(v_payload ->> 'log_url', v_payload ->> 'artifact_ref') is not null then
        insert into ops.evidence_artifacts (release_id, gate_id, check_id, artifact_type, source_system, artifact_url,
                                            sha256, ingest_id)
        values (v_release, v_check.gate_id, v_check.check_id, 'build_log', v_source,
                coalesce(v_payload ->> 'log_url', v_payload ->> 'artifact_ref'), lower(v_payload ->> 'sha256'),
                ops.current_ingest_id())
        returning * into v_artifact;
      end if;
      return jsonb_build_object('check_id', v_check.check_id, 'artifact_id', v_artifact.artifact_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_check.gate_id));
    when 'check_result' then
      if v_gate is null then
        raise exception 'check_result needs a gate_code' using errcode = 'OPS22';
      end if;
      v_check := ops.record_check(v_release, v_gate, v_payload ->> 'check_name',
                                  (v_payload ->> 'status')::public.ops_check_status, v_check_source,
                                  coalesce((v_payload ->> 'required')::boolean, true), v_payload ->> 'artifact_ref',
                                  coalesce(v_payload -> 'metadata', '{}'::jsonb));
      return jsonb_build_object('check_id', v_check.check_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_check.gate_id));
    when 'gate_signoff' then
      v_approval := ops.submit_approval(v_release, (v_payload ->> 'decision')::public.ops_approval_decision, v_gate,
                                        v_payload ->> 'rationale_text',
                                        coalesce(v_payload -> 'rationale_structured', '{}'::jsonb));
      return jsonb_build_object('approval_id', v_approval.approval_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_approval.gate_id));
    when 'evidence_attached' then
      v_artifact := ops.attach_evidence(v_release, (v_payload ->> 'artifact_type')::public.ops_artifact_type,
                                        v_payload ->> 'artifact_url', v_gate, v_payload ->> 'sha256', v_source,
                                        coalesce(v_payload -> 'metadata', '{}'::jsonb),
                                        (v_payload ->> 'check_id')::uuid, (v_payload ->> 'deployment_id')::uuid);
      return jsonb_build_object('artifact_id', v_artifact.artifact_id);
    when 'deployment_event' then
      if v_payload ? 'deployment_id' then
        v_deployment_id := (v_payload ->> 'deployment_id')::uuid;
        if not exists (select 1 from ops.deployments d where d.deployment_id = v_deployment_id
                       and d.release_id = v_release) then
          raise exception 'deployment % of release % does not exist', v_deployment_id, v_release using errcode = 'OPS04';
        end if;
        v_deployment := ops.update_deployment(v_deployment_id, (v_payload ->> 'status')::public.ops_deployment_status);
      else
        v_deployment := ops.record_deployment(v_release, v_payload ->> 'environment',
                                              coalesce(v_payload ->> 'status', 'in_progress')::public.ops_deployment_status,
                                              v_payload ->> 'source_ref', (v_payload ->> 'rollback_of')::uuid,
                                              (v_payload ->> 'deployed_at')::timestamptz);
      end if;
      return jsonb_build_object('deployment_id', v_deployment.deployment_id, 'status', v_deployment.status);
    when 'health_check' then
      v_deployment_id := coalesce((v_payload ->> 'deployment_id')::uuid, (
        select d.deployment_id from ops.deployments d
        where d.release_id = v_release and d.environment::text = v_payload ->> 'environment' and d.rollback_of is null
        order by d.deployed_at desc, d.created_at desc, d.deployment_id desc limit 1));
      if v_deployment_id is null or not exists (
          select 1 from ops.deployments d where d.deployment_id = v_deployment_id and d.release_id = v_release) then
        raise exception 'health_check names no deployment of release % (give payload.deployment_id or environment)',
          v_release using errcode = 'OPS04';
      end if;
      v_deployment := ops.record_health_check(v_deployment_id, (v_payload ->> 'status')::public.ops_check_status,
                                              v_payload ->> 'artifact_url', v_payload ->> 'sha256',
                                              coalesce(v_payload ->> 'check_name', 'health_check'), v_check_source,
                                              coalesce(v_payload -> 'metadata', '{}'::jsonb));
      return jsonb_build_object('deployment_id', v_deployment.deployment_id, 'g4_status', v_deployment.g4_status);
    when 'environment_event' then
      insert into ops.environment_events (environment, event_type, source_system, release_id, payload, idempotency_key,
                                          ingest_id)
      values (v_payload ->> 'environment', coalesce(v_payload ->> 'kind', v_payload ->> 'event_type', 'event'), v_source,
              v_release, v_payload, p_envelope ->> 'idempotency_key', ops.current_ingest_id())
      returning * into v_event;
      return jsonb_build_object('event_id', v_event.event_id);
  end case;
end
$function$;

create or replace function ops.deployments_in_order()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_latest ops.deployments;
  v_target_at timestamptz;
begin
  if new.rollback_of is not null then
    select d.deployed_at into v_target_at from ops.deployments d where d.deployment_id = new.rollback_of;
    if new.deployed_at < v_target_at then
      raise exception 'rollback deployed_at % is before the deployment it undoes (%)', new.deployed_at, v_target_at
        using errcode = 'OPS22';
    end if;
    return new;
  end if;
  select * into v_latest from ops.deployments d
    where d.release_id = new.release_id and d.rollback_of is null
    order by d.deployed_at desc, d.created_at desc, d.deployment_id desc
    limit 1;
  if found and new.deployed_at < v_latest.deployed_at then
    raise exception 'deployed_at % is before the % deployment % of this release (%): deployments of a release are recorded in the order they happen',
      new.deployed_at, v_latest.environment, v_latest.deployment_id, v_latest.deployed_at using errcode = 'OPS09';
  end if;
  return new;
end
$function$;

create or replace function ops.derive_release_status(p_release_id uuid)
 RETURNS public.ops_release_status
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_latest ops.deployments;
  v_prod ops.deployments;
begin
  select * into v_latest from ops.deployments d where d.release_id = p_release_id
    order by d.deployed_at desc, d.created_at desc, d.deployment_id desc limit 1;
  if v_latest.deployment_id is not null and (v_latest.rollback_of is not null or v_latest.status = 'rolled_back') then
    return 'rolled_back';
  end if;
  select * into v_prod from ops.deployments d
    where d.release_id = p_release_id and d.environment = 'production' and d.rollback_of is null
    order by d.deployed_at desc, d.created_at desc, d.deployment_id desc limit 1;
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
$function$;

create or replace function ops.gate_findings(p_release ops.releases, p_revisions integer[])
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
      order by x.deployed_at desc, x.created_at desc, x.deployment_id desc limit 1
    ) d on true
    left join lateral (
      select x.* from ops.deployments x
      where d.deployment_id is null and x.release_id = p_release.release_id and x.rollback_of is null
      order by x.deployed_at desc, x.created_at desc, x.deployment_id desc limit 1
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
            order by e.expires_at desc, e.created_at desc, e.exception_id desc limit 1) as bypass_exception_id,
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

create or replace function ops.release_gate_evidence_up_to(p_release_id uuid, p_revisions integer[], p_limit integer)
 RETURNS TABLE(gate_id uuid, requirement_id uuid, artifact_types public.ops_artifact_type[], attached_to public.ops_evidence_scope, blocking boolean, deployment_id uuid, deployment_environment public.ops_environment, artifact_ids uuid[], present_types public.ops_artifact_type[])
 LANGUAGE plpgsql
 STABLE ROWS 8
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
#variable_conflict use_column
begin
  if p_release_id is null then
    raise exception 'the evidence of a release''s gates needs the release: none was given' using errcode = 'OPS22';
  end if;
  if p_limit < 1 then
    raise exception 'p_limit must be at least 1 (or NULL for every artifact), got %', p_limit
      using errcode = 'OPS22';
  end if;
  return query
  select g.gate_id, q.requirement_id, q.artifact_types, q.attached_to, q.blocking, dep.deployment_id,
         dep.environment, coalesce(ev.artifact_ids, '{}'), coalesce(ev.present_types, '{}')
  from ops.release_gates g
  join ops.gate_evidence_requirements q on q.gate_code = g.gate_code
  left join lateral (
    select d.deployment_id, d.environment from ops.deployments d
    where q.attached_to = 'latest_deployment' and d.release_id = g.release_id and d.rollback_of is null
      and d.revision = any (p_revisions)
    order by d.deployed_at desc, d.created_at desc, d.deployment_id desc limit 1
  ) dep on true
  left join lateral (
    select pg_catalog.array_agg(distinct m.artifact_id order by m.artifact_id) as artifact_ids,
           pg_catalog.array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      select u.artifact_id, u.artifact_type
      from (
      -- One index-friendly branch per place evidence can hang; an artifact found through two
      -- branches is counted once by the aggregates above.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union all
      -- Evidence on the gate's checks, by the check's gate stamped on the artifact
      -- (evidence_artifacts_check_gate): as many rows as such artifacts of the required types,
      -- however many checks the gate has.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.check_gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
        and a.revision = any (p_revisions)
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
      ) u
      where u.artifact_type = any (q.artifact_types)
      -- NULL: every artifact. The gate rule asks for one: whether the requirement is met.
      limit p_limit
    ) m
  ) ev on true
  where g.release_id = p_release_id
  order by q.gate_code, pg_catalog.array_to_string(q.artifact_types, ',');
end
$function$;

create or replace function ops.soak_findings(p_release_id uuid, p_env public.ops_environment, p_at timestamp with time zone)
 RETURNS TABLE(from_env public.ops_environment, min_soak interval, reason text, until timestamp with time zone)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER ROWS 2
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
declare
  v_release ops.releases;
  v_policy ops.soak_policies;
  v_dep ops.deployments;
  v_rolled_back boolean;
  v_since timestamptz;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  for v_policy in
    select distinct on (p.from_env) p.* from ops.soak_policies p
    where p.to_env = p_env and (p.project is null or p.project = v_release.project)
    order by p.from_env, p.project nulls last
  loop
    continue when v_policy.min_soak <= interval '0';
    from_env := v_policy.from_env;
    min_soak := v_policy.min_soak;
    select * into v_dep from ops.deployments d
      where d.release_id = p_release_id and d.environment = v_policy.from_env and d.rollback_of is null
        and d.revision = v_release.revision
      order by d.deployed_at desc, d.created_at desc, d.deployment_id desc limit 1;
    if v_dep.deployment_id is null then
      reason := pg_catalog.format('soak: %s must stand healthy in %s for %s first; it has not been deployed there',
                                  ops.revision_label(p_release_id, v_release.revision), v_policy.from_env,
                                  v_policy.min_soak);
      until := null;
      return next;
      continue;
    end if;
    v_rolled_back := v_dep.status = 'rolled_back'
      or exists (select 1 from ops.deployments b where b.rollback_of = v_dep.deployment_id);
    if v_dep.status <> 'succeeded' or v_rolled_back or v_dep.g4_status <> 'passed' or v_dep.g4_resolved_at is null then
      reason := pg_catalog.format('soak: the %s deployment %s is not standing healthy (%s, G4 %s); the %s soak starts with its next confirmed deployment',
                                  v_policy.from_env, v_dep.deployment_id,
                                  case when v_rolled_back then 'rolled back' else v_dep.status::text end,
                                  v_dep.g4_status, v_policy.min_soak);
      until := null;
      return next;
      continue;
    end if;
    v_since := greatest(v_dep.g4_resolved_at,
                        (select max(t.created_at) from ops.deployment_transitions t
                         where t.deployment_id = v_dep.deployment_id and t.to_status = 'succeeded'));
    if v_since + v_policy.min_soak > p_at then
      until := v_since + v_policy.min_soak;
      reason := pg_catalog.format('soak: %s has stood healthy in %s for %s of %s; %s left (until %s)',
                                  ops.revision_label(p_release_id, v_release.revision), v_policy.from_env,
                                  pg_catalog.date_trunc('second', greatest(p_at - v_since, interval '0')),
                                  v_policy.min_soak, pg_catalog.date_trunc('second', until - p_at),
                                  ops.iso_utc(until));
      return next;
    end if;
  end loop;
end
$function$;
