-- The idempotent event ingest: one function behind every door (HTTP route, Edge Function, GraphQL
-- mutation). Every attempt is logged; the first valid attempt of a key is `accepted` with its
-- effects and result, retries with the same payload are `duplicate` rows pointing at it and get the
-- same result, anything invalid is `rejected` with nothing else changed.

-- Which persona may send which event (data, one place). gate_code restricts gate_signoff to the
-- gate the persona signs; own_release_only limits a persona to releases it initiated.
create table ops.ingest_permissions (
  permission_id uuid primary key default gen_random_uuid(),
  event_type public.ops_event_type not null,
  persona public.ops_persona not null,
  gate_code public.ops_gate_code,
  own_release_only boolean not null default false,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique nulls not distinct (event_type, persona, gate_code)
);

insert into ops.ingest_permissions (event_type, persona, gate_code, own_release_only) values
  ('build_complete', 'ci_service_role', null, false),
  ('build_complete', 'developer', null, true),
  ('check_result', 'ci_service_role', null, false),
  ('check_result', 'developer', null, true),
  ('gate_signoff', 'qa_tester', 'G2', false),
  ('gate_signoff', 'release_manager', 'G3', false),
  ('evidence_attached', 'qa_tester', null, false),
  ('evidence_attached', 'release_manager', null, false),
  ('evidence_attached', 'ci_service_role', null, false),
  ('evidence_attached', 'sre', null, false),
  ('deployment_event', 'ci_service_role', null, false),
  ('deployment_event', 'sre', null, false),
  ('health_check', 'ci_service_role', null, false),
  ('health_check', 'sre', null, false),
  ('environment_event', 'ci_service_role', null, false),
  ('environment_event', 'sre', null, false);

alter table ops.ingest_permissions enable row level security;
grant select on ops.ingest_permissions to release_manager, audit_reader;
create policy ingest_permissions_read_all on ops.ingest_permissions for select to release_manager, audit_reader
  using (true);
create trigger ingest_permissions_stamp before insert on ops.ingest_permissions
  for each row execute function ops.stamp_created_by();

create function ops.ingest_response(p_log ops.event_ingest_log, p_ingest_id uuid) returns jsonb
language sql immutable
set search_path = ''
as $$
  select jsonb_build_object(
    'ingest_id', p_ingest_id,
    'attempt_id', p_log.ingest_id,
    'status', p_log.processing_status,
    'http_status', p_log.http_status,
    'detail', case when p_log.processing_status in ('accepted', 'duplicate') then p_log.result
                   else p_log.error_detail end)
$$;

-- Logs an attempt the API refused before it reached ops.ingest_event (malformed envelope, body too
-- large) or that failed unexpectedly (5xx, logged as `error`), so every authenticated attempt
-- leaves a row.
create function ops.record_rejected_ingest(p_envelope jsonb, p_payload_hash text, p_http_status integer,
                                           p_error jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_log ops.event_ingest_log;
  v_env jsonb := case when jsonb_typeof(p_envelope) = 'object' then p_envelope else '{}'::jsonb end;
begin
  perform ops.require_persona(enum_range(null::public.ops_persona), 'send events');
  if p_http_status not between 400 and 599 then
    raise exception 'a refused attempt has a 4xx or 5xx status, not %', p_http_status using errcode = 'OPS22';
  end if;
  insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                    payload_hash, envelope, processing_status, http_status, error_detail)
  values (left(v_env ->> 'source_system', 200), left(v_env ->> 'event_type', 200),
          left(v_env ->> 'idempotency_key', 500), left(v_env ->> 'schema_version', 50),
          case when v_env ->> 'release_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
               then (v_env ->> 'release_id')::uuid end,
          left(v_env ->> 'gate_code', 20), lower(p_payload_hash), p_envelope,
          case when p_http_status >= 500 then 'error' else 'rejected' end::public.ops_processing_status,
          p_http_status, p_error)
  returning * into v_log;
  return ops.ingest_response(v_log, v_log.ingest_id);
end
$$;

-- The domain effects of one accepted event, routed to the governance functions.
create function ops.apply_ingest_event(p_envelope jsonb) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_type public.ops_event_type := (p_envelope ->> 'event_type')::public.ops_event_type;
  v_release uuid := (p_envelope ->> 'release_id')::uuid;
  v_gate public.ops_gate_code := (p_envelope ->> 'gate_code')::public.ops_gate_code;
  v_payload jsonb := coalesce(p_envelope -> 'payload', '{}'::jsonb);
  v_source text := p_envelope ->> 'source_system';
  v_check_source public.ops_check_source :=
    case when p_envelope ->> 'source_system' in (select unnest(enum_range(null::public.ops_check_source))::text)
         then (p_envelope ->> 'source_system')::public.ops_check_source else 'agent' end;
  v_check ops.gate_checks;
  v_artifact ops.evidence_artifacts;
  v_approval ops.approvals;
  v_deployment ops.deployments;
  v_event ops.environment_events;
  v_deployment_id uuid;
