-- Gate checks (latest result per check name counts) and approvals (latest decision per approver
-- counts). Both are history: rows are added, never edited.

create table ops.gate_checks (
  check_id uuid primary key default gen_random_uuid(),
  gate_id uuid not null references ops.release_gates (gate_id),
  check_name text not null check (check_name <> ''),
  source_system public.ops_check_source not null,
  status public.ops_check_status not null,
  required boolean not null default true,
  artifact_ref text,
  metadata jsonb not null default '{}'::jsonb,
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create index gate_checks_gate on ops.gate_checks (gate_id, check_name, created_at desc);

create table ops.approvals (
  approval_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  gate_id uuid references ops.release_gates (gate_id),
  exception_id uuid,
  approver_id text not null default ops.current_actor(),
  persona_role public.ops_persona not null,
  decision public.ops_approval_decision not null,
  scope public.ops_approval_scope not null,
  rationale_structured jsonb not null default '{}'::jsonb,
  rationale_text text,
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  check ((scope = 'gate') = (gate_id is not null)),
  check ((scope = 'exception') = (exception_id is not null))
);

create index approvals_gate on ops.approvals (gate_id, approver_id, created_at desc);
create index approvals_release on ops.approvals (release_id);

create trigger gate_checks_stamp before insert on ops.gate_checks
  for each row execute function ops.stamp_created_by();
create trigger approvals_stamp before insert on ops.approvals
  for each row execute function ops.stamp_created_by();
