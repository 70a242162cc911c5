-- Two costs the outbox added to every gate transition, from the profile
-- (npm run bench:profile-ingest -- --transitions, with and without --no-outbox):
--
-- 1. The timing rule's helpers (ops.timing_blockers, ops.freeze_findings, ops.freeze_windows_active,
--    ops.timing_override_active) are SQL functions with a SET clause: never inlined, and planned
--    again at every call. A blocking transition's blockers call them, and so does the gate rule.
--    They are now PL/pgSQL returning the same query, whose plan the session keeps. Same rule, same
--    answers (20261130002100, 20261130006000 define them).
-- 2. The webhook dispatcher fanned events out one at a time (a loop per event, one add_job per
--    delivery, one UPDATE per event). It now takes the batch in three statements: the deliveries of
--    every event in one INSERT, their jobs in one graphile_worker.add_jobs call (the same job key per
--    delivery, so a job is still never added twice), and the batch marked dispatched in one UPDATE.
--    Still at-least-once, one delivery per subscription and event (the unique key), each event taken
--    by one dispatcher (FOR UPDATE SKIP LOCKED).

-- Takes a moment (null: now); returns the freeze windows active then, one row per window with its
-- current occurrence (start, end: null when open-ended). Unchanged but for the language. Raises
-- nothing. Rule: 20261130002100 (freeze windows).
create or replace function ops.freeze_windows_active(p_at timestamptz default null)
returns table (window_id uuid, name text, environment public.ops_environment, project text, reason text,
               occurrence_starts_at timestamptz, until timestamptz, created_by text)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select w.window_id, w.name, w.environment, w.project, w.reason, o.starts_at, o.ends_at, w.created_by
    from ops.freeze_windows w
    cross join lateral ops.freeze_occurrences(w, coalesce(p_at, pg_catalog.clock_timestamp()),
                                              coalesce(p_at, pg_catalog.clock_timestamp()) + interval '1 microsecond') o
    where w.starts_at <= coalesce(p_at, pg_catalog.clock_timestamp())
      and (w.ended_at is null or w.ended_at > coalesce(p_at, pg_catalog.clock_timestamp()))
    order by w.environment, o.ends_at, w.window_id;
end
$$;

-- Takes a release, an environment and a moment; returns the freezes that block promoting the
-- release there then (window, reason naming it and when it ends, until). Unchanged but for the
-- language. Raises nothing. Rule: 20261130002100 (freeze windows).
create or replace function ops.freeze_findings(p_release_id uuid, p_env public.ops_environment, p_at timestamptz)
returns table (window_id uuid, reason text, until timestamptz)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  return query
    select a.window_id,
           pg_catalog.format('freeze "%s" (%s) is active for %s%s until %s: %s', a.name, a.window_id, a.environment,
                             coalesce(' of ' || a.project, ''), ops.iso_utc(a.until), a.reason),
           a.until
    from ops.releases r
    cross join lateral ops.freeze_windows_active(p_at) a
    where r.release_id = p_release_id and a.environment = p_env and (a.project is null or a.project = r.project);
end
$$;

-- Takes a release; returns its active timing_override exception for its current revision (the
-- latest-expiring), or null when there is none. Unchanged but for the language. Raises
-- nothing. Rule: 20261130002100 (timing overrides).
create or replace function ops.timing_override_active(p_release_id uuid) returns ops.exceptions
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_exception ops.exceptions;
begin
  select e.* into v_exception
  from ops.exceptions e join ops.releases r on r.release_id = e.release_id
  where e.release_id = p_release_id and e.exception_type = 'timing_override'
    and ops.exception_is_active(e) and e.revision = r.revision
  order by e.expires_at desc, e.exception_id
  limit 1;
  if not found then
    return null;
  end if;
  return v_exception;
end
$$;

-- Takes a release and a moment; returns what blocks promoting it in time (freezes, soak) per
-- target environment, nothing when an approved timing_override is active. Unchanged but for the
-- language (the override is read once instead of per row). Raises nothing. Rule: 20261130002100.
create or replace function ops.timing_blockers(p_release_id uuid, p_at timestamptz)
returns table (target_env public.ops_environment, kind text, reason text, until timestamptz, window_id uuid)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if (ops.timing_override_active(p_release_id)).exception_id is not null then
    return;
  end if;
  return query
    select x.target_env, x.kind, x.reason, x.until, x.window_id
    from (
      select e.env as target_env, 'freeze'::text as kind, f.reason, f.until, f.window_id
      from pg_catalog.unnest(array['staging', 'production']::public.ops_environment[]) e(env)
      cross join lateral ops.freeze_findings(p_release_id, e.env, p_at) f
      union all
      select e.env, 'soak', s.reason, s.until, null::uuid
      from pg_catalog.unnest(array['staging', 'production']::public.ops_environment[]) e(env)
      cross join lateral ops.soak_findings(p_release_id, e.env, p_at) s
    ) x
    order by x.target_env, x.kind, x.until nulls last;
end
$$;

-- Worker (owner only). Takes a batch size and the attempts each delivery gets; fans out up to that
-- many undispatched outbox events (oldest first, locked with SKIP LOCKED so concurrent dispatchers
-- never take the same event) to the active subscriptions whose kinds, project and environment
-- match: one delivery row per subscription and event, one graphile-worker job
-- 'ops_webhook_deliver' per delivery (job key 'webhook:<delivery_id>'), all in one transaction with
-- the events marked dispatched. Returns the number of events dispatched. Needs the graphile_worker
-- schema (installed by the worker at start). Raises nothing of its own.
create or replace function ops.webhook_dispatch(p_limit integer, p_max_attempts integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_events uuid[];
  v_jobs bigint;
begin
  select pg_catalog.array_agg(x.event_id order by x.created_at) into v_events
  from (select e.event_id, e.created_at
        from ops.outbox_events e
        where e.dispatched_at is null
        order by e.created_at
        limit p_limit
        for update skip locked) x;
  if v_events is null then
    return 0;
  end if;
  -- (graphile_worker's types are named only inside statements: its schema is installed at run time.)
  with delivered as (
    insert into ops.webhook_deliveries (subscription_id, event_id)
    select s.subscription_id, e.event_id
    from ops.outbox_events e
    join ops.webhook_subscriptions s
      on s.active
     and (s.event_kinds = '{}' or e.kind = any (s.event_kinds))
     and (s.project is null or s.project = e.project)
     and (s.environment is null or s.environment = e.environment)
    where e.event_id = any (v_events)
    order by e.created_at, e.event_id, s.subscription_id
    on conflict (subscription_id, event_id) do nothing
    returning delivery_id
  ), specs as (
    select pg_catalog.array_agg(row('ops_webhook_deliver', pg_catalog.json_build_object('delivery_id', d.delivery_id),
                                    null, null, p_max_attempts, 'webhook:' || d.delivery_id::text, null, null
                                   )::graphile_worker.job_spec) as jobs
    from delivered d
    having pg_catalog.count(*) > 0
  )
  select pg_catalog.count(*) into v_jobs from specs s cross join lateral graphile_worker.add_jobs(s.jobs) j;
  update ops.outbox_events e set dispatched_at = pg_catalog.clock_timestamp() where e.event_id = any (v_events);
  return pg_catalog.cardinality(v_events);
end
$$;
revoke execute on function ops.webhook_dispatch(integer, integer) from public;
