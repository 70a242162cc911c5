-- The deadline sweep (ops.record_deadline_transitions, every minute) read the history of every
-- subject it ever judged. Found by test/db/plans-at-scale.test.ts on a database of 2,500 releases
-- (ANALYZEd), where each of its four questions was a sequential read:
--
-- 1. Approval requests past their due time with no transition: every request ever made with a due
--    time (2,500), anti-joined to every deadline transition (3,750) and joined to every release.
--    A request decided in time is never recorded, so it stayed a candidate of every sweep for good.
-- 2. Deployments whose G4 is pending: every deployment (2,250) and every release, to find the few
--    still waiting for their health confirmation.
-- 3. Approved exceptions past their expiry with no `expired` transition: every approved exception
--    that ever expired (1,325), anti-joined to every transition.
-- 4. Approved exceptions whose window opened since their approval: read through its partial index,
--    but with the same anti-join.
--
-- No index on the subjects can leave out those already settled (that is written in another table,
-- ops.deadline_transitions). So the sweep now starts from ops.deadline_watch: the subjects still
-- open, one row each, written by triggers on the subjects and removed by the sweep once a subject
-- is settled:
--
-- * an approval request with a due time is watched from the moment it is written (insert, or an
--   update that gives it a due time); once its due time has passed it is settled, whichever way
--   the sweep judges it: its `expired` transition recorded, or decided in time (a decision made
--   before the due time stays one: decisions are never removed, a later one is not in time, and
--   a change of the gates' approver policy, which decides whose decision counts, watches every
--   unrecorded request again);
-- * an approved exception is watched from the moment it is written approved, and settled once it
--   has expired and its expiry is recorded; its window's opening (question 4) is asked of watched
--   exceptions only, which holds every exception that can still be in force: in force means
--   before its expiry, so a settled exception can only be in force again once its row is written
--   with a later expiry, which watches it again;
-- * deployments need no watch: those whose G4 is pending are few at any time (health confirms or
--   fails them), and a partial index holds just those; each one's project is read from its
--   release by primary key (it was a join that hashed every release).
--
-- Same transitions, in the same order, with the same reasons and counts as the sweep of
-- 20261202100000 (test/db/deadline-sweep-answers.test.ts runs both on the same subjects). The
-- watch is filled here from the subjects open now. Rule: DESIGN section 5 (exceptions are
-- time-bounded), 20261130002100, 20261130006100, 20261202100000.

