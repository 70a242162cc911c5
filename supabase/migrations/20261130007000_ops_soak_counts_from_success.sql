-- A soak counted from the G4 verdict alone: ops.record_health_check accepts a verdict on a
-- deployment still in progress, so a staging deployment confirmed healthy while in progress, held
-- in progress for the soak's length and then reported succeeded, let the release into production
-- at once: it had stood succeeded in staging for no time at all. The soak now counts from the
-- later of the G4 confirmation and the moment the deployment succeeded (its transition to
-- succeeded, stamped at the moment of the write; a deployment recorded succeeded from the start
-- has no transition and its verdict necessarily comes after it).

-- Takes a release id, a target environment and an instant; returns what the soak policy for
-- promoting it there still asks (reason saying how long is left, until: when the soak completes,
-- NULL when it has not started), whether or not an override lifts it. The soak counts from the
-- later of the G4 confirmation (g4_resolved_at) and the success (ops.deployment_transitions to
-- succeeded) of the release's latest deployment of its current revision in the earlier
-- environment; a deployment that failed, was rolled back or failed its health check is not
-- standing, and the soak restarts with the next confirmed deployment. Raises nothing. Owner's
-- rights (callers reach it through ops.promotion_blockers and the deployment trigger, which check
-- visibility first). Rule: issue "timing governance", soak.
create or replace function ops.soak_findings(p_release_id uuid, p_env public.ops_environment, p_at timestamptz)
returns table (from_env public.ops_environment, min_soak interval, reason text, until timestamptz)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
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
      order by d.deployed_at desc, d.created_at desc limit 1;
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
$$;
revoke execute on function ops.soak_findings(uuid, public.ops_environment, timestamptz) from public;
