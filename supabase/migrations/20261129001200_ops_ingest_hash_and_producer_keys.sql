-- The ingest computes the content hash itself and scopes idempotency keys to their producer.
--
-- * The hash: sha256 over the envelope's canonical form without emitted_at, computed here for
--   every door (jsonb's own text: keys sorted and de-duplicated, one space after ':' and ',').
--   No caller supplies a hash any more, so no caller can make a different event a `duplicate`.
-- * Keys: an accepted key is unique per (authenticated subject, source_system, idempotency_key),
--   as payment APIs scope keys per account. A producer never meets another producer's key: no
--   squatting, and a conflict answer only ever speaks of the caller's own event.
-- * The log: written only by ops.ingest_event and ops.record_rejected_ingest (owner's rights);
--   no persona inserts into it directly.

-- The content hash of an envelope (lowercase hex sha256). Takes any JSON value; for an object,
-- emitted_at is left out (a retry re-stamps it). NULL for NULL. Immutable: the same value gives
-- the same hash on every door and every server.
create function ops.envelope_hash(p_envelope jsonb) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to((
    case when pg_catalog.jsonb_typeof(p_envelope) = 'object' then p_envelope - 'emitted_at' else p_envelope end
  )::pg_catalog.text, 'UTF8')), 'hex')
$$;

drop index ops.event_ingest_log_accepted_key;
create unique index event_ingest_log_accepted_key
  on ops.event_ingest_log (created_by, source_system, idempotency_key) where processing_status = 'accepted';

drop policy event_ingest_log_write_ci on ops.event_ingest_log;
revoke insert on ops.event_ingest_log from ci_service_role;

drop function ops.ingest_event(jsonb, text);
drop function ops.record_rejected_ingest(jsonb, text, integer, jsonb);

-- Writes the log row of a refused attempt: what was sent (any JSON, or NULL), the HTTP status
-- (400-599) and the error document; returns the ingest response. The row is stamped with the
-- caller's actor and persona, never counts for idempotency, and names a release only when the
-- caller may see it (a developer's own), so it cannot write into another release's timeline.
-- Internal: ops.ingest_event and ops.record_rejected_ingest call it.
create function ops.log_refused_ingest(p_envelope jsonb, p_http_status integer, p_error jsonb) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_log ops.event_ingest_log;
  v_env jsonb := case when pg_catalog.jsonb_typeof(p_envelope) = 'object' then p_envelope else '{}'::jsonb end;
  v_release uuid;
begin
  perform ops.current_actor();
  if v_env ->> 'release_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    v_release := (v_env ->> 'release_id')::uuid;
    if not exists (select 1 from ops.releases r where r.release_id = v_release)
       or (ops.current_persona() = 'developer' and not ops.owns_release(v_release)) then
      v_release := null;
    end if;
  end if;
  insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                    payload_hash, envelope, processing_status, http_status, error_detail)
  values (pg_catalog.left(v_env ->> 'source_system', 200), pg_catalog.left(v_env ->> 'event_type', 200),
          pg_catalog.left(v_env ->> 'idempotency_key', 500), pg_catalog.left(v_env ->> 'schema_version', 50),
          v_release, pg_catalog.left(v_env ->> 'gate_code', 20), ops.envelope_hash(p_envelope), p_envelope,
          case when p_http_status >= 500 then 'error' else 'rejected' end::public.ops_processing_status,
          p_http_status, p_error)
  returning * into v_log;
  return ops.ingest_response(v_log, v_log.ingest_id);
end
$$;

-- Logs an attempt the API refused before it reached ops.ingest_event: every authenticated attempt
-- leaves a row. Takes what was sent (any JSON, or NULL), the HTTP status and the error document
-- {error, message, issues?}; returns the ingest response. The error is one the doors give, with
-- its status and its message's form (so a caller cannot write free text into a release's
-- timeline): invalid_json 400, invalid_envelope 400, unsupported_schema_version 422,
-- payload_too_large 413, internal_error 500. Errors: OPS03 (no persona or no sub), OPS22 (an
-- error, status or message not among those).
create function ops.record_rejected_ingest(p_envelope jsonb, p_http_status integer, p_error jsonb) returns jsonb
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
    when 'invalid_envelope' then p_http_status = 400 and v_message ~ '^[0-9]{1,4} field\(s\) missing or malformed$'
    when 'unsupported_schema_version' then p_http_status = 422 and v_message ~ '^.+ is not supported; use "v1\.0"$'
    when 'payload_too_large' then p_http_status = 413 and v_message ~ '^the body exceeds [0-9]{1,12} bytes$'
    when 'internal_error' then p_http_status = 500 and v_message = 'the event could not be processed'
    else false end;
  if not coalesce(v_ok, false) then
    raise exception 'a refused attempt is logged with one of the doors'' errors (invalid_json, invalid_envelope, unsupported_schema_version, payload_too_large, internal_error), its status and message'
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

