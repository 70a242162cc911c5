-- Evidence, environment events, incidents, recovery drills and the gate transition history.

create table ops.evidence_artifacts (
  artifact_id uuid primary key default gen_random_uuid(),
  release_id uuid references ops.releases (release_id),
  gate_id uuid references ops.release_gates (gate_id),
  check_id uuid references ops.gate_checks (check_id),
  deployment_id uuid references ops.deployments (deployment_id),
  artifact_type public.ops_artifact_type not null,
  source_system text not null,
  artifact_url text not null check (artifact_url <> ''),
  sha256 text check (sha256 ~ '^[0-9a-f]{64}$'),
  metadata jsonb not null default '{}'::jsonb,
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  -- No orphan evidence: it belongs to something unless it is a plain reference.
  constraint evidence_artifacts_owner check (
    artifact_type = 'reference'
    or num_nonnulls(release_id, gate_id, check_id, deployment_id) > 0
  )
);

create index evidence_artifacts_release on ops.evidence_artifacts (release_id);
create index evidence_artifacts_gate on ops.evidence_artifacts (gate_id, artifact_type);
create index evidence_artifacts_check on ops.evidence_artifacts (check_id);
create index evidence_artifacts_deployment on ops.evidence_artifacts (deployment_id, artifact_type);

create table ops.environment_events (
  event_id uuid primary key default gen_random_uuid(),
  environment text not null,
  event_type text not null,
  source_system text not null,
  release_id uuid references ops.releases (release_id),
  payload jsonb not null default '{}'::jsonb,
  idempotency_key text not null unique,
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create index environment_events_env on ops.environment_events (environment, created_at desc);

create table ops.incidents (
  incident_id uuid primary key default gen_random_uuid(),
  deployment_id uuid not null references ops.deployments (deployment_id),
  severity public.ops_incident_severity not null,
  detected_at timestamptz not null default now(),
  resolved_at timestamptz,
  timeline jsonb not null default '[]'::jsonb,
  root_cause text,
  postmortem_status public.ops_postmortem_status not null default 'pending',
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  check (resolved_at is null or resolved_at >= detected_at)
);

create index incidents_deployment on ops.incidents (deployment_id);

create table ops.recovery_drills (
  drill_id uuid primary key default gen_random_uuid(),
  environment public.ops_environment not null,
  drill_type text not null check (drill_type <> ''),
  executed_by text not null default ops.current_actor(),
  executed_at timestamptz not null default now(),
  outcome public.ops_drill_outcome not null,
  restore_validated boolean not null default false,
  evidence_artifact_id uuid references ops.evidence_artifacts (artifact_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create table ops.gate_transitions (
  transition_id uuid primary key default gen_random_uuid(),
  gate_id uuid not null references ops.release_gates (gate_id),
  from_status public.ops_gate_status not null,
  to_status public.ops_gate_status not null,
  reason text not null,
  actor text not null default ops.current_actor(),
  ingest_id uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create index gate_transitions_gate on ops.gate_transitions (gate_id, created_at);

create trigger evidence_artifacts_stamp before insert on ops.evidence_artifacts
  for each row execute function ops.stamp_created_by();
create trigger environment_events_stamp before insert on ops.environment_events
  for each row execute function ops.stamp_created_by();
create trigger incidents_stamp before insert on ops.incidents
  for each row execute function ops.stamp_created_by();
create trigger recovery_drills_stamp before insert on ops.recovery_drills
  for each row execute function ops.stamp_created_by();
create trigger gate_transitions_stamp before insert on ops.gate_transitions
  for each row execute function ops.stamp_created_by();

create trigger environment_events_append_only before update or delete on ops.environment_events
  for each row execute function ops.refuse_mutation();
create trigger environment_events_no_truncate before truncate on ops.environment_events
  for each statement execute function ops.refuse_mutation();
create trigger gate_transitions_append_only before update or delete on ops.gate_transitions
  for each row execute function ops.refuse_mutation();
create trigger gate_transitions_no_truncate before truncate on ops.gate_transitions
  for each statement execute function ops.refuse_mutation();
