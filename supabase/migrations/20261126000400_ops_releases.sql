-- Releases and their four gates; a release is created with its gates G1-G4, pending.

create table ops.releases (
  release_id uuid primary key default gen_random_uuid(),
  project text not null check (project <> ''),
  release_name text not null check (release_name <> ''),
  environment_target public.ops_environment not null default 'production',
  source_ref text,
  scope_metadata jsonb not null default '{}'::jsonb,
  initiating_actor text not null default ops.current_actor(),
  status public.ops_release_status not null default 'draft',
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (project, release_name)
);

create index releases_created on ops.releases (created_at desc, release_id desc);
create index releases_initiating_actor on ops.releases (initiating_actor);
create index releases_created_by on ops.releases (created_by);

create table ops.release_gates (
  gate_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  gate_code public.ops_gate_code not null references ops.gate_definitions (gate_code),
  gate_name text not null,
  status public.ops_gate_status not null default 'pending',
  entered_at timestamptz,
  resolved_at timestamptz,
  resolved_by text,
  exception_id uuid,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (release_id, gate_code)
);

create trigger releases_stamp before insert on ops.releases
  for each row execute function ops.stamp_created_by();
create trigger release_gates_stamp before insert on ops.release_gates
  for each row execute function ops.stamp_created_by();

create function ops.create_release_gates() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ops.release_gates (release_id, gate_code, gate_name)
  select new.release_id, d.gate_code, d.gate_name from ops.gate_definitions d order by d.position;
  return null;
end
$$;

create trigger releases_create_gates after insert on ops.releases
  for each row execute function ops.create_release_gates();
