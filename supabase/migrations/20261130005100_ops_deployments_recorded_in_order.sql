-- A deployment is not dated before the deployments of its release already recorded. G4 judges the
-- release's latest deployment by deployed_at (ops.compute_release_gates), a date its sender gives:
-- 20261129006100 refused dates in the future, but a failed production deployment dated in 2001
-- was no later than the healthy staging deployment before it, so "a failure withdraws G4" did not
-- hold and the release stayed eligible for production. Now the latest deployment by date is the
-- last one recorded, at every door (functions, the ingest, the SRE's direct insert).
--
-- Trigger (BEFORE INSERT on ops.deployments, after ops.deployments_guard, which locks the
-- release's row, so deployments of one release are compared one at a time). Takes the new row;
-- returns it unchanged. Errors: OPS09 (a deployment dated before the latest deployment of its
-- release, rollbacks aside; record it again with its real date, or in the order they happened),
-- OPS22 (a rollback dated before the deployment it undoes). Rule: README threat model (bounds on
-- facts the gates trust).
create function ops.deployments_in_order() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
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
    order by d.deployed_at desc, d.created_at desc
    limit 1;
  if found and new.deployed_at < v_latest.deployed_at then
    raise exception 'deployed_at % is before the % deployment % of this release (%): deployments of a release are recorded in the order they happen',
      new.deployed_at, v_latest.environment, v_latest.deployment_id, v_latest.deployed_at using errcode = 'OPS09';
  end if;
  return new;
end
$$;
revoke execute on function ops.deployments_in_order() from public;
create trigger deployments_in_order before insert on ops.deployments
  for each row execute function ops.deployments_in_order();
