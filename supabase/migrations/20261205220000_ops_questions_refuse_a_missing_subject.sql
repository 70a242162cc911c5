-- A question asked with no subject is refused, never answered the permissive way.
--
-- Like "may this release be promoted?" with no environment (20261205200000), four questions any
-- caller may ask through RPC or raw SQL answered a NULL argument with the answer that lets things
-- through:
--   - ops.outbox_event_visible(source_table, source_id), the read policy of ops.outbox_events,
--     answered "visible" for a NULL table whenever the caller could read a release with that id:
--     `NULL not in (...)` is NULL, not true, so the unknown-table refusal was skipped and the CASE
--     fell through to its releases branch. Now a NULL table or id is not visible (false), as an
--     unknown table is.
--   - ops.freeze_occurrences(window, from, until) answered "no occurrence" (not frozen) for a NULL
--     window or a NULL bound: the comparisons with NULL select no row. Now each is refused (OPS22).
--   - ops.gate_evidence(gate) and ops.release_gate_evidence(release, revisions) (through
--     ops.release_gate_evidence_up_to) answered "no evidence requirement", so nothing blocking,
--     for a NULL gate or release. Now refused (OPS22).
-- With their arguments given every call answers as before. test/security/null-argument-sweep.test.ts
-- calls every function a persona may execute with NULL (and '' for text) in each position.

-- Takes the source of an outbox event (table name in ops, primary key); returns whether the
-- calling persona may read that fact row under its own grants and RLS: false when it has no
-- SELECT on the table at all (instead of an error), and false for a table that is not an event
-- source or a NULL table or id. Invoker's rights: it answers for the caller. Raises nothing.
-- Executable by every persona (it is the read policy of ops.outbox_events). Rule: an event says
-- no more than its fact (README: Events and webhooks); a NULL subject is not visible (this
-- migration).
create or replace function ops.outbox_event_visible(p_source_table text, p_source_id uuid)
returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_source_table is null or p_source_id is null
     or p_source_table not in ('gate_transitions', 'approvals', 'exceptions', 'deployments',
                               'deployment_transitions', 'releases', 'deadline_transitions',
                               'timing_approval_requests') then
    return false;
  end if;
  if not pg_catalog.has_table_privilege('ops.' || p_source_table, 'SELECT') then
    return false;
  end if;
  case p_source_table
    when 'gate_transitions' then
      return exists (select 1 from ops.gate_transitions t where t.transition_id = p_source_id);
    when 'approvals' then
      return exists (select 1 from ops.approvals t where t.approval_id = p_source_id);
    when 'exceptions' then
      return exists (select 1 from ops.exceptions t where t.exception_id = p_source_id);
    when 'deployments' then
      return exists (select 1 from ops.deployments t where t.deployment_id = p_source_id);
    when 'deployment_transitions' then
      return exists (select 1 from ops.deployment_transitions t where t.transition_id = p_source_id);
    when 'deadline_transitions' then
      return exists (select 1 from ops.deadline_transitions t where t.transition_id = p_source_id);
    when 'timing_approval_requests' then
      return exists (select 1 from ops.timing_approval_requests t where t.request_id = p_source_id);
    else
      return exists (select 1 from ops.releases t where t.release_id = p_source_id);
  end case;
end
$$;

