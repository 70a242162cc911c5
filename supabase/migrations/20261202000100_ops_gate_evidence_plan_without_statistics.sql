-- The gate rule's evidence part reads per release whatever the planner's statistics say.
--
-- A database that has not been analysed yet (a new installation, a new table after a restore, any
-- table between autovacuum's visits) has no column statistics. The parts of the gate rule keep one
-- generic plan per session (20261130001200), so a plan made then is kept for the connection's life.
-- For evidence hanging on a check, that plan pushed the artifact-type condition into the branch,
-- read every artifact of that type through an index on another column and matched them to the
-- gate's checks in a nested loop: the evaluation's cost grew with the whole evidence table
-- (7,589 artifacts: 74 ms a call against 1.5 ms analysed), and the ingest slowed minute by minute
-- until autovacuum's first ANALYZE (bench/ingest.ts measured its later phases at half the first).
-- The branch now looks the artifacts up per check through evidence_artifacts_check, behind an
-- OFFSET 0 fence that keeps the condition out. Same rows, same order, same rule.
--
-- The check part, analysed or not, read every check of the table (a hash join over a sequential
-- scan, 2.6 ms at 7,800 checks, growing with the table until the planner would switch): the latest
-- result per check name is now read per gate, through the gate's index. Same rows, same rule.
--
-- The evidence findings' "has the gate any evidence" was an EXISTS that PostgreSQL may run as a
-- hashed subplan over every artifact of the table: now a lookup per gate.

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and the
-- artifacts of the given revisions that meet it. Takes a release id and the revisions whose facts
-- count (ops.counted_revisions); returns one row per gate and requirement, by gate and artifact
-- types. Invoker's rights: from ops.gate_evidence under a reader's RLS, from the gate rule as its
-- owner. Rule: DESIGN section 4 (evidence per gate) and 20261129002200 (G4's evidence hangs on the
-- deployment G4 confirms). Raises nothing of its own.
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

-- Checks, per gate of the release: the latest result per check name among the counted revisions
-- counts. Required: the names listed for the project and gate (ops.check_requirements), else every
-- check reported on the gate as required. A failing check fails the gate when it is required; on
-- G2 whatever it is. G1 needs at least one required (build) check. A required check whose latest
-- result is of a revision that no longer counts, and that has not reported since, holds the gate
-- and is named as stale. Takes the release row and its counted revisions; returns one row per
-- gate. Internal (the gate rule's owner). Rule: DESIGN section 4, gates G1-G3. Raises nothing.
create or replace function ops.gate_check_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  return query
  with gates as (
    select g.gate_id, g.gate_code,
           coalesce((select pg_catalog.array_agg(cr.check_name order by cr.check_name) from ops.check_requirements cr
                     where cr.project = p_release.project and cr.gate_code = g.gate_code), '{}') as required_names
    from ops.release_gates g where g.release_id = p_release.release_id
  ),
  -- Per gate, through gate_checks_gate (gate, name, newest first): the cost follows the release's
  -- checks, whatever the table holds.
  latest as (
    select g.gate_id, l.check_name, l.status, l.required
    from gates g
    cross join lateral (
      select distinct on (c.check_name) c.check_name, c.status, c.required
      from ops.gate_checks c
      where c.gate_id = g.gate_id and c.revision = any (p_revisions)
      order by c.check_name, c.created_at desc, c.check_id desc
    ) l
  )
  select g.gate_id,
         f.blocking is not true and (g.gate_code <> 'G1' or f.any_required is true) and s.reasons is null,
         coalesce(f.fails, false),
         coalesce(f.any_input, false),
         coalesce(f.reasons, '{}')
           || case when g.gate_code = 'G1' and f.any_required is not true
                   then array['G1: no build checks reported yet'] else '{}'::text[] end
           || coalesce(s.reasons, '{}')
  from gates g
  left join lateral (
    select pg_catalog.bool_or(x.reason is not null) as blocking,
           pg_catalog.bool_or(x.fails) as fails,
           pg_catalog.bool_or(x.status is not null) as any_input,
           pg_catalog.bool_or(x.is_required) as any_required,
           pg_catalog.array_agg(x.reason order by x.check_name) filter (where x.reason is not null) as reasons
    from (
      select y.check_name, y.status, y.is_required,
             y.status = 'fail' and (y.is_required or g.gate_code = 'G2') as fails,
             case
               when y.status = 'fail' and (y.is_required or g.gate_code = 'G2') then
                 pg_catalog.format('%s: check "%s" is failing', g.gate_code, y.check_name)
               when y.is_required and y.status is null then
                 pg_catalog.format('%s: required check "%s" has not reported', g.gate_code, y.check_name)
               when y.is_required and y.status <> 'pass' then
                 pg_catalog.format('%s: required check "%s" is %s, not pass', g.gate_code, y.check_name, y.status)
             end as reason
      from (
        select coalesce(r.check_name, l.check_name) as check_name, l.status, r.check_name is not null as is_required
        from (
          select n as check_name from pg_catalog.unnest(g.required_names) n
          union
          select l2.check_name from latest l2
          where l2.gate_id = g.gate_id and pg_catalog.cardinality(g.required_names) = 0 and l2.required
        ) r
        full join (select l3.check_name, l3.status from latest l3 where l3.gate_id = g.gate_id) l
          on l.check_name = r.check_name
      ) y
    ) x
  ) f on true
  left join lateral (
    select pg_catalog.array_agg(
             pg_catalog.format('%s: check "%s" %s for %s, release is now at %s', g.gate_code, st.check_name,
                               case st.status when 'pass' then 'passed' when 'fail' then 'failed'
                                              else 'was ' || st.status end,
                               ops.revision_label(p_release.release_id, st.revision), ops.gate_now_label(p_release))
             order by st.check_name) as reasons
    from (
      select distinct on (c.check_name) c.check_name, c.status, c.revision
      from ops.gate_checks c
      where p_release.revision > 1 and c.gate_id = g.gate_id and c.revision <> all (p_revisions)
        and (c.required or c.check_name = any (g.required_names))
        and not exists (select 1 from ops.gate_checks n where n.gate_id = g.gate_id
                        and n.check_name = c.check_name and n.revision = any (p_revisions))
      order by c.check_name, c.created_at desc, c.check_id desc
    ) st
  ) s on true;
end
$$;

-- Evidence, per gate of the release: each blocking requirement with no artifact among the counted
-- revisions holds the gate and is named (ops.release_gate_evidence); whether the gate has any
-- evidence at all counts as input. Takes the release row and its counted revisions; returns one row
-- per gate. Internal (the gate rule's owner). Rule: DESIGN section 4 (evidence per gate). Raises
-- nothing.
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
