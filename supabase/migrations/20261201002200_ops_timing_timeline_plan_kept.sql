-- ops.timing_timeline was a SQL-language function with a SET clause: PostgreSQL cannot inline it
-- and plans its body again at every call, which cost ~1.8 ms of planning for ~0.04 ms of execution
-- and made the release timeline 1.3x slower in the database than before the timing rules
-- (docs/benchmarks.md). The same query in PL/pgSQL keeps its plan for the session. Same columns,
-- same rows, same grants (none).

-- Takes a release id; returns the timing entries of its timeline (freeze windows starting and
-- ending while the release was open, in the environments it is promoted to and for its project;
-- timing_override uses; approval requests and their expiry; G4 deadline transitions), in the
-- columns of ops.release_timeline's facts. Owner-rights helper of ops.release_timeline, which
-- checks visibility; not granted. Freeze occurrences are listed for at most the last 180 days.
-- Raises nothing of its own. Rule: 20261130002200 (the timing entries of the timeline).
create or replace function ops.timing_timeline(p_release_id uuid)
returns table (at timestamptz, rank integer, kind text, actor text, persona public.ops_persona, source_system text,
               ingest_id uuid, gate_code public.ops_gate_code, summary text, entity_id uuid)
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  return query
    with rel as (
      select r.*, greatest(r.created_at, pg_catalog.clock_timestamp() - interval '180 days') as since
      from ops.releases r where r.release_id = p_release_id
    ), occ as (
      select w.window_id, w.name, w.environment, w.created_by, o.starts_at, o.ends_at, rel.created_at as release_created
      from rel
      join ops.freeze_windows w on w.project is null or w.project = rel.project
      cross join lateral ops.freeze_occurrences(w, rel.since, pg_catalog.clock_timestamp()) o
    )
    select o.starts_at, 13, 'freeze_started', o.created_by, null::public.ops_persona, null::text, null::uuid,
           null::public.ops_gate_code,
           pg_catalog.format('freeze "%s" (%s) started for %s until %s', o.name, o.window_id, o.environment,
                             ops.iso_utc(o.ends_at)),
           o.window_id
    from occ o
    union all
    select o.ends_at, 13, 'freeze_ended', null, null, null, null, null,
           pg_catalog.format('freeze "%s" (%s) ended for %s', o.name, o.window_id, o.environment),
           o.window_id
    from occ o where o.ends_at <= pg_catalog.clock_timestamp()
    union all
    select u.created_at, 14, 'override_used', u.created_by, u.created_persona, null, null, null, u.detail, u.use_id
    from ops.timing_override_uses u where u.release_id = p_release_id
    union all
    select q.requested_at, 15, 'approval_requested', q.requested_by, q.created_persona, null, null, q.gate_code,
           pg_catalog.format('%s approval requested by %s%s%s', q.gate_code, q.requested_by,
                             coalesce(', due ' || ops.iso_utc(q.due_at), ', no deadline'), coalesce(': ' || q.note, '')),
           q.request_id
    from ops.timing_approval_requests q where q.release_id = p_release_id
    union all
    select q.due_at, 16, 'approval_request_expired', null, null, null, null, q.gate_code,
           pg_catalog.format('%s approval requested by %s at %s expired: nobody decided it by %s', q.gate_code,
                             q.requested_by, ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
           q.request_id
    from ops.timing_approval_requests q
    where q.release_id = p_release_id and ops.approval_request_state(q) = 'expired'
    union all
    select t.created_at, 16, 'g4_deadline_missed', t.created_by, t.created_persona, null, null, t.gate_code, t.reason,
           t.transition_id
    from ops.deadline_transitions t where t.release_id = p_release_id and t.subject_kind = 'deployment_g4'
  ;
end
$$;
revoke execute on function ops.timing_timeline(uuid) from public;
