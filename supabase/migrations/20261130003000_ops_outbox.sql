-- The transactional outbox: every gate transition, approval decision, exception request/approval/
-- review, deployment and deployment status change, and release status change writes one outbound
-- event row in the same transaction as the fact (AFTER triggers), and one pg_notify on channel
-- 'ops_outbox'. A fact that rolls back leaves neither; a committed fact always has its event.
-- Readers: the SSE subscriptions re-read each event as the subscriber's persona (RLS below), the
-- webhook dispatcher (owner's rights, 20261130003100) fans events out to subscriptions.

create table ops.outbox_events (
  event_id uuid primary key default gen_random_uuid(),
  kind text not null check (kind in (
    'gate.transition', 'approval.decided', 'exception.requested', 'exception.approved',
    'exception.reviewed', 'deployment.recorded', 'deployment.status_changed', 'release.status_changed')),
  release_id uuid not null references ops.releases (release_id),
  project text not null,
  environment public.ops_environment,
  -- The fact this event reports: its table in ops and its primary key. A persona reads the event
  -- only when it may read that row (ops.outbox_event_visible).
  source_table text not null,
  source_id uuid not null,
  actor text not null,
  change jsonb not null,
  -- For blocking gate transitions (to failed, or away from passed/bypassed):
  -- ops.promotion_blockers(release_id) at the moment of the change; null otherwise.
  blockers jsonb,
  created_at timestamptz not null default clock_timestamp(),
  -- Set by the webhook dispatcher once the event has been fanned out to the subscriptions.
  dispatched_at timestamptz
);
comment on table ops.outbox_events is
  'One row per fact worth telling the outside world about, written in the fact''s own transaction.';
create index outbox_events_undispatched on ops.outbox_events (created_at) where dispatched_at is null;
create index outbox_events_release on ops.outbox_events (release_id, created_at);

alter table ops.outbox_events enable row level security;
revoke all on ops.outbox_events from public;

-- Takes the source of an outbox event (table name in ops, primary key); returns whether the
-- calling persona may read that fact row under its own grants and RLS (false when it has no
-- SELECT on the table at all, instead of an error). Invoker's rights: it answers for the caller.
-- Raises nothing. Rule: an event says no more than its fact (README: Events and webhooks).
create function ops.outbox_event_visible(p_source_table text, p_source_id uuid) returns boolean
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_source_table not in ('gate_transitions', 'approvals', 'exceptions', 'deployments',
                            'deployment_transitions', 'releases') then
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
    else
      return exists (select 1 from ops.releases t where t.release_id = p_source_id);
  end case;
end
$$;
revoke execute on function ops.outbox_event_visible(text, uuid) from public;
grant execute on function ops.outbox_event_visible(text, uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

grant select on ops.outbox_events to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
create policy outbox_events_read_fact on ops.outbox_events for select
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader
  using (ops.outbox_event_visible(source_table, source_id));

-- Nobody rewrites what was announced; the dispatcher's dispatched_at is the one change (owner).
create trigger outbox_events_no_delete before delete on ops.outbox_events
  for each row execute function ops.refuse_mutation();
create trigger outbox_events_no_truncate before truncate on ops.outbox_events
  for each statement execute function ops.refuse_mutation();

-- Takes the event's parts; writes the outbox row and notifies channel 'ops_outbox' with
-- {"event_id","release_id","project","kind"} (delivered at commit, never for a rollback).
-- Returns nothing. Raises nothing of its own. Owner-only: called by the triggers below.
create function ops.outbox_write(
  p_kind text, p_release_id uuid, p_environment public.ops_environment, p_source_table text,
  p_source_id uuid, p_actor text, p_change jsonb, p_with_blockers boolean
) returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_project text;
  v_target public.ops_environment;
  v_event_id uuid;
  v_blockers jsonb;
begin
  select r.project, r.environment_target into v_project, v_target
  from ops.releases r where r.release_id = p_release_id;
  if p_with_blockers then
    select coalesce(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(b)), '[]'::jsonb) into v_blockers
    from ops.promotion_blockers(p_release_id) b;
  end if;
  insert into ops.outbox_events (kind, release_id, project, environment, source_table, source_id,
                                 actor, change, blockers)
  values (p_kind, p_release_id, v_project, coalesce(p_environment, v_target), p_source_table,
          p_source_id, coalesce(p_actor, ''), p_change, v_blockers)
  returning event_id into v_event_id;
  perform pg_catalog.pg_notify('ops_outbox', pg_catalog.json_build_object(
    'event_id', v_event_id, 'release_id', p_release_id, 'project', v_project, 'kind', p_kind)::text);
end
$$;
revoke execute on function ops.outbox_write(text, uuid, public.ops_environment, text, uuid, text, jsonb, boolean) from public;

-- AFTER trigger on the fact tables: takes the new (and old) row; writes its outbox event through
-- ops.outbox_write. Returns null. Raises nothing of its own. Owner's rights: no persona writes
-- the outbox directly.
create function ops.outbox_record_fact() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release uuid;
  v_gate public.ops_gate_code;
begin
  case tg_table_name
    when 'gate_transitions' then
      select g.release_id, g.gate_code into v_release, v_gate from ops.release_gates g where g.gate_id = new.gate_id;
      perform ops.outbox_write('gate.transition', v_release, null, tg_table_name, new.transition_id, new.actor,
        pg_catalog.jsonb_build_object('gate_code', v_gate, 'from_status', new.from_status,
          'to_status', new.to_status, 'reason', new.reason),
        -- A blocking change (a gate failed, or left passed/bypassed) carries the blockers.
        new.to_status = 'failed' or new.from_status in ('passed', 'bypassed'));
    when 'approvals' then
      select g.gate_code into v_gate from ops.release_gates g where g.gate_id = new.gate_id;
      perform ops.outbox_write('approval.decided', new.release_id, null, tg_table_name, new.approval_id,
        new.approver_id, pg_catalog.jsonb_build_object('approval_id', new.approval_id, 'decision', new.decision,
          'scope', new.scope, 'gate_code', v_gate, 'exception_id', new.exception_id,
          'persona_role', new.persona_role), false);
    when 'exceptions' then
      if tg_op = 'INSERT' then
        perform ops.outbox_write('exception.requested', new.release_id, null, tg_table_name, new.exception_id,
          new.requested_by, pg_catalog.jsonb_build_object('exception_id', new.exception_id,
            'exception_type', new.exception_type, 'impacted_gates', new.impacted_gates,
            'effective_from', new.effective_from, 'expires_at', new.expires_at), false);
      elsif old.approved_at is null and new.approved_at is not null then
        perform ops.outbox_write('exception.approved', new.release_id, null, tg_table_name, new.exception_id,
          new.approver_id, pg_catalog.jsonb_build_object('exception_id', new.exception_id,
            'impacted_gates', new.impacted_gates, 'expires_at', new.expires_at), false);
      elsif old.post_review_status is distinct from new.post_review_status then
        perform ops.outbox_write('exception.reviewed', new.release_id, null, tg_table_name, new.exception_id,
          ops.current_actor(), pg_catalog.jsonb_build_object('exception_id', new.exception_id,
            'from_status', old.post_review_status, 'to_status', new.post_review_status), false);
      end if;
    when 'deployments' then
      perform ops.outbox_write('deployment.recorded', new.release_id, new.environment, tg_table_name,
        new.deployment_id, new.deployed_by, pg_catalog.jsonb_build_object('deployment_id', new.deployment_id,
          'status', new.status, 'revision', new.revision, 'rollback_of', new.rollback_of), false);
    when 'deployment_transitions' then
      select d.release_id into v_release from ops.deployments d where d.deployment_id = new.deployment_id;
      perform ops.outbox_write('deployment.status_changed', v_release,
        (select d.environment from ops.deployments d where d.deployment_id = new.deployment_id),
        tg_table_name, new.transition_id, new.actor, pg_catalog.jsonb_build_object(
          'deployment_id', new.deployment_id, 'from_status', new.from_status, 'to_status', new.to_status,
          'from_g4_status', new.from_g4_status, 'to_g4_status', new.to_g4_status), false);
    when 'releases' then
      perform ops.outbox_write('release.status_changed', new.release_id, null, tg_table_name, new.release_id,
        ops.current_actor(), pg_catalog.jsonb_build_object('from_status', old.status, 'to_status', new.status),
        false);
  end case;
  return null;
end
$$;
revoke execute on function ops.outbox_record_fact() from public;

create trigger outbox_record after insert on ops.gate_transitions
  for each row execute function ops.outbox_record_fact();
create trigger outbox_record after insert on ops.approvals
  for each row execute function ops.outbox_record_fact();
create trigger outbox_record after insert or update on ops.exceptions
  for each row execute function ops.outbox_record_fact();
create trigger outbox_record after insert on ops.deployments
  for each row execute function ops.outbox_record_fact();
create trigger outbox_record after insert on ops.deployment_transitions
  for each row execute function ops.outbox_record_fact();
create trigger outbox_record after update of status on ops.releases
  for each row when (old.status is distinct from new.status) execute function ops.outbox_record_fact();
