-- One subject whose recording fails no longer stops the deadline sweep for every other subject.
--
-- The sweep (20261206000000) handled every subject in the one transaction of its run: an error
-- recording or re-evaluating any one of them (a guard trigger, a constraint, anything) rolled the
-- whole sweep back, so no passed deadline of any release was recorded, on that run and on every
-- later one while the subject stayed open: "a missed deadline is always recorded" failed for all.
--
-- Each subject (an approval request past its due time, a deployment whose G4 deadline passed, an
-- exception that expired, an exception whose window opened) is now handled in a subtransaction of
-- its own (a PL/pgSQL block with an exception handler). A subject that fails is rolled back alone:
-- its transition, its removal from the watch and its release's re-evaluation are undone, so it
-- stays open and the next run tries it again; the failure is reported as a WARNING naming the
-- subject's kind, id, the error's message and SQLSTATE (the deadline job logs the sweep's
-- warnings, src/timing/deadline-job.ts). The count returned is now added only once a subject's
-- handling succeeded. Nothing else changes: same lock, subjects, order, transitions, reasons.
-- Cancellation (query_canceled) is not caught and still ends the sweep. Rule: 20261130002100,
-- 20261130006100, 20261205000100 (a missed deadline is recorded), 20261206000000.

-- The deadline sweep, run by the deadline job of every API instance (src/timing/deadline-job.ts).
-- Records, once each: approval requests nobody decided by their due time (`expired`); deployments
-- whose health was not confirmed within the G4 deadline (`failed`, re-evaluating the release);
-- approved exceptions whose window has ended (`expired`) and approved exceptions whose window has
-- opened since their approval (`effective`), each re-evaluating the release so the gates they
-- cover move with a transition. Reads the open subjects (ops.deadline_watch, 20261205000100) and
-- the deployments whose G4 is pending; removes from the watch each subject it settles. First takes
-- ops.gate_policies in SHARE mode, so that no change of whose decision counts commits while it
-- judges requests (it waits for an open change, and a change waits for it). Each subject is
-- recorded, settled and its release re-evaluated in a subtransaction of its own: a subject whose
-- handling raises (a trigger, a constraint, anything but a cancellation) is rolled back alone,
-- stays open (watched, or its G4 still unrecorded) for the next run, and is reported by a WARNING
-- naming its kind, id, SQLSTATE and message; every other subject is recorded as before. Takes
-- nothing; returns how many transitions it recorded (a failed subject counts none). Safe to run
-- concurrently (a unique key per subject and state; removing a watch row twice is harmless; SHARE
-- locks do not conflict). Raises nothing of its own; an error reading the subjects (before any is
-- handled) still rolls the whole sweep back. Owner only. Rule: DESIGN section 5 (exceptions are
-- time-bounded), 20261130002100, 20261130006100, 20261202100000, 20261206000000, 20261206200000.
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
  v_state text;
  v_message text;
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
    -- One subject, one subtransaction: a failure undoes this request alone (header above).
    begin
      v_n := 0;
      if not q.recorded and ops.approval_request_state(
           (select y from ops.timing_approval_requests y where y.request_id = q.request_id)) = 'expired' then
        insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
        values ('approval_request', q.request_id, q.release_id, q.gate_code, 'expired',
                pg_catalog.format('%s approval requested by %s at %s was not decided by %s', q.gate_code, q.requested_by,
                                  ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
                q.due_at)
        on conflict on constraint deadline_transitions_once do nothing;
        get diagnostics v_n = row_count;
      end if;
      -- Past its due time, a request is settled: expired (recorded) or decided in time (final).
      delete from ops.deadline_watch dw where dw.subject_kind = 'approval_request' and dw.subject_id = q.request_id;
      v_count := v_count + v_n;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'deadline sweep: approval_request % not recorded, left for the next run: % (SQLSTATE %)',
        q.request_id, v_message, v_state;
    end;
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
    begin
      insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
      values ('deployment_g4', d.deployment_id, d.release_id, 'G4', 'failed', d.reason, d.due_at)
      on conflict on constraint deadline_transitions_once do nothing;
      get diagnostics v_n = row_count;
      if v_n > 0 then
        perform ops.evaluate_release(d.release_id, d.reason);
        v_count := v_count + 1;
      end if;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'deadline sweep: deployment_g4 % not recorded, left for the next run: % (SQLSTATE %)',
        d.deployment_id, v_message, v_state;
    end;
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
    begin
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
        perform ops.evaluate_release(x.release_id,
          pg_catalog.format('the %s exception %s expired', x.exception_type, x.exception_id));
        v_count := v_count + 1;
      end if;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'deadline sweep: exception % expiry not recorded, left for the next run: % (SQLSTATE %)',
        x.exception_id, v_message, v_state;
    end;
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
    begin
      insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
      values ('exception', w.exception_id, w.release_id, w.gate_code, 'effective',
              pg_catalog.format('the %s exception %s for %s took effect at %s', w.exception_type, w.exception_id, w.gates,
                                ops.iso_utc(w.effective_from)),
              w.effective_from)
      on conflict on constraint deadline_transitions_once do nothing;
      get diagnostics v_n = row_count;
      if v_n > 0 then
        perform ops.evaluate_release(w.release_id,
          pg_catalog.format('the %s exception %s took effect', w.exception_type, w.exception_id));
        v_count := v_count + 1;
      end if;
    exception when others then
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text;
      raise warning 'deadline sweep: exception % window opening not recorded, left for the next run: % (SQLSTATE %)',
        w.exception_id, v_message, v_state;
    end;
  end loop;
  return v_count;
end
$$;
revoke execute on function ops.record_deadline_transitions() from public;
