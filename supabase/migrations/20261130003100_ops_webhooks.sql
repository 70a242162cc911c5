-- Webhook subscriptions (release managers), their secrets (owner only), and deliveries with their
-- attempts (release managers and auditors read them). The delivery worker (src/webhooks/) runs as
-- the owner: ops.webhook_dispatch fans each outbox event out to the matching subscriptions in one
-- transaction with the graphile-worker jobs that deliver them; the job library's locking makes
-- each delivery run on one worker at a time, whatever the number of API instances.

create table ops.webhook_subscriptions (
  subscription_id uuid primary key default gen_random_uuid(),
  url text not null check (url ~ '^https?://[^/@[:space:]]+(/[^[:space:]]*)?$' and length(url) <= 2048),
  -- Empty: every kind.
  event_kinds text[] not null default '{}',
  -- Null: every project / environment.
  project text check (project <> ''),
  environment public.ops_environment,
  active boolean not null default true,
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  removed_at timestamptz,
  removed_by text,
  check (active = (removed_at is null))
);
create index webhook_subscriptions_active on ops.webhook_subscriptions (created_at) where active;

-- The signing secrets: no persona holds any privilege here, only the owner-rights delivery path
-- (ops.webhook_delivery_target) reads them. Shown once, by ops.add_webhook's caller.
create table ops.webhook_secrets (
  subscription_id uuid primary key references ops.webhook_subscriptions (subscription_id),
  secret text not null
);

create table ops.webhook_deliveries (
  delivery_id uuid primary key default gen_random_uuid(),
  subscription_id uuid not null references ops.webhook_subscriptions (subscription_id),
  event_id uuid not null references ops.outbox_events (event_id),
  status text not null default 'pending' check (status in ('pending', 'delivered', 'failed', 'refused')),
  attempts integer not null default 0,
  created_at timestamptz not null default clock_timestamp(),
  last_attempt_at timestamptz,
  delivered_at timestamptz,
  unique (subscription_id, event_id)
);
create index webhook_deliveries_subscription on ops.webhook_deliveries (subscription_id, created_at desc);

create table ops.webhook_attempts (
  delivery_id uuid not null references ops.webhook_deliveries (delivery_id),
  attempt integer not null,
  started_at timestamptz not null,
  duration_ms integer not null,
  -- The receiver's HTTP status, null when no answer came (refused target, timeout, connection).
  status_code integer,
  error text,
  outcome text not null check (outcome in ('delivered', 'retry', 'failed', 'refused')),
  primary key (delivery_id, attempt)
);

alter table ops.webhook_subscriptions enable row level security;
alter table ops.webhook_secrets enable row level security;
alter table ops.webhook_deliveries enable row level security;
alter table ops.webhook_attempts enable row level security;
revoke all on ops.webhook_subscriptions, ops.webhook_secrets, ops.webhook_deliveries, ops.webhook_attempts
  from public;
grant select on ops.webhook_subscriptions, ops.webhook_deliveries, ops.webhook_attempts
  to release_manager, audit_reader;
create policy webhook_subscriptions_read on ops.webhook_subscriptions for select
  to release_manager, audit_reader using (true);
create policy webhook_deliveries_read on ops.webhook_deliveries for select
  to release_manager, audit_reader using (true);
create policy webhook_attempts_read on ops.webhook_attempts for select
  to release_manager, audit_reader using (true);

-- The kinds an outbox event can have (the check on ops.outbox_events.kind), for validation.
create function ops.outbox_event_kinds() returns text[]
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select array['gate.transition', 'approval.decided', 'exception.requested', 'exception.approved',
               'exception.reviewed', 'deployment.recorded', 'deployment.status_changed',
               'release.status_changed']
$$;
revoke execute on function ops.outbox_event_kinds() from public;

-- Takes a target URL (http or https, no credentials, at most 2048 characters), the event kinds
-- (null or empty: all), a project and environment filter (null: all) and the signing secret
-- (Standard Webhooks form: 'whsec_' and base64 of 24 to 64 bytes); returns the new subscription
-- (without its secret, which no persona can read afterwards). Release managers only (OPS03);
-- a malformed argument raises OPS22. The target's address is checked at each delivery
-- (src/webhooks/ssrf.ts), where the name is resolved.
create function ops.add_webhook(
  p_url text, p_event_kinds text[], p_project text, p_environment text, p_secret text
) returns ops.webhook_subscriptions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row ops.webhook_subscriptions;
  v_unknown text[];
  v_env public.ops_environment;
