-- ops.promotion_blockers(release, environment) checks the release first when no environment is
-- given, so its answer no longer depends on the plan its session keeps.
--
-- With a null environment the query's filter `b.target_env = v_env` is null: a custom plan folds it
-- to a constant false and never calls ops.promotion_blockers(release), which checks that the
-- release exists and may be read (OPS04), so the call answered with no rows; a generic plan calls
-- it and answered OPS04. Which one ran depended on what the session had called before: planned
-- for 1,000 rows, the generic plan was never chosen; with the row estimates of 20261204190000 it is
-- chosen from the sixth call of a session, so ops.promotion_blockers(null, null) and
-- ops.is_eligible_for_promotion(null, null) answered 'no blockers' and 'eligible' for a release that
-- does not exist early in a session and OPS04 later (test/security/claims-every-function-attacks
-- saw the two answers in one transaction). Now a null environment checks the release
-- (ops.assert_can_read_release) and returns no rows: OPS04 for a release that does not exist or
-- that the caller may not read, whatever the plan, as with any environment. Every call with an
-- environment runs as before.

-- Takes a release id and a target environment name (text: staging, production, dev); returns the
-- release's promotion blockers for that environment (gate, status, reason), in
-- ops.promotion_blockers(release)'s order; none for a null environment. Raises OPS04 (no such
-- release, or one the caller may not read) and OPS22 (an unknown environment). For every persona;
-- what a developer may read is checked by ops.assert_can_read_release. Rule: DESIGN section 4
-- (eligibility and its reasons).
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
    return;
  end if;
  return query
    select b.gate_code, b.status, b.reason from ops.promotion_blockers(p_release_id) b where b.target_env = v_env;
end
$$;
revoke execute on function ops.promotion_blockers(uuid, text) from public;