begin
  case v_type
    when 'build_complete' then
      v_check := ops.record_check(v_release, 'G1', coalesce(v_payload ->> 'check_name', 'build'),
                                  (v_payload ->> 'status')::public.ops_check_status, v_check_source, true,
                                  v_payload ->> 'artifact_ref', coalesce(v_payload -> 'metadata', '{}'::jsonb));
      if coalesce(v_payload ->> 'log_url', v_payload ->> 'artifact_ref') is not null then
        insert into ops.evidence_artifacts (release_id, gate_id, check_id, artifact_type, source_system, artifact_url,
                                            sha256, ingest_id)
        values (v_release, v_check.gate_id, v_check.check_id, 'build_log', v_source,
                coalesce(v_payload ->> 'log_url', v_payload ->> 'artifact_ref'), lower(v_payload ->> 'sha256'),
                ops.current_ingest_id())
        returning * into v_artifact;
      end if;
      return jsonb_build_object('check_id', v_check.check_id, 'artifact_id', v_artifact.artifact_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_check.gate_id));
    when 'check_result' then
      if v_gate is null then
        raise exception 'check_result needs a gate_code' using errcode = 'OPS22';
      end if;
      v_check := ops.record_check(v_release, v_gate, v_payload ->> 'check_name',
                                  (v_payload ->> 'status')::public.ops_check_status, v_check_source,
                                  coalesce((v_payload ->> 'required')::boolean, true), v_payload ->> 'artifact_ref',
                                  coalesce(v_payload -> 'metadata', '{}'::jsonb));
      return jsonb_build_object('check_id', v_check.check_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_check.gate_id));
    when 'gate_signoff' then
      v_approval := ops.submit_approval(v_release, (v_payload ->> 'decision')::public.ops_approval_decision, v_gate,
                                        v_payload ->> 'rationale_text',
                                        coalesce(v_payload -> 'rationale_structured', '{}'::jsonb));
      return jsonb_build_object('approval_id', v_approval.approval_id,
                                'gate_status', (select g.status from ops.release_gates g where g.gate_id = v_approval.gate_id));
    when 'evidence_attached' then
      v_artifact := ops.attach_evidence(v_release, (v_payload ->> 'artifact_type')::public.ops_artifact_type,
                                        v_payload ->> 'artifact_url', v_gate, v_payload ->> 'sha256', v_source,
                                        coalesce(v_payload -> 'metadata', '{}'::jsonb),
                                        (v_payload ->> 'check_id')::uuid, (v_payload ->> 'deployment_id')::uuid);
      return jsonb_build_object('artifact_id', v_artifact.artifact_id);
    when 'deployment_event' then
      if v_payload ? 'deployment_id' then
        v_deployment_id := (v_payload ->> 'deployment_id')::uuid;
        if not exists (select 1 from ops.deployments d where d.deployment_id = v_deployment_id
                       and d.release_id = v_release) then
          raise exception 'deployment % of release % does not exist', v_deployment_id, v_release using errcode = 'OPS04';
        end if;
        v_deployment := ops.update_deployment(v_deployment_id, (v_payload ->> 'status')::public.ops_deployment_status);
      else
        v_deployment := ops.record_deployment(v_release, v_payload ->> 'environment',
                                              coalesce(v_payload ->> 'status', 'in_progress')::public.ops_deployment_status,
                                              v_payload ->> 'source_ref', (v_payload ->> 'rollback_of')::uuid,
                                              (v_payload ->> 'deployed_at')::timestamptz);
      end if;
      return jsonb_build_object('deployment_id', v_deployment.deployment_id, 'status', v_deployment.status);
    when 'health_check' then
      v_deployment_id := coalesce((v_payload ->> 'deployment_id')::uuid, (
        select d.deployment_id from ops.deployments d
        where d.release_id = v_release and d.environment::text = v_payload ->> 'environment' and d.rollback_of is null
        order by d.deployed_at desc, d.created_at desc limit 1));
      if v_deployment_id is null or not exists (
          select 1 from ops.deployments d where d.deployment_id = v_deployment_id and d.release_id = v_release) then
        raise exception 'health_check names no deployment of release % (give payload.deployment_id or environment)',
          v_release using errcode = 'OPS04';
      end if;
      v_deployment := ops.record_health_check(v_deployment_id, (v_payload ->> 'status')::public.ops_check_status,
                                              v_payload ->> 'artifact_url', v_payload ->> 'sha256',
                                              coalesce(v_payload ->> 'check_name', 'health_check'), v_check_source,
                                              coalesce(v_payload -> 'metadata', '{}'::jsonb));
      return jsonb_build_object('deployment_id', v_deployment.deployment_id, 'g4_status', v_deployment.g4_status);
    when 'environment_event' then
      insert into ops.environment_events (environment, event_type, source_system, release_id, payload, idempotency_key,
                                          ingest_id)
      values (v_payload ->> 'environment', coalesce(v_payload ->> 'kind', v_payload ->> 'event_type', 'event'), v_source,
              v_release, v_payload, p_envelope ->> 'idempotency_key', ops.current_ingest_id())
      returning * into v_event;
      return jsonb_build_object('event_id', v_event.event_id);
  end case;
end
$$;

