-- Exceptions are time-bounded and attributable; deployments carry their G4 outcome.

create table ops.exceptions (
  exception_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  exception_type public.ops_exception_type not null,
  impacted_gates public.ops_gate_code[] not null check (cardinality(impacted_gates) > 0),
  reason text not null check (reason <> ''),
  risk_statement text not null check (risk_statement <> ''),
  requested_by text not null default ops.current_actor(),
  approver_id text,
  approved_at timestamptz,
  effective_from timestamptz not null default now(),
  expires_at timestamptz not null,
  compensating_controls jsonb not null default '[]'::jsonb,
  post_review_status public.ops_post_review_status not null default 'pending',
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  constraint exceptions_window check (expires_at > effective_from),
  constraint exceptions_approval_complete check ((approver_id is null) = (approved_at is null))
);

create index exceptions_release on ops.exceptions (release_id);
create index exceptions_expires on ops.exceptions (expires_at);

-- An exception is requested for the future, never already expired. (A CHECK cannot read the
-- clock, so a trigger does it.)
create function ops.exceptions_refuse_past_expiry() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.expires_at <= now() then
    raise exception 'exception expires_at (%) must be in the future', new.expires_at
      using errcode = '23514';
  end if;
  return new;
end
$$;

create trigger exceptions_future_expiry before insert on ops.exceptions
  for each row execute function ops.exceptions_refuse_past_expiry();
create trigger exceptions_stamp before insert on ops.exceptions
  for each row execute function ops.stamp_created_by();

alter table ops.release_gates
  add constraint release_gates_exception_fk foreign key (exception_id) references ops.exceptions (exception_id);
alter table ops.approvals
  add constraint approvals_exception_fk foreign key (exception_id) references ops.exceptions (exception_id);

create table ops.deployments (
  deployment_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  environment public.ops_environment not null check (environment in ('staging', 'production')),
  deployed_at timestamptz not null default now(),
  deployed_by text not null default ops.current_actor(),
  source_ref text,
  status public.ops_deployment_status not null default 'in_progress',
  rollback_of uuid references ops.deployments (deployment_id),
  g4_status public.ops_g4_status not null default 'pending',
  g4_resolved_at timestamptz,
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create index deployments_release on ops.deployments (release_id, deployed_at desc);
create index deployments_env on ops.deployments (environment, deployed_at desc);

create trigger deployments_stamp before insert on ops.deployments
  for each row execute function ops.stamp_created_by();
