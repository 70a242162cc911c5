-- The gate rule's set-returning functions say how many rows they return, and the evaluation joins
-- the gates it computed to the release's own gates.
--
-- PostgreSQL plans a call of a set-returning function as returning 1,000 rows unless the function
-- says otherwise. ops.evaluate_release joined ops.compute_release_gates (four rows: one per gate)
-- to ops.release_gates by gate id alone; for 1,000 rows the planner judged reading the whole gate
-- table into a hash cheaper than 1,000 index probes. Every ingest event, sign-off and exception
-- that evaluates a release therefore read every gate of every release: on a database of 10,000
-- releases (40,000 gates) 13 ms of an event's 18 ms, against 5.8 ms after this change (one client,
-- PostgreSQL 15, bench:profile-ingest on the bench:reads database). The cost grew with the number
-- of releases, not with the release the event is about.
--
-- Now the join names the release too (release_gates_release_id_gate_code_key answers it), and the
-- rule's functions carry row estimates of their real size (per gate: four; per evidence
-- requirement or blocker: a few), so no caller's plan is made for a thousand rows.
-- test/db/plans-at-scale.test.ts runs the hot paths on a database of thousands of releases and
-- refuses any plan that reads a whole fact table.
--
-- Same statements, same results; only the plans change.

-- Takes a release id and an optional reason (the evaluation's context, recorded on the gate
-- transitions it causes); computes its gates with ops.compute_release_gates, stores the ones that
-- changed (one statement per gate, in order) and the release status (ops.derive_release_status).
-- Returns nothing. Raises what ops.compute_release_gates raises (OPS04: no such release).
-- Owner-only: called by the fact triggers and the ingest. Rule: DESIGN section 4.
create or replace function ops.evaluate_release(p_release_id uuid, p_reason text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  v_gates jsonb;
  v_changed boolean;
  v_actor text;
  v_status public.ops_release_status;
begin
  perform 1 from ops.releases r where r.release_id = p_release_id for no key update;
  select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('gate_id', x.gate_id, 'gate_code', x.gate_code,
           'status', x.status, 'reasons', x.reasons, 'exception_id', x.exception_id) order by x.ord),
         pg_catalog.bool_or(g.status is distinct from x.status or g.exception_id is distinct from x.exception_id)
    into v_gates, v_changed
  from ops.compute_release_gates(p_release_id) with ordinality as x(gate_id, gate_code, status, reasons, exception_id, ord)
  join ops.release_gates g on g.gate_id = x.gate_id and g.release_id = p_release_id;
  if coalesce(v_changed, false) then
    v_actor := ops.current_actor();
    perform ops.context_enter('evaluating', p_release_id,
      coalesce(p_reason, 'recomputed from the gate''s checks, evidence, approvals and exceptions'));
    perform ops.context_enter('evaluated_gates', p_release_id, v_gates::text);
    -- One statement per gate, in the gates' order: the guard reads the predecessor as stored.
    for c in select * from pg_catalog.jsonb_to_recordset(v_gates)
                      as y(gate_id uuid, status public.ops_gate_status, exception_id uuid) loop
      update ops.release_gates g set
        status = c.status,
        exception_id = c.exception_id,
        entered_at = case when c.status <> 'pending' then coalesce(g.entered_at, pg_catalog.clock_timestamp())
                          else g.entered_at end,
        resolved_at = case when c.status in ('passed', 'failed', 'bypassed') then pg_catalog.clock_timestamp() end,
        resolved_by = case when c.status in ('passed', 'failed', 'bypassed') then v_actor end
      where g.gate_id = c.gate_id
        and (g.status is distinct from c.status or g.exception_id is distinct from c.exception_id);
    end loop;
    perform ops.context_leave('evaluated_gates', p_release_id);
    perform ops.context_leave('evaluating', p_release_id);
  end if;
  v_status := ops.derive_release_status(p_release_id);
  update ops.releases r set status = v_status where r.release_id = p_release_id and r.status <> v_status;
end
$$;
revoke execute on function ops.evaluate_release(uuid, text) from public;

-- One row per gate of a release (G1-G4).
alter function ops.compute_release_gates(uuid) rows 4;
alter function ops.gate_findings(ops.releases, integer[]) rows 4;
alter function ops.gate_check_findings(ops.releases, integer[]) rows 4;
alter function ops.gate_deployment_findings(ops.releases, integer[]) rows 1;
alter function ops.gate_evidence_findings(ops.releases, integer[]) rows 4;
alter function ops.gate_approval_findings(ops.releases, integer[]) rows 2;
alter function ops.gate_exception_findings(ops.releases, integer[]) rows 4;
-- One row per evidence requirement of the release's gates.
alter function ops.release_gate_evidence(uuid, integer[]) rows 8;
alter function ops.release_gate_evidence_up_to(uuid, integer[], integer) rows 8;
-- A release's blockers: a few reasons per target environment.
alter function ops.gate_blockers(uuid, jsonb) rows 8;
alter function ops.promotion_blockers(uuid) rows 8;
alter function ops.promotion_blockers(uuid, text) rows 4;
alter function ops.timing_blockers(uuid, timestamp with time zone) rows 2;
alter function ops.freeze_findings(uuid, public.ops_environment, timestamp with time zone) rows 2;
alter function ops.soak_findings(uuid, public.ops_environment, timestamp with time zone) rows 2;
