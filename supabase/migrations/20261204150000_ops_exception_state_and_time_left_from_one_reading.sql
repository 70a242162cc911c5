-- An exception's state and its time left from one reading of the clock. ops.exception_state and
-- ops.exception_time_left (20261201002300) each read clock_timestamp() on their own, so a row read
-- at the instant of its expiry could say 'active' with no time left (or a negative one), or
-- 'expired' with time left. Both now come from ops.exception_standing, which reads the clock once
-- and judges the rule (ops.exception_is_active_at) at that instant; ops.v_exception_status calls it
-- once per row, in its FROM clause (a function there, unlike a volatile one in the select list,
-- leaves the view to be pulled up into the query that reads it: the exception-status page still
-- walks the expiry index and stops at the page). ops.exception_is_active judges the same rule at
-- the moment of its call, as before. Both are PL/pgSQL, whose plans the session keeps: an SQL
-- function with a SET clause is planned at every call (20261201002300), and one calling another
-- cost 70-140 us a call against 4-7 us as PL/pgSQL (7-10 us for the single SQL function before).

-- Takes an exception row and an instant; returns whether the exception authorises anything at that
-- instant: approved by someone other than its requester, and inside its window (effective_from
-- included, expires_at excluded). Raises nothing. Reads nothing but its arguments, so every persona
-- may call it (as ops.exception_is_active). Rule: DESIGN section 5 (exceptions are time-bounded).
create function ops.exception_is_active_at(e ops.exceptions, p_at timestamptz) returns boolean
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return e.approver_id is not null
     and e.approver_id <> e.requested_by
     and e.effective_from <= p_at
     and p_at < e.expires_at;
end
$$;
revoke execute on function ops.exception_is_active_at(ops.exceptions, timestamptz) from public;
grant execute on function ops.exception_is_active_at(ops.exceptions, timestamptz)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Whether an exception authorises anything right now: ops.exception_is_active_at, judged at
-- clock_timestamp() (the moment of the call, not the transaction's start), read once. Takes an
-- exception row; returns a boolean. Raises nothing. Every persona may call it (it reads only the
-- row it is given). Rule: DESIGN section 5.
create or replace function ops.exception_is_active(e ops.exceptions) returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return ops.exception_is_active_at(e, pg_catalog.clock_timestamp());
end
$$;

-- Takes an exception row; returns where it stands at one reading of the clock (clock_timestamp(),
-- the moment of the call) and, from the same reading, its time left: state 'active' (approved by
-- someone other than its requester and inside its window, ops.exception_is_active_at), 'expired'
-- (past expires_at), 'scheduled' (approved, window not open yet), otherwise 'pending_approval';
-- time_left (an interval, always positive) until expires_at while active, null otherwise. Raises
-- nothing. STABLE although it reads the clock, as ops.exception_is_active: a volatile function
-- would keep ops.v_exception_status from being pulled up into its readers (20261201002300). For
-- the personas who read ops.v_exception_status. Rule: DESIGN section 5, judged at read time.
create function ops.exception_standing(e ops.exceptions, out state text, out time_left interval)
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_at timestamptz := pg_catalog.clock_timestamp();
begin
  if ops.exception_is_active_at(e, v_at) then
    state := 'active';
    time_left := e.expires_at - v_at;
  elsif e.expires_at <= v_at then
    state := 'expired';
  elsif e.approver_id is not null and e.approver_id <> e.requested_by then
    state := 'scheduled';
  else
    state := 'pending_approval';
  end if;
end
$$;
revoke execute on function ops.exception_standing(ops.exceptions) from public;
grant execute on function ops.exception_standing(ops.exceptions) to audit_reader, release_manager;

-- Takes an exception row; returns its state at the moment of the call (ops.exception_standing).
-- Raises nothing. For the personas who read ops.v_exception_status. Rule: DESIGN section 5.
create or replace function ops.exception_state(e ops.exceptions) returns text
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (ops.exception_standing(e)).state;
end
$$;

-- Takes an exception row; returns its time left while active at the moment of the call, null
-- otherwise (ops.exception_standing); never negative. Raises nothing. For the personas who read
-- ops.v_exception_status. Rule: DESIGN section 5.
create or replace function ops.exception_time_left(e ops.exceptions) returns interval
language plpgsql
stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (ops.exception_standing(e)).time_left;
end
$$;

create or replace view ops.v_exception_status with (security_invoker = true) as
select e.exception_id, e.release_id, r.project, r.release_name, e.exception_type, e.impacted_gates,
       s.state,
       e.post_review_status,
       s.time_left,
       e.requested_by, e.approver_id, e.approved_at, e.effective_from, e.expires_at, e.reason, e.created_at
from ops.exceptions e
join ops.releases r on r.release_id = e.release_id
cross join lateral ops.exception_standing(e) s;
