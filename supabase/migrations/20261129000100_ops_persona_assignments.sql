-- Personas for people who sign in with Supabase Auth. Who holds which persona is a row in
-- ops.persona_assignments (one per subject, the Supabase user id); every grant and revocation is
-- appended to ops.persona_assignment_history, which nobody can change. Supabase Auth reads the
-- assignment when it issues a token through the Custom Access Token Hook
-- public.custom_access_token_hook(event jsonb), which puts the persona into the token's
-- app_metadata.ops_role (where src/auth/jwt.ts reads it), or removes a stale one.
--
-- Who grants: the role ops_persona_admin, given to the people who administer access, and nobody
-- else. Not release_manager: a persona that could assign personas could make a second release
-- manager of its own and approve its own G3 through them, which separation of duties forbids; and
-- not the API's login (authenticator is not a member, so no request and no token can reach it).
-- The database owner holds every right anyway.

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'ops_persona_admin') then
    create role ops_persona_admin nologin;
  end if;
end
$$;

grant usage on schema ops to ops_persona_admin;

create table ops.persona_assignments (
  subject text primary key check (subject <> ''),
  -- null: revoked (the row stays, so the history has a current state to follow)
  persona text check (
    persona in ('ci_service_role', 'release_manager', 'qa_tester', 'sre', 'developer', 'audit_reader')
  ),
  reason text not null check (reason <> ''),
  -- Stamped by ops.persona_assignments_stamp, whatever the statement said.
  changed_by text not null,
  changed_at timestamptz not null
);

comment on table ops.persona_assignments is
  'The persona of each Supabase Auth user (subject = auth.users.id), read by public.custom_access_token_hook; persona null = revoked.';

