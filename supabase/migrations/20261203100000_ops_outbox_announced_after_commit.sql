-- A fact's transaction no longer sends the outbox's notification itself. PostgreSQL serialises the
-- commits of every transaction that has sent a NOTIFY: it takes one database-wide lock before the
-- commit and holds it until the commit record is flushed, so that notifications are queued in commit
-- order. Under concurrent ingest every gate transition waited for the flush of every other one (no
-- group commit): 20 clients committing a one-row insert went from about 3,800 to about 750
-- transactions a second with a NOTIFY in each, and the ingest lost about a sixth of its throughput
-- to it (docs/profiling.md, "The outbox and its deliveries").
--
-- The outbox row is still written in the fact's transaction (a committed fact always has its
-- event, a rolled-back one has none). Announcing it is a second step, after the commit:
-- ops.outbox_announce takes the committed events not yet announced (SKIP LOCKED, so concurrent
-- announcers never take the same event), notifies channel 'ops_outbox' once per event with the same
-- payload as before, and marks them announced, all in one transaction: one lock and one flush per
-- batch instead of per fact. Every process that listens to the channel (each API instance with a
-- live subscription, each webhook worker) announces every ~100 ms, so a change made through any door
-- reaches the subscribers of every instance; a notification is still sent only once per event.

alter table ops.outbox_events add column announced_at timestamptz;
comment on column ops.outbox_events.announced_at is
  'When ops.outbox_announce notified channel ops_outbox of the event; null until then.';
-- Every event before this column existed was notified at its commit.
update ops.outbox_events set announced_at = created_at where announced_at is null;
create index outbox_events_unannounced on ops.outbox_events (created_at) where announced_at is null;

-- Takes the event's parts; writes the outbox row (ops.outbox_announce notifies channel
-- 'ops_outbox' of it once committed; a rolled-back row is never seen). With p_with_blockers, the
-- event carries the release's promotion blockers: from the gates the running evaluation computed
-- when there is one (ops.evaluate_release), else computed now. Returns nothing. Raises nothing of
-- its own. Owner-only: called by the outbox triggers. Rule: issue of the outbox (README: Events and
-- webhooks).
create or replace function ops.outbox_write(
  p_kind text, p_release_id uuid, p_environment public.ops_environment, p_source_table text,
  p_source_id uuid, p_actor text, p_change jsonb, p_with_blockers boolean
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_project text;
  v_target public.ops_environment;
  v_blockers jsonb;
  v_gates text;
begin
  select r.project, r.environment_target into v_project, v_target
  from ops.releases r where r.release_id = p_release_id;
  if p_with_blockers then
    v_gates := ops.context_value('evaluated_gates', p_release_id);
    if v_gates is not null then
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b)), '[]'::jsonb) into v_blockers
      from ops.gate_blockers(p_release_id, v_gates::jsonb) b;
    else
      select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b)), '[]'::jsonb) into v_blockers
      from ops.promotion_blockers(p_release_id) b;
    end if;
  end if;
  insert into ops.outbox_events (kind, release_id, project, environment, source_table, source_id,
                                 actor, change, blockers)
  values (p_kind, p_release_id, v_project, coalesce(p_environment, v_target), p_source_table,
          p_source_id, coalesce(p_actor, ''), p_change, v_blockers);
end
$$;
revoke execute on function ops.outbox_write(text, uuid, public.ops_environment, text, uuid, text, jsonb, boolean) from public;

-- Takes a batch size (events, capped at 1000). Notifies channel 'ops_outbox' once per committed
-- outbox event not yet announced, oldest first, with {"event_id","release_id","project","kind"}
-- (the notifications go out when the caller's transaction commits, so a caller that rolls back
-- announces nothing and leaves the events to the next announcer), and marks them announced.
-- Events another transaction is announcing are skipped (SKIP LOCKED): each is announced once.
-- Returns the number of events announced (fewer than p_limit: none are left). Raises OPS22 for a
-- batch size below 1. Called by the API login (the events listener of each instance,
-- src/events/listener.ts) and the webhook worker (owner): it announces only what was committed,
-- with the payload the row holds, so no caller chooses what is said; a caller that keeps its
-- transaction open delays the events it took, never loses them. Rule: issue of the outbox
-- (subscriptions fed from LISTEN/NOTIFY for changes made through any door).
create function ops.outbox_announce(p_limit integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_events uuid[];
  v_notice text;
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
  for v_notice in
    select pg_catalog.json_build_object('event_id', e.event_id, 'release_id', e.release_id,
                                        'project', e.project, 'kind', e.kind)::text
    from pg_catalog.unnest(v_events) with ordinality as a(event_id, n)
    join ops.outbox_events e on e.event_id = a.event_id
    order by a.n
  loop
    perform pg_catalog.pg_notify('ops_outbox', v_notice);
  end loop;
  update ops.outbox_events e set announced_at = pg_catalog.clock_timestamp()
  where e.event_id = any (v_events);
  return pg_catalog.cardinality(v_events);
end
$$;
revoke execute on function ops.outbox_announce(integer) from public;
do $$
begin
  -- The API's login (Supabase: authenticator) announces from each instance's events listener; it
  -- may already assume every persona, so naming the schema gives it nothing else.
  if exists (select 1 from pg_roles where rolname = 'authenticator') then
    grant usage on schema ops to authenticator;
    grant execute on function ops.outbox_announce(integer) to authenticator;
  end if;
end
$$;
