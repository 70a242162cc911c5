-- The API's login announced the outbox by calling ops.outbox_announce, for which it was granted
-- USAGE on schema ops: the login then held a privilege in ops of its own, where it was meant to hold
-- none (a request that resets its role must be left with nothing in ops; test/personas). The
-- announcement now has an entry point in public, as the public.ops_* types do, which the login may
-- execute; ops.outbox_announce is the owner's again and the login's USAGE on ops is withdrawn.

-- Takes a batch size (events, capped at 1000). Announces committed outbox events not yet announced,
-- as ops.outbox_announce does (channel 'ops_outbox', once per event, oldest first, sent at the
-- caller's commit). Returns the number announced. Raises OPS22 for a batch size below 1. Called by
-- the API login (the events listener of each instance, src/events/listener.ts) and the webhook
-- worker (owner); nobody else. Rule: issue of the outbox (subscriptions fed from LISTEN/NOTIFY for
-- changes made through any door).
create function public.ops_outbox_announce(p_limit integer) returns integer
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
  select ops.outbox_announce(p_limit)
$$;
revoke execute on function public.ops_outbox_announce(integer) from public;

do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticator') then
    revoke execute on function ops.outbox_announce(integer) from authenticator;
    revoke usage on schema ops from authenticator;
    grant execute on function public.ops_outbox_announce(integer) to authenticator;
  end if;
end
$$;
