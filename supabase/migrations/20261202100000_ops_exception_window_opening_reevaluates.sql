-- An exception approved with its window opening later is not in force when it is approved, and the
-- approval's evaluation leaves its gates as they were. The rule (ops.exception_is_active, judged at
-- the moment of the read) puts it in force when the window opens, but nothing was written then: the
-- stored gate stayed `pending` while the rule said `bypassed` (or met, for an evidence waiver) until
-- the release's next fact, with no transition saying when the gate moved. Eligibility was always
-- judged at read time, so nothing was let through or held by it; the stored status, its
-- transitions and their events were what drifted. The deadline sweep now records an exception's
-- window opening, once, as it records its expiry, and re-evaluates the release; the gate's
-- transition (and its gate.transition event) says so. The expiry's "recorded once" now asks for
-- the expiry itself, not any transition of the exception.

alter table ops.deadline_transitions drop constraint deadline_transitions_to_state_check;
alter table ops.deadline_transitions add constraint deadline_transitions_to_state_check
  check (to_state in ('expired', 'failed', 'effective'));

-- The sweep's new question, per tick: exceptions approved ahead of their window.
create index exceptions_window_ahead on ops.exceptions (effective_from)
  where approved_at is not null and effective_from > approved_at;

-- Outbox trigger of the timing facts (20261130006100): an approval request (`approval.requested`),
-- and a deadline transition (`exception.expired` for an exception's expiry, `deadline.passed`
-- otherwise; both carry the current blockers). An exception's window opening writes no event of
-- its own: the gate transitions it causes are reported (gate.transition). Internal. Returns null.
create or replace function ops.outbox_record_timing() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_table_name = 'timing_approval_requests' then
    perform ops.outbox_write('approval.requested', new.release_id, null, tg_table_name, new.request_id,
      new.requested_by, pg_catalog.jsonb_build_object('request_id', new.request_id, 'gate_code', new.gate_code,
        'revision', new.revision, 'due_at', new.due_at, 'note', new.note), false);
  elsif new.to_state = 'effective' then
    -- An exception's window opening: the gate transitions it causes carry it (gate.transition).
    return null;
  else
    perform ops.outbox_write(case when new.subject_kind = 'exception' then 'exception.expired'
                                  else 'deadline.passed' end,
      new.release_id, null, tg_table_name, new.transition_id, new.created_by,
      pg_catalog.jsonb_build_object('subject_kind', new.subject_kind, 'subject_id', new.subject_id,
        'gate_code', new.gate_code, 'to_state', new.to_state, 'reason', new.reason, 'due_at', new.due_at),
      true);
  end if;
  return null;
end
$$;
revoke execute on function ops.outbox_record_timing() from public;

-- The deadline sweep, run by the deadline job of every API instance (src/timing/deadline-job.ts).
-- Records, once each: approval requests nobody decided by their due time (`expired`); deployments
-- whose health was not confirmed within the G4 deadline (`failed`, re-evaluating the release);
-- approved exceptions whose window has ended (`expired`) and approved exceptions whose window has
-- opened since their approval (`effective`), each re-evaluating the release so the gates they
-- cover move with a transition. Takes nothing; returns how many transitions it recorded. Safe to
-- run concurrently (a unique key per subject and state). Raises nothing of its own. Owner only.
-- Rule: DESIGN section 5 (exceptions are time-bounded), 20261130006100.
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
  for q in
    select r.*, rel.project from ops.timing_approval_requests r join ops.releases rel on rel.release_id = r.release_id
    where r.due_at is not null and r.due_at <= pg_catalog.clock_timestamp()
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'approval_request' and t.subject_id = r.request_id)
    order by r.due_at, r.request_id
  loop
    continue when ops.approval_request_state(
      (select y from ops.timing_approval_requests y where y.request_id = q.request_id)) <> 'expired';
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('approval_request', q.request_id, q.release_id, q.gate_code, 'expired',
            pg_catalog.format('%s approval requested by %s at %s was not decided by %s', q.gate_code, q.requested_by,
                              ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
            q.due_at)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    v_count := v_count + v_n;
  end loop;

  for d in
    select y.*, ops.g4_deadline_reason(y) as reason,
           y.deployed_at + ops.deadline_for('G4', y.environment, r.project) as due_at
    from ops.deployments y join ops.releases r on r.release_id = y.release_id
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

  for x in
    select e.exception_id, e.release_id, e.exception_type, e.expires_at,
           (select min(g) from pg_catalog.unnest(e.impacted_gates) g) as gate_code,
           pg_catalog.array_to_string(e.impacted_gates, ', ') as gates
    from ops.exceptions e
    where e.approved_at is not null and e.expires_at <= pg_catalog.clock_timestamp()
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'exception' and t.subject_id = e.exception_id and t.to_state = 'expired')
    order by e.expires_at, e.exception_id
  loop
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('exception', x.exception_id, x.release_id, x.gate_code, 'expired',
            pg_catalog.format('the %s exception %s for %s expired at %s', x.exception_type, x.exception_id, x.gates,
                              ops.iso_utc(x.expires_at)),
            x.expires_at)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    if v_n > 0 then
      v_count := v_count + 1;
      perform ops.evaluate_release(x.release_id,
        pg_catalog.format('the %s exception %s expired', x.exception_type, x.exception_id));
    end if;
  end loop;

  -- Approved exceptions whose window opened after their approval (the approval's evaluation found
  -- them not yet in force) and that are in force now: the window's opening, once each.
  for w in
    select e.exception_id, e.release_id, e.exception_type, e.effective_from,
           (select pg_catalog.min(g) from pg_catalog.unnest(e.impacted_gates) g) as gate_code,
           pg_catalog.array_to_string(e.impacted_gates, ', ') as gates
    from ops.exceptions e
    where e.approved_at is not null and e.effective_from > e.approved_at
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
