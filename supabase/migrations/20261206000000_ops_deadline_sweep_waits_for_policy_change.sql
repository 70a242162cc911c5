-- A change of the gates' approver policy that commits while the deadline sweep runs no longer
-- leaves an approval request unwatched and its expiry unrecorded.
--
-- Which persona's decision settles an approval request is the gate's policy (ops.gate_policies),
-- so a policy change watches every unrecorded request again (ops.deadline_watch_after_gate_policy,
-- 20261205000100). A request still watched is left as it is by that trigger (ON CONFLICT DO
-- NOTHING), and nothing stopped a sweep running at the same moment from judging it with the
-- policy its statements could see (the old one, the change not committed yet): decided in time,
-- so settled, its watch row removed. The change then committed; the request, which nobody
-- decided under the new policy, was never judged again, and its expiry was never recorded. The
-- previous sweep (20261202100000) read every unrecorded request at each run and recorded it at
-- its next one (test/security/deadline-watch-attacks.test.ts: the change held open on one
-- connection while the sweep runs on another).
--
-- The sweep now first takes ops.gate_policies in SHARE mode, which a policy change (ROW
-- EXCLUSIVE) and the sweep exclude each other by: a sweep that starts while a change is open waits
-- for its commit, and its statements (each reads what is committed when it starts) then see the
-- new policy and the rows its trigger watched again; a change made while a sweep runs waits for
-- the sweep, and its trigger then watches again every request the sweep settled. Sweeps do not
-- exclude each other (SHARE does not conflict with SHARE). Nothing else changes: same transitions,
-- reasons, order and counts. Rule: 20261130002100 (an approval request is decided by the gate's
-- approver persona; it expires at its due time otherwise), 20261205000100.

-- The deadline sweep, run by the deadline job of every API instance (src/timing/deadline-job.ts).
-- Records, once each: approval requests nobody decided by their due time (`expired`); deployments
-- whose health was not confirmed within the G4 deadline (`failed`, re-evaluating the release);
-- approved exceptions whose window has ended (`expired`) and approved exceptions whose window has
-- opened since their approval (`effective`), each re-evaluating the release so the gates they
-- cover move with a transition. Reads the open subjects (ops.deadline_watch, 20261205000100) and
-- the deployments whose G4 is pending; removes from the watch each subject it settles. First takes
-- ops.gate_policies in SHARE mode, so that no change of whose decision counts commits while it
-- judges requests (it waits for an open change, and a change waits for it). Takes nothing;
-- returns how many transitions it recorded. Safe to run concurrently (a unique key per subject and
-- state; removing a watch row twice is harmless; SHARE locks do not conflict). Raises nothing of
-- its own. Owner only. Rule: DESIGN section 5 (exceptions are time-bounded), 20261130002100,
-- 20261130006100, 20261202100000, 20261206000000.
create or replace function ops.record_deadline_transitions() returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := 0;
  v_n integer;
  q record;
  d record;
  x record;
  w record;
