-- Timing governance as data: change freeze windows (one-off, or weekly in an IANA time zone),
-- soak time per environment pair, approval and G4 deadlines, approval requests and the deadline
-- transitions a job records. Every table has RLS on, is written only through the SECURITY
-- DEFINER functions of 20261130002100 and is on the ledger (20261129004000), so freezes, policies
-- and the record of an override's use are tamper-evident.

-- ---------------------------------------------------------------------------------------------
-- Freeze windows

create table ops.freeze_windows (
  window_id uuid primary key default gen_random_uuid(),
  name text not null check (name <> '' and length(name) <= 200),
  environment public.ops_environment not null check (environment in ('staging', 'production')),
  -- NULL: every project.
  project text check (project <> '' and length(project) <= 200),
  reason text not null check (reason <> '' and length(reason) <= 2000),
  -- One-off window: the window itself. Weekly window: the period in which it recurs (ends_at NULL:
  -- until ended).
  starts_at timestamptz not null check (isfinite(starts_at)),
  ends_at timestamptz check (isfinite(ends_at)),
  -- Weekly recurrence, in local time of an IANA zone: from ISO weekday/time to ISO weekday/time
  -- ("every Friday 16:00 to Monday 06:00 in Europe/Brussels"). PostgreSQL's zone rules place each
  -- occurrence, so a daylight-saving change moves the instants, not the local times.
  time_zone text,
  weekly_from_dow smallint check (weekly_from_dow between 1 and 7),
  weekly_from_time time,
  weekly_until_dow smallint check (weekly_until_dow between 1 and 7),
  weekly_until_time time,
  ended_at timestamptz,
  ended_by text,
  end_reason text check (end_reason <> '' and length(end_reason) <= 2000),
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  constraint freeze_windows_recurrence_complete check (
    num_nulls(time_zone, weekly_from_dow, weekly_from_time, weekly_until_dow, weekly_until_time) in (0, 5)),
  constraint freeze_windows_one_off_bounded check (time_zone is not null or ends_at is not null),
  constraint freeze_windows_order check (ends_at is null or ends_at > starts_at),
  constraint freeze_windows_one_off_length check (time_zone is not null or ends_at - starts_at <= interval '90 days'),
  constraint freeze_windows_end_complete check ((ended_at is null) = (ended_by is null)
                                                and (ended_at is null) = (end_reason is null))
);
comment on table ops.freeze_windows is
  'Change freezes: while an occurrence is active, promotion to the environment (of the project, or of every project) is refused at the moment of the write.';
create index freeze_windows_env on ops.freeze_windows (environment, starts_at);

-- ---------------------------------------------------------------------------------------------
-- Soak time: how long the same revision must have stood healthy in from_env (counted from its G4
-- confirmation) before it may be promoted to to_env. The most specific row counts (the project's,
-- else the one for every project); a min_soak of zero switches it off (rows are never deleted: the
-- ledger keeps them).

create table ops.soak_policies (
  policy_id uuid primary key default gen_random_uuid(),
  from_env public.ops_environment not null check (from_env in ('staging', 'production')),
  to_env public.ops_environment not null check (to_env in ('staging', 'production')),
  project text check (project <> '' and length(project) <= 200),
  min_soak interval not null check (min_soak >= interval '0' and min_soak <= interval '30 days'),
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  updated_at timestamptz,
  updated_by text,
  constraint soak_policies_pair check (from_env <> to_env),
  constraint soak_policies_key unique nulls not distinct (from_env, to_env, project)
);

-- ---------------------------------------------------------------------------------------------
-- Deadlines: G2/G3 (an approval request expires when nobody decided it within `within`) and G4
-- (a deployment whose health is not confirmed within `within` of its deployed_at fails G4). The
-- most specific row counts (project over every project, environment over every environment);
-- a NULL `within` switches the deadline off.

