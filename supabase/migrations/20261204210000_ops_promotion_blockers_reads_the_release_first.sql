-- ops.promotion_blockers(release, environment) checks that the caller may read the release first,
-- as its first definition did (20261126002100), whatever plan its query gets.
--
-- Since 20261126004000 it left that check to ops.promotion_blockers(release), which it filters by
-- the environment it parsed. Given no environment (null), a plan made for that call folds
-- `target_env = null` to false and never calls the inner function: no read check, no rule, and an
-- answer of no blockers for any release id, readable or not (ops.is_eligible_for_promotion: true).
-- PL/pgSQL plans a statement for the call's values for the first five calls in a session and may
-- then keep one generic plan, which does call it: the same call then raised OPS04. The row
-- estimates of 20261204190000 made the generic plan the cheaper one, and
-- test/security/claims-every-function-attacks.test.ts (every reachable function called with nulls,
-- many times in one session) saw the outcome change between calls.

-- Takes a release id and an environment name (dev, staging, production); returns one row per
-- unmet requirement for promoting the release there (gate, its status, the reason), none when it
-- is eligible. Raises OPS04 when the release does not exist or the caller may not read it
-- (ops.assert_can_read_release), OPS22 for an unknown environment (ops.parse_environment). Rule:
-- DESIGN section 4 (the gates and what each environment requires), through ops.promotion_blockers(uuid).
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
  perform ops.assert_can_read_release(p_release_id);
  return query
    select b.gate_code, b.status, b.reason from ops.promotion_blockers(p_release_id) b where b.target_env = v_env;
end
$$;
revoke execute on function ops.promotion_blockers(uuid, text) from public;
grant execute on function ops.promotion_blockers(uuid, text)
  to audit_reader, ci_service_role, developer, qa_tester, release_manager, sre;
