-- A G4 deadline met by a verdict given before the deployment succeeded: a deployment still in
-- progress past its deadline fails G4 when its verdict is pending, but not when a passing health
-- check was recorded while it was in progress, however long it then took to succeed. Health is
-- confirmed once both hold: the deployment succeeded and its verdict passed; the confirmation's
-- moment is the later of the two (the success: its transition to succeeded, stamped at the moment
-- of the write; a deployment recorded succeeded from the start has no transition and its verdict
-- comes after it).

-- Takes a deployment; returns why its G4 fails for want of a timely health confirmation ("G4:
-- health not confirmed within N minutes ..."), or NULL. Judged at read time with
-- clock_timestamp(): not confirmed (succeeded with G4 passed) by deployed_at + the G4 deadline of
-- its environment, or confirmed only after it. Rollbacks, and deployments whose health check
-- failed, have no deadline. Raises nothing. Owner's rights (called by the gate rule and the
-- deadline sweep). Rule: issue "timing governance", deadlines.
create or replace function ops.g4_deadline_reason(p_deployment ops.deployments) returns text
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_within interval;
  v_due timestamptz;
  v_confirmed timestamptz;
begin
  if p_deployment.deployment_id is null or p_deployment.rollback_of is not null
     or p_deployment.g4_status = 'failed' then
    return null;
  end if;
  v_within := ops.deadline_for('G4', p_deployment.environment,
                               (select r.project from ops.releases r where r.release_id = p_deployment.release_id));
  if v_within is null then
    return null;
  end if;
  v_due := p_deployment.deployed_at + v_within;
  if p_deployment.g4_status = 'passed' and p_deployment.status = 'succeeded' then
    v_confirmed := greatest(p_deployment.g4_resolved_at,
                            (select max(t.created_at) from ops.deployment_transitions t
                             where t.deployment_id = p_deployment.deployment_id and t.to_status = 'succeeded'));
  end if;
  if (v_confirmed is not null and v_confirmed > v_due)
     or (v_confirmed is null and pg_catalog.clock_timestamp() >= v_due) then
    return pg_catalog.format('G4: health not confirmed within %s of the %s deployment %s (due %s)',
                             case when pg_catalog.date_part('epoch', v_within)::numeric % 60 = 0
                                  then (pg_catalog.date_part('epoch', v_within)::numeric / 60)::bigint || ' minutes'
                                  else pg_catalog.date_part('epoch', v_within)::numeric || ' seconds' end,
                             p_deployment.environment, p_deployment.deployment_id, ops.iso_utc(v_due));
  end if;
  return null;
end
$$;
revoke execute on function ops.g4_deadline_reason(ops.deployments) from public;
