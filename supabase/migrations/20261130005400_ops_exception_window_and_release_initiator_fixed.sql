-- Facts that stay updatable for their workflow (an exception is approved and reviewed after its
-- request; a release changes status, revision and scope) keep what they were decided on. Before,
-- an UPDATE by the owner passed every trigger: an approved exception's expires_at moved ten years
-- on, past ops.max_exception_window() (checked only on INSERT), or its revision moved to a later
-- revision of the release, carrying the bypass over; a release's initiating actor was renamed, so
-- its initiator could sign off its G3. Each was an ordinary 'update' entry on the ledger, as an
-- approval is.

-- Trigger (BEFORE UPDATE on ops.exceptions). An exception's window only ends earlier (expires_at
-- never later), stays finite and at most ops.max_exception_window() long; its revision never
-- changes. Takes the row; returns it unchanged. Errors: OPS22. Rule: README (every exception is
-- time-bounded), 20261129006100 (the bound).
create function ops.exceptions_window_fixed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.revision is distinct from old.revision then
    raise exception 'exception % is for revision % of its release; request a new exception for another revision',
      old.exception_id, old.revision using errcode = 'OPS22';
  end if;
  if new.expires_at > old.expires_at or not pg_catalog.isfinite(new.expires_at)
     or not pg_catalog.isfinite(new.effective_from)
     or new.expires_at - new.effective_from > ops.max_exception_window() then
    raise exception 'exception % authorises until % at the latest; its window only ends earlier (at most % long)',
      old.exception_id, old.expires_at, ops.max_exception_window() using errcode = 'OPS22';
  end if;
  return new;
end
$$;
revoke execute on function ops.exceptions_window_fixed() from public;
create trigger exceptions_window_fixed before update on ops.exceptions
  for each row execute function ops.exceptions_window_fixed();

-- Trigger (BEFORE UPDATE on ops.releases). A release's identity and initiating actor never
-- change: separation of duties (ops.approvals_guard, ops.approvals_exception_separation) is
-- judged against the initiating actor. Takes the row; returns it unchanged. Errors: OPS22.
create function ops.releases_identity_fixed() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if (new.release_id, new.project, new.release_name, new.initiating_actor)
     is distinct from (old.release_id, old.project, old.release_name, old.initiating_actor) then
    raise exception 'release % keeps its project, name and initiating actor (%)', old.release_name,
      old.initiating_actor using errcode = 'OPS22';
  end if;
  return new;
end
$$;
revoke execute on function ops.releases_identity_fixed() from public;
create trigger releases_identity_fixed before update on ops.releases
  for each row execute function ops.releases_identity_fixed();
