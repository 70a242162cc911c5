-- Decisions are append-only facts, evidence links agree, and a release has at most one live
-- production deployment, whatever the door.
--
-- * Approvals, evidence and checks are never updated or deleted, by anyone (the owner included):
--   a correction is a new fact. Exceptions are never deleted; their approver and approval time
--   are written only by ops.approve_exception (the caller, at the moment of the write), their
--   post-review only by ops.review_exception, and what was requested never changes.
-- * An evidence artifact's release, gate, check and deployment all belong to one release.
-- * ops.live_production_deployments holds, per release, its one live production deployment
--   (in progress or succeeded, not rolled back); its primary key makes a second one impossible
--   under any concurrency, through ops.promote_release or a direct INSERT alike.

-- ---------------------------------------------------------------------------------------------
-- Append-only decisions
-- ---------------------------------------------------------------------------------------------

do $$
declare
  t text;
begin
  foreach t in array array['approvals', 'evidence_artifacts', 'gate_checks'] loop
    execute format('create trigger %I before update or delete on ops.%I for each row execute function ops.refuse_mutation()',
                   t || '_append_only', t);
    execute format('create trigger %I before truncate on ops.%I for each statement execute function ops.refuse_mutation()',
                   t || '_no_truncate', t);
  end loop;
end
$$;

create trigger exceptions_no_delete before delete on ops.exceptions
  for each row execute function ops.refuse_mutation();
create trigger exceptions_no_truncate before truncate on ops.exceptions
  for each statement execute function ops.refuse_mutation();

-- The exception's approval and review columns move only through their functions.
revoke update on ops.exceptions from release_manager;
drop policy exceptions_update_rm on ops.exceptions;

-- Separation of duties and the exception's lifecycle. On INSERT: requested first, approved
-- afterwards (OPS03), not by audit_reader or ci_service_role (OPS03). On UPDATE: the request
-- (release, type, gates, reason, risk, requester) never changes (OPS22); approver_id/approved_at
-- change only inside ops.approve_exception, once (OPS09), by the caller, at clock_timestamp(), not
-- after expiry (OPS09), not by the requester (OPS03), with the caller's approval record present
-- (OPS03); post_review_status changes only inside ops.review_exception (OPS03).
create or replace function ops.exceptions_guard() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.approver_id is not null or new.approved_at is not null then
      raise exception 'an exception is requested first and approved afterwards by someone else'
        using errcode = 'OPS03';
    end if;
    if ops.current_persona() in ('audit_reader', 'ci_service_role') then
      raise exception 'persona % may not request exceptions', ops.current_persona() using errcode = 'OPS03';
    end if;
    return new;
  end if;
  if (new.release_id, new.exception_type, new.impacted_gates, new.reason, new.risk_statement, new.requested_by,
      new.compensating_controls, new.created_at, new.created_by, new.created_persona)
     is distinct from
     (old.release_id, old.exception_type, old.impacted_gates, old.reason, old.risk_statement, old.requested_by,
      old.compensating_controls, old.created_at, old.created_by, old.created_persona) then
    raise exception 'exception % is a recorded request: request a new exception instead of changing it',
      old.exception_id using errcode = 'OPS22';
  end if;
  if new.approver_id is distinct from old.approver_id or new.approved_at is distinct from old.approved_at then
    if ops.context_value('approving_exception', old.exception_id) is null then
      raise exception 'exception % is approved only through ops.approve_exception', old.exception_id
        using errcode = 'OPS03';
    end if;
    if old.approver_id is not null then
      raise exception 'exception % is already approved by %', old.exception_id, old.approver_id using errcode = 'OPS09';
    end if;
    if old.expires_at <= pg_catalog.clock_timestamp() then
      raise exception 'exception % expired at % and can no longer be approved', old.exception_id, old.expires_at
        using errcode = 'OPS09';
    end if;
    new.approver_id := ops.current_actor();
    new.approved_at := pg_catalog.clock_timestamp();
    if new.approver_id = new.requested_by then
      raise exception 'separation of duties: % requested exception % and may not approve it', new.requested_by,
        new.exception_id using errcode = 'OPS03';
    end if;
    if not exists (select 1 from ops.approvals a
                   where a.exception_id = old.exception_id and a.approver_id = new.approver_id
                     and a.decision = 'approved') then
      raise exception 'exception % has no approval record by %', old.exception_id, new.approver_id
        using errcode = 'OPS03';
    end if;
  end if;
  if new.post_review_status is distinct from old.post_review_status
     and ops.context_value('reviewing_exception', old.exception_id) is null then
    raise exception 'exception % is reviewed only through ops.review_exception', old.exception_id
      using errcode = 'OPS03';
  end if;
  return new;
end
$$;

