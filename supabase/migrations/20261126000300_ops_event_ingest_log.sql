-- Every ingest attempt is its own row: the first valid one `accepted`, retries `duplicate`
-- pointing at it, invalid ones `rejected`. The partial unique index makes a second accepted row
-- for one key impossible under any concurrency. The log is append-only.

create table ops.event_ingest_log (
  ingest_id uuid primary key default gen_random_uuid(),
  source_system text,
  event_type text,
  idempotency_key text,
  schema_version text,
  release_id uuid,
  gate_code text,
  payload_hash text check (payload_hash ~ '^[0-9a-f]{64}$'),
  envelope jsonb,
  received_at timestamptz not null default now(),
  processing_status public.ops_processing_status not null,
  http_status integer,
  error_detail jsonb,
  result jsonb,
  duplicate_of uuid references ops.event_ingest_log (ingest_id),
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  check ((processing_status = 'duplicate') = (duplicate_of is not null)),
  check (processing_status <> 'accepted' or idempotency_key is not null)
);

create unique index event_ingest_log_accepted_key
  on ops.event_ingest_log (idempotency_key) where processing_status = 'accepted';
create index event_ingest_log_release on ops.event_ingest_log (release_id, received_at);
create index event_ingest_log_received on ops.event_ingest_log (received_at, ingest_id);

create trigger event_ingest_log_stamp before insert on ops.event_ingest_log
  for each row execute function ops.stamp_created_by();
create trigger event_ingest_log_append_only before update or delete on ops.event_ingest_log
  for each row execute function ops.refuse_mutation();
create trigger event_ingest_log_no_truncate before truncate on ops.event_ingest_log
  for each statement execute function ops.refuse_mutation();
