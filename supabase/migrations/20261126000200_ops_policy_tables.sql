-- Governance policy as data: gate names, which gates each environment needs, how many approvers
-- G2 and G3 need and of which persona, and which checks a project's gates require.

create table ops.gate_definitions (
  gate_code public.ops_gate_code primary key,
  gate_name text not null,
  position smallint not null unique,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

insert into ops.gate_definitions (gate_code, gate_name, position) values
  ('G1', 'Build Integrity', 1),
  ('G2', 'Validation Readiness', 2),
  ('G3', 'Promotion Readiness', 3),
  ('G4', 'Post-Deploy Operational Confirmation', 4);

create table ops.gate_requirements (
  requirement_id uuid primary key default gen_random_uuid(),
  target_env public.ops_environment not null,
  gate_code public.ops_gate_code not null references ops.gate_definitions (gate_code),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (target_env, gate_code)
);

insert into ops.gate_requirements (target_env, gate_code) values
  ('staging', 'G1'), ('staging', 'G2'),
  ('production', 'G1'), ('production', 'G2'), ('production', 'G3'), ('production', 'G4');

create table ops.gate_policies (
  policy_id uuid primary key default gen_random_uuid(),
  gate_code public.ops_gate_code not null unique references ops.gate_definitions (gate_code),
  min_approvals integer not null default 1 check (min_approvals >= 0),
  -- The persona whose approvals count for the gate; NULL: the gate takes no approvals.
  approver_persona public.ops_persona,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  check (approver_persona is not null or min_approvals = 0)
);

insert into ops.gate_policies (gate_code, min_approvals, approver_persona) values
  ('G1', 0, null), ('G2', 1, 'qa_tester'), ('G3', 1, 'release_manager'), ('G4', 0, null);

create table ops.check_requirements (
  requirement_id uuid primary key default gen_random_uuid(),
  project text not null,
  gate_code public.ops_gate_code not null references ops.gate_definitions (gate_code),
  check_name text not null,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (project, gate_code, check_name)
);