create table ops.persona_assignment_history (
  history_id bigint generated always as identity primary key,
  subject text not null,
  action text not null check (action in ('grant', 'revoke')),
  -- grant: the persona granted; revoke: the persona taken away
  persona text not null,
  previous_persona text,
  reason text not null,
  -- The role that ran the statement (a person's login, or ops_persona_admin after SET ROLE) and
  -- the session's login.
  changed_by text not null,
  login_role text not null,
  at timestamptz not null
);

create index persona_assignment_history_subject on ops.persona_assignment_history (subject, history_id);

comment on table ops.persona_assignment_history is
  'Append-only: every persona grant and revocation, by whom and when.';

-- Takes: the row a grant or revocation writes (trigger, BEFORE INSERT OR UPDATE, runs with the
-- rights of the statement's caller). Returns it with changed_by = the calling role and changed_at
-- = clock_timestamp(), the moment of the write, so neither can be claimed. Errors: OPS22 when the
-- subject is changed or a revoked subject is revoked again. Rule: this migration's header.
create function ops.persona_assignments_stamp()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'UPDATE' then
    if new.subject is distinct from old.subject then
      raise exception using errcode = 'OPS22', message = 'the subject of a persona assignment cannot change';
    end if;
    if new.persona is null and old.persona is null then
      raise exception using errcode = 'OPS22',
        message = format('%s holds no persona to revoke', old.subject);
    end if;
  end if;
  new.changed_by := current_user::text;
  new.changed_at := clock_timestamp();
  return new;
end
$$;

-- Takes: a written assignment (trigger, AFTER INSERT OR UPDATE). Returns nothing; appends the
-- grant or revocation to ops.persona_assignment_history with the stamped actor and time. Owner
-- rights: the history is written here only, nobody holds INSERT on it. Errors: none of its own.
create function ops.persona_assignments_record()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_old text := case when tg_op = 'UPDATE' then old.persona end;
begin
  if tg_op = 'INSERT' and new.persona is null then
    return null;
  end if;
  if tg_op = 'UPDATE' and new.persona is not distinct from old.persona and new.reason = old.reason then
    return null;
  end if;
  insert into ops.persona_assignment_history
    (subject, action, persona, previous_persona, reason, changed_by, login_role, at)
  values
    (new.subject,
     case when new.persona is null then 'revoke' else 'grant' end,
     coalesce(new.persona, v_old),
     v_old,
     new.reason,
     new.changed_by,
     session_user::text,
     new.changed_at);
  return null;
end
$$;

-- Takes: any change to the history or a deletion of an assignment (trigger). Returns nothing;
-- always raises OPS03: the history is append-only and a revocation is an update (persona null),
-- so that it is recorded.
create function ops.persona_assignments_immutable()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception using errcode = 'OPS03',
    message = format('%s on %s is not allowed: grant or revoke (set persona to null) instead',
                     lower(tg_op), tg_table_name);
end
$$;

create trigger persona_assignments_stamp before insert or update on ops.persona_assignments
  for each row execute function ops.persona_assignments_stamp();
create trigger persona_assignments_record after insert or update on ops.persona_assignments
  for each row execute function ops.persona_assignments_record();
create trigger persona_assignments_no_delete before delete on ops.persona_assignments
  for each row execute function ops.persona_assignments_immutable();
create trigger persona_assignments_no_truncate before truncate on ops.persona_assignments
  for each statement execute function ops.persona_assignments_immutable();
create trigger persona_assignment_history_append_only before update or delete on ops.persona_assignment_history
  for each row execute function ops.persona_assignments_immutable();
create trigger persona_assignment_history_no_truncate before truncate on ops.persona_assignment_history
  for each statement execute function ops.persona_assignments_immutable();

revoke all on function ops.persona_assignments_stamp() from public;
revoke all on function ops.persona_assignments_record() from public;
revoke all on function ops.persona_assignments_immutable() from public;

-- Takes: the subject (Supabase user id), one of the six personas, and why. Returns the
-- assignment as stored. Grants the persona, replacing any earlier one (the history keeps both).
-- Runs with the caller's rights: only ops_persona_admin holds INSERT/UPDATE on the table.
-- Errors: 42501 for anyone else; 23514 for an unknown persona or an empty subject or reason.
create function ops.assign_persona(p_subject text, p_persona text, p_reason text)
returns ops.persona_assignments
language sql
set search_path = pg_catalog, pg_temp
as $$
  insert into ops.persona_assignments as a (subject, persona, reason, changed_by, changed_at)
  values (p_subject, p_persona, p_reason, '', pg_catalog.clock_timestamp())
  on conflict (subject) do update set persona = excluded.persona, reason = excluded.reason
  returning a.*
$$;

-- Takes: the subject and why. Returns the assignment as stored (persona null). Runs with the
-- caller's rights (ops_persona_admin). Errors: OPS04 when the subject never held a persona;
-- OPS22 when it holds none now; 42501 for anyone but ops_persona_admin.
create function ops.revoke_persona(p_subject text, p_reason text)
returns ops.persona_assignments
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_row ops.persona_assignments;
begin
  update ops.persona_assignments
     set persona = null, reason = p_reason
   where subject = p_subject
  returning * into v_row;
  if not found then
    raise exception using errcode = 'OPS04', message = format('%s holds no persona assignment', p_subject);
  end if;
  return v_row;
end
$$;

revoke all on function ops.assign_persona(text, text, text) from public;
revoke all on function ops.revoke_persona(text, text) from public;
grant execute on function ops.assign_persona(text, text, text) to ops_persona_admin;
grant execute on function ops.revoke_persona(text, text) to ops_persona_admin;

alter table ops.persona_assignments enable row level security;
alter table ops.persona_assignment_history enable row level security;
create policy persona_assignments_admin on ops.persona_assignments
  for all to ops_persona_admin using (true) with check (true);
create policy persona_assignments_audit on ops.persona_assignments
  for select to audit_reader using (true);
create policy persona_assignment_history_read on ops.persona_assignment_history
  for select to ops_persona_admin, audit_reader using (true);

revoke all on ops.persona_assignments, ops.persona_assignment_history from public;
grant select, insert, update (persona, reason) on ops.persona_assignments to ops_persona_admin;
grant select on ops.persona_assignments, ops.persona_assignment_history to ops_persona_admin, audit_reader;

-- Takes: the event Supabase Auth sends before it issues an access token,
-- {"user_id": "<uuid>", "claims": {...}, "authentication_method": "..."}. Returns {"claims": ...}:
-- the claims unchanged except app_metadata.ops_role, set to the user's assigned persona, or
-- removed when there is none (so a revocation, or an ops_role written into app_metadata by hand,
-- takes effect at the next token). Owner rights, so Supabase Auth's role needs nothing in ops.
-- Errors: OPS22 when the event has no claims object. Supabase: Auth Hooks, Custom Access Token.
create function public.custom_access_token_hook(event jsonb)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_claims jsonb := event -> 'claims';
  v_app jsonb;
  v_persona text;
begin
  if pg_catalog.jsonb_typeof(v_claims) is distinct from 'object' then
    raise exception using errcode = 'OPS22', message = 'custom_access_token_hook: the event has no claims object';
  end if;
  select a.persona into v_persona
    from ops.persona_assignments a
   where a.subject = coalesce(event ->> 'user_id', v_claims ->> 'sub')
     and a.persona is not null;
  v_app := case when pg_catalog.jsonb_typeof(v_claims -> 'app_metadata') = 'object'
                then v_claims -> 'app_metadata' else '{}'::jsonb end;
  v_app := case when v_persona is null then v_app - 'ops_role'
                else v_app || pg_catalog.jsonb_build_object('ops_role', v_persona) end;
  return pg_catalog.jsonb_build_object('claims', v_claims || pg_catalog.jsonb_build_object('app_metadata', v_app));
end
$$;

-- Supabase grants new functions in public to anon, authenticated and service_role by default;
-- only Supabase Auth may call the hook.
revoke all on function public.custom_access_token_hook(jsonb) from public, anon, authenticated, service_role;
grant usage on schema public to supabase_auth_admin;
grant execute on function public.custom_access_token_hook(jsonb) to supabase_auth_admin;