-- The ingest: takes the envelope as sent (any JSON value) and returns the response document
-- (ingest_id, attempt_id, status, http_status, detail). Every call leaves exactly one log row;
-- the first valid attempt of a producer's key is `accepted` with its effects, a retry with the
-- same content is a `duplicate` answering the same result, the same key with other content a 409.
-- Errors are answers (4xx/5xx in the document), except OPS03 for a caller with no persona or sub.
create function ops.ingest_event(p_envelope jsonb) returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_persona public.ops_persona := ops.require_persona(enum_range(null::public.ops_persona), 'send events');
  v_key text := p_envelope ->> 'idempotency_key';
  v_type text := p_envelope ->> 'event_type';
  v_release uuid;
  v_gate text := p_envelope ->> 'gate_code';
  v_original ops.event_ingest_log;
  v_log ops.event_ingest_log;
  v_ingest_id uuid := pg_catalog.gen_random_uuid();
  v_result jsonb;
  v_status public.ops_processing_status;
  v_http integer;
  v_error jsonb;
  v_state text;
  v_message text;
  v_constraint text;
  v_actor text := ops.current_actor();
  v_source text := p_envelope ->> 'source_system';
  v_hash text := ops.envelope_hash(p_envelope);
begin
  -- An unknown version is named as such first: its other fields may mean something else.
  if jsonb_typeof(p_envelope) = 'object' and p_envelope ? 'schema_version'
     and p_envelope ->> 'schema_version' is distinct from 'v1.0' then
    return ops.log_refused_ingest(p_envelope, 422, jsonb_build_object(
      'error', 'unsupported_schema_version', 'message',
      format('schema_version %s is not supported; supported: v1.0', p_envelope ->> 'schema_version')));
  end if;
  if jsonb_typeof(p_envelope) is distinct from 'object' or coalesce(v_key, '') = '' or v_type is null
     or p_envelope ->> 'schema_version' is null or p_envelope ->> 'release_id' is null
     or coalesce(p_envelope ->> 'source_system', '') = '' then
    return ops.log_refused_ingest(p_envelope, 400, jsonb_build_object(
      'error', 'invalid_envelope',
      'message', 'schema_version, idempotency_key, event_type, source_system and release_id are required'));
  end if;
  if v_type not in (select unnest(enum_range(null::public.ops_event_type))::text) then
    return ops.log_refused_ingest(p_envelope, 400, jsonb_build_object(
      'error', 'invalid_envelope', 'message', format('unknown event_type %s', v_type)));
  end if;
  begin
    v_release := (p_envelope ->> 'release_id')::uuid;
  exception when invalid_text_representation then
    return ops.log_refused_ingest(p_envelope, 400, jsonb_build_object(
      'error', 'invalid_envelope', 'message', 'release_id is not a UUID'));
  end;

  -- One key at a time: concurrent first attempts queue here, and the later ones find the
  -- accepted row. (The partial unique index still guarantees it should anything bypass the lock.)
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtextextended(
    pg_catalog.concat_ws(chr(31), 'ops.ingest', v_actor, v_source, v_key), 0));

  -- A key is the producer's own: scoped to the authenticated subject and the source system, as
  -- payment APIs scope keys per account. Another producer's use of the same key is not seen here.
  select * into v_original from ops.event_ingest_log l
    where l.created_by = v_actor and l.source_system = v_source and l.idempotency_key = v_key
      and l.processing_status = 'accepted';
  -- Permission first, even for a retry: nobody learns another producer's result by replaying its key.
  if not exists (select 1 from ops.ingest_permissions p
                 where p.event_type = v_type::public.ops_event_type and p.persona = v_persona) then
    v_status := 'rejected';
    v_http := 403;
    v_error := jsonb_build_object('error', 'forbidden', 'message',
      format('persona %s may not send %s events; allowed: %s', v_persona, v_type,
             (select string_agg(distinct p.persona::text, ', ') from ops.ingest_permissions p
              where p.event_type = v_type::public.ops_event_type)));
  elsif not exists (select 1 from ops.releases r where r.release_id = v_release) then
    v_status := 'rejected';
    v_http := 409;
    v_error := jsonb_build_object('error', 'unknown_release', 'message', format('release %s does not exist', v_release));
  elsif not exists (select 1 from ops.ingest_permissions p
                    where p.event_type = v_type::public.ops_event_type and p.persona = v_persona
                      and (p.gate_code is null or p.gate_code::text = v_gate)
                      and (not p.own_release_only or ops.owns_release(v_release))) then
    v_status := 'rejected';
    v_http := 403;
    v_error := jsonb_build_object('error', 'forbidden', 'message',
      format('persona %s may not send %s events for this %s', v_persona, v_type,
             case when v_type = 'gate_signoff' then 'gate (' || coalesce(v_gate, 'none') || ')' else 'release' end));
  elsif v_original.ingest_id is not null then
    if v_original.payload_hash is distinct from v_hash then
      v_status := 'rejected';
      v_http := 409;
      v_error := jsonb_build_object('error', 'idempotency_key_conflict', 'message',
        format('idempotency_key %s was already used for a different payload (ingest %s)', v_key, v_original.ingest_id),
        'original_ingest_id', v_original.ingest_id);
    else
      insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                        payload_hash, envelope, processing_status, http_status, result, duplicate_of)
      values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, v_hash,
              p_envelope, 'duplicate', 200, v_original.result, v_original.ingest_id)
      returning * into v_log;
      return ops.ingest_response(v_log, v_original.ingest_id);
    end if;
  else
    begin
      perform ops.context_enter('ingest', '00000000-0000-0000-0000-000000000000', v_ingest_id::text);
      v_result := ops.apply_ingest_event(p_envelope);
      perform ops.context_leave('ingest', '00000000-0000-0000-0000-000000000000');
      insert into ops.event_ingest_log (ingest_id, source_system, event_type, idempotency_key, schema_version, release_id,
                                        gate_code, payload_hash, envelope, processing_status, http_status, result)
      values (v_ingest_id, p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate,
              v_hash, p_envelope, 'accepted', 200, v_result)
      returning * into v_log;
      return ops.ingest_response(v_log, v_log.ingest_id);
    exception when others then
      -- Everything the attempt did is undone with this block; only its log row remains.
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_constraint = constraint_name;
      if v_state = '23505' and v_constraint = 'event_ingest_log_accepted_key' then
        select * into v_original from ops.event_ingest_log l
          where l.created_by = v_actor and l.source_system = v_source and l.idempotency_key = v_key
            and l.processing_status = 'accepted';
        insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id,
                                          gate_code, payload_hash, envelope, processing_status, http_status, result,
                                          duplicate_of)
        values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, v_hash,
                p_envelope, 'duplicate', 200, v_original.result, v_original.ingest_id)
        returning * into v_log;
        return ops.ingest_response(v_log, v_original.ingest_id);
      end if;
      v_status := case when v_state like '22%' or v_state like '23%' or v_state like 'OPS%' or v_state = '42501'
                       then 'rejected' else 'error' end;
      v_http := case
        when v_state in ('OPS03', '42501') then 403
        when v_state in ('OPS04', 'OPS09', '23503') then 409
        when v_state like '22%' or v_state like '23%' or v_state = 'OPS22' then 400
        else 500 end;
      v_error := jsonb_build_object('error', case v_http when 403 then 'forbidden' when 409 then 'conflict'
                                                         when 400 then 'invalid_payload' else 'internal_error' end,
                                    'message', case when v_http = 500 then 'the event could not be processed'
                                                    else v_message end,
                                    'sqlstate', v_state);
      if v_http = 500 then
        -- Kept for operators; the caller sees only the generic message.
        v_error := v_error || jsonb_build_object('internal_message', v_message);
      end if;
    end;
  end if;

  insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                    payload_hash, envelope, processing_status, http_status, error_detail)
  values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, v_hash, p_envelope,
          v_status, v_http, v_error)
  returning * into v_log;
  return ops.ingest_response(v_log, v_log.ingest_id) - 'detail'
    || jsonb_build_object('detail', v_error - 'internal_message');
end
$$;

grant execute on function ops.ingest_event(jsonb), ops.record_rejected_ingest(jsonb, integer, jsonb)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
revoke execute on all functions in schema ops from public;
