-- Only the persona-facing entry points are executable by personas; every internal helper (gate
-- computation, re-evaluation, the ingest's routing, trigger functions, the transaction context)
-- runs only inside owner-rights code, under its name in `ops` (other owner-rights code calls it
-- there). Each entry point checks its caller: the persona it requires (ops.require_persona) and the
-- releases that persona may see (ops.assert_can_read_release). The intended list is
-- test/security/function-exposure.test.ts; a function added later is executable by nobody until a
-- migration grants it deliberately.

revoke execute on all functions in schema ops
  from public, ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Who the caller is: read by row-level security policies and column defaults under every persona.
-- Each answers only about the caller. ops.owns_release / ops.owns_gate: whether the caller
-- initiated a release (the developer's policies).
grant execute on function ops.current_claims(), ops.current_actor(), ops.current_persona(),
  ops.owns_release(uuid), ops.owns_gate(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Whether an exception row the caller has read is active now (GraphQL's exception filters).
grant execute on function ops.exception_is_active(ops.exceptions)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Eligibility: each checks that the caller may see the release (ops.assert_can_read_release).
grant execute on function ops.promotion_blockers(uuid), ops.promotion_blockers(uuid, text),
  ops.is_eligible_for_promotion(uuid, text)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The write entry points: each requires its personas and checks visibility itself.
grant execute on function
  ops.create_release(text, text, text, text, jsonb, text),
  ops.record_check(uuid, public.ops_gate_code, text, public.ops_check_status, public.ops_check_source, boolean, text, jsonb),
  ops.attach_evidence(uuid, public.ops_artifact_type, text, public.ops_gate_code, text, text, jsonb, uuid, uuid),
  ops.submit_approval(uuid, public.ops_approval_decision, public.ops_gate_code, text, jsonb, uuid),
  ops.request_exception(uuid, public.ops_exception_type, public.ops_gate_code[], text, text, timestamptz, timestamptz, jsonb),
  ops.approve_exception(uuid, text), ops.review_exception(uuid, public.ops_post_review_status),
  ops.promote_release(uuid, text, text),
  ops.record_deployment(uuid, text, public.ops_deployment_status, text, uuid, timestamptz),
  ops.update_deployment(uuid, public.ops_deployment_status),
  ops.record_health_check(uuid, public.ops_check_status, text, text, text, public.ops_check_source, jsonb),
  ops.record_incident(uuid, public.ops_incident_severity, text, timestamptz, timestamptz, jsonb, public.ops_postmortem_status),
  ops.record_recovery_drill(text, text, public.ops_drill_outcome, boolean, timestamptz, uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The reports of the personas who read everything: invoker's-rights helpers of the views, and the
-- decision chain.
grant execute on function ops.gate_evidence(uuid), ops.release_evidence(uuid), ops.iso_utc(timestamptz),
  ops.release_timeline(uuid), ops.release_evidence_bundle(uuid)
  to release_manager, audit_reader;

-- (The ingest's entry points are granted by 20261129001200_ops_ingest_hash_and_producer_keys.sql,
-- which replaces them.)
