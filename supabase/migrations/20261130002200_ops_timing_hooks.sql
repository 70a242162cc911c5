-- Hooks of the timing rules (20261130002100) into the gate rule, the promotion blockers and the
-- release timeline, each marked `-- timing:`; the rest of each body is as it was
-- (supabase/schema.sql before this migration). Then the timing timeline and reporting views.

-- Takes a release id; returns the timing entries of its timeline (freeze windows starting and
-- ending while the release was open, in the environments it is promoted to and for its project;
-- timing_override uses; approval requests and their expiry; G4 deadline transitions), in the
-- columns of ops.release_timeline's facts. Owner-rights helper of ops.release_timeline, which
-- checks visibility; not granted. Freeze occurrences are listed for at most the last 180 days.
create function ops.timing_timeline(p_release_id uuid)
returns table (at timestamptz, rank integer, kind text, actor text, persona public.ops_persona, source_system text,
               ingest_id uuid, gate_code public.ops_gate_code, summary text, entity_id uuid)
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with rel as (
    select r.*, greatest(r.created_at, pg_catalog.clock_timestamp() - interval '180 days') as since
    from ops.releases r where r.release_id = p_release_id
  ), occ as (
    select w.window_id, w.name, w.environment, w.created_by, o.starts_at, o.ends_at, rel.created_at as release_created
    from rel
    join ops.freeze_windows w on w.project is null or w.project = rel.project
    cross join lateral ops.freeze_occurrences(w, rel.since, pg_catalog.clock_timestamp()) o
  )
  select o.starts_at, 13, 'freeze_started', o.created_by, null::public.ops_persona, null::text, null::uuid,
         null::public.ops_gate_code,
         pg_catalog.format('freeze "%s" (%s) started for %s until %s', o.name, o.window_id, o.environment,
                           ops.iso_utc(o.ends_at)),
         o.window_id
  from occ o
  union all
  select o.ends_at, 13, 'freeze_ended', null, null, null, null, null,
         pg_catalog.format('freeze "%s" (%s) ended for %s', o.name, o.window_id, o.environment),
         o.window_id
  from occ o where o.ends_at <= pg_catalog.clock_timestamp()
  union all
  select u.created_at, 14, 'override_used', u.created_by, u.created_persona, null, null, null, u.detail, u.use_id
  from ops.timing_override_uses u where u.release_id = p_release_id
  union all
  select q.requested_at, 15, 'approval_requested', q.requested_by, q.created_persona, null, null, q.gate_code,
         pg_catalog.format('%s approval requested by %s%s%s', q.gate_code, q.requested_by,
                           coalesce(', due ' || ops.iso_utc(q.due_at), ', no deadline'), coalesce(': ' || q.note, '')),
         q.request_id
  from ops.timing_approval_requests q where q.release_id = p_release_id
  union all
  select q.due_at, 16, 'approval_request_expired', null, null, null, null, q.gate_code,
         pg_catalog.format('%s approval requested by %s at %s expired: nobody decided it by %s', q.gate_code,
                           q.requested_by, ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
         q.request_id
  from ops.timing_approval_requests q
  where q.release_id = p_release_id and ops.approval_request_state(q) = 'expired'
  union all
  select t.created_at, 16, 'g4_deadline_missed', t.created_by, t.created_persona, null, null, t.gate_code, t.reason,
         t.transition_id
  from ops.deadline_transitions t where t.release_id = p_release_id and t.subject_kind = 'deployment_g4'
$$;
revoke execute on function ops.timing_timeline(uuid) from public;

CREATE OR REPLACE FUNCTION ops.compute_release_gates(p_release_id uuid)
 RETURNS TABLE(gate_id uuid, gate_code public.ops_gate_code, status public.ops_gate_status, reasons text[], exception_id uuid)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
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
  v_now_label text;
  v_stale record;
  v_rolled_back boolean;
  v_old_dep ops.deployments;
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
  -- Facts count only for the release's current revision; those of earlier revisions are named in
  -- the reasons as stale ("approved for X, release is now at Y").
  v_now_label := coalesce(v_release.source_ref, 'no source ref')
                 || coalesce(' (' || v_release.artifact_digest || ')', '');

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
          and e.exception_type = 'gate_bypass' and ops.exception_is_active(e) and e.revision = v_release.revision
        order by e.expires_at desc limit 1;
      v_waived := exists (
        select 1 from ops.exceptions e
        where e.release_id = p_release_id and g.gate_code = any (e.impacted_gates)
          and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e)
          and e.revision = v_release.revision);
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
        from ops.gate_checks c where c.gate_id = g.gate_id and c.revision = v_release.revision
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
    -- Checks whose latest result is of an earlier revision and that have not reported since.
    if v_release.revision > 1 then
      for v_stale in
        select distinct on (c.check_name) c.check_name, c.status, c.revision
        from ops.gate_checks c
        where c.gate_id = g.gate_id and c.revision <> v_release.revision
          and (c.required or c.check_name = any (v_required_names))
          and not exists (select 1 from ops.gate_checks n where n.gate_id = g.gate_id
                          and n.check_name = c.check_name and n.revision = v_release.revision)
        order by c.check_name, c.created_at desc, c.check_id desc
      loop
        v_checks_ok := false;
        v_reasons := v_reasons || format('%s: check "%s" %s for %s, release is now at %s', g.gate_code,
                                         v_stale.check_name,
                                         case v_stale.status when 'pass' then 'passed' when 'fail' then 'failed'
                                                             else 'was ' || v_stale.status end,
                                         ops.revision_label(p_release_id, v_stale.revision), v_now_label);
      end loop;
    end if;

    -- G4 confirms the release's latest deployment of its current revision (rollbacks aside), and
    -- only while that deployment stands: succeeded, not rolled back, healthy. A later deployment
    -- (a failed one included) supersedes it; a failure or a rollback withdraws G4.
    v_evidence_ok := true;
    if g.gate_code = 'G4' then
      select * into v_dep from ops.deployments d
        where d.release_id = p_release_id and d.rollback_of is null and d.revision = v_release.revision
        order by d.deployed_at desc, d.created_at desc limit 1;
      if v_dep.deployment_id is null then
        v_evidence_ok := false;
        select * into v_old_dep from ops.deployments d
          where d.release_id = p_release_id and d.rollback_of is null
          order by d.deployed_at desc, d.created_at desc limit 1;
        if v_old_dep.deployment_id is null then
          v_reasons := v_reasons || 'G4: the release has not been deployed yet'::text;
        else
          v_reasons := v_reasons || format('G4: the %s deployment %s is of %s, release is now at %s',
                                           v_old_dep.environment, v_old_dep.deployment_id,
                                           ops.revision_label(p_release_id, v_old_dep.revision), v_now_label);
        end if;
      else
        v_any_input := true;
        v_rolled_back := v_dep.status = 'rolled_back'
          or exists (select 1 from ops.deployments b where b.rollback_of = v_dep.deployment_id);
        if v_dep.status = 'failed' then
          v_hard_fail := true;
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the %s deployment %s failed', v_dep.environment, v_dep.deployment_id);
        elsif v_rolled_back then
          v_hard_fail := true;
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the %s deployment %s was rolled back', v_dep.environment,
                                           v_dep.deployment_id);
        elsif v_dep.g4_status = 'failed' then
          v_hard_fail := true;
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the health check of the %s deployment failed', v_dep.environment);
        -- timing: a health confirmation that missed the G4 deadline fails G4 (ops.g4_deadline_reason,
        -- 20261130002100).
        elsif ops.g4_deadline_reason(v_dep) is not null then
          v_hard_fail := true;
          v_evidence_ok := false;
          v_reasons := v_reasons || ops.g4_deadline_reason(v_dep);
        elsif v_dep.status <> 'succeeded' then
          v_evidence_ok := false;
          v_reasons := v_reasons || format('G4: the %s deployment %s has not succeeded yet (it is %s)',
                                           v_dep.environment, v_dep.deployment_id, v_dep.status);
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
    if exists (select 1 from ops.evidence_artifacts a where a.gate_id = g.gate_id
               and a.revision = v_release.revision) then
      v_any_input := true;
    end if;

    -- Approvals: each approver's latest decision on the gate counts, from the gate's persona.
    v_approvals_ok := true;
    if v_policy.approver_persona is not null then
      with latest as (
        select distinct on (a.approver_id) a.approver_id, a.decision
        from ops.approvals a
        where a.gate_id = g.gate_id and a.persona_role = v_policy.approver_persona
          and a.revision = v_release.revision
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
        -- Approvals of an earlier revision by approvers who have not decided this one.
        if v_release.revision > 1 then
          for v_stale in
            select distinct on (a.approver_id) a.approver_id, a.decision, a.revision
            from ops.approvals a
            where a.gate_id = g.gate_id and a.persona_role = v_policy.approver_persona
              and a.revision <> v_release.revision
              and not exists (select 1 from ops.approvals n where n.gate_id = g.gate_id
                              and n.approver_id = a.approver_id and n.revision = v_release.revision)
            order by a.approver_id, a.created_at desc, a.approval_id desc
          loop
            if v_stale.decision = 'approved' then
              v_reasons := v_reasons || format('%s: the %s approval by %s is stale: approved for %s, release is now at %s',
                                               g.gate_code, v_policy.approver_persona, v_stale.approver_id,
                                               ops.revision_label(p_release_id, v_stale.revision), v_now_label);
            end if;
          end loop;
        end if;
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
          and e.exception_type = 'gate_bypass'
          and (not ops.exception_is_active(e) or e.revision <> v_release.revision)
        order by e.created_at
      loop
        v_reasons := v_reasons || case
          when v_exc.revision <> v_release.revision then
            format('%s bypass exception %s was requested for %s, release is now at %s', g.gate_code,
                   v_exc.exception_id, ops.revision_label(p_release_id, v_exc.revision), v_now_label)
          when v_exc.expires_at <= clock_timestamp() then
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
$function$;

CREATE OR REPLACE FUNCTION ops.promotion_blockers(p_release_id uuid)
 RETURNS TABLE(target_env public.ops_environment, gate_code public.ops_gate_code, status public.ops_gate_status, reason text)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
    select x.target_env, x.gate_code, x.status, x.reason from (
    select q.target_env, c.gate_code, c.status, r.reason, r.n
    from ops.compute_release_gates(p_release_id) c
    join ops.gate_requirements q on q.gate_code = c.gate_code
    cross join lateral unnest(case when cardinality(c.reasons) > 0 then c.reasons
                                   else array[format('%s is %s', c.gate_code, c.status)] end)
      with ordinality as r(reason, n)
    where c.status not in ('passed', 'bypassed')
    -- timing: freezes and soak time block promotion (no gate, no gate status), unless an approved
    -- timing_override exception lifts them (ops.timing_blockers, 20261130002100).
    union all
    select t.target_env, null::public.ops_gate_code, null::public.ops_gate_status, t.reason,
           1000 + row_number() over (partition by t.target_env order by t.kind, t.until)
    from ops.timing_blockers(p_release_id, clock_timestamp()) t
    ) x
    order by x.target_env, x.gate_code nulls last, x.n;
end
$function$;

CREATE OR REPLACE FUNCTION ops.release_timeline(p_release_id uuid)
 RETURNS TABLE(seq bigint, at timestamp with time zone, kind text, actor text, persona public.ops_persona, source_system text, ingest_id uuid, gate_code public.ops_gate_code, summary text, entity_id uuid)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
#variable_conflict use_column
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
  with gates as (
    select g.gate_id, g.gate_code from ops.release_gates g where g.release_id = p_release_id
  ), deps as (
    select d.* from ops.deployments d where d.release_id = p_release_id
  ), facts (at, rank, kind, actor, persona, source_system, ingest_id, gate_code, summary, entity_id) as (
    select r.created_at, 1, 'release_created', r.created_by, r.created_persona, null::text, null::uuid,
           null::public.ops_gate_code,
           format('release %s of %s created for %s from %s, initiated by %s', r.release_name, r.project,
                  r.environment_target, coalesce(r.source_ref, 'no source ref'), r.initiating_actor),
           r.release_id
    from ops.releases r where r.release_id = p_release_id
    union all
    -- Each revision after the first (the first is in the release_created line).
    select v.created_at, 1, 'revision', v.revised_by, v.created_persona, null, null, null,
           format('revision %s: %s (was %s) by %s: %s; checks, evidence and approvals of earlier revisions no longer count',
                  v.revision, coalesce(v.source_ref, 'no source ref') || coalesce(' (' || v.artifact_digest || ')', ''),
                  coalesce(v.previous_source_ref, 'no source ref')
                    || coalesce(' (' || v.previous_artifact_digest || ')', ''),
                  v.revised_by, v.reason),
           v.revision_id
    from ops.release_revisions v where v.release_id = p_release_id and v.revision > 1
    union all
    select l.received_at, 2, 'ingest_attempt', l.created_by, l.created_persona, l.source_system, l.ingest_id,
           case when l.gate_code in ('G1', 'G2', 'G3', 'G4') then l.gate_code::public.ops_gate_code end,
           -- A refused attempt is shown by its error code only: what it sent (its key, its version,
           -- the messages about it) is the sender's text and stays in the ingest log, not on the
           -- release's timeline.
           case when l.processing_status in ('rejected', 'error') then
             format('%s event: %s (HTTP %s): %s', coalesce(l.event_type::text, 'unknown'), l.processing_status,
                    coalesce(l.http_status::text, '-'), coalesce(l.error_detail ->> 'error', 'refused'))
           else
             format('%s event %s: %s (HTTP %s)%s', coalesce(l.event_type, 'unknown'), coalesce(l.idempotency_key, '-'),
                    l.processing_status, coalesce(l.http_status::text, '-'),
                    case when l.duplicate_of is not null then ', duplicate of ingest ' || l.duplicate_of else '' end)
           end,
           l.ingest_id
    from ops.event_ingest_log l where l.release_id = p_release_id
    union all
    select c.created_at, 3,
           case when g.gate_code = 'G4' and c.metadata ? 'deployment_id' then 'health_check' else 'check' end,
           c.created_by, c.created_persona, c.source_system::text, c.ingest_id, g.gate_code,
           case when g.gate_code = 'G4' and c.metadata ? 'deployment_id'
                then format('health check "%s" of the %s deployment %s: %s', c.check_name, c.metadata ->> 'environment',
                            c.metadata ->> 'deployment_id', c.status)
                else format('%s check "%s" reported %s%s', g.gate_code, c.check_name, c.status,
                            case when c.required then '' else ' (not required)' end) end,
           c.check_id
    from gates g join ops.gate_checks c on c.gate_id = g.gate_id
    union all
    select a.created_at, 4, 'evidence', a.created_by, a.created_persona, a.source_system, a.ingest_id, g.gate_code,
           format('%s evidence%s: %s%s', a.artifact_type, coalesce(' on ' || g.gate_code, ''), a.artifact_url,
                  coalesce(' (sha256 ' || a.sha256 || ')', '')),
           a.artifact_id
    from ops.release_evidence(p_release_id) a left join gates g on g.gate_id = a.gate_id
    union all
    select a.created_at, 5,
           case when a.scope = 'exception' then 'exception_' else '' end
             || case a.decision when 'approved' then 'approval' when 'rejected' then 'rejection'
                                else 'changes_requested' end,
           a.approver_id, a.persona_role, l.source_system, a.ingest_id, g.gate_code,
           format('%s %s %s %s%s', a.persona_role, a.approver_id,
                  case a.decision when 'request_changes' then 'requested changes on' else a.decision::text end,
                  case a.scope when 'gate' then g.gate_code::text when 'exception' then 'exception ' || a.exception_id
                               else 'the release' end,
                  coalesce(': ' || a.rationale_text, '')),
           a.approval_id
    from ops.approvals a
    left join gates g on g.gate_id = a.gate_id
    left join ops.event_ingest_log l on l.ingest_id = a.ingest_id
    where a.release_id = p_release_id
    union all
    select e.created_at, 6, 'exception_requested', e.requested_by, e.created_persona, null, null, null,
           format('%s exception %s for %s requested: %s; risk: %s; window %s to %s', e.exception_type, e.exception_id,
                  array_to_string(e.impacted_gates, ', '), e.reason, e.risk_statement, ops.iso_utc(e.effective_from),
                  ops.iso_utc(e.expires_at)),
           e.exception_id
    from ops.exceptions e where e.release_id = p_release_id
    union all
    select e.expires_at, 7, 'exception_expired', null, null, null, null, null,
           format('%s exception %s for %s expired%s', e.exception_type, e.exception_id,
                  array_to_string(e.impacted_gates, ', '),
                  case when e.approver_id is null then ' without being approved' else '' end),
           e.exception_id
    from ops.exceptions e where e.release_id = p_release_id and e.expires_at <= clock_timestamp()
    union all
    select t.created_at, 8, 'gate_transition', t.actor, t.created_persona, l.source_system, t.ingest_id, g.gate_code,
           format('%s %s -> %s: %s', g.gate_code, t.from_status, t.to_status, t.reason),
           t.transition_id
    from gates g
    join ops.gate_transitions t on t.gate_id = g.gate_id
    left join ops.event_ingest_log l on l.ingest_id = t.ingest_id
    union all
    -- The status a deployment was recorded with: before its first transition, if it has one.
    select d.created_at, 9, case when d.rollback_of is null then 'deployment' else 'rollback' end,
           d.deployed_by, d.created_persona, l.source_system, d.ingest_id, null,
           format('%s %s to %s: %s, deployed at %s from %s', case when d.rollback_of is null then 'deployment'
                                                                  else 'rollback of ' || d.rollback_of || ',' end,
                  d.deployment_id, d.environment, coalesce(initial.from_status, d.status), ops.iso_utc(d.deployed_at),
                  coalesce(d.source_ref, 'no source ref')),
           d.deployment_id
    from deps d
    left join ops.event_ingest_log l on l.ingest_id = d.ingest_id
    left join lateral (
      select t.from_status from ops.deployment_transitions t where t.deployment_id = d.deployment_id
      order by t.created_at, t.transition_id limit 1
    ) initial on true
    union all
    select t.created_at, 10, 'deployment_transition', t.actor, t.created_persona, l.source_system, t.ingest_id, null,
           format('%s deployment %s: %s', d.environment, d.deployment_id,
                  concat_ws(', ',
                            case when t.from_status <> t.to_status
                                 then format('%s -> %s', t.from_status, t.to_status) end,
                            case when t.from_g4_status <> t.to_g4_status
                                 then format('G4 %s -> %s', t.from_g4_status, t.to_g4_status) end)),
           t.transition_id
    from deps d
    join ops.deployment_transitions t on t.deployment_id = d.deployment_id
    left join ops.event_ingest_log l on l.ingest_id = t.ingest_id
    union all
    select i.created_at, 11, 'incident', i.created_by, i.created_persona, null, null, null,
           format('%s incident on the %s deployment %s, detected at %s%s%s', i.severity, d.environment, d.deployment_id,
                  ops.iso_utc(i.detected_at), coalesce(', resolved at ' || ops.iso_utc(i.resolved_at), ''),
                  coalesce(': ' || i.root_cause, '')),
           i.incident_id
    from deps d join ops.incidents i on i.deployment_id = d.deployment_id
    union all
    select v.created_at, 12, 'environment_event', v.created_by, v.created_persona, v.source_system, v.ingest_id, null,
           format('%s event in %s from %s', v.event_type, v.environment, v.source_system),
           v.event_id
    from ops.environment_events v where v.release_id = p_release_id
    -- timing: freezes as they affected the release, override uses, approval requests and
    -- deadline transitions (ops.timing_timeline, 20261130002200).
    union all
    select t.at, t.rank, t.kind, t.actor, t.persona, t.source_system, t.ingest_id, t.gate_code, t.summary, t.entity_id
    from ops.timing_timeline(p_release_id) t
  )
  select row_number() over (order by f.at, f.rank, f.entity_id), f.at, f.kind, f.actor, f.persona, f.source_system,
         f.ingest_id, f.gate_code, regexp_replace(f.summary, '\s*[\r\n]+\s*', ' ', 'g'), f.entity_id
  from facts f
  order by f.at, f.rank, f.entity_id;
end
$function$;

-- ---------------------------------------------------------------------------------------------
-- Reporting views

-- The freeze calendar: each window with its state now (active, scheduled, ended, over) and its
-- current or next occurrence (looked for up to 400 days ahead).
create view ops.v_freeze_calendar with (security_invoker = true) as
select w.window_id, w.name, w.environment, w.project, w.reason,
       case when w.time_zone is null then 'once' else 'weekly' end as recurrence,
       w.time_zone, w.weekly_from_dow, w.weekly_from_time, w.weekly_until_dow, w.weekly_until_time,
       w.starts_at, w.ends_at,
       case when w.ended_at is not null and w.ended_at <= pg_catalog.clock_timestamp() then 'ended'
            when n.starts_at is null then 'over'
            when n.starts_at <= pg_catalog.clock_timestamp() then 'active'
            else 'scheduled' end as state,
       n.starts_at as occurrence_starts_at, n.ends_at as occurrence_ends_at,
       w.ended_at, w.ended_by, w.end_reason, w.created_by, w.created_at
from ops.freeze_windows w
left join lateral (
  select o.starts_at, o.ends_at
  from ops.freeze_occurrences(w, pg_catalog.clock_timestamp(), pg_catalog.clock_timestamp() + interval '400 days') o
  order by o.starts_at limit 1
) n on true;
create trigger v_freeze_calendar_read_only instead of insert or update or delete on ops.v_freeze_calendar
  for each row execute function ops.refuse_report_write();
grant select on ops.v_freeze_calendar to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Approval requests with their state at read time and the recorded expiry, if any.
create view ops.v_approval_requests with (security_invoker = true) as
select q.request_id, q.release_id, r.project, r.release_name, q.gate_code, q.revision, q.requested_by,
       q.requested_at, q.due_at, ops.approval_request_state(q) as state,
       t.created_at as expiry_recorded_at, q.note
from ops.timing_approval_requests q
join ops.releases r on r.release_id = q.release_id
left join ops.deadline_transitions t on t.subject_kind = 'approval_request' and t.subject_id = q.request_id;
create trigger v_approval_requests_read_only instead of insert or update or delete on ops.v_approval_requests
  for each row execute function ops.refuse_report_write();
grant select on ops.v_approval_requests to release_manager, audit_reader;