create table ops.deadline_policies (
  policy_id uuid primary key default gen_random_uuid(),
  gate_code public.ops_gate_code not null check (gate_code in ('G2', 'G3', 'G4')),
  environment public.ops_environment check (environment in ('staging', 'production')),
  project text check (project <> '' and length(project) <= 200),
  within interval check (within > interval '0' and within <= interval '30 days'),
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  updated_at timestamptz,
  updated_by text,
  constraint deadline_policies_environment_g4 check (gate_code = 'G4' or environment is null),
  constraint deadline_policies_key unique nulls not distinct (gate_code, environment, project)
);

-- ---------------------------------------------------------------------------------------------
-- Approval requests: someone asks for a G2/G3 decision on the release's current revision; the
-- deadline is the policy's at the moment of the request. Its state (requested, decided,
-- expired) is judged at read time (ops.approval_request_state).

create table ops.timing_approval_requests (
  request_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  gate_code public.ops_gate_code not null check (gate_code in ('G2', 'G3')),
  revision integer not null,
  requested_by text not null,
  requested_at timestamptz not null,
  due_at timestamptz,
  note text check (note <> '' and length(note) <= 2000),
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  constraint timing_approval_requests_due check (due_at is null or due_at > requested_at)
);
create index timing_approval_requests_release on ops.timing_approval_requests (release_id, gate_code, requested_at);
create index timing_approval_requests_due on ops.timing_approval_requests (due_at) where due_at is not null;

-- ---------------------------------------------------------------------------------------------
-- Deadline transitions: the record of a deadline that passed (an approval request expired; a
-- deployment's G4 failed for want of a health confirmation). Correctness never waits for it
-- (deadlines are judged at read time); it is the history, written once per subject whatever the
-- number of job runners (the unique key).

create table ops.deadline_transitions (
  transition_id uuid primary key default gen_random_uuid(),
  subject_kind text not null check (subject_kind in ('approval_request', 'deployment_g4')),
  subject_id uuid not null,
  release_id uuid not null references ops.releases (release_id),
  gate_code public.ops_gate_code not null,
  to_state text not null check (to_state in ('expired', 'failed')),
  reason text not null,
  due_at timestamptz not null,
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  constraint deadline_transitions_once unique (subject_kind, subject_id, to_state)
);
create index deadline_transitions_release on ops.deadline_transitions (release_id, created_at);

-- ---------------------------------------------------------------------------------------------
-- Override uses: each promotion an approved timing_override exception let through a freeze or a
-- soak time, written by the deployment trigger that let it through.

create table ops.timing_override_uses (
  use_id uuid primary key default gen_random_uuid(),
  exception_id uuid not null references ops.exceptions (exception_id),
  release_id uuid not null references ops.releases (release_id),
  deployment_id uuid not null references ops.deployments (deployment_id) deferrable initially deferred,
  lifted text not null check (lifted in ('freeze', 'soak')),
  window_id uuid references ops.freeze_windows (window_id),
  detail text not null,
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);
create index timing_override_uses_release on ops.timing_override_uses (release_id, created_at);

-- ---------------------------------------------------------------------------------------------
-- Stamps, append-only rules, RLS and grants.

create trigger freeze_windows_stamp before insert on ops.freeze_windows
  for each row execute function ops.stamp_created_by();
create trigger soak_policies_stamp before insert on ops.soak_policies
  for each row execute function ops.stamp_created_by();
create trigger deadline_policies_stamp before insert on ops.deadline_policies
  for each row execute function ops.stamp_created_by();
create trigger timing_approval_requests_stamp before insert on ops.timing_approval_requests
  for each row execute function ops.stamp_created_by();
create trigger deadline_transitions_stamp before insert on ops.deadline_transitions
  for each row execute function ops.stamp_created_by();
create trigger timing_override_uses_stamp before insert on ops.timing_override_uses
  for each row execute function ops.stamp_created_by();

create trigger freeze_windows_no_delete before delete on ops.freeze_windows
  for each row execute function ops.refuse_mutation();
create trigger freeze_windows_no_truncate before truncate on ops.freeze_windows
  for each statement execute function ops.refuse_mutation();
create trigger soak_policies_no_delete before delete on ops.soak_policies
  for each row execute function ops.refuse_mutation();
create trigger soak_policies_no_truncate before truncate on ops.soak_policies
  for each statement execute function ops.refuse_mutation();
create trigger deadline_policies_no_delete before delete on ops.deadline_policies
  for each row execute function ops.refuse_mutation();
create trigger deadline_policies_no_truncate before truncate on ops.deadline_policies
  for each statement execute function ops.refuse_mutation();
create trigger timing_approval_requests_append_only before update or delete on ops.timing_approval_requests
  for each row execute function ops.refuse_mutation();
create trigger timing_approval_requests_no_truncate before truncate on ops.timing_approval_requests
  for each statement execute function ops.refuse_mutation();
create trigger deadline_transitions_append_only before update or delete on ops.deadline_transitions
  for each row execute function ops.refuse_mutation();
create trigger deadline_transitions_no_truncate before truncate on ops.deadline_transitions
  for each statement execute function ops.refuse_mutation();
create trigger timing_override_uses_append_only before update or delete on ops.timing_override_uses
  for each row execute function ops.refuse_mutation();
create trigger timing_override_uses_no_truncate before truncate on ops.timing_override_uses
  for each statement execute function ops.refuse_mutation();

alter table ops.freeze_windows enable row level security;
alter table ops.soak_policies enable row level security;
alter table ops.deadline_policies enable row level security;
alter table ops.timing_approval_requests enable row level security;
alter table ops.deadline_transitions enable row level security;
alter table ops.timing_override_uses enable row level security;
revoke all on ops.freeze_windows, ops.soak_policies, ops.deadline_policies, ops.timing_approval_requests,
  ops.deadline_transitions, ops.timing_override_uses from public;

-- The calendar and the timing policies are for everyone to see: a developer plans around a
-- freeze. Release-bound facts follow the release's readers (as ops.approvals and ops.exceptions:
-- release managers and auditors read them all; the others through the persona entry points).
create policy freeze_windows_read_all on ops.freeze_windows for select
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader using (true);
create policy soak_policies_read_all on ops.soak_policies for select
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader using (true);
create policy deadline_policies_read_all on ops.deadline_policies for select
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader using (true);
create policy timing_approval_requests_read_all on ops.timing_approval_requests for select
  to release_manager, audit_reader using (true);
