-- A batch job read its deliveries' targets through one call of ops.webhook_delivery_target per
-- delivery (a lateral join: one planned query per row) and recorded its attempts through one call
-- of ops.webhook_record_attempt per delivery (an update and an insert each). Both are now one
-- set-based statement per batch, and the message body comes as the text that is signed and sent
-- (the worker parsed the jsonb and wrote it out again, per delivery). What a delivery reads, sends
-- and records is unchanged; the one-delivery functions stay for single-delivery jobs and callers.

-- Worker (owner only). Takes delivery ids. Returns, per delivery that exists (in the order given),
-- its target URL, the subscription's secret (null once the subscription is removed), its status and
-- attempts so far, and the message body as sent: {"type", "timestamp" (ISO-8601 UTC, microseconds),
-- "data": {event_id, release_id, project, environment, actor, change, blockers}} as JSON text.
-- Raises nothing of its own. Rule: issue of the outbox (Standard Webhooks message shape; README:
-- Events and webhooks).
create function ops.webhook_delivery_targets(p_delivery_ids uuid[])
returns table (delivery_id uuid, url text, secret text, status text, attempts integer, body text)
language sql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select d.delivery_id, s.url, k.secret, d.status, d.attempts,
         pg_catalog.jsonb_build_object(
           'type', e.kind,
           'timestamp', pg_catalog.to_char(e.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'data', pg_catalog.jsonb_build_object(
             'event_id', e.event_id, 'release_id', e.release_id, 'project', e.project,
             'environment', e.environment, 'actor', e.actor, 'change', e.change,
             'blockers', e.blockers))::text
  from pg_catalog.unnest(p_delivery_ids) with ordinality as i(delivery_id, n)
  join ops.webhook_deliveries d on d.delivery_id = i.delivery_id
  join ops.webhook_subscriptions s on s.subscription_id = d.subscription_id
  join ops.outbox_events e on e.event_id = d.event_id
  left join ops.webhook_secrets k on k.subscription_id = d.subscription_id
  order by i.n
$$;
revoke execute on function ops.webhook_delivery_targets(uuid[]) from public;

-- Worker (owner only). Takes one attempt per delivery as parallel arrays: delivery id, when it
-- started, its duration (ms), the HTTP status (null: no answer), the error (null: none; kept to
-- 1000 characters) and the outcome ('delivered', 'retry', 'failed' or 'refused'). In one statement,
-- as ops.webhook_record_attempt does for one: counts the attempt on each delivery, sets its status
-- ('retry' leaves it pending) and delivery time, and records the attempt under its number. Returns
-- the number of attempts recorded. Raises OPS22 for arrays of different lengths, a delivery named
-- twice or an unknown outcome, OPS04 for a delivery that does not exist (nothing is recorded then).
-- Rule: issue of the outbox (delivery attempts and their outcomes are visible).
create function ops.webhook_record_attempts(
  p_delivery_ids uuid[], p_started_at timestamptz[], p_duration_ms integer[], p_status_codes integer[],
  p_errors text[], p_outcomes text[]
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := coalesce(pg_catalog.cardinality(p_delivery_ids), 0);
  v_recorded integer;
begin
  if v_count = 0 then
    return 0;
  end if;
  if coalesce(pg_catalog.cardinality(p_started_at), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_duration_ms), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_status_codes), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_errors), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_outcomes), 0) <> v_count then
    raise exception 'one started_at, duration, status code, error and outcome per delivery'
      using errcode = 'OPS22';
  end if;
  if exists (select 1 from pg_catalog.unnest(p_outcomes) o
             where o is null or o not in ('delivered', 'retry', 'failed', 'refused')) then
    raise exception 'outcome must be delivered, retry, failed or refused' using errcode = 'OPS22';
  end if;
  if (select pg_catalog.count(distinct x) from pg_catalog.unnest(p_delivery_ids) x) <> v_count then
    raise exception 'a delivery is named twice or is null' using errcode = 'OPS22';
  end if;
  with a as (
    select * from rows from (pg_catalog.unnest(p_delivery_ids), pg_catalog.unnest(p_started_at),
                             pg_catalog.unnest(p_duration_ms), pg_catalog.unnest(p_status_codes),
                             pg_catalog.unnest(p_errors), pg_catalog.unnest(p_outcomes)) with ordinality
      as a(delivery_id, started_at, duration_ms, status_code, error, outcome, n)
  ), counted as (
    update ops.webhook_deliveries d
       set attempts = d.attempts + 1,
           last_attempt_at = a.started_at,
           status = case a.outcome when 'retry' then 'pending' else a.outcome end,
           delivered_at = case when a.outcome = 'delivered' then pg_catalog.clock_timestamp()
                               else d.delivered_at end
      from a
     where d.delivery_id = a.delivery_id
    returning d.delivery_id, d.attempts
  )
  insert into ops.webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, outcome)
  select a.delivery_id, c.attempts, a.started_at, a.duration_ms, a.status_code, pg_catalog.left(a.error, 1000),
         a.outcome
  from a join counted c on c.delivery_id = a.delivery_id
  order by a.n;
  get diagnostics v_recorded = row_count;
  if v_recorded <> v_count then
    raise exception 'no webhook delivery for % of the % attempts', v_count - v_recorded, v_count
      using errcode = 'OPS04';
  end if;
  return v_recorded;
end
$$;
revoke execute on function ops.webhook_record_attempts(uuid[], timestamptz[], integer[], integer[], text[], text[]) from public;
