-- The gate transitions of an ingest event's one evaluation (20261130001100) give the reason of
-- the fact that decides, as the evaluation per row did: the deployment's outcome over an approval,
-- an exception, a check and evidence, in that order, and the first of equals. A build_complete
-- moves G1 because of its check ('check "build" reported pass by ci'), not its build log; a
-- health_check moves G4 because of the deployment's verdict ('staging deployment succeeded, G4
-- passed by sre'), not the check row that carries it.

-- Trigger (AFTER INSERT or UPDATE on gate_checks, evidence_artifacts, approvals, exceptions,
-- deployments): re-evaluates the release the row belongs to, with a reason naming the row and who
-- wrote it; inside an ingest event of that release, keeps the deciding fact's reason for the
-- event's one evaluation instead (stored as '<rank>:<reason>' in ops.transaction_context, owner
-- only). Rule: DESIGN section 4 (stored status follows every fact).
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
  v_what := pg_catalog.format('%s by %s', v_what, ops.current_actor());
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

-- Applies one accepted ingest event: writes its facts (ops.apply_ingest_facts) with the release's
-- re-evaluation deferred, then evaluates the release once, for the reason of the deciding fact.
-- Takes the envelope (validated by ops.ingest_event); returns the event's result, its gate_status
-- read after the evaluation. Errors: those of the writes (OPS03, OPS04, OPS09, OPS22, 22xxx,
-- 23xxx). Internal: called only by ops.ingest_event, inside its per-attempt block. Rule: DESIGN
-- section 6 (event effects).
create or replace function ops.apply_ingest_event(p_envelope jsonb) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set "TimeZone" = 'UTC'
set "DateStyle" = 'ISO, YMD'
as $$
declare
  v_release uuid := (p_envelope ->> 'release_id')::uuid;
  v_result jsonb;
  v_what text;
begin
  perform ops.context_enter('deferred_evaluation', v_release, '');
  v_result := ops.apply_ingest_facts(p_envelope);
  delete from ops.transaction_context c
  where c.txid = pg_catalog.txid_current() and c.name = 'deferred_evaluation' and c.subject = v_release
  returning c.value into v_what;
  if v_what <> '' then
    perform ops.evaluate_release(v_release, pg_catalog.substr(v_what, pg_catalog.strpos(v_what, ':') + 1));
  end if;
  if v_result ? 'gate_status' then
    v_result := v_result || pg_catalog.jsonb_build_object('gate_status', coalesce(
      (select g.status from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
       where c.check_id = (v_result ->> 'check_id')::uuid),
      (select g.status from ops.approvals a join ops.release_gates g on g.gate_id = a.gate_id
       where a.approval_id = (v_result ->> 'approval_id')::uuid)));
  end if;
  return v_result;
end
$$;
revoke execute on function ops.apply_ingest_event(jsonb) from public;
