-- Bounds on facts that the gate rule trusts, each a trigger of its own so it holds at every door
-- (functions, the ingest, a persona's direct write and the owner's):
-- * a deployment is not dated in the future, and its outcome only moves forward;
-- * G4's verdict on a deployment is written by the health check function, not by hand;
-- * an exception's window is bounded;
-- * whoever revised a release does not sign off G3 of that revision;
-- * a developer does not overwrite a check another producer reported;
-- * a release's scope is not changed after sign-off, and its artifact is named by its revision.

-- The longest an exception may authorise anything: time-bounded means bounded.
create function ops.max_exception_window() returns interval
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select interval '30 days' $$;
revoke execute on function ops.max_exception_window() from public;

-- Deployments (BEFORE INSERT OR UPDATE). A deployment dated in the future would stay "the latest"
-- for G4 whatever happens after it; a failed or rolled-back deployment that turns succeeded again
-- would stand again without a new promotion. Allowed outcomes: in_progress → succeeded, failed,
-- rolled_back; succeeded → failed, rolled_back; failed → rolled_back. Deploy again instead.
-- Errors: OPS22 (a future date), OPS09 (an outcome that goes back).
create function ops.deployments_bounds() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.deployed_at > pg_catalog.clock_timestamp() + interval '5 minutes' then
    raise exception 'deployed_at % lies in the future; a deployment is recorded when it happens', new.deployed_at
      using errcode = 'OPS22';
  end if;
  if tg_op = 'UPDATE' and new.status is distinct from old.status and not (
       (old.status = 'in_progress')
    or (old.status = 'succeeded' and new.status in ('failed', 'rolled_back'))
    or (old.status = 'failed' and new.status = 'rolled_back')) then
    raise exception 'a % deployment does not become %: deploy the release again', old.status, new.status
      using errcode = 'OPS09';
  end if;
  if tg_op = 'UPDATE' and new.deployed_at is distinct from old.deployed_at then
    raise exception 'a deployment''s date does not change' using errcode = 'OPS22';
  end if;
  return new;
end
$$;
revoke execute on function ops.deployments_bounds() from public;
create trigger deployments_bounds before insert or update on ops.deployments
  for each row execute function ops.deployments_bounds();

-- G4's verdict on a deployment comes from ops.record_health_check (with its check and evidence),
-- never from a direct write of the SRE who made the deployment.
revoke update (g4_status, g4_resolved_at) on ops.deployments from sre;

-- Exceptions (BEFORE INSERT): the window is finite and at most ops.max_exception_window() long.
-- Errors: OPS22.
create function ops.exceptions_window_bounded() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not pg_catalog.isfinite(new.expires_at) or not pg_catalog.isfinite(new.effective_from)
     or new.expires_at - new.effective_from > ops.max_exception_window() then
    raise exception 'an exception authorises for at most %, not from % to %', ops.max_exception_window(),
      new.effective_from, new.expires_at using errcode = 'OPS22';
  end if;
  return new;
end
$$;
revoke execute on function ops.exceptions_window_bounded() from public;
create trigger exceptions_window_bounded before insert on ops.exceptions
  for each row execute function ops.exceptions_window_bounded();

-- Approvals (BEFORE INSERT): whoever revised a release put that revision forward, as an initiator
-- does; they do not approve its G3 (separation of duties, as for the initiating actor in
-- ops.approvals_guard). Errors: OPS03.
create function ops.approvals_reviser_not_g3() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_reviser text;
begin
  if new.decision <> 'approved' or new.gate_id is null then
    return new;
  end if;
  select rv.revised_by into v_reviser
  from ops.release_gates g
  join ops.releases r on r.release_id = g.release_id
  join ops.release_revisions rv on rv.release_id = r.release_id and rv.revision = r.revision
  where g.gate_id = new.gate_id and g.gate_code = 'G3' and r.revision > 1;
  if v_reviser is not null and v_reviser = new.approver_id then
    raise exception 'separation of duties: % revised this release to its current revision and may not approve its G3',
      new.approver_id using errcode = 'OPS03';
  end if;
  return new;
end
$$;
revoke execute on function ops.approvals_reviser_not_g3() from public;
create trigger approvals_reviser_not_g3 before insert on ops.approvals
  for each row execute function ops.approvals_reviser_not_g3();

-- Checks (BEFORE INSERT): the latest result of a check counts, so a developer reporting a check
-- another producer (CI, monitoring, QA) reported on the same gate would overwrite its verdict. A
-- developer reports only checks of their own. Errors: OPS03.
create function ops.gate_checks_developer_own_checks() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if ops.current_persona() = 'developer' and exists (
      select 1 from ops.gate_checks c
      where c.gate_id = new.gate_id and c.check_name = new.check_name and c.created_by <> ops.current_actor()) then
    raise exception 'check "%" of this gate is reported by another producer; a developer does not overwrite its result',
      new.check_name using errcode = 'OPS03';
  end if;
  return new;
end
$$;
revoke execute on function ops.gate_checks_developer_own_checks() from public;
create trigger gate_checks_developer_own_checks before insert on ops.gate_checks
  for each row execute function ops.gate_checks_developer_own_checks();

-- Scope changes (BEFORE INSERT on ops.release_scope_changes, written by ops.record_release_scope):
-- what a release touches is part of what its approvers approved, so once G2 or G3 has an approval
-- for the current revision, the scope changes only with a revision (ops.revise_release), which
-- makes those approvals stale. The artifact a release ships is named by its revision
-- (artifact_digest), not by a scope note. Errors: OPS09, OPS22.
create function ops.release_scope_changes_guard() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.scope_key in ('artifact_sha256', 'artifact_digest', 'revision', 'source_ref') then
    raise exception 'scope % is not a note: the artifact and the source are the release''s revision (ops.revise_release)',
      new.scope_key using errcode = 'OPS22';
  end if;
  if exists (
      select 1 from ops.approvals a
      join ops.release_gates g on g.gate_id = a.gate_id
      join ops.releases r on r.release_id = a.release_id
      where a.release_id = new.release_id and g.gate_code in ('G2', 'G3') and a.decision = 'approved'
        and a.revision = r.revision) then
    raise exception 'release % is signed off at its current revision; revise it to change its scope',
      new.release_id using errcode = 'OPS09';
  end if;
  return new;
end
$$;
revoke execute on function ops.release_scope_changes_guard() from public;
create trigger release_scope_changes_guard before insert on ops.release_scope_changes
  for each row execute function ops.release_scope_changes_guard();

-- Payload instants are read with a fixed DateStyle as well as a fixed TimeZone, so no caller
-- setting changes which instant an envelope names.
alter function ops.apply_ingest_event(jsonb) set "DateStyle" = 'ISO, YMD';