-- Approves an exception as the calling release manager. Takes the exception and a rationale;
-- returns the approved exception. Records the approval (its trigger refuses the requester), then
-- stamps approver and time, at the moment of the write. Errors: OPS03 (not a release_manager, or
-- the requester), OPS04 (no such exception), OPS09 (expired or already approved).
create or replace function ops.approve_exception(p_exception_id uuid, p_rationale text default null)
returns ops.exceptions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_exception ops.exceptions;
begin
  perform ops.require_persona('{release_manager}', 'approve exceptions');
  select * into v_exception from ops.exceptions e where e.exception_id = p_exception_id for update;
  if not found then
    raise exception 'exception % does not exist', p_exception_id using errcode = 'OPS04';
  end if;
  if v_exception.expires_at <= pg_catalog.clock_timestamp() then
    raise exception 'exception % expired at % and can no longer be approved', p_exception_id, v_exception.expires_at
      using errcode = 'OPS09';
  end if;
  if v_exception.approver_id is not null then
    raise exception 'exception % is already approved by %', p_exception_id, v_exception.approver_id
      using errcode = 'OPS09';
  end if;
  insert into ops.approvals (release_id, exception_id, approver_id, persona_role, decision, scope, rationale_text)
  values (v_exception.release_id, p_exception_id, ops.current_actor(), 'release_manager', 'approved', 'exception',
          p_rationale);
  perform ops.context_enter('approving_exception', p_exception_id, ops.current_actor());
  update ops.exceptions e set approver_id = ops.current_actor(), approved_at = pg_catalog.clock_timestamp()
  where e.exception_id = p_exception_id
  returning * into v_exception;
  perform ops.context_leave('approving_exception', p_exception_id);
  return v_exception;
end
$$;

-- Records the post-incident review of an exception. Takes the exception and the review status;
-- returns the exception. Errors: OPS03 (not a release_manager), OPS04 (no such exception).
create or replace function ops.review_exception(p_exception_id uuid, p_status public.ops_post_review_status)
returns ops.exceptions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_exception ops.exceptions;
begin
  perform ops.require_persona('{release_manager}', 'review exceptions');
  perform ops.context_enter('reviewing_exception', p_exception_id, ops.current_actor());
  update ops.exceptions e set post_review_status = p_status
  where e.exception_id = p_exception_id
  returning * into v_exception;
  if not found then
    raise exception 'exception % does not exist', p_exception_id using errcode = 'OPS04';
  end if;
  perform ops.context_leave('reviewing_exception', p_exception_id);
  return v_exception;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Evidence links name one release
-- ---------------------------------------------------------------------------------------------

-- Refuses (OPS22) evidence whose release, gate, check and deployment do not all belong to one
-- release. Owner's rights: the writer may not be able to read the rows it links to.
create function ops.evidence_artifacts_consistent_links() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_releases uuid[];
begin
  select pg_catalog.array_agg(distinct x.release_id) into v_releases
  from (
    select new.release_id
    union all
    select g.release_id from ops.release_gates g where g.gate_id = new.gate_id
    union all
    select g.release_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
    where c.check_id = new.check_id
    union all
    select d.release_id from ops.deployments d where d.deployment_id = new.deployment_id
  ) x
  where x.release_id is not null;
  if pg_catalog.cardinality(v_releases) > 1 then
    raise exception 'evidence links name different releases (%): its release, gate, check and deployment must belong to one release',
      pg_catalog.array_to_string(v_releases, ', ') using errcode = 'OPS22';
  end if;
  return new;
end
$$;

create trigger evidence_artifacts_consistent_links before insert on ops.evidence_artifacts
  for each row execute function ops.evidence_artifacts_consistent_links();

-- ---------------------------------------------------------------------------------------------
-- One live production deployment per release
-- ---------------------------------------------------------------------------------------------

-- Per release, its live production deployment. Written only by the trigger below (owner's rights).
create table ops.live_production_deployments (
  release_id uuid primary key references ops.releases (release_id),
  deployment_id uuid not null unique references ops.deployments (deployment_id)
);
alter table ops.live_production_deployments enable row level security;
revoke all on ops.live_production_deployments from public;
grant select on ops.live_production_deployments to release_manager, audit_reader;
create policy live_production_deployments_read_all on ops.live_production_deployments for select
  to release_manager, audit_reader using (true);

insert into ops.live_production_deployments (release_id, deployment_id)
select distinct on (d.release_id) d.release_id, d.deployment_id
from ops.deployments d
where d.environment = 'production' and d.rollback_of is null and d.status in ('in_progress', 'succeeded')
  and not exists (select 1 from ops.deployments r where r.rollback_of = d.deployment_id)
order by d.release_id, d.deployed_at desc, d.created_at desc;

-- Keeps ops.live_production_deployments current after every deployment row written: a production
-- deployment in progress or succeeded takes the release's place (OPS09 when another holds it,
-- concurrent writers included: the second waits for the first and then fails); one that failed or
-- was rolled back, and the target of a rollback, gives it up.
create function ops.deployments_track_live_production() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.environment <> 'production' then
    return null;
  end if;
  if new.rollback_of is not null then
    delete from ops.live_production_deployments l where l.deployment_id = new.rollback_of;
    return null;
  end if;
  if new.status in ('in_progress', 'succeeded')
     and not exists (select 1 from ops.deployments r where r.rollback_of = new.deployment_id) then
    begin
      insert into ops.live_production_deployments (release_id, deployment_id)
      values (new.release_id, new.deployment_id)
      on conflict (deployment_id) do nothing;
    exception when unique_violation then
      raise exception 'release % is already deployed (or deploying) to production', new.release_id
        using errcode = 'OPS09';
    end;
  else
    delete from ops.live_production_deployments l where l.deployment_id = new.deployment_id;
  end if;
  return null;
end
$$;

create trigger deployments_track_live_production after insert or update of status on ops.deployments
  for each row execute function ops.deployments_track_live_production();

revoke execute on all functions in schema ops from public;
