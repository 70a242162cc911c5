-- A retry of an accepted event is its duplicate when it is the same event, judged as values: the
-- HTTP doors read numbers as doubles and store them as JSON.stringify writes them (1.5), while RPC
-- and raw SQL keep them as written (1.50, 15e-1), and the content hash is over the stored jsonb's
-- text. A retry whose hash differs is now compared with the accepted envelope by jsonb equality
-- (numbers by value, strings and keys exactly, emitted_at left out as in the hash); only a
-- different value is a conflict. Stored hashes are unchanged (the log is append-only).
-- The unique-key race branch judged every collision a duplicate without comparing payloads. Under a
-- snapshot older than the accepted attempt (REPEATABLE READ or SERIALIZABLE through the raw SQL
-- door) it could not see the original either, and the log's check constraint refused its duplicate
-- row (23514, an error no caller can act on). It now compares like the first branch and, when the
-- original is not visible, raises a serialization failure (40001) so the caller retries on a fresh
-- snapshot.

-- Takes the accepted log row of a key, a retry's envelope (an object) and the retry's content hash;
-- returns true when the retry is the same event: the same hash, or the same values once
-- emitted_at is left out (jsonb equality: numbers compared by value). Raises nothing. Rule: DESIGN
-- section 3 (an idempotency key names one event; a retry of it is a duplicate).
create function ops.envelope_same_event(p_original ops.event_ingest_log, p_envelope jsonb, p_hash text)
returns boolean
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  return p_original.payload_hash = p_hash
      or (p_original.envelope - 'emitted_at'::text) = (p_envelope - 'emitted_at'::text);
end
$$;
revoke execute on function ops.envelope_same_event(ops.event_ingest_log, jsonb, text) from public;

-- Takes an event envelope (jsonb) from a persona; records the attempt in ops.event_ingest_log and,
-- when accepted, applies it in the same transaction. Returns the ingest response (ingest_id,
-- attempt_id, status, http_status, detail). Refusals are answered and logged, never raised; raises
-- 40001 only when a concurrent accepted attempt with the same key is invisible to this snapshot.
-- Unchanged from 20261129001200 but for the two duplicate judgements above.
create or replace function ops.ingest_event(p_envelope jsonb)
returns jsonb
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $function$
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
    if not ops.envelope_same_event(v_original, p_envelope, v_hash) then
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
        if v_original.ingest_id is null then
          -- The accepted attempt committed after this transaction's snapshot was taken (REPEATABLE
          -- READ or SERIALIZABLE, chosen through the raw SQL door): whether this one is its
          -- duplicate cannot be judged from here.
          raise exception 'idempotency_key % was accepted by a transaction this one cannot see yet; retry', v_key
            using errcode = '40001';
        end if;
        if not ops.envelope_same_event(v_original, p_envelope, v_hash) then
          insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id,
                                            gate_code, payload_hash, envelope, processing_status, http_status,
                                            error_detail)
          values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, v_hash, p_envelope,
                  'rejected', 409, jsonb_build_object('error', 'idempotency_key_conflict', 'message',
                    format('idempotency_key %s was already used for a different payload (ingest %s)', v_key,
                           v_original.ingest_id),
                    'original_ingest_id', v_original.ingest_id))
          returning * into v_log;
          return ops.ingest_response(v_log, v_log.ingest_id);
        end if;
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
$function$;
