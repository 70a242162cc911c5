-- A release is bound to one revision: its source_ref plus an optional artifact digest, numbered
-- 1, 2, ... in ops.release_revisions (append-only). ops.revise_release is the one way to move a
-- release to another revision (a new commit on an Odoo release branch is normal for a hotfix).
--
-- Every fact that decides a gate carries the revision it was recorded for, stamped at INSERT from
-- the release's current revision (never from the caller): checks, evidence, approvals, exceptions
-- and deployments. The gate rule counts only the facts of the current revision (migration
-- 20261129002200), so approving one commit never approves another. Nothing is updated to mark a
-- fact stale; staleness is the comparison of two stored numbers.
--
-- Every deployment carries the release's current revision and is refused when it names another
-- (whichever door: promoteRelease, an ingest deployment_event, record_deployment, a direct
-- INSERT), and a deployment's revision never changes afterwards.

alter table ops.releases add column revision integer not null default 1 check (revision >= 1);
alter table ops.releases add column artifact_digest text
  check (artifact_digest ~ '^sha256:[0-9a-f]{64}$');
alter table ops.gate_checks add column revision integer not null default 1;
alter table ops.evidence_artifacts add column revision integer not null default 1;
alter table ops.approvals add column revision integer not null default 1;
alter table ops.exceptions add column revision integer not null default 1;
alter table ops.deployments add column revision integer not null default 1;
alter table ops.deployments add column artifact_digest text;

comment on column ops.releases.revision is 'The current revision (ops.release_revisions); changed only by ops.revise_release.';
comment on column ops.gate_checks.revision is 'The release revision this result was reported for (stamped at insert).';
comment on column ops.evidence_artifacts.revision is 'The release revision this artifact was attached for (stamped at insert).';
comment on column ops.approvals.revision is 'The release revision this decision was made for (stamped at insert).';
comment on column ops.exceptions.revision is 'The release revision this exception was requested for (stamped at insert).';
comment on column ops.deployments.revision is 'The release revision deployed (stamped at insert, never changed).';

