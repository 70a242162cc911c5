-- The caller as a row's stamp, and the ingest attempt a row belongs to, each derived in one place.
--
-- "A persona acts only as a named subject; the owner's rows are stamped db:<login>" was written out
-- four times (ops.current_actor, ops.stamp_created_by and the two fact stamps of 20261203200000),
-- and the fact stamps read the ingest attempt with a copy of ops.current_ingest_id's query. Now
-- ops.caller_stamp derives the stamp once, and ops.current_ingest_id reads the owner-only context
-- itself (one function entry instead of two). Same values, same errors, same order of checks.

-- The caller as a row's stamp: actor is the claims' sub, or 'db:' || session_user when the
-- transaction assumed no persona and the claims carry no sub; persona is the persona assumed (NULL
-- for none). Takes nothing. OPS03 when a persona's claims carry no sub, or (from
-- ops.caller_identity) when the claims name another persona than the role. Every persona may call
-- it: it answers only about the caller, as ops.current_actor does. Rule: DESIGN section 5 (identity
-- inside SQL; facts stamped with who wrote them).
create function ops.caller_stamp(out actor text, out persona public.ops_persona)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_caller record := ops.caller_identity();
begin
  if v_caller.persona is not null and v_caller.sub is null then
    raise exception 'the claims carry no sub: a persona acts only as a named subject' using errcode = 'OPS03';
  end if;
  actor := coalesce(v_caller.sub, 'db:' || session_user);
  persona := v_caller.persona;
end
$$;
revoke execute on function ops.caller_stamp() from public;
grant execute on function ops.caller_stamp() to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The actor the caller's rows are stamped with (ops.caller_stamp's actor). Takes nothing; returns
-- text. Raises what ops.caller_stamp raises. Rule: DESIGN section 5.
create or replace function ops.current_actor() returns text
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (ops.caller_stamp()).actor;
end
$$;

-- The ingest attempt being applied in this transaction (ops.ingest_event leaves it in the
-- owner-only ops.transaction_context), NULL outside one. Takes nothing; returns its uuid. Raises
-- nothing. Rule: "facts name the ingest attempt that wrote them" (20261129001000).
create or replace function ops.current_ingest_id() returns uuid
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return (select c.value::uuid from ops.transaction_context c
          where c.txid = pg_catalog.txid_current_if_assigned() and c.name = 'ingest'
            and c.subject = '00000000-0000-0000-0000-000000000000');
end
$$;

-- BEFORE INSERT on the stamped fact tables without a stamp of their own: takes the new row;
-- returns it with created_at (clock_timestamp(), the moment of the write), created_by and
-- created_persona (ops.caller_stamp) set over whatever the writer gave. Raises what
-- ops.caller_stamp raises. Rule: DESIGN section 5 (stamps, 20261126000500, 20261129001000).
create or replace function ops.stamp_created_by() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_stamp record := ops.caller_stamp();
begin
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := v_stamp.actor;
  new.created_persona := v_stamp.persona;
  return new;
end
$$;

-- BEFORE INSERT on ops.gate_checks: takes the new check; returns it with created_at
-- (clock_timestamp()), created_by, created_persona (ops.caller_stamp), ingest_id
-- (ops.current_ingest_id, NULL outside an ingest event) and revision (the release's current
-- revision) stamped over whatever the writer gave. OPS03 when the claims carry no sub, or when a
-- developer reports a check of the gate another producer reports. Rules: DESIGN section 5 (stamps),
-- "facts are stamped with the revision" (20261129002100), "a developer never overwrites another
-- producer's check" (20261129006100).
create or replace function ops.gate_checks_stamp_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_stamp record := ops.caller_stamp();
begin
  if v_stamp.persona = 'developer' and exists (
      select 1 from ops.gate_checks c
      where c.gate_id = new.gate_id and c.check_name = new.check_name and c.created_by <> v_stamp.actor) then
    raise exception 'check "%" of this gate is reported by another producer; a developer does not overwrite its result',
      new.check_name using errcode = 'OPS03';
  end if;
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := v_stamp.actor;
  new.created_persona := v_stamp.persona;
  new.ingest_id := ops.current_ingest_id();
  new.revision := (select r.revision from ops.release_gates g join ops.releases r on r.release_id = g.release_id
                   where g.gate_id = new.gate_id);
  return new;
end
$$;

-- BEFORE INSERT on ops.evidence_artifacts: takes the new artifact; returns it with created_at
-- (clock_timestamp()), created_by, created_persona (ops.caller_stamp), ingest_id
-- (ops.current_ingest_id) and revision (of its deployment, else its check, else its gate's
-- release, else its release, else 1) stamped. OPS22 when its release, gate, check and deployment
-- name different releases (judged first); OPS03 when the claims carry no sub. Rules: "evidence
-- links name one release" (20261129001300), DESIGN section 5 (stamps), "facts are stamped with the
-- revision" (20261129002100).
create or replace function ops.evidence_artifacts_stamp_insert() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_releases uuid[];
  v_stamp record;
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
  v_stamp := ops.caller_stamp();
  new.created_at := pg_catalog.clock_timestamp();
  new.created_by := v_stamp.actor;
  new.created_persona := v_stamp.persona;
  new.ingest_id := ops.current_ingest_id();
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
