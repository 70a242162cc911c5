-- The API's login (authenticator) holds nothing in schema ops, not even USAGE: every request reaches
-- ops only as the persona it assumed. 20261203100000 granted it USAGE on ops and EXECUTE on
-- ops.outbox_announce, so that each instance's events listener, which speaks for no persona, could
-- announce. Both grants are taken back; the listener calls public.ops_outbox_announce instead, the
-- one thing the login may run by itself (as public.custom_access_token_hook is Supabase Auth's):
-- an owner-rights wrapper that announces committed events and nothing else.
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticator') then
    revoke execute on function ops.outbox_announce(integer) from authenticator;
    revoke usage on schema ops from authenticator;
  end if;
end
$$;

-- Takes a batch size; returns ops.outbox_announce(p_limit): the number of committed outbox events
-- announced on channel 'ops_outbox' (once each, oldest first). Raises OPS22 for a batch size below
-- 1. Executable by the API's login alone (its events listener, src/events/listener.ts), not by any
-- persona nor by anon or authenticated. Rule: issue of the outbox (subscriptions fed from
-- LISTEN/NOTIFY for changes made through any door).
create function public.ops_outbox_announce(p_limit integer) returns integer
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$ select ops.outbox_announce(p_limit) $$;
revoke execute on function public.ops_outbox_announce(integer) from public;
do $$
begin
  if exists (select 1 from pg_roles where rolname = 'authenticator') then
    grant execute on function public.ops_outbox_announce(integer) to authenticator;
  end if;
end
$$;
