-- The six personas as database roles, and row-level security on every ops table implementing the
-- access matrix. The API logs in as one login role (Supabase: `authenticator`) that is a member of
-- the personas and switches with SET LOCAL ROLE per transaction, as PostgREST does.

do $$
declare
  persona text;
begin
  foreach persona in array array['ci_service_role', 'release_manager', 'qa_tester', 'sre', 'developer',
                                 'audit_reader'] loop
    if not exists (select 1 from pg_roles where rolname = persona) then
      execute format('create role %I nologin noinherit', persona);
    end if;
    if exists (select 1 from pg_roles where rolname = 'authenticator') then
      execute format('grant %I to authenticator', persona);
    end if;
  end loop;
end
$$;

-- Nothing in ops for anyone by default; every grant below is deliberate.
revoke all on schema ops from public;
revoke all on all tables in schema ops from public;
revoke all on all functions in schema ops from public;
alter default privileges in schema ops revoke execute on functions from public;
alter default privileges in schema ops revoke all on tables from public;

grant usage on schema ops to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Identity helpers are read by policies and column defaults under every persona.
grant execute on function ops.current_claims(), ops.current_actor(), ops.current_persona(),
  ops.stamp_created_by(), ops.refuse_mutation(), ops.exceptions_refuse_past_expiry()
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Whether the caller initiated or created the release: the developer's notion of "own".
create function ops.owns_release(p_release_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select exists (
    select 1 from ops.releases r
    where r.release_id = p_release_id
      and (r.initiating_actor = ops.current_actor() or r.created_by = ops.current_actor())
  )
$$;
create function ops.owns_gate(p_gate_id uuid) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select ops.owns_release((select g.release_id from ops.release_gates g where g.gate_id = p_gate_id))
$$;
grant execute on function ops.owns_release(uuid), ops.owns_gate(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Row-level security on every table.
alter table ops.gate_definitions enable row level security;
alter table ops.gate_requirements enable row level security;
alter table ops.gate_policies enable row level security;
alter table ops.check_requirements enable row level security;
alter table ops.event_ingest_log enable row level security;
alter table ops.releases enable row level security;
alter table ops.release_gates enable row level security;
alter table ops.gate_checks enable row level security;
alter table ops.approvals enable row level security;
alter table ops.exceptions enable row level security;
alter table ops.deployments enable row level security;
alter table ops.evidence_artifacts enable row level security;
alter table ops.environment_events enable row level security;
alter table ops.incidents enable row level security;
alter table ops.recovery_drills enable row level security;
alter table ops.gate_transitions enable row level security;

-- release_manager and audit_reader read everything in ops.
do $$
declare
  t text;
begin
  foreach t in array array['gate_definitions', 'gate_requirements', 'gate_policies', 'check_requirements',
                           'event_ingest_log', 'releases', 'release_gates', 'gate_checks', 'approvals',
                           'exceptions', 'deployments', 'evidence_artifacts', 'environment_events',
                           'incidents', 'recovery_drills', 'gate_transitions'] loop
    execute format('grant select on ops.%I to release_manager, audit_reader', t);
    execute format('create policy %I on ops.%I for select to release_manager, audit_reader using (true)',
                   t || '_read_all', t);
  end loop;
end
$$;

-- ci_service_role: reads releases, gates and checks; writes checks, ingest log rows and
-- environment events.
grant select on ops.releases, ops.release_gates, ops.gate_checks to ci_service_role;
create policy releases_read_ci on ops.releases for select to ci_service_role using (true);
create policy release_gates_read_ci on ops.release_gates for select to ci_service_role using (true);
create policy gate_checks_read_ci on ops.gate_checks for select to ci_service_role using (true);
grant insert on ops.gate_checks, ops.event_ingest_log, ops.environment_events to ci_service_role;
create policy gate_checks_write_ci on ops.gate_checks for insert to ci_service_role with check (true);
create policy event_ingest_log_write_ci on ops.event_ingest_log for insert to ci_service_role
  with check (true);
create policy environment_events_write_ci on ops.environment_events for insert to ci_service_role
  with check (true);

-- release_manager: writes approvals (as itself), exceptions, and gate status.
grant insert on ops.approvals, ops.exceptions to release_manager;
grant update (approver_id, approved_at, post_review_status) on ops.exceptions to release_manager;
grant update (status) on ops.release_gates to release_manager;
create policy approvals_write_rm on ops.approvals for insert to release_manager
  with check (approver_id = ops.current_actor() and persona_role = 'release_manager');
create policy exceptions_write_rm on ops.exceptions for insert to release_manager
  with check (requested_by = ops.current_actor());
create policy exceptions_update_rm on ops.exceptions for update to release_manager using (true);
create policy release_gates_update_rm on ops.release_gates for update to release_manager using (true);

-- qa_tester: reads releases, checks and evidence; writes its own approvals and evidence.
grant select on ops.releases, ops.gate_checks, ops.evidence_artifacts to qa_tester;
create policy releases_read_qa on ops.releases for select to qa_tester using (true);
create policy gate_checks_read_qa on ops.gate_checks for select to qa_tester using (true);
create policy evidence_artifacts_read_qa on ops.evidence_artifacts for select to qa_tester using (true);
grant insert on ops.approvals, ops.evidence_artifacts to qa_tester;
create policy approvals_write_qa on ops.approvals for insert to qa_tester
  with check (approver_id = ops.current_actor() and persona_role = 'qa_tester');
create policy evidence_artifacts_write_qa on ops.evidence_artifacts for insert to qa_tester
  with check (created_by = ops.current_actor());

-- sre: reads deployments, environment events and drills; writes its own deployments and drills.
grant select on ops.deployments, ops.environment_events, ops.recovery_drills to sre;
create policy deployments_read_sre on ops.deployments for select to sre using (true);
create policy environment_events_read_sre on ops.environment_events for select to sre using (true);
create policy recovery_drills_read_sre on ops.recovery_drills for select to sre using (true);
grant insert on ops.deployments, ops.recovery_drills to sre;
grant update (status, g4_status, g4_resolved_at, source_ref) on ops.deployments to sre;
create policy deployments_write_sre on ops.deployments for insert to sre
  with check (deployed_by = ops.current_actor());
create policy deployments_update_sre on ops.deployments for update to sre
  using (deployed_by = ops.current_actor()) with check (deployed_by = ops.current_actor());
create policy recovery_drills_write_sre on ops.recovery_drills for insert to sre
  with check (executed_by = ops.current_actor());

-- developer: reads its own releases and their checks; writes checks on its own releases.
grant select on ops.releases, ops.gate_checks to developer;
grant insert on ops.gate_checks to developer;
create policy releases_read_dev on ops.releases for select to developer
  using (initiating_actor = ops.current_actor() or created_by = ops.current_actor());
create policy gate_checks_read_dev on ops.gate_checks for select to developer
  using (ops.owns_gate(gate_id));
create policy gate_checks_write_dev on ops.gate_checks for insert to developer
  with check (ops.owns_gate(gate_id));
