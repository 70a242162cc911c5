-- The gate rule without its timing hook. ops.gate_timing_findings was joined into every
-- evaluation (a function entry, an executor start and an empty tuplestore per gate evaluation) and
-- has always returned no rows: freezes, soak time and deadlines hold promotion
-- (ops.promotion_blockers), not gates. An absent row left every gate's columns as they were
-- (coalesce(t.satisfied, true), t.failed is true, t.has_input is true, coalesce(t.reasons, '{}')),
-- so the composition without it computes the same statuses, reasons and bypasses
-- (test/governance/gate-rule-one-query.test.ts compares it with the parts before 20261204110000,
-- the hook included).

-- G1-G4 of a release as the rule computes them now: every concern's findings from one query
-- (ops.gate_findings), composed as before (gates are sequential, a bypass passes a gate whose
-- predecessors passed, the status follows from the findings). Takes a release id; returns per gate
-- its status, the reasons it is not passed (empty when passed or bypassed) and the exception that
-- bypasses it. Time: judged at clock_timestamp() by the parts. OPS04: no such release. Internal
-- (no persona executes it). Rule: DESIGN section 4.
create or replace function ops.compute_release_gates(p_release_id uuid)
 RETURNS TABLE(gate_id uuid, gate_code public.ops_gate_code, status public.ops_gate_status, reasons text[], exception_id uuid)
 LANGUAGE plpgsql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
AS $function$
declare
  v_release ops.releases;
  v_revisions integer[];
  g record;
  v_prev_ok boolean := true;
  v_prev_code public.ops_gate_code;
  v_prev_status public.ops_gate_status;
  v_status public.ops_gate_status;
  v_reasons text[];
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  v_revisions := ops.counted_revisions(p_release_id);
  for g in
    select f.gate_id, f.gate_code,
           coalesce(f.evidence_waived, false) as waived, f.bypass_exception_id, f.exception_reasons,
           coalesce(f.check_satisfied, true) and coalesce(f.deployment_satisfied, true)
             and (coalesce(f.evidence_waived, false) or coalesce(f.evidence_satisfied, true))
             and coalesce(f.approval_satisfied, true) as ok,
           f.check_failed is true or f.deployment_failed is true or f.evidence_failed is true
             or f.approval_failed is true as hard_fail,
           f.check_has_input is true or f.deployment_has_input is true or f.evidence_has_input is true
             or f.approval_has_input is true as any_input,
           coalesce(f.check_reasons, '{}') || coalesce(f.deployment_reasons, '{}')
             || case when f.evidence_waived then '{}'::text[] else coalesce(f.evidence_reasons, '{}') end
             || coalesce(f.approval_reasons, '{}') as reasons
    from ops.gate_findings(v_release, v_revisions) f
    join ops.gate_definitions gd on gd.gate_code = f.gate_code
    order by gd.position
  loop
    v_reasons := g.reasons;
    if not v_prev_ok then
      v_reasons := pg_catalog.format('%s: waiting for %s, which is %s', g.gate_code, v_prev_code, v_prev_status)
                   || v_reasons;
    end if;
    exception_id := null;
    if g.ok and v_prev_ok then
      v_status := 'passed';
      v_reasons := '{}';
    elsif g.bypass_exception_id is not null and v_prev_ok then
      v_status := 'bypassed';
      exception_id := g.bypass_exception_id;
      v_reasons := '{}';
    elsif g.hard_fail then
      v_status := 'failed';
    elsif g.any_input or (g.ok and not v_prev_ok) then
      v_status := 'in_progress';
    else
      v_status := 'pending';
    end if;
    if v_status not in ('passed', 'bypassed') then
      v_reasons := v_reasons || coalesce(g.exception_reasons, '{}');
    end if;
    gate_id := g.gate_id;
    gate_code := g.gate_code;
    status := v_status;
    reasons := v_reasons;
    return next;
    v_prev_ok := v_status in ('passed', 'bypassed');
    v_prev_code := g.gate_code;
    v_prev_status := v_status;
  end loop;
end
$function$;
revoke execute on function ops.compute_release_gates(uuid) from public;

drop function ops.gate_timing_findings(ops.releases, integer[]);
