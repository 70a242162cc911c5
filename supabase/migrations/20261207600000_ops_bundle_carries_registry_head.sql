-- The signed evidence bundle carries the registry chain's head.
--
-- A release's signed bundle (ops.release_attestation, 20261129004100) carries the release's own
-- chain with its head at signing time, so a release chain rewritten afterwards no longer holds the
-- entry the bundle names. But what one release's verification reads (the registry and its arms,
-- recorded on the registry chain since 20261207100000) was not in the bundle: an owner who later
-- narrowed a table's release scope and its arms behind the guards, and rewrote the registry chain
-- consistently (hashes recomputed, head moved), left every bundle auditors hold still matching,
-- and was caught only against a checkpoint taken before.
--
-- Now the statement's predicate has a member `registry`: {chain_id, seq, hash}, the registry
-- chain's id and its head (seq and entry hash) as the statement is built, in the same snapshot as
-- the release's anchor. It is inside the signed payload, so the DSSE signature covers it like
-- every other member. The comparison with a live database (ops-gates bundle --verify --live)
-- asks, through ops.compare_ledger_checkpoint, whether the live registry chain still holds, at that
-- seq, an entry with that hash: a registry chain rewritten at or before it (any change to a row
-- registered before the bundle was signed needs that) or truncated before it is reported on the
-- registry chain. Registrations made after signing only append, and keep the bundle matching.
-- Bundles signed before this migration carry no `registry`; they verify as before, and say that
-- the registry was not covered.

-- Takes nothing; returns the registry chain's head now as jsonb {chain_id, seq, hash} (seq: the
-- head's sequence number, hash: the head entry's sha256 hex), read from ops.ledger_chains in the
-- caller's snapshot. Raises data_corrupted (XX001) when the registry chain has no head row (the
-- owner removed it behind its guards): no bundle is signed over a registry that is not on the
-- ledger. Owner-rights helper, not granted (ops.release_attestation calls it; the personas who
-- may call that one also read every chain head through ops.ledger_checkpoint). Rule: this
-- migration; the registry chain, 20261207100000.
create function ops.ledger_registry_head() returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_head jsonb;
begin
  select pg_catalog.jsonb_build_object('chain_id', c.chain_id, 'seq', c.head_seq, 'hash', c.head_hash)
  into v_head
  from ops.ledger_chains c
  where c.chain_id = ops.ledger_registry_chain();
  if v_head is null then
    raise exception 'ops.ledger_chains: the registry chain has no head: no bundle can name it'
      using errcode = 'data_corrupted', hint = 'the ledger''s registry chain was changed behind its guards';
  end if;
  return v_head;
end
$$;

revoke execute on function ops.ledger_registry_head() from public;

-- Takes a release id and the verifier's id (a URI naming this control plane); returns the
-- unsigned in-toto Statement v1 as jsonb, as 20261129004100 describes (subject: the release's
-- revision with its digests; predicate: a SLSA VSA v1 with verifier, timeVerified, resourceUri,
-- policy, inputAttestations, verificationResult, verifiedLevels, slsaVersion, and the extension
-- members environment, gates, ledger (ops.ledger_anchor) and evidenceBundle), plus the extension
-- member registry: the registry chain's head at signing time, {chain_id, seq, hash}
-- (ops.ledger_registry_head). Raises OPS04 when the release does not exist or the caller may not
-- read it; XX001 when the registry chain has no head. For release_manager and audit_reader (grants
-- kept). Rule: 20261129004100; the registry head, this migration.
create or replace function ops.release_attestation(p_release_id uuid, p_verifier_id text) returns jsonb
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
      'registry', ops.ledger_registry_head(),
      'evidenceBundle', v_bundle));
end
$$;