-- Takes a freeze window and an interval [p_from, p_until); returns its occurrences that overlap
-- it (starts_at, ends_at as instants), clipped to the window's period and its end. A weekly
-- window's local times are placed in its IANA zone by PostgreSQL (`timestamp AT TIME ZONE zone`),
-- so an occurrence across a daylight-saving change lasts an hour more or less, as the wall clock
-- says. Raises OPS22 for a NULL window (a row with no window_id) or a NULL bound: "no occurrence"
-- would say "not frozen" about nothing. Executable by every persona. PL/pgSQL (was SQL with a
-- SET clause, never inlined): same rows. Rule: freeze windows (20261130002100); a NULL argument
-- is refused (this migration).
create or replace function ops.freeze_occurrences(p_window ops.freeze_windows, p_from timestamptz, p_until timestamptz)
returns table (starts_at timestamptz, ends_at timestamptz)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if p_window.window_id is null then
    raise exception 'freeze occurrences are of a freeze window: none was given' using errcode = 'OPS22';
  end if;
  if p_from is null or p_until is null then
    raise exception 'freeze occurrences are asked between two instants, got % and %',
      coalesce(p_from::text, 'NULL'), coalesce(p_until::text, 'NULL') using errcode = 'OPS22';
  end if;
  return query
  with raw (s, e) as (
    select p_window.starts_at, p_window.ends_at
    where p_window.time_zone is null
    union all
    select (d.d + p_window.weekly_from_time) at time zone p_window.time_zone,
           ((d.d + ((p_window.weekly_until_dow - p_window.weekly_from_dow + 7) % 7
                    + case when p_window.weekly_until_dow = p_window.weekly_from_dow
                                and p_window.weekly_until_time <= p_window.weekly_from_time then 7 else 0 end))
             + p_window.weekly_until_time) at time zone p_window.time_zone
    from pg_catalog.generate_series(
           ((greatest(p_from, p_window.starts_at) at time zone p_window.time_zone)::date - 7)::timestamp,
           (least(p_until, coalesce(p_window.ends_at, p_until), coalesce(p_window.ended_at, p_until))
              at time zone p_window.time_zone)::date::timestamp,
           interval '1 day') as g(day)
    cross join lateral (select g.day::date as d) d
    where p_window.time_zone is not null
      and pg_catalog.date_part('isodow', d.d) = p_window.weekly_from_dow
  )
  select c.s, c.e
  from raw r
  cross join lateral (
    select greatest(r.s, p_window.starts_at) as s,
           least(r.e, coalesce(p_window.ends_at, 'infinity'), coalesce(p_window.ended_at, 'infinity')) as e
  ) c
  where c.s < c.e and c.e > p_from and c.s < p_until
  order by c.s;
end
$$;

-- Each evidence requirement of a gate and the artifacts of the release's counted revisions that
-- meet it: ops.release_gate_evidence for one gate. Takes a gate id; returns one row per
-- requirement (none for a gate the caller cannot see or that does not exist). Raises OPS22 for a
-- NULL gate. Invoker's rights on purpose: called from ops.v_evidence_completeness it reads as the
-- caller, under RLS. Executable by audit_reader and release_manager. Rule: DESIGN section 4
-- (evidence per gate); a NULL gate is refused (this migration).
create or replace function ops.gate_evidence(p_gate_id uuid)
returns table (requirement_id uuid, artifact_types public.ops_artifact_type[], attached_to public.ops_evidence_scope,
               blocking boolean, deployment_id uuid, deployment_environment public.ops_environment,
               artifact_ids uuid[], present_types public.ops_artifact_type[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_release_id uuid;
begin
  if p_gate_id is null then
    raise exception 'the evidence of a gate needs the gate: none was given' using errcode = 'OPS22';
  end if;
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

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and, for
-- each, up to p_limit artifacts of the given revisions that meet it (NULL: all of them, by id;
-- otherwise which ones is not specified). Takes a release id, the revisions whose facts count
-- (ops.counted_revisions; NULL counts none) and the limit (a count of artifacts, at least 1, or
-- NULL); returns one row per gate and requirement, by gate and artifact types. Invoker's rights:
-- from ops.release_gate_evidence under a reader's RLS (audit_reader, release_manager), from the
-- gate rule as its owner. Raises OPS22 for a NULL release or a limit below 1. Rule: DESIGN
-- section 4 (evidence per gate) and 20261129002200 (G4's evidence hangs on the deployment G4
-- confirms); a NULL release is refused (this migration).
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
rows 8
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  if p_release_id is null then
    raise exception 'the evidence of a release''s gates needs the release: none was given' using errcode = 'OPS22';
  end if;
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
