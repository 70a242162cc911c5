-- Holds the rules of 20261129001000-001300 (persona entry points, ingest refusals) over what
-- later migrations added beside them, and puts the facts those migrations introduced on the
-- ledger (20261129004000_ops_ledger.sql).

-- The gate rule answers about any release, so no persona calls it: readers ask
-- ops.promotion_blockers, the views or GraphQL, which check visibility first
-- (20261129001100_ops_persona_entry_points_only.sql). 20261129002200 re-granted it.
revoke execute on function ops.compute_release_gates(uuid)
  from public, ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- A deployment's revision never changes (ops.deployments_guard refuses it); the column is not
-- writable by the SRE at all, so the refusal is a missing privilege before any trigger runs.
revoke update (source_ref) on ops.deployments from sre;

-- Instants in an envelope's payload (payload.deployed_at) are read in UTC whatever the session's
-- TimeZone, so the same envelope means the same instant through every door. The API doors refuse
-- an instant without an offset before it reaches SQL (src/ingest/envelope.ts, ops.parse_instant).
alter function ops.apply_ingest_event(jsonb) set "TimeZone" = 'UTC';

-- ops.record_rejected_ingest (20261129001200_ops_ingest_hash_and_producer_keys.sql) with the two
-- refusals the doors gained for bodies PostgreSQL cannot read: a body that is not JSON by its
-- Content-Type (415 unsupported_media_type) and one that is not UTF-8 (400 invalid_utf8). Takes
-- what was sent (any JSON, or NULL), the HTTP status and the error document {error, message,
-- issues?}; returns the ingest response. Errors: OPS03 (no persona or no sub), OPS22 (an error,
-- status or message not among the doors' own).
create or replace function ops.record_rejected_ingest(p_envelope jsonb, p_http_status integer, p_error jsonb)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_code text := p_error ->> 'error';
  v_message text := p_error ->> 'message';
  v_ok boolean;
begin
  perform ops.require_persona(pg_catalog.enum_range(null::public.ops_persona), 'send events');
  v_ok := pg_catalog.jsonb_typeof(p_error) = 'object' and case v_code
    when 'invalid_json' then p_http_status = 400 and v_message = 'the body is not valid JSON'
    when 'invalid_utf8' then p_http_status = 400 and v_message = 'the body is not valid UTF-8'
    when 'invalid_envelope' then p_http_status = 400 and v_message ~ '^[0-9]{1,4} field\(s\) missing or malformed$'
    when 'unsupported_media_type' then p_http_status = 415
      and v_message = 'send the event as JSON with Content-Type: application/json'
    when 'unsupported_schema_version' then p_http_status = 422 and v_message ~ '^.+ is not supported; use "v1\.0"$'
    when 'payload_too_large' then p_http_status = 413 and v_message ~ '^the body exceeds [0-9]{1,12} bytes$'
    when 'internal_error' then p_http_status = 500 and v_message = 'the event could not be processed'
    else false end;
  if not coalesce(v_ok, false) then
    raise exception 'a refused attempt is logged with one of the doors'' errors (invalid_json, invalid_utf8, invalid_envelope, unsupported_media_type, unsupported_schema_version, payload_too_large, internal_error), its status and message'
      using errcode = 'OPS22';
  end if;
  if p_error ? 'issues' and pg_catalog.jsonb_typeof(p_error -> 'issues') is distinct from 'array' then
    raise exception 'issues of a refused attempt are a JSON array' using errcode = 'OPS22';
  end if;
  return ops.log_refused_ingest(p_envelope, p_http_status,
    pg_catalog.jsonb_build_object('error', v_code, 'message', v_message)
    || case when p_error ? 'issues' then pg_catalog.jsonb_build_object('issues', p_error -> 'issues') else '{}' end);
end
$$;
revoke execute on function ops.record_rejected_ingest(jsonb, integer, jsonb) from public;
grant execute on function ops.record_rejected_ingest(jsonb, integer, jsonb)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The ledger covers the facts added since it was designed: a release's revisions
-- (ops.release_revisions) and changes of its scope (ops.release_scope_changes), both append-only
-- and on their release's chain. Rows written before this migration are linked now, as
-- 20261129004000 linked the facts it found.
insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values
  ('release_revisions', 'revision_id', 't.release_id = $1'),
  ('release_scope_changes', 'change_id', 't.release_id = $1');

do $$
declare
  f record;
begin
  set local "TimeZone" = 'UTC';
  set local "IntervalStyle" = 'postgres';
  for f in select t.table_name, t.pk_column from ops.ledger_fact_tables t
           where t.table_name in ('release_revisions', 'release_scope_changes') order by t.table_name loop
    execute format(
      'select ops.ledger_append(ops.ledger_chain_of(%1$L, to_jsonb(t)), %1$L, t.%2$I, ''insert'', ops.ledger_content_hash(to_jsonb(t)))
       from ops.%1$I t order by t.created_at, t.%2$I', f.table_name, f.pk_column);
  end loop;
end
$$;

create trigger ledger_record after insert on ops.release_revisions
  for each row execute function ops.ledger_record('revision_id');
create trigger ledger_record after insert on ops.release_scope_changes
  for each row execute function ops.ledger_record('change_id');
