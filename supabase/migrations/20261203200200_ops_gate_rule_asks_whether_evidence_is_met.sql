-- The gate rule asks of each evidence requirement only whether an artifact meets it, not which.
--
-- ops.release_gate_evidence lists every artifact meeting each requirement of each gate (for the
-- readers of ops.gate_evidence), and the gate rule's evidence part used that list only to see
-- whether it was empty. Listing meant reading every artifact of the gate, every check's artifacts
-- and de-duplicating them on every evaluation: on an ingest, the largest part of the rule once a
-- gate has a few dozen checks (bench/profile-ingest.ts, pg_stat_statements), and one that grew with
-- every event the release received. The requirement's text now lives in
-- ops.release_gate_evidence_up_to, which stops after a given number of artifacts per requirement
-- (the branches are appended, not de-duplicated, until then; the aggregates count each artifact
-- once); ops.release_gate_evidence asks it for all of them (same rows, same order as before), the
-- gate rule for one. Same requirements, same findings, same reasons.

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and, for
-- each, up to p_limit artifacts of the given revisions that meet it (NULL: all of them, by id;
-- otherwise which ones is not specified). Takes a release id, the revisions whose facts count
-- (ops.counted_revisions) and the limit; returns one row per gate and requirement, by gate and
-- artifact types. Invoker's rights: from ops.release_gate_evidence under a reader's RLS, from the
-- gate rule as its owner. Rule: DESIGN section 4 (evidence per gate) and 20261129002200 (G4's
-- evidence hangs on the deployment G4 confirms). Raises nothing of its own.
create function ops.release_gate_evidence_up_to(p_release_id uuid, p_revisions integer[], p_limit integer)
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

-- Each evidence requirement of each gate of a release and every artifact of the given revisions
-- that meets it (ops.release_gate_evidence_up_to without a limit). Takes a release id and the
-- revisions whose facts count; returns one row per gate and requirement, by gate and artifact
-- types. Invoker's rights (ops.gate_evidence, under a reader's RLS). Rule: as
-- ops.release_gate_evidence_up_to. Raises nothing of its own.
create or replace function ops.release_gate_evidence(p_release_id uuid, p_revisions integer[])
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
as $$
begin
  return query select * from ops.release_gate_evidence_up_to(p_release_id, p_revisions, null);
end
$$;

-- Evidence, per gate of the release: each blocking requirement with no artifact among the counted
-- revisions holds the gate and is named (ops.release_gate_evidence_up_to, asked for one artifact
-- per requirement); whether the gate has any evidence at all counts as input. Takes the release row
-- and its counted revisions; returns one row per gate. Internal (the gate rule's owner). Rule:
-- DESIGN section 4 (evidence per gate). Raises nothing.
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
    from ops.release_gate_evidence_up_to(p_release.release_id, p_revisions, 1) with ordinality e
    join ops.release_gates g on g.gate_id = e.gate_id
    -- Without a deployment G4's deployment finding already says so; the gate is still held.
    where e.blocking and pg_catalog.cardinality(e.artifact_ids) = 0
    group by e.gate_id
  )
  select g.gate_id, u.gate_id is null, false,
         x.any_evidence is not null,
         coalesce(u.reasons, '{}')
  from ops.release_gates g
  left join unmet u on u.gate_id = g.gate_id
  -- Per gate through evidence_artifacts_gate: as an EXISTS, PostgreSQL may hash the whole table.
  left join lateral (
    select true as any_evidence from ops.evidence_artifacts a
    where a.gate_id = g.gate_id and a.revision = any (p_revisions)
    limit 1
  ) x on true
  where g.release_id = p_release.release_id;
end
$$;

