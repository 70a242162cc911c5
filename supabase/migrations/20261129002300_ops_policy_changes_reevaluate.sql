-- Stored gate status is never stale after a policy change: a change to gate_requirements,
-- gate_policies, check_requirements or gate_evidence_requirements re-evaluates, in the same
-- statement, every release it can affect that is not promoted (a promoted release keeps the gates
-- that let it through; what its gates were then is the record). A check requirement affects only
-- its project's releases; the other tables every release.

-- Re-evaluates the releases of the projects given (NULL: of every project) that are not promoted,
-- each through ops.evaluate_release with the reason given (stored on the gate transitions).
-- Takes the projects and the reason; returns how many releases were re-evaluated.
create function ops.reevaluate_releases_for_policy(p_projects text[], p_reason text) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release uuid;
  v_count integer := 0;
begin
  for v_release in
    select r.release_id from ops.releases r
    where r.status <> 'promoted' and (p_projects is null or r.project = any (p_projects))
    order by r.release_id
  loop
    perform ops.evaluate_release(v_release, p_reason);
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;
revoke execute on function ops.reevaluate_releases_for_policy(text[], text) from public;

-- Trigger (AFTER INSERT, UPDATE or DELETE, per statement, on the policy tables): re-evaluates what
-- the change can affect, naming the table and the change in each gate transition's reason.
create function ops.policy_changed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_projects text[];
  v_reason text := format('policy changed: %s on ops.%s by %s', lower(tg_op), tg_table_name, ops.current_actor());
begin
  if tg_table_name = 'check_requirements' then
    if tg_op = 'INSERT' then
      select array_agg(distinct n.project) into v_projects from new_rows n;
    elsif tg_op = 'DELETE' then
      select array_agg(distinct o.project) into v_projects from old_rows o;
    else
      select array_agg(distinct p) into v_projects
        from (select n.project as p from new_rows n union select o.project from old_rows o) x;
    end if;
    if v_projects is null then
      return null;
    end if;
  end if;
  perform ops.reevaluate_releases_for_policy(v_projects, v_reason);
  return null;
end
$$;
revoke execute on function ops.policy_changed() from public;

create trigger gate_requirements_changed after insert or update or delete on ops.gate_requirements
  for each statement execute function ops.policy_changed();
create trigger gate_policies_changed after insert or update or delete on ops.gate_policies
  for each statement execute function ops.policy_changed();
create trigger gate_evidence_requirements_changed after insert or update or delete on ops.gate_evidence_requirements
  for each statement execute function ops.policy_changed();
-- Transition tables name the projects a check requirement change touches (one trigger per event:
-- a trigger with transition tables fires for one event only).
create trigger check_requirements_inserted after insert on ops.check_requirements
  referencing new table as new_rows for each statement execute function ops.policy_changed();
create trigger check_requirements_updated after update on ops.check_requirements
  referencing old table as old_rows new table as new_rows for each statement execute function ops.policy_changed();
create trigger check_requirements_deleted after delete on ops.check_requirements
  referencing old table as old_rows for each statement execute function ops.policy_changed();