begin
  -- The gates' approver policy stays as this sweep reads it until it commits (header above).
  lock table ops.gate_policies in share mode;
  -- Watched requests past their due time; those already recorded (by another sweep) are only
  -- settled.
  for q in
    select r.*, rel.project,
           exists (select 1 from ops.deadline_transitions t
                   where t.subject_kind = 'approval_request' and t.subject_id = r.request_id) as recorded
    from ops.deadline_watch dw
    join ops.timing_approval_requests r on r.request_id = dw.subject_id
    join ops.releases rel on rel.release_id = r.release_id
    where dw.subject_kind = 'approval_request'
      and r.due_at is not null and r.due_at <= pg_catalog.clock_timestamp()
    order by r.due_at, r.request_id
  loop
    if not q.recorded and ops.approval_request_state(
         (select y from ops.timing_approval_requests y where y.request_id = q.request_id)) = 'expired' then
      insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
      values ('approval_request', q.request_id, q.release_id, q.gate_code, 'expired',
              pg_catalog.format('%s approval requested by %s at %s was not decided by %s', q.gate_code, q.requested_by,
                                ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
              q.due_at)
      on conflict on constraint deadline_transitions_once do nothing;
      get diagnostics v_n = row_count;
      v_count := v_count + v_n;
    end if;
    -- Past its due time, a request is settled: expired (recorded) or decided in time (final).
    delete from ops.deadline_watch dw where dw.subject_kind = 'approval_request' and dw.subject_id = q.request_id;
  end loop;

  for d in
    select y.*, ops.g4_deadline_reason(y) as reason,
           y.deployed_at + ops.deadline_for('G4', y.environment,
                                            (select r.project from ops.releases r where r.release_id = y.release_id))
             as due_at
    from ops.deployments y
    where y.rollback_of is null and y.g4_status = 'pending' and y.status in ('in_progress', 'succeeded')
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'deployment_g4' and t.subject_id = y.deployment_id)
    order by y.deployed_at, y.deployment_id
  loop
    continue when d.reason is null;
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('deployment_g4', d.deployment_id, d.release_id, 'G4', 'failed', d.reason, d.due_at)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    if v_n > 0 then
      v_count := v_count + 1;
      perform ops.evaluate_release(d.release_id, d.reason);
    end if;
  end loop;

  -- Watched exceptions past their expiry; those whose expiry is already recorded (by another
  -- sweep, or before their row was written again) are only settled.
  for x in
    select e.exception_id, e.release_id, e.exception_type, e.expires_at,
           (select min(g) from pg_catalog.unnest(e.impacted_gates) g) as gate_code,
           pg_catalog.array_to_string(e.impacted_gates, ', ') as gates,
           exists (select 1 from ops.deadline_transitions t
                   where t.subject_kind = 'exception' and t.subject_id = e.exception_id
                     and t.to_state = 'expired') as recorded
    from ops.deadline_watch dw
    join ops.exceptions e on e.exception_id = dw.subject_id
    where dw.subject_kind = 'exception'
      and e.approved_at is not null and e.expires_at <= pg_catalog.clock_timestamp()
    order by e.expires_at, e.exception_id
  loop
    v_n := 0;
    if not x.recorded then
      insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
      values ('exception', x.exception_id, x.release_id, x.gate_code, 'expired',
              pg_catalog.format('the %s exception %s for %s expired at %s', x.exception_type, x.exception_id,
                                x.gates, ops.iso_utc(x.expires_at)),
              x.expires_at)
      on conflict on constraint deadline_transitions_once do nothing;
      get diagnostics v_n = row_count;
    end if;
    -- Expired and its expiry recorded (now, or by another sweep): settled.
    delete from ops.deadline_watch dw where dw.subject_kind = 'exception' and dw.subject_id = x.exception_id;
    if v_n > 0 then
      v_count := v_count + 1;
      perform ops.evaluate_release(x.release_id,
        pg_catalog.format('the %s exception %s expired', x.exception_type, x.exception_id));
    end if;
  end loop;

  -- Approved exceptions whose window opened after their approval (the approval's evaluation found
  -- them not yet in force) and that are in force now: the window's opening, once each. Every
  -- exception in force is watched (above).
  for w in
    select e.exception_id, e.release_id, e.exception_type, e.effective_from,
           (select pg_catalog.min(g) from pg_catalog.unnest(e.impacted_gates) g) as gate_code,
           pg_catalog.array_to_string(e.impacted_gates, ', ') as gates
    from ops.deadline_watch dw
    join ops.exceptions e on e.exception_id = dw.subject_id
    where dw.subject_kind = 'exception'
      and e.approved_at is not null and e.effective_from > e.approved_at
      and e.effective_from <= pg_catalog.clock_timestamp() and ops.exception_is_active(e)
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'exception' and t.subject_id = e.exception_id and t.to_state = 'effective')
    order by e.effective_from, e.exception_id
  loop
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('exception', w.exception_id, w.release_id, w.gate_code, 'effective',
            pg_catalog.format('the %s exception %s for %s took effect at %s', w.exception_type, w.exception_id, w.gates,
                              ops.iso_utc(w.effective_from)),
            w.effective_from)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    if v_n > 0 then
      v_count := v_count + 1;
      perform ops.evaluate_release(w.release_id,
        pg_catalog.format('the %s exception %s took effect', w.exception_type, w.exception_id));
    end if;
  end loop;
  return v_count;
end
$$;
revoke execute on function ops.record_deadline_transitions() from public;