begin
  perform ops.require_persona('{release_manager}', 'manage webhook subscriptions');
  if p_url is null or pg_catalog.length(p_url) > 2048
     or p_url !~ '^https?://[^/@[:space:]]+(/[^[:space:]]*)?$' then
    raise exception 'url must be an http or https URL without credentials, at most 2048 characters'
      using errcode = 'OPS22';
  end if;
  select pg_catalog.array_agg(k) into v_unknown
  from pg_catalog.unnest(coalesce(p_event_kinds, '{}')) k
  where not k = any (ops.outbox_event_kinds());
  if v_unknown is not null then
    raise exception 'unknown event kinds: % (known: %)', pg_catalog.array_to_string(v_unknown, ', '),
      pg_catalog.array_to_string(ops.outbox_event_kinds(), ', ') using errcode = 'OPS22';
  end if;
  if p_project is not null and pg_catalog.btrim(p_project) = '' then
    raise exception 'project filter must not be empty (leave it out for every project)' using errcode = 'OPS22';
  end if;
  if p_environment is not null then
    if not p_environment = any (pg_catalog.enum_range(null::public.ops_environment)::text[]) then
      raise exception 'environment must be one of %',
        pg_catalog.array_to_string(pg_catalog.enum_range(null::public.ops_environment)::text[], ', ')
        using errcode = 'OPS22';
    end if;
    v_env := p_environment::public.ops_environment;
  end if;
  if p_secret is null or p_secret !~ '^whsec_[A-Za-z0-9+/]{32,88}={0,2}$' then
    raise exception 'secret must be ''whsec_'' followed by the base64 of 24 to 64 random bytes'
      using errcode = 'OPS22';
  end if;
  insert into ops.webhook_subscriptions (url, event_kinds, project, environment)
  values (p_url, coalesce((select pg_catalog.array_agg(distinct k order by k)
                           from pg_catalog.unnest(p_event_kinds) k), '{}'), p_project, v_env)
  returning * into v_row;
  insert into ops.webhook_secrets (subscription_id, secret) values (v_row.subscription_id, p_secret);
  return v_row;
end
$$;
revoke execute on function ops.add_webhook(text, text[], text, text, text) from public;
grant execute on function ops.add_webhook(text, text[], text, text, text) to release_manager;

-- Takes a subscription id; deactivates it and forgets its secret (pending deliveries then end
-- as failed at their next attempt); returns the subscription. Release managers only (OPS03);
-- unknown id OPS04; already removed OPS09.
create function ops.remove_webhook(p_subscription_id uuid) returns ops.webhook_subscriptions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row ops.webhook_subscriptions;
begin
  perform ops.require_persona('{release_manager}', 'manage webhook subscriptions');
  select * into v_row from ops.webhook_subscriptions s where s.subscription_id = p_subscription_id for update;
  if not found then
    raise exception 'no webhook subscription %', p_subscription_id using errcode = 'OPS04';
  end if;
  if not v_row.active then
    raise exception 'webhook subscription % was already removed', p_subscription_id using errcode = 'OPS09';
  end if;
  update ops.webhook_subscriptions s
     set active = false, removed_at = pg_catalog.clock_timestamp(), removed_by = ops.current_actor()
   where s.subscription_id = p_subscription_id
  returning * into v_row;
  delete from ops.webhook_secrets s where s.subscription_id = p_subscription_id;
  return v_row;
end
$$;
revoke execute on function ops.remove_webhook(uuid) from public;
grant execute on function ops.remove_webhook(uuid) to release_manager;

