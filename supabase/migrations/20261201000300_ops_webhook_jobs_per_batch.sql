-- Each delivery was one graphile-worker job: per event and subscription the worker locked a job,
-- ran it and deleted it (three statements of the job library's own) besides the delivery's work.
-- A dispatch now adds one batch job per subscription, its payload the batch's deliveries
-- ([{"delivery_id": ...}, ...], oldest event first). The worker delivers each entry as before; the
-- job library retries only the entries that failed (its batch-job handling), with the same backoff
-- and attempts. At-least-once and one delivery per subscription and event still hold: a delivery row
-- exists once (unique per subscription and event), each event is dispatched once (SKIP LOCKED), and
-- a job runs on one worker at a time.

-- Worker (owner only). Takes a batch size and the attempts each delivery gets; fans out up to that
-- many undispatched outbox events (oldest first, locked with SKIP LOCKED so concurrent dispatchers
-- never take the same event) to the active subscriptions whose kinds, project and environment
-- match: one delivery row per subscription and event, and per subscription one graphile-worker job
-- 'ops_webhook_deliver' whose payload lists its deliveries, all in one transaction with the events
-- marked dispatched. Returns the number of events dispatched. Needs the graphile_worker schema
-- (installed by the worker at start). Raises nothing of its own.
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
    on conflict (subscription_id, event_id) do nothing
    returning delivery_id, subscription_id, event_id
  ), specs as (
    select row('ops_webhook_deliver',
               pg_catalog.json_agg(pg_catalog.json_build_object('delivery_id', d.delivery_id)
                                   order by e.created_at, e.event_id),
               null, null, p_max_attempts, null, null, null)::graphile_worker.job_spec as spec
    from delivered d
    join ops.outbox_events e on e.event_id = d.event_id
    group by d.subscription_id
  ), batch as (
    select pg_catalog.array_agg(s.spec) as jobs from specs s having pg_catalog.count(*) > 0
  )
  select pg_catalog.count(*) into v_jobs from batch b cross join lateral graphile_worker.add_jobs(b.jobs) j;
  update ops.outbox_events e set dispatched_at = pg_catalog.clock_timestamp() where e.event_id = any (v_events);
  return pg_catalog.cardinality(v_events);
end
$$;
revoke execute on function ops.webhook_dispatch(integer, integer) from public;
