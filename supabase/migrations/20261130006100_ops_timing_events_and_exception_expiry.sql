-- Expiry and deadlines as facts that reach the outside: the deadline sweep (20261130002100) also
-- records an approved exception's expiry, re-evaluating its release so the stored gate status
-- leaves `bypassed` when the bypass ends (eligibility was always judged at read time; the stored
-- status and its transition now follow without waiting for the next fact); and the outbox
-- (20261130003000) carries approval requests, passed deadlines and exception expiries.

alter table ops.deadline_transitions drop constraint deadline_transitions_subject_kind_check;
alter table ops.deadline_transitions add constraint deadline_transitions_subject_kind_check
  check (subject_kind in ('approval_request', 'deployment_g4', 'exception'));

-- The outbox's event kinds (webhook subscriptions and outbox rows are checked against them). Takes nothing;
-- returns the kinds. Internal.
create or replace function ops.outbox_event_kinds() returns text[]
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select array['gate.transition', 'approval.requested', 'approval.decided', 'exception.requested',
               'exception.approved', 'exception.reviewed', 'exception.expired', 'deadline.passed',
               'deployment.recorded', 'deployment.status_changed', 'release.status_changed']
$$;

alter table ops.outbox_events drop constraint outbox_events_kind_check;
alter table ops.outbox_events add constraint outbox_events_kind_check check (kind = any (ops.outbox_event_kinds()));

-- Whether the caller may read the fact an outbox event reports, under the caller's own grants and
-- RLS (invoker's rights). Takes the fact's table name and row id; returns true or false (false for a
-- table the outbox does not report). Used by ops.outbox_events' read policy and the live events.
create or replace function ops.outbox_event_visible(p_source_table text, p_source_id uuid)
returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_source_table not in ('gate_transitions', 'approvals', 'exceptions', 'deployments',
                            'deployment_transitions', 'releases', 'deadline_transitions',
                            'timing_approval_requests') then
    return false;
  end if;
  if not pg_catalog.has_table_privilege('ops.' || p_source_table, 'SELECT') then
    return false;
  end if;
  case p_source_table
    when 'gate_transitions' then
      return exists (select 1 from ops.gate_transitions t where t.transition_id = p_source_id);
    when 'approvals' then
      return exists (select 1 from ops.approvals t where t.approval_id = p_source_id);
    when 'exceptions' then
      return exists (select 1 from ops.exceptions t where t.exception_id = p_source_id);
    when 'deployments' then
      return exists (select 1 from ops.deployments t where t.deployment_id = p_source_id);
    when 'deployment_transitions' then
      return exists (select 1 from ops.deployment_transitions t where t.transition_id = p_source_id);
    when 'deadline_transitions' then
      return exists (select 1 from ops.deadline_transitions t where t.transition_id = p_source_id);
    when 'timing_approval_requests' then
      return exists (select 1 from ops.timing_approval_requests t where t.request_id = p_source_id);
    else
      return exists (select 1 from ops.releases t where t.release_id = p_source_id);
  end case;
end
$$;

-- Outbox trigger of the timing facts: an approval request (`approval.requested`), and a deadline
-- transition (`exception.expired` for an exception's expiry, `deadline.passed` otherwise; both
-- carry the current blockers, an expiry or a missed deadline being a blocking change). Internal.
create function ops.outbox_record_timing() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_table_name = 'timing_approval_requests' then
    perform ops.outbox_write('approval.requested', new.release_id, null, tg_table_name, new.request_id,
      new.requested_by, pg_catalog.jsonb_build_object('request_id', new.request_id, 'gate_code', new.gate_code,
        'revision', new.revision, 'due_at', new.due_at, 'note', new.note), false);
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

create trigger outbox_record after insert on ops.timing_approval_requests
  for each row execute function ops.outbox_record_timing();
create trigger outbox_record after insert on ops.deadline_transitions
  for each row execute function ops.outbox_record_timing();

-- The deadline sweep, run by the deadline job of every API instance (src/timing/deadline-job.ts).
-- Records, once each: approval requests nobody decided by their due time (`expired`); deployments
-- whose health was not confirmed within the G4 deadline (`failed`, re-evaluating the release); and
-- approved exceptions whose window has ended (`expired`, re-evaluating the release so a gate they
-- bypassed leaves `bypassed` with a transition). Takes nothing; returns how many transitions it
-- recorded. Safe to run concurrently (a unique key per subject and state). Owner only.
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
                      where t.subject_kind = 'exception' and t.subject_id = e.exception_id)
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
  return v_count;
end
$$;