create function ops.ingest_event(p_envelope jsonb, p_payload_hash text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona := ops.require_persona(enum_range(null::public.ops_persona), 'send events');
  v_key text := p_envelope ->> 'idempotency_key';
  v_type text := p_envelope ->> 'event_type';
  v_release uuid;
  v_gate text := p_envelope ->> 'gate_code';
  v_original ops.event_ingest_log;
  v_log ops.event_ingest_log;
  v_ingest_id uuid := gen_random_uuid();
  v_result jsonb;
  v_status public.ops_processing_status;
  v_http integer;
  v_error jsonb;
  v_state text;
  v_message text;
  v_constraint text;
begin
  -- An unknown version is named as such first: its other fields may mean something else.
  if jsonb_typeof(p_envelope) = 'object' and p_envelope ? 'schema_version'
     and p_envelope ->> 'schema_version' is distinct from 'v1.0' then
    return ops.record_rejected_ingest(p_envelope, p_payload_hash, 422, jsonb_build_object(
      'error', 'unsupported_schema_version', 'message',
      format('schema_version %s is not supported; supported: v1.0', p_envelope ->> 'schema_version')));
  end if;
  if jsonb_typeof(p_envelope) is distinct from 'object' or coalesce(v_key, '') = '' or v_type is null
     or p_envelope ->> 'schema_version' is null or p_envelope ->> 'release_id' is null
     or coalesce(p_envelope ->> 'source_system', '') = '' then
    return ops.record_rejected_ingest(p_envelope, p_payload_hash, 400, jsonb_build_object(
      'error', 'invalid_envelope',
      'message', 'schema_version, idempotency_key, event_type, source_system and release_id are required'));
  end if;
  if v_type not in (select unnest(enum_range(null::public.ops_event_type))::text) then
    return ops.record_rejected_ingest(p_envelope, p_payload_hash, 400, jsonb_build_object(
      'error', 'invalid_envelope', 'message', format('unknown event_type %s', v_type)));
  end if;
  begin
    v_release := (p_envelope ->> 'release_id')::uuid;
  exception when invalid_text_representation then
    return ops.record_rejected_ingest(p_envelope, p_payload_hash, 400, jsonb_build_object(
      'error', 'invalid_envelope', 'message', 'release_id is not a UUID'));
  end;

  -- One key at a time: concurrent first attempts queue here, and the later ones find the
  -- accepted row. (The partial unique index still guarantees it should anything bypass the lock.)
  perform pg_advisory_xact_lock(hashtextextended('ops.ingest:' || v_key, 0));

  select * into v_original from ops.event_ingest_log l
    where l.idempotency_key = v_key and l.processing_status = 'accepted';
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
    if v_original.payload_hash is distinct from lower(p_payload_hash) then
      v_status := 'rejected';
      v_http := 409;
      v_error := jsonb_build_object('error', 'idempotency_key_conflict', 'message',
        format('idempotency_key %s was already used for a different payload (ingest %s)', v_key, v_original.ingest_id),
        'original_ingest_id', v_original.ingest_id);
    else
      insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id, gate_code,
                                        payload_hash, envelope, processing_status, http_status, result, duplicate_of)
      values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, lower(p_payload_hash),
              p_envelope, 'duplicate', 200, v_original.result, v_original.ingest_id)
      returning * into v_log;
      return ops.ingest_response(v_log, v_original.ingest_id);
    end if;
  else
    begin
      perform set_config('ops.ingest_id', v_ingest_id::text, true);
      v_result := ops.apply_ingest_event(p_envelope);
      perform set_config('ops.ingest_id', '', true);
      insert into ops.event_ingest_log (ingest_id, source_system, event_type, idempotency_key, schema_version, release_id,
                                        gate_code, payload_hash, envelope, processing_status, http_status, result)
      values (v_ingest_id, p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate,
              lower(p_payload_hash), p_envelope, 'accepted', 200, v_result)
      returning * into v_log;
      return ops.ingest_response(v_log, v_log.ingest_id);
    exception when others then
      -- Everything the attempt did is undone with this block; only its log row remains.
      get stacked diagnostics v_state = returned_sqlstate, v_message = message_text, v_constraint = constraint_name;
      perform set_config('ops.ingest_id', '', true);
      if v_state = '23505' and v_constraint = 'event_ingest_log_accepted_key' then
        select * into v_original from ops.event_ingest_log l
          where l.idempotency_key = v_key and l.processing_status = 'accepted';
        insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, release_id,
                                          gate_code, payload_hash, envelope, processing_status, http_status, result,
                                          duplicate_of)
        values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, lower(p_payload_hash),
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
  values (p_envelope ->> 'source_system', v_type, v_key, 'v1.0', v_release, v_gate, lower(p_payload_hash), p_envelope,
          v_status, v_http, v_error)
  returning * into v_log;
  return ops.ingest_response(v_log, v_log.ingest_id) - 'detail'
    || jsonb_build_object('detail', v_error - 'internal_message');
end
$$;

grant execute on function ops.ingest_event(jsonb, text), ops.record_rejected_ingest(jsonb, text, integer, jsonb),
  ops.ingest_response(ops.event_ingest_log, uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