-- Worker (owner only). Takes a batch size and the attempts each delivery gets; fans out up to
-- that many undispatched outbox events (oldest first, rows locked with SKIP LOCKED so concurrent
-- dispatchers never take the same event) to the active subscriptions whose kinds, project and
-- environment match, adding one graphile-worker job 'ops_webhook_deliver' per delivery (job key
-- 'webhook:<delivery_id>') in the same transaction. Returns the number of events dispatched.
-- Needs the graphile_worker schema (installed by the worker at start).
create function ops.webhook_dispatch(p_limit integer, p_max_attempts integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_event record;
  v_delivery uuid;
  v_count integer := 0;
begin
  for v_event in
    select e.event_id, e.kind, e.project, e.environment
    from ops.outbox_events e
    where e.dispatched_at is null
    order by e.created_at
    limit p_limit
    for update skip locked
  loop
    for v_delivery in
      insert into ops.webhook_deliveries (subscription_id, event_id)
      select s.subscription_id, v_event.event_id
      from ops.webhook_subscriptions s
      where s.active
        and (s.event_kinds = '{}' or v_event.kind = any (s.event_kinds))
        and (s.project is null or s.project = v_event.project)
        and (s.environment is null or s.environment = v_event.environment)
      on conflict (subscription_id, event_id) do nothing
      returning delivery_id
    loop
      perform graphile_worker.add_job('ops_webhook_deliver',
        pg_catalog.json_build_object('delivery_id', v_delivery),
        max_attempts => p_max_attempts, job_key => 'webhook:' || v_delivery::text);
    end loop;
    update ops.outbox_events e set dispatched_at = pg_catalog.clock_timestamp()
     where e.event_id = v_event.event_id;
    v_count := v_count + 1;
  end loop;
  return v_count;
end
$$;
revoke execute on function ops.webhook_dispatch(integer, integer) from public;

-- Worker (owner only). Takes a delivery id; returns what its delivery needs: the target URL, the
-- secret (null once the subscription is removed), the delivery's status and attempts so far, and
-- the message body (Standard Webhooks shape: type, timestamp, data). No row: unknown delivery.
create function ops.webhook_delivery_target(p_delivery_id uuid)
returns table (url text, secret text, status text, attempts integer, body jsonb)
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select s.url, k.secret, d.status, d.attempts,
         pg_catalog.jsonb_build_object(
           'type', e.kind,
           'timestamp', pg_catalog.to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', pg_catalog.jsonb_build_object(
             'event_id', e.event_id, 'release_id', e.release_id, 'project', e.project,
             'environment', e.environment, 'actor', e.actor, 'change', e.change,
             'blockers', e.blockers))
  from ops.webhook_deliveries d
  join ops.webhook_subscriptions s on s.subscription_id = d.subscription_id
  join ops.outbox_events e on e.event_id = d.event_id
  left join ops.webhook_secrets k on k.subscription_id = d.subscription_id
  where d.delivery_id = p_delivery_id
$$;
revoke execute on function ops.webhook_delivery_target(uuid) from public;

-- Worker (owner only). Takes a delivery id, when the attempt started, its duration (ms), the
-- receiver's HTTP status (null: no answer), an error text and the outcome ('delivered', 'retry',
-- 'failed', 'refused'); appends the attempt and updates the delivery. Returns the attempt number.
-- Unknown delivery OPS04; a bad outcome OPS22.
create function ops.webhook_record_attempt(
  p_delivery_id uuid, p_started_at timestamptz, p_duration_ms integer, p_status_code integer,
  p_error text, p_outcome text
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_attempt integer;
begin
  if p_outcome is null or p_outcome not in ('delivered', 'retry', 'failed', 'refused') then
    raise exception 'outcome must be delivered, retry, failed or refused' using errcode = 'OPS22';
  end if;
  update ops.webhook_deliveries d
     set attempts = d.attempts + 1,
         last_attempt_at = p_started_at,
         status = case p_outcome when 'retry' then 'pending' else p_outcome end,
         delivered_at = case when p_outcome = 'delivered' then pg_catalog.clock_timestamp() else d.delivered_at end
   where d.delivery_id = p_delivery_id
  returning d.attempts into v_attempt;
  if not found then
    raise exception 'no webhook delivery %', p_delivery_id using errcode = 'OPS04';
  end if;
  insert into ops.webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, outcome)
  values (p_delivery_id, v_attempt, p_started_at, p_duration_ms, p_status_code,
          pg_catalog.left(p_error, 1000), p_outcome);
  return v_attempt;
end
$$;
revoke execute on function ops.webhook_record_attempt(uuid, timestamptz, integer, integer, text, text) from public;