-- The subjects the deadline sweep has not settled yet. Written only by the triggers below and the
-- sweep (owner's rights); read by the auditor (every table is), written by no persona.
create table ops.deadline_watch (
  subject_kind text not null check (subject_kind in ('approval_request', 'exception')),
  subject_id uuid not null,
  primary key (subject_kind, subject_id)
);
alter table ops.deadline_watch enable row level security;
revoke all on ops.deadline_watch from public;
grant select on ops.deadline_watch to audit_reader;
create policy deadline_watch_read_all on ops.deadline_watch for select to audit_reader using (true);

-- Trigger on ops.timing_approval_requests (after insert or update): a request with a due time
-- whose expiry is not recorded is watched by the deadline sweep (ops.deadline_watch) until it is
-- settled. Takes the written row;
-- returns null. Raises nothing of its own. Internal (owner's rights): executed by no persona.
-- Rule: 20261130002100 (an approval request expires at its due time).
create function ops.deadline_watch_approval_request() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.due_at is not null
     and not exists (select 1 from ops.deadline_transitions t
                     where t.subject_kind = 'approval_request' and t.subject_id = new.request_id
                       and t.to_state = 'expired') then
    insert into ops.deadline_watch (subject_kind, subject_id) values ('approval_request', new.request_id)
    on conflict do nothing;
  end if;
  return null;
end
$$;
revoke execute on function ops.deadline_watch_approval_request() from public;

create trigger timing_approval_requests_deadline_watch after insert or update on ops.timing_approval_requests
  for each row execute function ops.deadline_watch_approval_request();

-- Statement trigger on ops.gate_policies (after any change): which persona's decision settles an
-- approval request is the gate's policy, so a change of policy can turn a request decided in time
-- (settled) into one nobody decided; every request with a due time whose expiry is not recorded
-- is watched again. Reads every such request: a policy change is the owner's, and rare. Takes
-- nothing; returns null. Raises nothing of its own. Internal (owner's rights): executed by no
-- persona. Rule: 20261130002100 (an approval request is decided by the gate's approver persona).
create function ops.deadline_watch_after_gate_policy() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into ops.deadline_watch (subject_kind, subject_id)
  select 'approval_request', r.request_id from ops.timing_approval_requests r
  where r.due_at is not null
    and not exists (select 1 from ops.deadline_transitions t
                    where t.subject_kind = 'approval_request' and t.subject_id = r.request_id
                      and t.to_state = 'expired')
  on conflict do nothing;
  return null;
end
$$;
revoke execute on function ops.deadline_watch_after_gate_policy() from public;

create trigger gate_policies_deadline_watch after insert or update or delete on ops.gate_policies
  for each statement execute function ops.deadline_watch_after_gate_policy();

-- Trigger on ops.exceptions (after insert or update): an approved exception is watched by the
-- deadline sweep (ops.deadline_watch) until it has expired and its expiry is recorded; a later
-- write of the row that leaves it unexpired, or without its expiry recorded, watches it again. Takes the written row; returns
-- null. Raises nothing of its own. Internal (owner's rights): executed by no persona. Rule: DESIGN
-- section 5 (exceptions are time-bounded), 20261130006100, 20261202100000.
create function ops.deadline_watch_exception() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.approved_at is not null
     and (new.expires_at > pg_catalog.clock_timestamp()
          or not exists (select 1 from ops.deadline_transitions t
                         where t.subject_kind = 'exception' and t.subject_id = new.exception_id
                           and t.to_state = 'expired')) then
    insert into ops.deadline_watch (subject_kind, subject_id) values ('exception', new.exception_id)
    on conflict do nothing;
  end if;
  return null;
end
$$;
revoke execute on function ops.deadline_watch_exception() from public;

create trigger exceptions_deadline_watch after insert or update on ops.exceptions
  for each row execute function ops.deadline_watch_exception();

-- The subjects open now: requests with a due time whose expiry is not recorded, and approved
-- exceptions whose expiry is not recorded or that have not expired.
insert into ops.deadline_watch (subject_kind, subject_id)
select 'approval_request', r.request_id from ops.timing_approval_requests r
where r.due_at is not null
  and not exists (select 1 from ops.deadline_transitions t
                  where t.subject_kind = 'approval_request' and t.subject_id = r.request_id);
insert into ops.deadline_watch (subject_kind, subject_id)
select 'exception', e.exception_id from ops.exceptions e
where e.approved_at is not null
  and (e.expires_at > pg_catalog.clock_timestamp()
       or not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'exception' and t.subject_id = e.exception_id
                        and t.to_state = 'expired'));

-- Deployments whose G4 waits for its health confirmation, in the sweep's order.
create index deployments_g4_pending on ops.deployments (deployed_at, deployment_id)
  where rollback_of is null and g4_status = 'pending' and status in ('in_progress', 'succeeded');

-- The deadline sweep, run by the deadline job of every API instance (src/timing/deadline-job.ts).
-- Records, once each: approval requests nobody decided by their due time (`expired`); deployments
-- whose health was not confirmed within the G4 deadline (`failed`, re-evaluating the release);
-- approved exceptions whose window has ended (`expired`) and approved exceptions whose window has
-- opened since their approval (`effective`), each re-evaluating the release so the gates they
-- cover move with a transition. Reads the open subjects (ops.deadline_watch, above) and the
-- deployments whose G4 is pending; removes from the watch each subject it settles. Takes nothing;
-- returns how many transitions it recorded. Safe to run concurrently (a unique key per subject and
-- state; removing a watch row twice is harmless). Raises nothing of its own. Owner only. Rule:
-- DESIGN section 5 (exceptions are time-bounded), 20261130006100, 20261202100000.
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
