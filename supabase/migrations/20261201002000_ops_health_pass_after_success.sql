-- A passing health check confirms a deployment that has finished: G4 asks whether the release
-- runs healthy where it was deployed (DESIGN section 4), which a check taken while the rollout is
-- still in progress cannot tell (it probed what ran before). ops.record_health_check took a pass
-- for an in-progress deployment as G4's verdict; the deployment's later success then stood
-- confirmed by a health check that predates it. A failing check still counts at any time (a
-- rollout that is unhealthy part-way is unhealthy), and a pass for a failed or rolled-back
-- deployment has nothing to confirm.

-- Records a health check of a deployment: a G4 check (required) and its health_check evidence, and
-- the deployment's G4 verdict (pass → passed, fail → failed, otherwise unchanged) at the moment of
-- the write. Takes the deployment, the check's status, its artifact URL and sha256, check name,
-- source and metadata; returns the deployment. Errors: OPS03 (not ci_service_role or sre), OPS04
-- (no such deployment), OPS09 (a pass for a deployment that has not succeeded; nothing is
-- written). Rule: DESIGN section 4 (G4 confirms a deployment).
create or replace function ops.record_health_check(
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
set search_path = pg_catalog, pg_temp
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
  if p_status = 'pass' and v_deployment.status <> 'succeeded' then
    raise exception 'deployment % is %: a passing health check confirms a deployment that has succeeded',
      p_deployment_id, v_deployment.status using errcode = 'OPS09';
  end if;
  select * into v_gate from ops.release_gates g where g.release_id = v_deployment.release_id and g.gate_code = 'G4';
  insert into ops.gate_checks (gate_id, check_name, source_system, status, required, artifact_ref, metadata, ingest_id)
  values (v_gate.gate_id, coalesce(p_check_name, 'health_check'), coalesce(p_source_system, 'monitoring'), p_status,
          true, p_artifact_url,
          coalesce(p_metadata, '{}'::jsonb) || pg_catalog.jsonb_build_object('deployment_id', p_deployment_id,
                                                                             'environment', v_deployment.environment),
          ops.current_ingest_id())
  returning * into v_check;
  insert into ops.evidence_artifacts (release_id, gate_id, check_id, deployment_id, artifact_type, source_system,
                                      artifact_url, sha256, metadata, ingest_id)
  values (v_deployment.release_id, v_gate.gate_id, v_check.check_id, p_deployment_id, 'health_check',
          coalesce(p_source_system, 'monitoring')::text,
          coalesce(p_artifact_url, pg_catalog.format('ops://deployments/%s/health/%s', p_deployment_id, v_check.check_id)),
          pg_catalog.lower(p_sha256), coalesce(p_metadata, '{}'::jsonb), ops.current_ingest_id());
  perform ops.context_enter('recording_health_check', p_deployment_id, ops.current_actor());
  update ops.deployments d set
    g4_status = case when p_status = 'pass' then 'passed' when p_status = 'fail' then 'failed' else d.g4_status end,
    g4_resolved_at = case when p_status in ('pass', 'fail') then pg_catalog.clock_timestamp() else d.g4_resolved_at end
  where d.deployment_id = p_deployment_id
  returning * into v_deployment;
  perform ops.context_leave('recording_health_check', p_deployment_id);
  return v_deployment;
end
$$;
revoke execute on function ops.record_health_check(uuid, public.ops_check_status, text, text, text,
  public.ops_check_source, jsonb) from public;
grant execute on function ops.record_health_check(uuid, public.ops_check_status, text, text, text,
  public.ops_check_source, jsonb) to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
