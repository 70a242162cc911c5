-- The gate rule finds the evidence hanging on a gate's checks by the gate, not check by check.
--
-- ops.release_gate_evidence_up_to looked for check-attached evidence by walking every check row the
-- gate ever had and probing ops.evidence_artifacts once per check. A gate with no evidence of its
-- own of a required type (G2 waiting for its test_result, say) therefore read its whole check
-- history on every evaluation, and every ingest event evaluates the release: 2.8 ms of a 4 ms rule
-- at 5,000 check results on one gate (docs/profiling.md, "A gate's check history").
--
-- Now each check-attached artifact carries its check's gate (check_gate_id), stamped by a trigger
-- from the check row, and the rule reads those artifacts through evidence_artifacts_check_gate
-- (check_gate_id, artifact_type): one probe per requirement, the rows read bounded by the
-- matching artifacts. Same rows as before for every input (with a limit, which artifacts are
-- named stays unspecified, as documented): test/governance/check-evidence-reading.test.ts
-- compares both definitions, test/governance/rule-check-history.test.ts counts the rows read.
--
-- The stamp cannot be chosen by a writer. The trigger sets it on every insert and update from the
-- check the row names (NULL without a check), whatever the statement gave; it is ENABLE ALWAYS, so
-- a session in session_replication_role = replica (the owner writing behind the other triggers)
-- gets the stamp too. Check rows are append-only (gate_checks_append_only) and an artifact's
-- check_id cannot change (evidence_artifacts_append_only), so the stamp stays right. The column
-- is part of the row, hence of the ledger's content hash: an owner who changes it with the
-- triggers disabled is found by ops.verify_ledger (content_changed).
--
-- Rows written before this migration are stamped here and recorded again. A stamp left NULL on
-- them would have kept their recorded hashes valid, but the rule would then need a second,
-- per-check branch for them, and a database migrated with check evidence would keep paying for
-- its whole check history: exactly the cost this removes. Writing the stamp behind the ledger
-- would make ops.verify_ledger report each of those rows content_changed. So the update below
-- goes through the ledger's update trigger: each such artifact gets one 'update' entry, appended
-- to its release's chain, whose content hash is the row as it now is (the README's rule for a
-- change of canonical content: record the rows again). Chains only grow, so checkpoints and
-- bundles taken before still compare and verify. The statement is idempotent (the migration may
-- be run again over rows a disabled trigger left unstamped; test/governance/check-evidence-stamp.test.ts).

alter table ops.evidence_artifacts add column if not exists check_gate_id uuid;
comment on column ops.evidence_artifacts.check_gate_id is
  'The gate of the check this artifact is attached to (NULL without a check); stamped from the check at insert, never chosen by the writer.';

-- Trigger function: sets new.check_gate_id to the gate of the check new.check_id names (NULL
-- when check_id is NULL), on insert and update of ops.evidence_artifacts, whatever the statement
-- gave. Takes and returns the row; raises nothing of its own (a check_id naming no check is
-- refused by the foreign key). Owner's rights, so the lookup does not depend on the writer's read
-- policies; executed by the trigger only (execute revoked from public). Rule: this migration.
create or replace function ops.evidence_artifacts_stamp_check_gate()
returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  new.check_gate_id := case when new.check_id is null then null
                            else (select c.gate_id from ops.gate_checks c where c.check_id = new.check_id) end;
  return new;
end
$$;
revoke execute on function ops.evidence_artifacts_stamp_check_gate() from public;

-- After evidence_artifacts_append_only (BEFORE triggers fire by name): an update a persona is not
-- allowed to make is refused before anything is computed.
create or replace trigger evidence_artifacts_stamp_check_gate
  before insert or update on ops.evidence_artifacts
  for each row execute function ops.evidence_artifacts_stamp_check_gate();
alter table ops.evidence_artifacts enable always trigger evidence_artifacts_stamp_check_gate;

create index if not exists evidence_artifacts_check_gate on ops.evidence_artifacts (check_gate_id, artifact_type)
  where check_gate_id is not null;
