-- The write functions every door calls. Each checks its caller's persona, records the writer from
-- the token (the tables' triggers stamp created_by), and leaves gate re-evaluation and separation
-- of duties to the tables' triggers, so a direct INSERT obeys the same rules.

create function ops.gate_of(p_release_id uuid, p_gate_code public.ops_gate_code) returns ops.release_gates
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_gate ops.release_gates;
begin
  perform ops.assert_can_read_release(p_release_id);
  select * into v_gate from ops.release_gates g where g.release_id = p_release_id and g.gate_code = p_gate_code;
  return v_gate;
end
$$;

create function ops.create_release(
  p_project text,
  p_release_name text,
  p_environment_target text default 'production',
  p_source_ref text default null,
  p_scope_metadata jsonb default '{}'::jsonb,
  p_initiating_actor text default null
) returns ops.releases
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona :=
    ops.require_persona('{release_manager,developer,ci_service_role}', 'create releases');
  v_release ops.releases;
begin
  -- Only a pipeline creates a release on behalf of the person whose change it ships.
  if p_initiating_actor is not null and p_initiating_actor <> ops.current_actor() and v_persona <> 'ci_service_role' then
    raise exception 'only ci_service_role may name another initiating actor' using errcode = 'OPS03';
  end if;
  if exists (select 1 from ops.releases r where r.project = p_project and r.release_name = p_release_name) then
    raise exception 'release % of project % already exists', p_release_name, p_project using errcode = 'OPS09';
  end if;
  insert into ops.releases (project, release_name, environment_target, source_ref, scope_metadata, initiating_actor)
  values (p_project, p_release_name, ops.parse_environment(p_environment_target), p_source_ref,
          coalesce(p_scope_metadata, '{}'::jsonb), coalesce(p_initiating_actor, ops.current_actor()))
  returning * into v_release;
  return v_release;
end
$$;

create function ops.record_check(
  p_release_id uuid,
  p_gate_code public.ops_gate_code,
  p_check_name text,
  p_status public.ops_check_status,
  p_source_system public.ops_check_source default 'github_actions',
  p_required boolean default true,
  p_artifact_ref text default null,
  p_metadata jsonb default '{}'::jsonb
) returns ops.gate_checks
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona := ops.require_persona('{ci_service_role,developer}', 'record checks');
  v_gate ops.release_gates := ops.gate_of(p_release_id, p_gate_code);
  v_check ops.gate_checks;
begin
  if v_persona = 'developer' and not ops.owns_release(p_release_id) then
    raise exception 'a developer records checks only on releases they initiated' using errcode = 'OPS03';
  end if;
  insert into ops.gate_checks (gate_id, check_name, source_system, status, required, artifact_ref, metadata, ingest_id)
  values (v_gate.gate_id, p_check_name, p_source_system, p_status, coalesce(p_required, true), p_artifact_ref,
          coalesce(p_metadata, '{}'::jsonb), ops.current_ingest_id())
  returning * into v_check;
  return v_check;
end
$$;

create function ops.attach_evidence(
  p_release_id uuid,
  p_artifact_type public.ops_artifact_type,
  p_artifact_url text,
  p_gate_code public.ops_gate_code default null,
  p_sha256 text default null,
  p_source_system text default 'manual',
  p_metadata jsonb default '{}'::jsonb,
  p_check_id uuid default null,
  p_deployment_id uuid default null
) returns ops.evidence_artifacts
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona :=
    ops.require_persona('{qa_tester,release_manager,ci_service_role,sre}', 'attach evidence');
  v_gate ops.release_gates;
  v_artifact ops.evidence_artifacts;
begin
  perform ops.assert_can_read_release(p_release_id);
  if p_gate_code is not null then
    v_gate := ops.gate_of(p_release_id, p_gate_code);
  end if;
  if p_check_id is not null and not exists (
      select 1 from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
      where c.check_id = p_check_id and g.release_id = p_release_id) then
    raise exception 'check % does not belong to release %', p_check_id, p_release_id using errcode = 'OPS22';
  end if;
  if p_deployment_id is not null and not exists (
      select 1 from ops.deployments d where d.deployment_id = p_deployment_id and d.release_id = p_release_id) then
    raise exception 'deployment % does not belong to release %', p_deployment_id, p_release_id using errcode = 'OPS22';
  end if;
  insert into ops.evidence_artifacts (release_id, gate_id, check_id, deployment_id, artifact_type, source_system,
                                      artifact_url, sha256, metadata, ingest_id)
  values (p_release_id, v_gate.gate_id, p_check_id, p_deployment_id, p_artifact_type,
          coalesce(p_source_system, 'manual'), p_artifact_url, lower(p_sha256), coalesce(p_metadata, '{}'::jsonb),
          ops.current_ingest_id())
  returning * into v_artifact;
  return v_artifact;
end
$$;

create function ops.submit_approval(
  p_release_id uuid,
  p_decision public.ops_approval_decision,
  p_gate_code public.ops_gate_code default null,
  p_rationale_text text default null,
  p_rationale_structured jsonb default '{}'::jsonb,
  p_exception_id uuid default null
) returns ops.approvals
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona := ops.require_persona('{qa_tester,release_manager}', 'submit approvals');
  v_gate ops.release_gates;
  v_approval ops.approvals;
begin
  perform ops.assert_can_read_release(p_release_id);
  if p_gate_code is not null and p_exception_id is not null then
    raise exception 'an approval is for a gate, an exception or the release, not several' using errcode = 'OPS22';
  end if;
  if p_gate_code is not null then
    v_gate := ops.gate_of(p_release_id, p_gate_code);
  end if;
  if p_exception_id is not null and not exists (
      select 1 from ops.exceptions e where e.exception_id = p_exception_id and e.release_id = p_release_id) then
    raise exception 'exception % does not belong to release %', p_exception_id, p_release_id using errcode = 'OPS04';
  end if;
  if p_exception_id is not null and p_decision = 'approved' then
    -- Approving an exception is one act, whichever door it comes through: the decision is
    -- recorded and the exception approved (with all of approve_exception's checks).
    perform ops.approve_exception(p_exception_id, p_rationale_text);
    select * into v_approval from ops.approvals a
      where a.exception_id = p_exception_id and a.approver_id = ops.current_actor() and a.decision = 'approved'
      order by a.created_at desc, a.approval_id desc limit 1;
    return v_approval;
  end if;
  insert into ops.approvals (release_id, gate_id, exception_id, approver_id, persona_role, decision, scope,
                             rationale_structured, rationale_text, ingest_id)
  values (p_release_id, v_gate.gate_id, p_exception_id, ops.current_actor(), v_persona, p_decision,
          case when p_gate_code is not null then 'gate' when p_exception_id is not null then 'exception'
               else 'release' end::public.ops_approval_scope,
          coalesce(p_rationale_structured, '{}'::jsonb), p_rationale_text, ops.current_ingest_id())
  returning * into v_approval;
  return v_approval;
end
$$;

create function ops.request_exception(
  p_release_id uuid,
  p_exception_type public.ops_exception_type,
  p_impacted_gates public.ops_gate_code[],
  p_reason text,
  p_risk_statement text,
  p_expires_at timestamptz,
  p_effective_from timestamptz default null,
  p_compensating_controls jsonb default '[]'::jsonb
) returns ops.exceptions
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_exception ops.exceptions;
begin
  perform ops.require_persona('{release_manager,qa_tester,sre,developer}', 'request exceptions');
  perform ops.assert_can_read_release(p_release_id);
  insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement, requested_by,
                              effective_from, expires_at, compensating_controls)
  values (p_release_id, p_exception_type, p_impacted_gates, p_reason, p_risk_statement, ops.current_actor(),
          coalesce(p_effective_from, now()), p_expires_at, coalesce(p_compensating_controls, '[]'::jsonb))
  returning * into v_exception;
  return v_exception;
end
$$;

create function ops.approve_exception(p_exception_id uuid, p_rationale text default null) returns ops.exceptions
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_exception ops.exceptions;
begin
  perform ops.require_persona('{release_manager}', 'approve exceptions');
  select * into v_exception from ops.exceptions e where e.exception_id = p_exception_id for update;
  if not found then
    raise exception 'exception % does not exist', p_exception_id using errcode = 'OPS04';
  end if;
  if v_exception.expires_at <= now() then
    raise exception 'exception % expired at % and can no longer be approved', p_exception_id, v_exception.expires_at
      using errcode = 'OPS09';
  end if;
  -- The approval record first: its trigger refuses a requester approving their own exception.
  insert into ops.approvals (release_id, exception_id, approver_id, persona_role, decision, scope, rationale_text,
                             ingest_id)
  values (v_exception.release_id, p_exception_id, ops.current_actor(), 'release_manager', 'approved', 'exception',
          p_rationale, ops.current_ingest_id());
  update ops.exceptions e set approver_id = ops.current_actor(), approved_at = now()
  where e.exception_id = p_exception_id
  returning * into v_exception;
  return v_exception;
end
$$;

create function ops.review_exception(p_exception_id uuid, p_status public.ops_post_review_status)
returns ops.exceptions
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_exception ops.exceptions;
begin
  perform ops.require_persona('{release_manager}', 'review exceptions');
  update ops.exceptions e set post_review_status = p_status
  where e.exception_id = p_exception_id
  returning * into v_exception;
  if not found then
    raise exception 'exception % does not exist', p_exception_id using errcode = 'OPS04';
  end if;
  return v_exception;
end
$$;

-- Inserts a deployment under a lock on the release, so concurrent promotions of one release to
-- one environment produce one deployment. The table's trigger enforces eligibility.
create function ops.insert_deployment(
  p_release_id uuid,
  p_environment public.ops_environment,
  p_status public.ops_deployment_status,
  p_source_ref text,
  p_rollback_of uuid,
  p_deployed_at timestamptz
) returns ops.deployments
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deployment ops.deployments;
begin
  perform ops.assert_can_read_release(p_release_id);
  perform 1 from ops.releases r where r.release_id = p_release_id for update;
  if p_rollback_of is null and exists (
      select 1 from ops.deployments d
      where d.release_id = p_release_id and d.environment = p_environment and d.rollback_of is null
        and d.status in ('in_progress', 'succeeded')
        and not exists (select 1 from ops.deployments r where r.rollback_of = d.deployment_id)) then
    raise exception 'release % is already deployed (or deploying) to %', p_release_id, p_environment
      using errcode = 'OPS09';
  end if;
  insert into ops.deployments (release_id, environment, status, source_ref, rollback_of, deployed_at, deployed_by,
                               ingest_id)
  values (p_release_id, p_environment, coalesce(p_status, 'in_progress'),
          coalesce(p_source_ref, (select r.source_ref from ops.releases r where r.release_id = p_release_id)),
          p_rollback_of, coalesce(p_deployed_at, now()), ops.current_actor(), ops.current_ingest_id())
  returning * into v_deployment;
  return v_deployment;
end
$$;

create function ops.promote_release(p_release_id uuid, p_target_env text, p_source_ref text default null)
returns ops.deployments
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.require_persona('{release_manager,sre}', 'promote releases');
  return ops.insert_deployment(p_release_id, ops.parse_environment(p_target_env), 'in_progress', p_source_ref, null,
                               null);
end
$$;

create function ops.record_deployment(
  p_release_id uuid,
  p_environment text,
  p_status public.ops_deployment_status default 'in_progress',
  p_source_ref text default null,
  p_rollback_of uuid default null,
  p_deployed_at timestamptz default null
) returns ops.deployments
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform ops.require_persona('{ci_service_role,sre}', 'record deployments');
  return ops.insert_deployment(p_release_id, ops.parse_environment(p_environment), p_status, p_source_ref,
                               p_rollback_of, p_deployed_at);
end
$$;

create function ops.update_deployment(p_deployment_id uuid, p_status public.ops_deployment_status)
returns ops.deployments
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deployment ops.deployments;
begin
  perform ops.require_persona('{ci_service_role,sre}', 'update deployments');
  update ops.deployments d set status = p_status
  where d.deployment_id = p_deployment_id
  returning * into v_deployment;
  if not found then
    raise exception 'deployment % does not exist', p_deployment_id using errcode = 'OPS04';
  end if;
  -- An sre changes only its own deployments (as RLS says for the table); pipelines report any.
  if ops.current_persona() = 'sre' and v_deployment.deployed_by <> ops.current_actor() then
    raise exception 'an sre updates only deployments they made (this one is %''s)', v_deployment.deployed_by
      using errcode = 'OPS03';
  end if;
  return v_deployment;
end
$$;

-- A health check of a deployment: a G4 check, health_check evidence, and the deployment's G4
-- outcome.
create function ops.record_health_check(
  p_deployment_id uuid,
  p_status public.ops_check_status,
  p_artifact_url text default null,
  p_sha256 text default null,
  p_check_name text default 'health_check',
  p_source_system public.ops_check_source default 'monitoring',
  p_metadata jsonb default '{}'::jsonb
) returns ops.deployments
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_deployment ops.deployments;
  v_gate ops.release_gates;
  v_check ops.gate_checks;
begin
  perform ops.require_persona('{ci_service_role,sre}', 'record health checks');
  select * into v_deployment from ops.deployments d where d.deployment_id = p_deployment_id for update;
  if not found then
    raise exception 'deployment % does not exist', p_deployment_id using errcode = 'OPS04';
  end if;
  select * into v_gate from ops.release_gates g where g.release_id = v_deployment.release_id and g.gate_code = 'G4';
  insert into ops.gate_checks (gate_id, check_name, source_system, status, required, artifact_ref, metadata, ingest_id)
  values (v_gate.gate_id, coalesce(p_check_name, 'health_check'), coalesce(p_source_system, 'monitoring'), p_status,
          true, p_artifact_url,
          coalesce(p_metadata, '{}'::jsonb) || jsonb_build_object('deployment_id', p_deployment_id,
                                                                  'environment', v_deployment.environment),
          ops.current_ingest_id())
  returning * into v_check;
  insert into ops.evidence_artifacts (release_id, gate_id, check_id, deployment_id, artifact_type, source_system,
                                      artifact_url, sha256, metadata, ingest_id)
  values (v_deployment.release_id, v_gate.gate_id, v_check.check_id, p_deployment_id, 'health_check',
          coalesce(p_source_system, 'monitoring')::text,
          coalesce(p_artifact_url, format('ops://deployments/%s/health/%s', p_deployment_id, v_check.check_id)),
          lower(p_sha256), coalesce(p_metadata, '{}'::jsonb), ops.current_ingest_id());
  update ops.deployments d set
    g4_status = case when p_status = 'pass' then 'passed' when p_status = 'fail' then 'failed' else d.g4_status end,
    g4_resolved_at = case when p_status in ('pass', 'fail') then now() else d.g4_resolved_at end
  where d.deployment_id = p_deployment_id
  returning * into v_deployment;
  return v_deployment;
end
$$;

create function ops.record_incident(
  p_deployment_id uuid,
  p_severity public.ops_incident_severity,
  p_root_cause text default null,
  p_detected_at timestamptz default null,
  p_resolved_at timestamptz default null,
  p_timeline jsonb default '[]'::jsonb,
  p_postmortem_status public.ops_postmortem_status default 'pending'
) returns ops.incidents
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_incident ops.incidents;
begin
  perform ops.require_persona('{sre,release_manager}', 'record incidents');
  if not exists (select 1 from ops.deployments d where d.deployment_id = p_deployment_id) then
    raise exception 'deployment % does not exist', p_deployment_id using errcode = 'OPS04';
  end if;
  insert into ops.incidents (deployment_id, severity, detected_at, resolved_at, timeline, root_cause, postmortem_status)
  values (p_deployment_id, p_severity, coalesce(p_detected_at, now()), p_resolved_at, coalesce(p_timeline, '[]'::jsonb),
          p_root_cause, coalesce(p_postmortem_status, 'pending'))
  returning * into v_incident;
  return v_incident;
end
$$;

create function ops.record_recovery_drill(
  p_environment text,
  p_drill_type text,
  p_outcome public.ops_drill_outcome,
  p_restore_validated boolean default false,
  p_executed_at timestamptz default null,
  p_evidence_artifact_id uuid default null
) returns ops.recovery_drills
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_drill ops.recovery_drills;
begin
  perform ops.require_persona('{sre}', 'record recovery drills');
  insert into ops.recovery_drills (environment, drill_type, executed_by, executed_at, outcome, restore_validated,
                                   evidence_artifact_id)
  values (ops.parse_environment(p_environment), p_drill_type, ops.current_actor(), coalesce(p_executed_at, now()),
          p_outcome, coalesce(p_restore_validated, false), p_evidence_artifact_id)
  returning * into v_drill;
  return v_drill;
end
$$;

-- Who may call what: the functions check the persona themselves; EXECUTE is granted to the
-- personas only (never to anon or authenticated).
grant execute on function
  ops.current_ingest_id(), ops.require_persona(public.ops_persona[], text), ops.exception_is_active(ops.exceptions),
  ops.assert_can_read_release(uuid), ops.compute_release_gates(uuid), ops.parse_environment(text),
  ops.promotion_blockers(uuid, text), ops.is_eligible_for_promotion(uuid, text), ops.derive_release_status(uuid),
  ops.gate_of(uuid, public.ops_gate_code),
  ops.create_release(text, text, text, text, jsonb, text),
  ops.record_check(uuid, public.ops_gate_code, text, public.ops_check_status, public.ops_check_source, boolean, text, jsonb),
  ops.attach_evidence(uuid, public.ops_artifact_type, text, public.ops_gate_code, text, text, jsonb, uuid, uuid),
  ops.submit_approval(uuid, public.ops_approval_decision, public.ops_gate_code, text, jsonb, uuid),
  ops.request_exception(uuid, public.ops_exception_type, public.ops_gate_code[], text, text, timestamptz, timestamptz, jsonb),
  ops.approve_exception(uuid, text), ops.review_exception(uuid, public.ops_post_review_status),
  ops.promote_release(uuid, text, text),
  ops.record_deployment(uuid, text, public.ops_deployment_status, text, uuid, timestamptz),
  ops.update_deployment(uuid, public.ops_deployment_status),
  ops.record_health_check(uuid, public.ops_check_status, text, text, text, public.ops_check_source, jsonb),
  ops.record_incident(uuid, public.ops_incident_severity, text, timestamptz, timestamptz, jsonb, public.ops_postmortem_status),
  ops.record_recovery_drill(text, text, public.ops_drill_outcome, boolean, timestamptz, uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
-- Re-evaluation stores what it computes, so the read-only persona does not call it.
grant execute on function ops.evaluate_gate(uuid), ops.evaluate_release(uuid, text)
  to ci_service_role, release_manager, qa_tester, sre, developer;

-- Trigger functions run as their definer; nobody calls them directly.
revoke execute on function ops.insert_deployment(uuid, public.ops_environment, public.ops_deployment_status, text, uuid,
  timestamptz) from public;