create table ops.release_revisions (
  revision_id uuid primary key default gen_random_uuid(),
  release_id uuid not null references ops.releases (release_id),
  revision integer not null check (revision >= 1),
  source_ref text,
  artifact_digest text check (artifact_digest ~ '^sha256:[0-9a-f]{64}$'),
  previous_source_ref text,
  previous_artifact_digest text,
  reason text not null check (btrim(reason) <> ''),
  revised_by text not null default ops.current_actor(),
  created_at timestamptz not null default clock_timestamp(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (release_id, revision)
);

comment on table ops.release_revisions is
  'Each revision a release was bound to, with who moved it there and why; revision 1 is the one it was created with.';

create trigger release_revisions_stamp before insert on ops.release_revisions
  for each row execute function ops.stamp_created_by();
create trigger release_revisions_append_only before update or delete on ops.release_revisions
  for each row execute function ops.refuse_mutation();
create trigger release_revisions_no_truncate before truncate on ops.release_revisions
  for each statement execute function ops.refuse_mutation();

-- Read as the releases are: everyone who reads releases reads their revisions; a developer those
-- of the releases they own. Nobody writes it but ops.revise_release and the creation trigger.
alter table ops.release_revisions enable row level security;
grant select on ops.release_revisions to release_manager, audit_reader, ci_service_role, qa_tester, developer;
create policy release_revisions_read_all on ops.release_revisions for select
  to release_manager, audit_reader, ci_service_role, qa_tester using (true);
create policy release_revisions_read_dev on ops.release_revisions for select
  to developer using (ops.owns_release(release_id));

insert into ops.release_revisions (release_id, revision, source_ref, reason, revised_by, created_at, created_by,
                                   created_persona)
select r.release_id, 1, r.source_ref, 'release created', r.initiating_actor, r.created_at, r.created_by,
       r.created_persona
from ops.releases r;

-- Trigger (AFTER INSERT on ops.releases): records revision 1, the one the release is created with.
create function ops.releases_record_first_revision() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  insert into ops.release_revisions (release_id, revision, source_ref, artifact_digest, reason, revised_by, created_at)
  values (new.release_id, new.revision, new.source_ref, new.artifact_digest, 'release created', new.initiating_actor,
          new.created_at);
  return null;
end
$$;
revoke execute on function ops.releases_record_first_revision() from public;

create trigger releases_record_first_revision after insert on ops.releases
  for each row execute function ops.releases_record_first_revision();

-- Trigger (BEFORE INSERT and UPDATE on ops.releases): a release starts at revision 1, and its
-- revision (source_ref, artifact_digest, revision) changes only to the next one recorded in
-- ops.release_revisions, which only ops.revise_release writes. OPS03 otherwise.
create function ops.releases_revision_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    new.revision := 1;
    return new;
  end if;
  if (new.source_ref, new.artifact_digest, new.revision)
     is distinct from (old.source_ref, old.artifact_digest, old.revision) then
    if new.revision <> old.revision + 1 or not exists (
        select 1 from ops.release_revisions v
        where v.release_id = new.release_id and v.revision = new.revision
          and v.source_ref is not distinct from new.source_ref
          and v.artifact_digest is not distinct from new.artifact_digest) then
      raise exception 'release %''s revision changes only through ops.revise_release', old.release_name
        using errcode = 'OPS03';
    end if;
  end if;
  return new;
end
$$;
revoke execute on function ops.releases_revision_guard() from public;

create trigger releases_revision_guard before insert or update on ops.releases
  for each row execute function ops.releases_revision_guard();

-- Trigger (BEFORE INSERT on gate_checks, evidence_artifacts, approvals, exceptions): stamps the
-- revision the fact is recorded for, whatever the caller wrote: evidence on a deployment or a
-- check takes that one's revision, everything else the release's current revision.
create function ops.stamp_revision() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  case tg_table_name
    when 'gate_checks' then
      new.revision := (select r.revision from ops.release_gates g join ops.releases r on r.release_id = g.release_id
                       where g.gate_id = new.gate_id);
    when 'evidence_artifacts' then
      new.revision := coalesce(
        (select d.revision from ops.deployments d where d.deployment_id = new.deployment_id),
        (select c.revision from ops.gate_checks c where c.check_id = new.check_id),
        (select r.revision from ops.release_gates g join ops.releases r on r.release_id = g.release_id
          where g.gate_id = new.gate_id),
        (select r.revision from ops.releases r where r.release_id = new.release_id),
        1);
    else
      new.revision := (select r.revision from ops.releases r where r.release_id = new.release_id);
  end case;
  return new;
end
$$;
revoke execute on function ops.stamp_revision() from public;

create trigger gate_checks_stamp_revision before insert on ops.gate_checks
  for each row execute function ops.stamp_revision();
create trigger evidence_artifacts_stamp_revision before insert on ops.evidence_artifacts
  for each row execute function ops.stamp_revision();
create trigger approvals_stamp_revision before insert on ops.approvals
  for each row execute function ops.stamp_revision();
create trigger exceptions_stamp_revision before insert on ops.exceptions
  for each row execute function ops.stamp_revision();

-- The revision a deployment or gate fact names, for messages: "refs/tags/v1" or
-- "refs/tags/v1 (sha256:…)"; "no source ref" when the release has none. Takes the release and the
-- revision number; NULL when there is no such revision.
create function ops.revision_label(p_release_id uuid, p_revision integer) returns text
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(v.source_ref, 'no source ref') || coalesce(' (' || v.artifact_digest || ')', '')
  from ops.release_revisions v where v.release_id = p_release_id and v.revision = p_revision
$$;
-- Only owner-rights code calls it: a persona reads the revisions of the releases it may see.
revoke execute on function ops.revision_label(uuid, integer) from public;

-- Moves a release to another revision. Takes the release, the new source_ref (required), an
-- optional artifact digest (sha256:<64 hex>, or the 64 hex digits alone) and the reason
-- (required); returns the recorded revision. The release's checks, evidence, approvals,
-- exceptions and deployments of earlier revisions stop counting, and the gates are re-evaluated
-- at once. Who: a release_manager, or the developer who owns the release (its initiator or
-- creator) — the people who decide what the release ships; QA, SRE and auditors judge or run a
-- revision and do not choose it, and a pipeline reports on a release without re-pointing it.
-- Errors: OPS03 another persona or a developer who does not own the release; OPS04 no such
-- release; OPS22 no source_ref, no reason, a malformed digest; OPS09 the release is already at
-- that revision, or is in production (a release in production is rolled back or superseded by a
-- new release, never re-pointed). Rule: DESIGN section 4 (a release is one revision).
create function ops.revise_release(
  p_release_id uuid,
  p_source_ref text,
  p_artifact_digest text default null,
  p_reason text default null
) returns ops.release_revisions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_persona public.ops_persona := ops.require_persona('{release_manager,developer}', 'revise releases');
  v_release ops.releases;
  v_digest text;
  v_live ops.deployments;
  v_revision ops.release_revisions;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id for update;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  -- A developer sees only their own releases: another's answers as one that does not exist.
  if v_persona = 'developer' and not ops.owns_release(p_release_id) then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  if nullif(btrim(p_source_ref), '') is null then
    raise exception 'a revision names its source_ref (a commit, tag or branch)' using errcode = 'OPS22';
  end if;
  if nullif(btrim(p_reason), '') is null then
    raise exception 'a revision needs a reason: it makes the approvals of release % stale', v_release.release_name
      using errcode = 'OPS22';
  end if;
  if p_artifact_digest is not null then
    if p_artifact_digest !~* '^(sha256:)?[0-9a-f]{64}$' then
      raise exception 'artifact digest "%" is not sha256:<64 hexadecimal digits>', p_artifact_digest
        using errcode = 'OPS22';
    end if;
    v_digest := 'sha256:' || lower(right(p_artifact_digest, 64));
  end if;
  if (p_source_ref, v_digest) is not distinct from (v_release.source_ref, v_release.artifact_digest) then
    raise exception 'release % is already at %', v_release.release_name,
      ops.revision_label(p_release_id, v_release.revision) using errcode = 'OPS09';
  end if;
  select * into v_live from ops.deployments d
    where d.release_id = p_release_id and d.environment = 'production' and d.rollback_of is null
      and d.status in ('in_progress', 'succeeded')
      and not exists (select 1 from ops.deployments b where b.rollback_of = d.deployment_id)
    limit 1;
  if found then
    raise exception 'release % is in production (deployment %, %): roll it back first, or ship the change as a new release',
      v_release.release_name, v_live.deployment_id, v_live.status using errcode = 'OPS09';
  end if;
  insert into ops.release_revisions (release_id, revision, source_ref, artifact_digest, previous_source_ref,
                                     previous_artifact_digest, reason, revised_by)
  values (p_release_id, v_release.revision + 1, p_source_ref, v_digest, v_release.source_ref,
          v_release.artifact_digest, btrim(p_reason), ops.current_actor())
  returning * into v_revision;
  update ops.releases r set source_ref = p_source_ref, artifact_digest = v_digest, revision = v_revision.revision
  where r.release_id = p_release_id;
  perform ops.evaluate_release(p_release_id,
    format('revised to %s (revision %s) by %s: %s; facts of %s no longer count',
           ops.revision_label(p_release_id, v_revision.revision), v_revision.revision, ops.current_actor(),
           v_revision.reason, ops.revision_label(p_release_id, v_release.revision)));
  return v_revision;
end
$$;
revoke execute on function ops.revise_release(uuid, text, text, text) from public;
grant execute on function ops.revise_release(uuid, text, text, text) to release_manager, developer;

-- Trigger (BEFORE INSERT and UPDATE on ops.deployments): the promotion block and the revision of
-- every deployment, whoever writes the row (the table owner included). INSERT: the deployment
-- takes the release's current revision (source_ref, artifact_digest, revision); naming another
-- source_ref or digest is refused, OPS09. A rollback takes the revision of the deployment it
-- undoes and must undo one of the same release and environment (OPS22); any other deployment
-- needs the release eligible for the environment (ops.promotion_blockers), OPS09. UPDATE: a
-- deployment's release, environment, rollback target and revision never change, OPS22.
create or replace function ops.deployments_guard() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
  v_target ops.deployments;
  v_blockers text;
begin
  if tg_op = 'UPDATE' then
    if new.release_id <> old.release_id or new.environment <> old.environment
       or new.rollback_of is distinct from old.rollback_of then
      raise exception 'a deployment''s release, environment and rollback target cannot change'
        using errcode = 'OPS22';
    end if;
    if (new.source_ref, new.artifact_digest, new.revision)
       is distinct from (old.source_ref, old.artifact_digest, old.revision) then
      raise exception 'a deployment''s revision never changes: deployment % is of %', old.deployment_id,
        coalesce(old.source_ref, 'no source ref') using errcode = 'OPS22';
    end if;
    return new;
  end if;
  -- Serialises deployments of a release with its revisions (ops.revise_release locks the same row).
  select * into v_release from ops.releases r where r.release_id = new.release_id for update;
  if new.rollback_of is not null then
    select * into v_target from ops.deployments d where d.deployment_id = new.rollback_of
      and d.release_id = new.release_id and d.environment = new.environment;
    if not found then
      raise exception 'a rollback must undo a deployment of the same release in %', new.environment
        using errcode = 'OPS22';
    end if;
    if new.source_ref is not null and new.source_ref is distinct from v_target.source_ref then
      raise exception 'a rollback carries the revision of the deployment it undoes (%), not %',
        coalesce(v_target.source_ref, 'no source ref'), new.source_ref using errcode = 'OPS09';
    end if;
    new.source_ref := v_target.source_ref;
    new.artifact_digest := v_target.artifact_digest;
    new.revision := v_target.revision;
    return new;
  end if;
  if new.source_ref is not null and new.source_ref is distinct from v_release.source_ref then
    raise exception '% is not the revision of release % (%); deploy its revision, or revise the release first (ops.revise_release)',
      new.source_ref, v_release.release_name, coalesce(v_release.source_ref, 'no source ref') using errcode = 'OPS09';
  end if;
  if new.artifact_digest is not null and new.artifact_digest is distinct from v_release.artifact_digest then
    raise exception 'artifact % is not the one of release % (%)', new.artifact_digest, v_release.release_name,
      coalesce(v_release.artifact_digest, 'none recorded') using errcode = 'OPS09';
  end if;
  new.source_ref := v_release.source_ref;
  new.artifact_digest := v_release.artifact_digest;
  new.revision := v_release.revision;
  select string_agg(b.reason, '; ') into v_blockers
    from ops.promotion_blockers(new.release_id, new.environment::text) b;
  if v_blockers is not null then
    raise exception 'release % is not eligible for %: %', new.release_id, new.environment, v_blockers
      using errcode = 'OPS09';
  end if;
  return new;
end
$$;
revoke execute on function ops.deployments_guard() from public;

-- Inserts a deployment under a lock on the release, so concurrent promotions of one release to
-- one environment produce one deployment. Takes the release, environment, status, an optional
-- source_ref (checked against the release's revision by ops.deployments_guard), the deployment
-- it rolls back, and deployed_at (default: the moment of the write); returns the row. OPS09: a
-- deployment of the current revision to that environment is in progress or stands (a deployment
-- of an earlier revision does not hold a new one back). Eligibility and the revision are checked
-- by the table's trigger.
create or replace function ops.insert_deployment(
  p_release_id uuid,
  p_environment public.ops_environment,
  p_status public.ops_deployment_status,
  p_source_ref text,
  p_rollback_of uuid,
  p_deployed_at timestamptz
) returns ops.deployments
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
  v_deployment ops.deployments;
begin
  perform ops.assert_can_read_release(p_release_id);
  select * into v_release from ops.releases r where r.release_id = p_release_id for update;
  if p_rollback_of is null and exists (
      select 1 from ops.deployments d
      where d.release_id = p_release_id and d.environment = p_environment and d.rollback_of is null
        and d.revision = v_release.revision
        and d.status in ('in_progress', 'succeeded')
        and not exists (select 1 from ops.deployments r where r.rollback_of = d.deployment_id)) then
    raise exception 'release % is already deployed (or deploying) to %', p_release_id, p_environment
      using errcode = 'OPS09';
  end if;
  insert into ops.deployments (release_id, environment, status, source_ref, rollback_of, deployed_at, deployed_by,
                               ingest_id)
  values (p_release_id, p_environment, coalesce(p_status, 'in_progress'), p_source_ref, p_rollback_of,
          coalesce(p_deployed_at, clock_timestamp()), ops.current_actor(), ops.current_ingest_id())
  returning * into v_deployment;
  return v_deployment;
end
$$;
revoke execute on function ops.insert_deployment(uuid, public.ops_environment, public.ops_deployment_status, text, uuid,
  timestamptz) from public;
