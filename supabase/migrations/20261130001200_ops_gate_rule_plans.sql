-- The gate rule at the cost of the rule it replaced, measured (bench/profile-ingest.ts,
-- docs/profiling.md):
--
-- * Evidence is read for all gates of a release in one query (ops.release_gate_evidence) instead
--   of one call of ops.gate_evidence per gate; ops.gate_evidence, the definition the reporting
--   view reads, is that query for one gate.
-- * The parts of the gate rule keep one generic plan each for the session. With the default plan
--   cache mode PostgreSQL plans their multi-join queries again at nearly every call (each call's
--   release row makes a custom plan look cheaper), which cost more than executing them.

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and the
-- artifacts of the given revisions that meet it. Takes a release id and the revisions whose facts
-- count (ops.counted_revisions); returns one row per gate and requirement, by gate and artifact
-- types. Invoker's rights: from ops.gate_evidence under a reader's RLS, from the gate rule as its
-- owner. Rule: DESIGN section 4 (evidence per gate) and 20261129002200 (G4's evidence hangs on the
-- deployment G4 confirms).
create function ops.release_gate_evidence(p_release_id uuid, p_revisions integer[])
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
    select pg_catalog.array_agg(m.artifact_id order by m.artifact_id) as artifact_ids,
           pg_catalog.array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      -- One index-friendly branch per place evidence can hang.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.gate_checks c
      join ops.evidence_artifacts a on a.check_id = c.check_id
      where q.attached_to in ('gate', 'gate_or_release') and c.gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
        and a.revision = any (p_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
    ) m
    where m.artifact_type = any (q.artifact_types)
  ) ev on true
  where g.release_id = p_release_id
  order by q.gate_code, pg_catalog.array_to_string(q.artifact_types, ',');
end
$$;
revoke execute on function ops.release_gate_evidence(uuid, integer[]) from public;
grant execute on function ops.release_gate_evidence(uuid, integer[]) to release_manager, audit_reader;

-- Each evidence requirement of a gate and the artifacts of the release's counted revisions that
-- meet it: ops.release_gate_evidence for one gate. Takes a gate id; returns one row per
-- requirement (none for an unknown gate). Invoker's rights on purpose: called from
-- ops.v_evidence_completeness it reads as the caller, under RLS.
create or replace function ops.gate_evidence(p_gate_id uuid)
returns table (
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
as $$
#variable_conflict use_column
declare
  v_release_id uuid;
begin
  select g.release_id into v_release_id from ops.release_gates g where g.gate_id = p_gate_id;
  if v_release_id is null then
    return;
  end if;
  return query
  select e.requirement_id, e.artifact_types, e.attached_to, e.blocking, e.deployment_id, e.deployment_environment,
         e.artifact_ids, e.present_types
  from ops.release_gate_evidence(v_release_id, ops.counted_revisions(v_release_id)) e
  where e.gate_id = p_gate_id;
end
$$;

-- See 20261130001000: evidence per gate, now read once for the release.
create or replace function ops.gate_evidence_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  with unmet as (
    select e.gate_id,
           pg_catalog.array_agg(case
             when e.attached_to <> 'latest_deployment' then
               pg_catalog.format('%s: no %s evidence attached', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '))
             else
               pg_catalog.format('%s: no %s evidence for the %s deployment', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '), e.deployment_environment)
           end order by e.ordinality) filter (where e.attached_to <> 'latest_deployment' or e.deployment_id is not null)
             as reasons
    from ops.release_gate_evidence(p_release.release_id, p_revisions) with ordinality e
    join ops.release_gates g on g.gate_id = e.gate_id
    -- Without a deployment G4's deployment finding already says so; the gate is still held.
    where e.blocking and pg_catalog.cardinality(e.artifact_ids) = 0
    group by e.gate_id
  )
  select g.gate_id, u.gate_id is null, false,
         exists (select 1 from ops.evidence_artifacts a where a.gate_id = g.gate_id and a.revision = any (p_revisions)),
         coalesce(u.reasons, '{}')
  from ops.release_gates g
  left join unmet u on u.gate_id = g.gate_id
  where g.release_id = p_release.release_id;
end
$$;

alter function ops.gate_check_findings(ops.releases, integer[]) set plan_cache_mode = force_generic_plan;
alter function ops.gate_deployment_findings(ops.releases, integer[]) set plan_cache_mode = force_generic_plan;
alter function ops.gate_approval_findings(ops.releases, integer[]) set plan_cache_mode = force_generic_plan;
alter function ops.gate_exception_findings(ops.releases, integer[]) set plan_cache_mode = force_generic_plan;
alter function ops.compute_release_gates(uuid) set plan_cache_mode = force_generic_plan;