create policy deadline_transitions_read_all on ops.deadline_transitions for select
  to release_manager, audit_reader using (true);
create policy timing_override_uses_read_all on ops.timing_override_uses for select
  to release_manager, audit_reader using (true);
grant select on ops.freeze_windows, ops.soak_policies, ops.deadline_policies
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
grant select on ops.timing_approval_requests, ops.deadline_transitions, ops.timing_override_uses
  to release_manager, audit_reader;

-- ---------------------------------------------------------------------------------------------
-- On the ledger: calendar and policies on the global chain, release-bound facts on their
-- release's chain (ops.ledger_chain_of's default reads release_id).

insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values
  ('freeze_windows', 'window_id', 'false'),
  ('soak_policies', 'policy_id', 'false'),
  ('deadline_policies', 'policy_id', 'false'),
  ('timing_approval_requests', 'request_id', 't.release_id = $1'),
  ('deadline_transitions', 'transition_id', 't.release_id = $1'),
  ('timing_override_uses', 'use_id', 't.release_id = $1');

create trigger ledger_record after insert on ops.freeze_windows
  for each row execute function ops.ledger_record('window_id');
create trigger ledger_record_update after update on ops.freeze_windows
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('window_id');
create trigger ledger_record after insert on ops.soak_policies
  for each row execute function ops.ledger_record('policy_id');
create trigger ledger_record_update after update on ops.soak_policies
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('policy_id');
create trigger ledger_record after insert on ops.deadline_policies
  for each row execute function ops.ledger_record('policy_id');
create trigger ledger_record_update after update on ops.deadline_policies
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('policy_id');
create trigger ledger_record after insert on ops.timing_approval_requests
  for each row execute function ops.ledger_record('request_id');
create trigger ledger_record after insert on ops.deadline_transitions
  for each row execute function ops.ledger_record('transition_id');
create trigger ledger_record after insert on ops.timing_override_uses
  for each row execute function ops.ledger_record('use_id');
