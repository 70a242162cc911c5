-- The evidence lister refuses a limit below one with OPS22.
--
-- ops.release_gate_evidence_up_to (20261203200200) is executable by the readers of
-- ops.release_gate_evidence (audit_reader, release_manager), since that invoker's-rights function
-- calls it; called directly through RPC with a negative p_limit it answered with PostgreSQL's raw
-- 2201W ("LIMIT must not be negative") instead of the rule's own refusal. Same body otherwise.

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and, for
-- each, up to p_limit artifacts of the given revisions that meet it (NULL: all of them, by id;
-- otherwise which ones is not specified). Takes a release id, the revisions whose facts count
-- (ops.counted_revisions) and the limit (a count of artifacts, at least 1, or NULL); returns one
-- row per gate and requirement, by gate and artifact types. Invoker's rights: from
-- ops.release_gate_evidence under a reader's RLS, from the gate rule as its owner. Raises OPS22
-- for a limit below 1. Rule: DESIGN section 4 (evidence per gate) and 20261129002200 (G4's
-- evidence hangs on the deployment G4 confirms).
create or replace function ops.release_gate_evidence_up_to(p_release_id uuid, p_revisions integer[], p_limit integer)
returns table (
  gate_id uuid,
  requirement_id uuid,
  artifact_types public.ops_artifact_type[],
  attached_to public.ops_evidence_scope,
  blocking boolean,
  deployment_id uuid,
  deployment_environment public.ops_environment,
  artifact_ids uuid[],
  present_types public.ops_artifact_type[]
)
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  if p_limit < 1 then
    raise exception 'p_limit must be at least 1 (or NULL for every artifact), got %', p_limit
      using errcode = 'OPS22';
  end if;
  return query
  select g.gate_id, q.requirement_id, q.artifact_types, q.attached_to, q.blocking, dep.deployment_id,
         dep.environment, coalesce(ev.artifact_ids, '{}'), coalesce(ev.present_types, '{}')
  from ops.release_gates g
  join ops.gate_evidence_requirements q on q.gate_code = g.gate_code
  left join lateral (
    select d.deployment_id, d.environment from ops.deployments d
    where q.attached_to = 'latest_deployment' and d.release_id = g.release_id and d.rollback_of is null
      and d.revision = any (p_revisions)
    order by d.deployed_at desc, d.created_at desc limit 1
  ) dep on true
  left join lateral (
    select pg_catalog.array_agg(distinct m.artifact_id order by m.artifact_id) as artifact_ids,
           pg_catalog.array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      select u.artifact_id, u.artifact_type
      from (
      -- One index-friendly branch per place evidence can hang; an artifact found through two
      -- branches is counted once by the aggregates above.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union all
      -- Fenced (offset 0): looked up per check through its index. Unfenced, with the artifact-type
      -- condition pushed in and no statistics yet, the generic plan read every artifact of the
      -- type and filtered them per check: a cost that grew with the whole table, not the release.
      select a.artifact_id, a.artifact_type from ops.gate_checks c
      cross join lateral (
        select a1.artifact_id, a1.artifact_type from ops.evidence_artifacts a1
        where a1.check_id = c.check_id and a1.revision = any (p_revisions)
        offset 0
      ) a
      where q.attached_to in ('gate', 'gate_or_release') and c.gate_id = g.gate_id
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
        and a.revision = any (p_revisions)
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
      ) u
      where u.artifact_type = any (q.artifact_types)
      -- NULL: every artifact. The gate rule asks for one: whether the requirement is met.
      limit p_limit
    ) m
  ) ev on true
  where g.release_id = p_release_id
  order by q.gate_code, pg_catalog.array_to_string(q.artifact_types, ',');
end
$$;
revoke execute on function ops.release_gate_evidence_up_to(uuid, integer[], integer) from public;
grant execute on function ops.release_gate_evidence_up_to(uuid, integer[], integer) to audit_reader, release_manager;
