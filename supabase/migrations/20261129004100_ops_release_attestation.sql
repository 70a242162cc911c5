-- The evidence bundle as a standard attestation: an in-toto Statement v1 whose subject is the
-- release's revision and whose predicate is a SLSA Verification Summary Attestation (VSA v1)
-- recording the gate decisions, their evidence with digests, the policy they were judged under,
-- and the ledger anchor (the release's chain with its head at bundle time). The API signs it
-- (DSSE, Ed25519); this file only states what is attested.

-- Takes nothing; returns the sha256 (hex) of the gate policy as stored (which gates each
-- environment requires, approvals per gate, required evidence and checks), in jsonb's canonical
-- text: the VSA's policy digest. Raises nothing. Owner-rights helper, not granted.
create function ops.gate_policy_digest() returns text
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_build_object(
    'gate_requirements', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(q.target_env, q.gate_code)
                                          order by q.target_env, q.gate_code), '[]') from ops.gate_requirements q),
    'gate_policies', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(p.gate_code, p.min_approvals, p.approver_persona)
                                      order by p.gate_code), '[]') from ops.gate_policies p),
    'gate_evidence_requirements', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(e.gate_code, e.artifact_types, e.attached_to, e.blocking)
                                                   order by e.gate_code, e.artifact_types::text), '[]') from ops.gate_evidence_requirements e),
    'check_requirements', (select coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(c.project, c.gate_code, c.check_name)
                                           order by c.project, c.gate_code, c.check_name), '[]') from ops.check_requirements c)
  )::text, 'UTF8')), 'hex')
$$;

-- Takes a release id and the verifier's id (a URI naming this control plane); returns the
-- unsigned in-toto Statement v1 as jsonb:
--   subject: the release's revision, named "<project>/<release_name>@<source_ref>", with digest
--     gitCommit when source_ref is a commit id, sha256 from scope_metadata.artifact_sha256 when the
--     release names its artifact, and always "opsRevision": the sha256 of
--     "release_id|project|release_name|source_ref" (so the subject is bound to the revision even
--     where no artifact digest is known)
--   predicate (VSA v1): verifier, timeVerified, resourceUri (source_ref), policy (gate policy
--     digest), inputAttestations (evidence with a sha256), verificationResult (PASSED when the
--     release has no promotion blockers for its target environment), verifiedLevels (one
--     OPS_GATE_<code>_<status> per gate), slsaVersion; and, as extension members, gates, ledger
--     (ops.ledger_anchor) and evidenceBundle (ops.release_evidence_bundle).
-- Raises OPS04 when the release does not exist or the caller may not read it. For
-- release_manager and audit_reader (as ops.release_evidence_bundle).
create function ops.release_attestation(p_release_id uuid, p_verifier_id text) returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  r record;
  v_bundle jsonb;
  v_subject_digest jsonb;
  v_blocked boolean;
begin
  perform ops.assert_can_read_release(p_release_id);
  select x.release_id, x.project, x.release_name, x.source_ref, x.environment_target, x.scope_metadata
  into r from ops.releases x where x.release_id = p_release_id;
  v_bundle := ops.release_evidence_bundle(p_release_id);
  v_subject_digest := pg_catalog.jsonb_build_object('opsRevision', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
    pg_catalog.concat_ws('|', r.release_id::text, r.project, r.release_name, coalesce(r.source_ref, '')), 'UTF8')), 'hex'));
  if r.source_ref ~ '^[0-9a-f]{40}$' then
    v_subject_digest := v_subject_digest || pg_catalog.jsonb_build_object('gitCommit', r.source_ref);
  end if;
  if r.scope_metadata->>'artifact_sha256' ~ '^[0-9a-f]{64}$' then
    v_subject_digest := v_subject_digest || pg_catalog.jsonb_build_object('sha256', r.scope_metadata->>'artifact_sha256');
  end if;
  v_blocked := exists (select 1 from ops.promotion_blockers(p_release_id, r.environment_target::text));
  return pg_catalog.jsonb_build_object(
    '_type', 'https://in-toto.io/Statement/v1',
    'subject', pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
      'name', pg_catalog.format('%s/%s@%s', r.project, r.release_name, coalesce(r.source_ref, '')),
      'digest', v_subject_digest)),
    'predicateType', 'https://slsa.dev/verification_summary/v1',
    'predicate', pg_catalog.jsonb_build_object(
      'verifier', pg_catalog.jsonb_build_object('id', p_verifier_id),
      'timeVerified', pg_catalog.to_char(pg_catalog.clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
      'resourceUri', coalesce(r.source_ref, pg_catalog.format('ops:release/%s/%s', r.project, r.release_name)),
      'policy', pg_catalog.jsonb_build_object(
        'uri', pg_catalog.format('ops:gate-policy/%s', r.environment_target),
        'digest', pg_catalog.jsonb_build_object('sha256', ops.gate_policy_digest())),
      'inputAttestations', coalesce((
        select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('uri', e->>'artifact_url', 'digest',
                 pg_catalog.jsonb_build_object('sha256', e->>'sha256')) order by e->>'created_at', e->>'artifact_id')
        from pg_catalog.jsonb_array_elements(v_bundle->'evidence') e where e->>'sha256' is not null), '[]'::jsonb),
      'verificationResult', case when v_blocked then 'FAILED' else 'PASSED' end,
      'verifiedLevels', coalesce((
        select pg_catalog.jsonb_agg(pg_catalog.format('OPS_GATE_%s_%s', g->>'gate_code', pg_catalog.upper(g->>'status'))
                                    order by g->>'gate_code')
        from pg_catalog.jsonb_array_elements(v_bundle->'gates') g), '[]'::jsonb),
      'slsaVersion', '1.0',
      'environment', r.environment_target,
      'gates', v_bundle->'gates',
      'ledger', ops.ledger_anchor(p_release_id),
      'evidenceBundle', v_bundle));
end
$$;

revoke execute on function ops.gate_policy_digest(), ops.release_attestation(uuid, text) from public;
grant execute on function ops.release_attestation(uuid, text) to release_manager, audit_reader;
