-- Schema `ops`, its enum types, and the identity helpers every default and policy reads.

create schema if not exists ops;

create type public.ops_environment as enum ('dev', 'staging', 'production');
create type public.ops_release_status as enum ('draft', 'in_progress', 'promoted', 'rolled_back', 'failed');
create type public.ops_gate_code as enum ('G1', 'G2', 'G3', 'G4');
create type public.ops_gate_status as enum ('pending', 'in_progress', 'passed', 'failed', 'bypassed');
create type public.ops_check_source as enum ('github_actions', 'agent', 'manual', 'monitoring');
create type public.ops_check_status as enum ('pass', 'fail', 'warning', 'skipped');
create type public.ops_persona as enum
  ('ci_service_role', 'release_manager', 'qa_tester', 'sre', 'developer', 'audit_reader');
create type public.ops_approval_decision as enum ('approved', 'rejected', 'request_changes');
create type public.ops_approval_scope as enum ('release', 'gate', 'exception');
create type public.ops_artifact_type as enum
  ('build_log', 'test_result', 'uat_summary', 'approval_record', 'rollback_plan', 'health_check',
   'restore_drill', 'incident_report', 'reference');
create type public.ops_exception_type as enum ('gate_bypass', 'evidence_waiver', 'timing_override');
create type public.ops_post_review_status as enum ('pending', 'complete', 'waived');
create type public.ops_deployment_status as enum ('in_progress', 'succeeded', 'failed', 'rolled_back');
create type public.ops_g4_status as enum ('pending', 'passed', 'failed');
create type public.ops_event_type as enum
  ('build_complete', 'check_result', 'gate_signoff', 'evidence_attached', 'deployment_event',
   'health_check', 'environment_event');
create type public.ops_processing_status as enum ('accepted', 'duplicate', 'rejected', 'error');
create type public.ops_incident_severity as enum ('sev1', 'sev2', 'sev3', 'sev4');
create type public.ops_postmortem_status as enum ('not_required', 'pending', 'complete');
create type public.ops_drill_outcome as enum ('success', 'partial', 'failed');

-- The verified JWT claims of the current request. After a transaction-local setting is undone the
-- value reads as '' rather than NULL, so a bare cast would raise.
create function ops.current_claims() returns jsonb
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb)
$$;

-- The caller's subject as text. Service subjects such as `github_actions` are not UUIDs, so
-- auth.uid() (which casts to uuid) cannot be used. Without claims (a maintenance session) the
-- database user is recorded, so no row is ever unattributed.
create function ops.current_actor() returns text
language sql stable
set search_path = ''
as $$
  select coalesce(nullif(ops.current_claims() ->> 'sub', ''), 'db:' || session_user)
$$;

-- The caller's persona: app_metadata.ops_role (Supabase Auth users), else `role` when it names a
-- persona (service tokens). NULL when the claims name none.
create function ops.current_persona() returns public.ops_persona
language sql stable
set search_path = ''
as $$
  select case
    when ops.current_claims() -> 'app_metadata' ->> 'ops_role' in
         (select unnest(enum_range(null::public.ops_persona))::text)
      then (ops.current_claims() -> 'app_metadata' ->> 'ops_role')::public.ops_persona
    when ops.current_claims() ->> 'role' in (select unnest(enum_range(null::public.ops_persona))::text)
      then (ops.current_claims() ->> 'role')::public.ops_persona
  end
$$;

-- Stamps who wrote a row from the token, never from the payload, and when: the statement's clock,
-- not the transaction's, so facts written in one transaction keep their order ("latest result
-- counts" must not depend on a random id).
create function ops.stamp_created_by() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.created_at := clock_timestamp();
  new.created_by := ops.current_actor();
  new.created_persona := ops.current_persona();
  return new;
end
$$;

-- Append-only tables: every UPDATE, DELETE and TRUNCATE raises, for every role.
create function ops.refuse_mutation() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'ops.% is append-only: % is not allowed', tg_table_name, lower(tg_op)
    using errcode = 'P0001', hint = 'record a new row instead';
end
$$;
