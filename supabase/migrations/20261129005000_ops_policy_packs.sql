-- Policy packs: named sets of required checks per gate, kept as data, that a release manager
-- installs for a project in one call. Installing a pack writes the project's rows in
-- ops.check_requirements (which the gate rule, ops.compute_release_gates, already reads: a
-- required check that has not reported blocks its gate by name) and records the project's
-- profile (its platform and the pack it follows), so reviewers and tools can tell an Odoo project
-- from any other. The first pack is `odoo`: the checks an Odoo release relies on before promotion.
--
-- Besides, a release's scope (e.g. the Odoo modules it changes) can now be recorded after its
-- creation, one key at a time, by whoever feeds the release (CI, its developer, a release
-- manager); each change is kept in an append-only history.

create table ops.policy_packs (
  pack_name text primary key check (pack_name ~ '^[a-z][a-z0-9_-]{0,62}$'),
  platform text not null check (platform <> ''),
  description text not null,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create table ops.policy_pack_checks (
  pack_name text not null references ops.policy_packs (pack_name),
  gate_code public.ops_gate_code not null references ops.gate_definitions (gate_code),
  check_name text not null check (check_name <> ''),
  description text not null,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  primary key (pack_name, gate_code, check_name)
);

create table ops.project_profiles (
  project text primary key check (project <> ''),
  platform text not null,
  policy_pack text not null references ops.policy_packs (pack_name),
  installed_at timestamptz not null,
  installed_by text not null,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

create table ops.release_scope_changes (
  change_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  scope_key text not null,
  old_value jsonb,
  new_value jsonb not null,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);
create index release_scope_changes_release on ops.release_scope_changes (release_id, created_at);

create trigger policy_packs_stamp before insert on ops.policy_packs
  for each row execute function ops.stamp_created_by();
create trigger policy_pack_checks_stamp before insert on ops.policy_pack_checks
  for each row execute function ops.stamp_created_by();
create trigger project_profiles_stamp before insert on ops.project_profiles
  for each row execute function ops.stamp_created_by();
create trigger release_scope_changes_stamp before insert on ops.release_scope_changes
  for each row execute function ops.stamp_created_by();
create trigger release_scope_changes_append_only before update or delete on ops.release_scope_changes
  for each row execute function ops.refuse_mutation();
create trigger release_scope_changes_no_truncate before truncate on ops.release_scope_changes
  for each statement execute function ops.refuse_mutation();

alter table ops.policy_packs enable row level security;
alter table ops.policy_pack_checks enable row level security;
alter table ops.project_profiles enable row level security;
alter table ops.release_scope_changes enable row level security;
-- Like the other policy tables: read by release managers and auditors; written only through
-- ops.install_policy_pack and ops.record_release_scope.
grant select on ops.policy_packs, ops.policy_pack_checks, ops.project_profiles, ops.release_scope_changes
  to release_manager, audit_reader;
create policy policy_packs_read_all on ops.policy_packs for select to release_manager, audit_reader
  using (true);
create policy policy_pack_checks_read_all on ops.policy_pack_checks for select
  to release_manager, audit_reader using (true);
create policy project_profiles_read_all on ops.project_profiles for select to release_manager, audit_reader
  using (true);
create policy release_scope_changes_read_all on ops.release_scope_changes for select
  to release_manager, audit_reader using (true);

insert into ops.policy_packs (pack_name, platform, description) values
  ('odoo', 'odoo',
   'An Odoo project: the build, the module test suite, an upgrade of the changed modules on a '
   'neutralized copy of the production database, and the server''s own health route after deploying.');

insert into ops.policy_pack_checks (pack_name, gate_code, check_name, description) values
  ('odoo', 'G1', 'build', 'the build of the release (build_complete)'),
  ('odoo', 'G2', 'odoo-tests',
   'odoo-bin --test-enable --stop-after-init: the test log''s summary reports no failure and no error'),
  ('odoo', 'G2', 'odoo-upgrade-on-production-copy',
   'odoo-bin -u <changed modules> --stop-after-init on a neutralized copy of the production database: '
   'exit code 0 and no traceback'),
  ('odoo', 'G4', 'odoo-health', 'GET /web/health on the deployment answers {"status": "pass"}');

-- ops.install_policy_pack(project, pack): makes the pack's required checks the project's
-- (ops.check_requirements rows; requirements the project already has are kept) and records the
-- project's profile (platform and pack). The project's releases still under way (draft or
-- in_progress) are re-evaluated at once, so their gates and blockers name the new requirements.
-- Returns one row per check of the pack: gate, check name, and whether this call added it.
-- Installing the same pack again changes nothing and returns added = false for each.
-- Raises OPS03 unless the caller is a release_manager, OPS22 for an empty project, OPS04 for an
-- unknown pack, OPS09 when the project already follows another pack.
-- Source: required checks per project (ops.check_requirements, like required status checks).
create function ops.install_policy_pack(p_project text, p_pack_name text)
returns table (gate_code public.ops_gate_code, check_name text, added boolean)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_pack ops.policy_packs;
  v_profile ops.project_profiles;
  v_release record;
begin
  perform ops.require_persona('{release_manager}', 'install policy packs');
  if p_project is null or btrim(p_project) = '' then
    raise exception 'a policy pack is installed for a project: give its name' using errcode = 'OPS22';
  end if;
  select * into v_pack from ops.policy_packs p where p.pack_name = p_pack_name;
  if not found then
    raise exception 'no policy pack named % (known: %)', p_pack_name,
      (select string_agg(p.pack_name, ', ' order by p.pack_name) from ops.policy_packs p)
      using errcode = 'OPS04';
  end if;
  -- One install at a time per project.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('ops.install_policy_pack:' || p_project));
  select * into v_profile from ops.project_profiles pp where pp.project = p_project;
  if found and v_profile.policy_pack <> v_pack.pack_name then
    raise exception 'project % already follows the % policy pack', p_project, v_profile.policy_pack
      using errcode = 'OPS09';
  end if;
  if not found then
    insert into ops.project_profiles (project, platform, policy_pack, installed_at, installed_by)
    values (p_project, v_pack.platform, v_pack.pack_name, pg_catalog.clock_timestamp(), ops.current_actor());
  end if;

  -- A gate for which the project listed no required checks requires every check reported on it
  -- as required (the gate rule's default). Listing the pack's checks would make those optional, so
  -- the ones reported as required on the project's open releases are listed too: a pack adds
  -- requirements, it never removes one.
  insert into ops.check_requirements (project, gate_code, check_name)
  select distinct p_project, g.gate_code, c.check_name
  from ops.releases r
  join ops.release_gates g on g.release_id = r.release_id
  join ops.gate_checks c on c.gate_id = g.gate_id
  where r.project = p_project and r.status in ('draft', 'in_progress') and c.required
    and not exists (select 1 from ops.check_requirements cr
                    where cr.project = p_project and cr.gate_code = g.gate_code)
  on conflict on constraint check_requirements_project_gate_code_check_name_key do nothing;

  return query
    with wanted as (
      select c.gate_code, c.check_name from ops.policy_pack_checks c where c.pack_name = v_pack.pack_name
    ), inserted as (
      insert into ops.check_requirements (project, gate_code, check_name)
      select p_project, w.gate_code, w.check_name from wanted w
      on conflict on constraint check_requirements_project_gate_code_check_name_key do nothing
      returning gate_code, check_name
    )
    select w.gate_code, w.check_name,
           exists (select 1 from inserted i where i.gate_code = w.gate_code and i.check_name = w.check_name)
    from wanted w
    join ops.gate_definitions d on d.gate_code = w.gate_code
    order by d.position, w.check_name;

  for v_release in
    select r.release_id from ops.releases r
    where r.project = p_project and r.status in ('draft', 'in_progress')
    order by r.created_at
  loop
    perform ops.evaluate_release(v_release.release_id,
      pg_catalog.format('policy pack %s installed by %s', v_pack.pack_name, ops.current_actor()));
  end loop;
end
$$;
revoke execute on function ops.install_policy_pack(text, text) from public;
grant execute on function ops.install_policy_pack(text, text) to release_manager;

-- ops.record_release_scope(release, key, value): sets one key of the release's scope_metadata
-- (e.g. odoo_modules, the modules the release changes) and keeps the change, with the previous
-- value, in ops.release_scope_changes. Returns the release row as it now is.
-- Keys are lower-case identifiers (a-z, 0-9, _, ., -; at most 64 characters); values are any JSON
-- but null. A release that is promoted or rolled back keeps the scope it went out with.
-- Raises OPS03 unless the caller is a ci_service_role, a release_manager, or the developer who
-- initiated the release; OPS04 for an unknown release (or one a developer does not own); OPS22
-- for a malformed key or a null value; OPS09 for a release already promoted or rolled back.
-- Source: the release's scope (ops.releases.scope_metadata), which reviewers read before G2/G3.
create function ops.record_release_scope(p_release_id uuid, p_key text, p_value jsonb)
returns ops.releases
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_persona public.ops_persona :=
    ops.require_persona('{ci_service_role,release_manager,developer}', 'record a release''s scope');
  v_release ops.releases;
begin
  perform ops.assert_can_read_release(p_release_id);
  if p_key is null or p_key !~ '^[a-z][a-z0-9_.-]{0,63}$' then
    raise exception 'a scope key is a lower-case identifier (a-z, 0-9, _, ., -; at most 64 characters), not %',
      pg_catalog.quote_nullable(p_key) using errcode = 'OPS22';
  end if;
  if p_value is null or pg_catalog.jsonb_typeof(p_value) = 'null' then
    raise exception 'scope % needs a value', p_key using errcode = 'OPS22';
  end if;
  select * into v_release from ops.releases r where r.release_id = p_release_id for update;
  if v_persona = 'developer' and not ops.owns_release(p_release_id) then
    raise exception 'a developer records the scope only of releases they initiated' using errcode = 'OPS03';
  end if;
  if v_release.status in ('promoted', 'rolled_back') then
    raise exception 'release % is % and keeps the scope it went out with', v_release.release_name,
      v_release.status using errcode = 'OPS09';
  end if;
  insert into ops.release_scope_changes (release_id, scope_key, old_value, new_value)
  values (p_release_id, p_key, v_release.scope_metadata -> p_key, p_value);
  update ops.releases r set scope_metadata = r.scope_metadata || pg_catalog.jsonb_build_object(p_key, p_value)
  where r.release_id = p_release_id
  returning * into v_release;
  return v_release;
end
$$;
revoke execute on function ops.record_release_scope(uuid, text, jsonb) from public;
grant execute on function ops.record_release_scope(uuid, text, jsonb)
  to ci_service_role, release_manager, developer;
