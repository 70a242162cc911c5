-- A check or an evidence row is stamped by one BEFORE INSERT trigger instead of four.
--
-- Every ingested build_complete writes a gate check and its evidence, and each row went through
-- four BEFORE INSERT row triggers that always run in the same (name) order: the table's own guard
-- (a developer does not overwrite another producer's check; the evidence's links name one
-- release), the caller's identity (ops.stamp_created_by), the ingest id (ops.stamp_ingest_id, which
-- read the owner-only context through two more functions) and the revision (ops.stamp_revision).
-- Each trigger is a function entry with its own configuration switch (SET search_path), and the
-- check's guard read the caller's identity a second time. One trigger per table now does the same
-- in the same order: the guard, then created_at/created_by/created_persona from one reading of the
-- caller, then the ingest id, then the revision. Same stamps, same errors (OPS03 for claims
-- without a sub or a developer overwriting another producer's check, OPS22 for evidence naming
-- two releases).
--
-- The re-evaluation trigger names the actor in the evaluation's reason; on an insert it now takes
-- the created_by the row was just stamped with (the same value ops.current_actor() computes, and
-- the same error for claims without a sub was raised by the stamp), instead of reading the caller
-- a third time.

-- BEFORE INSERT on ops.gate_checks: takes the new check; returns it with created_at (the moment of
-- the write, clock_timestamp()), created_by, created_persona, ingest_id (NULL outside an ingest
-- event) and revision (the release's current revision) stamped over whatever the writer gave.
-- OPS03 when the claims carry no sub, or when a developer reports a check of the gate another
-- producer reports. Rules: DESIGN section 5 (identity inside SQL; stamps, 20261126000500,
-- 20261129001000), "facts are stamped with the revision" (20261129002100), "a developer never
-- overwrites another producer's check" (20261129006100).
create function ops.gate_checks_stamp_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller record := ops.caller_identity();
  v_actor text;
begin
  if v_caller.persona is not null and v_caller.sub is null then
    raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
  end if;
  v_actor := coalesce(v_caller.sub, 'db:' || session_user);
  if v_caller.persona = 'developer' and exists (
      select 1 from ops.gate_checks c
      where c.gate_id = new.gate_id and c.check_name = new.check_name and c.created_by <> v_actor) then
    raise exception 'check "%" of this gate is reported by another producer; a developer does not overwrite its result',
      new.check_name using errcode = 'OPS03';
  end if;
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := v_actor;
  new.created_persona := v_caller.persona;
  new.ingest_id := (select c.value::uuid from ops.transaction_context c
                    where c.txid = pg_catalog.txid_current_if_assigned() and c.name = 'ingest'
                      and c.subject = '00000000-0000-0000-0000-000000000000');
  new.revision := (select r.revision from ops.release_gates g join ops.releases r on r.release_id = g.release_id
                   where g.gate_id = new.gate_id);
  return new;
end
$$;
revoke execute on function ops.gate_checks_stamp_insert() from public;

-- BEFORE INSERT on ops.evidence_artifacts: takes the new artifact; returns it with created_at
-- (clock_timestamp()), created_by, created_persona, ingest_id and revision (of its deployment,
-- else its check, else its gate's release, else its release, else 1) stamped. OPS22 when its
-- release, gate, check and deployment name different releases; OPS03 when the claims carry no sub.
-- Rules: "evidence links name one release" (20261129001300), DESIGN section 5 (stamps), "facts are
-- stamped with the revision" (20261129002100).
create function ops.evidence_artifacts_stamp_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_releases uuid[];
  v_caller record;
begin
  select pg_catalog.array_agg(distinct x.release_id) into v_releases
  from (
    select new.release_id
    union all
    select g.release_id from ops.release_gates g where g.gate_id = new.gate_id
    union all
    select g.release_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
    where c.check_id = new.check_id
    union all
    select d.release_id from ops.deployments d where d.deployment_id = new.deployment_id
  ) x
  where x.release_id is not null;
  if pg_catalog.cardinality(v_releases) > 1 then
    raise exception 'evidence links name different releases (%): its release, gate, check and deployment must belong to one release',
      pg_catalog.array_to_string(v_releases, ', ') using errcode = 'OPS22';
  end if;
  v_caller := ops.caller_identity();
  if v_caller.persona is not null and v_caller.sub is null then
    raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
  end if;
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := coalesce(v_caller.sub, 'db:' || session_user);
  new.created_persona := v_caller.persona;
  new.ingest_id := (select c.value::uuid from ops.transaction_context c
                    where c.txid = pg_catalog.txid_current_if_assigned() and c.name = 'ingest'
                      and c.subject = '00000000-0000-0000-0000-000000000000');
  new.revision := coalesce(
    (select d.revision from ops.deployments d where d.deployment_id = new.deployment_id),
    (select c.revision from ops.gate_checks c where c.check_id = new.check_id),
    (select r.revision from ops.release_gates g join ops.releases r on r.release_id = g.release_id
      where g.gate_id = new.gate_id),
    (select r.revision from ops.releases r where r.release_id = new.release_id),
    1);
  return new;
end
$$;
revoke execute on function ops.evidence_artifacts_stamp_insert() from public;

drop trigger gate_checks_developer_own_checks on ops.gate_checks;
drop trigger gate_checks_stamp on ops.gate_checks;
drop trigger gate_checks_stamp_ingest on ops.gate_checks;
drop trigger gate_checks_stamp_revision on ops.gate_checks;
create trigger gate_checks_stamp before insert on ops.gate_checks
  for each row execute function ops.gate_checks_stamp_insert();

drop trigger evidence_artifacts_consistent_links on ops.evidence_artifacts;
drop trigger evidence_artifacts_stamp on ops.evidence_artifacts;
drop trigger evidence_artifacts_stamp_ingest on ops.evidence_artifacts;
drop trigger evidence_artifacts_stamp_revision on ops.evidence_artifacts;
create trigger evidence_artifacts_stamp before insert on ops.evidence_artifacts
  for each row execute function ops.evidence_artifacts_stamp_insert();

-- Only these two triggers called them.
drop function ops.gate_checks_developer_own_checks();
drop function ops.evidence_artifacts_consistent_links();

-- AFTER INSERT/UPDATE on the five fact tables that move a gate (checks, evidence, approvals,
-- exceptions, deployments): takes the written row; returns NULL. Inside an ingest event of the
-- row's release, keeps the highest-ranked reason for the event's one evaluation; otherwise
-- re-evaluates the release now (ops.evaluate_release), naming the fact and its actor in the
-- reason. The actor of an insert is the row's created_by (stamped by the table's BEFORE trigger as
-- ops.current_actor() would answer); of an update, ops.current_actor(). Raises what the
-- evaluation raises. Rule: "stored gate status and release status follow every fact written"
-- (20261126002100, 20261130001100, 20261130001300).
create or replace function ops.reevaluate_after_change() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release uuid;
  v_what text;
  v_rank integer;
begin
  case tg_table_name
    when 'gate_checks' then
      select g.release_id into v_release from ops.release_gates g where g.gate_id = new.gate_id;
      v_what := pg_catalog.format('check "%s" reported %s', new.check_name, new.status);
      v_rank := 4;
    when 'evidence_artifacts' then
      v_release := coalesce(
        new.release_id,
        (select g.release_id from ops.release_gates g where g.gate_id = new.gate_id),
        (select g.release_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
          where c.check_id = new.check_id),
        (select d.release_id from ops.deployments d where d.deployment_id = new.deployment_id));
      v_what := pg_catalog.format('%s evidence attached', new.artifact_type);
      v_rank := 5;
    when 'approvals' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s %s (%s)', new.persona_role, new.decision, new.scope);
      v_rank := 2;
    when 'exceptions' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s exception for %s %s', new.exception_type,
                                  pg_catalog.array_to_string(new.impacted_gates, ', '),
                                  case when new.approver_id is null then 'requested' else 'approved' end);
      v_rank := 3;
    when 'deployments' then
      v_release := new.release_id;
      v_what := pg_catalog.format('%s deployment %s, G4 %s', new.environment, new.status, new.g4_status);
      v_rank := 1;
  end case;
  if v_release is null then
    return null;
  end if;
  v_what := pg_catalog.format('%s by %s', v_what,
                              case when tg_op = 'INSERT' then new.created_by else ops.current_actor() end);
  -- Inside an ingest event of this release: kept for the event's one evaluation.
  update ops.transaction_context c
    set value = case when c.value = '' or v_rank < pg_catalog.split_part(c.value, ':', 1)::integer
                     then v_rank || ':' || v_what else c.value end
  where c.txid = pg_catalog.txid_current_if_assigned() and c.name = 'deferred_evaluation'
    and c.subject = v_release;
  if not found then
    perform ops.evaluate_release(v_release, v_what);
  end if;
  return null;
end
$$;
revoke execute on function ops.reevaluate_after_change() from public;