-- The rule's generic plan estimates `check_gate_id = $gate` from the column's distinct values.
-- When few gates carry check evidence (a young database, one busy pipeline) ANALYZE finds few, the
-- plan expects most of the table for any gate and reads all of it, for a release with 8 checks
-- too (measured: 5,000 artifacts on one gate made every other gate's evaluation scan them all).
-- A gate's check evidence is a handful of rows among many gates: ANALYZE is told so (distinct
-- values one in twenty rows, about twenty artifacts per gate), and the index is the plan.
alter table ops.evidence_artifacts alter column check_gate_id set (n_distinct = -0.05);

-- Existing check-attached artifacts: stamped, and recorded again by ledger_record_update (the
-- append-only guard is lifted for this statement only, inside the migration's transaction).
alter table ops.evidence_artifacts disable trigger evidence_artifacts_append_only;
update ops.evidence_artifacts a set check_gate_id = c.gate_id
from ops.gate_checks c
where c.check_id = a.check_id and a.check_gate_id is distinct from c.gate_id;
alter table ops.evidence_artifacts enable trigger evidence_artifacts_append_only;

-- Each evidence requirement of each gate of a release (ops.gate_evidence_requirements) and, for
-- each, up to p_limit artifacts of the given revisions that meet it (NULL: all of them, by id;
-- otherwise which ones is not specified). Takes a release id, the revisions whose facts count
-- (ops.counted_revisions; NULL counts none) and the limit (a count of artifacts, at least 1, or
-- NULL); returns one row per gate and requirement, by gate and artifact types. Invoker's rights:
-- from ops.release_gate_evidence under a reader's RLS (audit_reader, release_manager), from the
-- gate rule as its owner. Raises OPS22 for a NULL release or a limit below 1. Rule: DESIGN
-- section 4 (evidence per gate) and 20261129002200 (G4's evidence hangs on the deployment G4
-- confirms); a NULL release is refused (20261205220000); the evidence on a gate's checks is read
-- by the gate stamped on the artifact (this migration), same rows as the per-check reading.
create or replace function ops.release_gate_evidence_up_to(p_release_id uuid, p_revisions integer[], p_limit integer)
returns table (
  gate_id uuid,
  requirement_id uuid,
  artifact_types public.ops_artifact_type[],
  attached_to public.ops_evidence_scope,
  blocking boolean,
  deployment_id uuid,
  deployment_environment public.ops_environment,
  artifact_ids uuid[],
  present_types public.ops_artifact_type[]
)
language plpgsql stable
rows 8
set search_path = pg_catalog, pg_temp
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
begin
  if p_release_id is null then
    raise exception 'the evidence of a release''s gates needs the release: none was given' using errcode = 'OPS22';
  end if;
  if p_limit < 1 then
    raise exception 'p_limit must be at least 1 (or NULL for every artifact), got %', p_limit
      using errcode = 'OPS22';
  end if;
  return query
  select g.gate_id, q.requirement_id, q.artifact_types, q.attached_to, q.blocking, dep.deployment_id,
         dep.environment, coalesce(ev.artifact_ids, '{}'), coalesce(ev.present_types, '{}')
  from ops.release_gates g
  join ops.gate_evidence_requirements q on q.gate_code = g.gate_code
  left join lateral (
    select d.deployment_id, d.environment from ops.deployments d
    where q.attached_to = 'latest_deployment' and d.release_id = g.release_id and d.rollback_of is null
      and d.revision = any (p_revisions)
    order by d.deployed_at desc, d.created_at desc limit 1
  ) dep on true
  left join lateral (
    select pg_catalog.array_agg(distinct m.artifact_id order by m.artifact_id) as artifact_ids,
           pg_catalog.array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      select u.artifact_id, u.artifact_type
      from (
      -- One index-friendly branch per place evidence can hang; an artifact found through two
      -- branches is counted once by the aggregates above.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union all
      -- Evidence on the gate's checks, by the check's gate stamped on the artifact
      -- (evidence_artifacts_check_gate): as many rows as such artifacts of the required types,
      -- however many checks the gate has.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.check_gate_id = g.gate_id
        and a.revision = any (p_revisions)
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
        and a.revision = any (p_revisions)
      union all
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
      ) u
      where u.artifact_type = any (q.artifact_types)
      -- NULL: every artifact. The gate rule asks for one: whether the requirement is met.
      limit p_limit
    ) m
  ) ev on true
  where g.release_id = p_release_id
  order by q.gate_code, pg_catalog.array_to_string(q.artifact_types, ',');
end
$$;
