-- "May this release be promoted?" needs a target environment: without one it is refused (OPS22),
-- never answered "no blockers" or "eligible".
--
-- ops.promotion_blockers(release, environment) with a null environment returned no rows for a
-- readable release (20261204200200), so ops.is_eligible_for_promotion(release, null) answered true
-- for a release whose gates block every environment. A caller whose environment variable was unset
-- (a pipeline step, an agent's RPC call, a raw-SQL script binding null) got "eligible": the question
-- failed open. Every requirement of ops.gate_requirements names an environment, so with none there
-- is nothing the answer could be about. Now: OPS04 first, as before, for a release that does not
-- exist or that the caller may not read (whatever the environment, so a refusal never says whether
-- another persona's release exists), then OPS22 for the missing environment. With an environment
-- every call answers as before. GraphQL's eligibility fields already require an environment.

-- Takes a release id and a target environment name (text: dev, staging or production); returns the
-- release's promotion blockers for that environment (gate, status, reason), in
-- ops.promotion_blockers(release)'s order. Raises OPS04 (no such release, or one the caller may not
-- read), then OPS22 (no environment given, or an unknown one). For every persona; what a developer
-- may read is checked by ops.assert_can_read_release. ops.is_eligible_for_promotion(release,
-- environment) is "no rows here", so it raises the same. Rule: DESIGN section 4 (eligibility is per
-- target environment, from ops.gate_requirements).
create or replace function ops.promotion_blockers(p_release_id uuid, p_target_env text)
returns table (gate_code public.ops_gate_code, status public.ops_gate_status, reason text)
language plpgsql stable
security definer
rows 4
set search_path = pg_catalog, pg_temp
as $$
declare
  v_env public.ops_environment := ops.parse_environment(p_target_env);
begin
  if v_env is null then
    perform ops.assert_can_read_release(p_release_id);
    raise exception 'a target environment is required: dev, staging or production' using errcode = 'OPS22';
  end if;
  return query
    select b.gate_code, b.status, b.reason from ops.promotion_blockers(p_release_id) b where b.target_env = v_env;
end
$$;
revoke execute on function ops.promotion_blockers(uuid, text) from public;
