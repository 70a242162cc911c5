-- Separation of duties for exception approvals as for gate sign-offs
-- (20261129002000_ops_separation_of_duties_per_release.sql, 20261129006100): approving an
-- exception that bypasses G2 or G3 decides that gate, so
-- * the release's initiating actor, and whoever revised it to its current revision, approve no
--   exception of it (as they sign off no G3 of it): before, an initiating release manager approved
--   a colleague's G3 bypass of their own release and G3 stood bypassed;
-- * the approver of a gate_bypass of G2 or G3 is one of the release's deciders
--   (ops.release_deciders, one row per release and subject), so nobody signs off G3 and approves a
--   bypass of G2, or the other way round, whichever comes first. A bypass of both gates needs an
--   approver who decided neither, and counts as their G2 decision (a release manager's only
--   sign-off is G3, which it then blocks). Evidence waivers and timing overrides decide no gate.
--
-- Trigger (BEFORE INSERT on ops.approvals; only approvals of an exception with decision approved,
-- the row ops.approve_exception inserts before it approves the exception; the deciders part only
-- for exceptions of type gate_bypass). Takes the approval row;
-- returns it unchanged. Errors: OPS03 (the approver initiated or revised the release, or decided
-- another of its G2 and G3), OPS09 (the approver's deciders row belongs to a concurrent
-- transaction not visible to this one's snapshot; retry). Concurrent decisions of one subject
-- conflict on the deciders' primary key, as for gate approvals (at REPEATABLE READ or
-- SERIALIZABLE PostgreSQL raises a serialization failure itself). Rules: DESIGN section 5
-- (separation of duties), README threat model.
create function ops.approvals_exception_separation() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_exception ops.exceptions;
  v_release ops.releases;
  v_reviser text;
  v_gates public.ops_gate_code[];
  v_decider ops.release_deciders;
begin
  if new.exception_id is null or new.decision <> 'approved' then
    return new;
  end if;
  select * into v_exception from ops.exceptions e where e.exception_id = new.exception_id;
  if not found then
    return new;
  end if;
  select * into v_release from ops.releases r where r.release_id = v_exception.release_id;
  if new.approver_id = v_release.initiating_actor then
    raise exception 'separation of duties: % initiated release % and may not approve its exceptions',
      new.approver_id, v_release.release_name using errcode = 'OPS03';
  end if;
  select rv.revised_by into v_reviser from ops.release_revisions rv
    where rv.release_id = v_release.release_id and rv.revision = v_release.revision and v_release.revision > 1;
  if v_reviser = new.approver_id then
    raise exception 'separation of duties: % revised release % to its current revision and may not approve its exceptions',
      new.approver_id, v_release.release_name using errcode = 'OPS03';
  end if;

  if v_exception.exception_type <> 'gate_bypass' then
    return new;
  end if;
  v_gates := array(select g from pg_catalog.unnest(v_exception.impacted_gates) g
                   where g in ('G2', 'G3') order by g);
  if pg_catalog.cardinality(v_gates) = 0 then
    return new;
  end if;
  -- A bypass of both gates registers its approver as G2's decider, so ops.approvals_guard refuses
  -- their G3 sign-off afterwards; it is refused below unless the approver decided neither before.
  insert into ops.release_deciders (release_id, approver_id, gate_code, persona_role, decision, approval_id)
  values (v_release.release_id, new.approver_id, v_gates[1], new.persona_role, new.decision, new.approval_id)
  on conflict (release_id, approver_id) do nothing;
  if found then
    return new;
  end if;
  select * into v_decider from ops.release_deciders d
    where d.release_id = v_release.release_id and d.approver_id = new.approver_id;
  if not found then
    raise exception 'separation of duties: % is deciding a gate of release % in a concurrent transaction; retry',
      new.approver_id, v_release.release_name using errcode = 'OPS09';
  end if;
  if pg_catalog.cardinality(v_gates) > 1 or v_decider.gate_code <> v_gates[1] then
    raise exception 'separation of duties: % decided % of release % and may not approve an exception bypassing %',
      new.approver_id, v_decider.gate_code, v_release.release_name, pg_catalog.array_to_string(v_gates, ' and ')
      using errcode = 'OPS03';
  end if;
  return new;
end
$$;
revoke execute on function ops.approvals_exception_separation() from public;
-- Named to fire after ops.approvals_guard and ops.approvals_reviser_not_g3 (BEFORE triggers run in
-- name order), so the approver is the caller by then.
create trigger approvals_separation_exceptions before insert on ops.approvals
  for each row execute function ops.approvals_exception_separation();
