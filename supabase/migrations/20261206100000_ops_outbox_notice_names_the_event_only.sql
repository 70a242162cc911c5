-- An outbox notification names its event and nothing else.
--
-- PostgreSQL lets any login LISTEN on any channel, and no privilege or policy applies to what it
-- hears. The API's login (authenticator), which may SET ROLE to any persona, could LISTEN on
-- 'ops_outbox' and hear, for every event of every release, its release id, project and kind: a
-- developer's raw-SQL session learnt the names and ids of releases it may not read, and when they
-- changed. Each live stream already re-reads the event as its subscriber (RLS on
-- ops.outbox_events) and judges what it re-read (src/events/stream.ts); the three fields only let it
-- skip that read for events of other releases or kinds. Now the notice is {"event_id": ...}, a
-- random id that reads as nothing without the row, which RLS guards: a listener learns that some
-- event was committed, and when, and nothing of what or whose.

-- Takes the largest number of events to announce (1..1000 per call; larger asks are cut to 1000);
-- notifies channel 'ops_outbox' once per committed, not yet announced event, oldest first (by
-- created_at, then event id), with the payload {"event_id": "<uuid>"}, marks them announced and
-- returns how many it announced. Events another announcer holds are skipped (SKIP LOCKED), never
-- announced twice. Raises OPS22 for a batch size below one. Owner's function; the API's login runs
-- it through public.ops_outbox_announce. Rule: 20261203100000 (announced after the commit).
create or replace function ops.outbox_announce(p_limit integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_events uuid[];
  v_event uuid;
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'batch size must be at least 1' using errcode = 'OPS22';
  end if;
  select pg_catalog.array_agg(x.event_id order by x.created_at, x.event_id) into v_events
  from (select e.event_id, e.created_at
        from ops.outbox_events e
        where e.announced_at is null
        order by e.created_at
        limit least(p_limit, 1000)
        for update skip locked) x;
  if v_events is null then
    return 0;
  end if;
  foreach v_event in array v_events loop
    perform pg_catalog.pg_notify('ops_outbox', pg_catalog.json_build_object('event_id', v_event)::text);
  end loop;
  update ops.outbox_events e set announced_at = pg_catalog.clock_timestamp()
  where e.event_id = any (v_events);
  return pg_catalog.cardinality(v_events);
end
$$;
revoke execute on function ops.outbox_announce(integer) from public;
