-- The tamper-evident ledger: every decision fact is linked into a hash chain as it is written, so
-- that an edit made behind the triggers' back (by whoever holds the owner's password) is detected
-- by ops.verify_ledger, and a rewrite of a whole chain by comparing with an exported checkpoint.
--
-- Granularity: one chain per release (chain_id = release_id), serialised by a row lock on that
-- chain's head row in ops.ledger_chains, plus one global chain (chain_id = the nil UUID) for facts
-- that belong to no release (ingest attempts naming no existing release, reference evidence).
-- Writes about different releases never wait for each other; writes about one release are
-- serialised for the rest of their transaction (they already are, by the ingest's advisory lock
-- and the gate re-evaluation). Release-less ingest attempts share the global chain's lock.
-- A checkpoint (ops.ledger_checkpoint) is a hash over all chain heads, sorted by chain, as
-- transparency logs sign tree heads: exported and kept elsewhere, it pins every chain's history.
--
-- Entries hold hashes only (of the fact's canonical content, and of the link), never the content
-- itself: the facts stay where they are, and verification recomputes the content from the live row.

-- ---------------------------------------------------------------------------------------------
-- Tables
-- ---------------------------------------------------------------------------------------------

-- The facts the ledger covers: each table, its primary key, and a predicate (over alias t, with
-- the release id as $1) choosing the rows that belong to a release, used to find facts that were
-- written with the ledger's triggers disabled. A new fact table needs a row here and one trigger
-- line (see the end of this file); its chain is its release_id column when it has one.
create table ops.ledger_fact_tables (
  table_name text primary key,
  pk_column text not null,
  release_scope text not null
);

create table ops.ledger_chains (
  chain_id uuid primary key,
  -- null for the global chain
  release_id uuid,
  head_seq bigint not null,
  head_hash text not null check (head_hash ~ '^[0-9a-f]{64}$'),
  created_at timestamptz not null default clock_timestamp(),
  updated_at timestamptz not null default clock_timestamp()
);

create table ops.ledger_entries (
  chain_id uuid not null,
  seq bigint not null check (seq > 0),
  fact_table text not null,
  row_id uuid not null,
  operation text not null check (operation in ('insert', 'update')),
  content_hash text not null check (content_hash ~ '^[0-9a-f]{64}$'),
  prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
  entry_hash text not null check (entry_hash ~ '^[0-9a-f]{64}$'),
  recorded_at timestamptz not null default clock_timestamp(),
  primary key (chain_id, seq)
);
-- The entries of one fact (its latest is compared with the live row); and "is this row recorded".
create index ledger_entries_fact on ops.ledger_entries (fact_table, row_id, seq desc);

-- Nobody but the owner reads or writes these directly: the triggers below write them, the
-- verification functions read them.
alter table ops.ledger_fact_tables enable row level security;
alter table ops.ledger_chains enable row level security;
alter table ops.ledger_entries enable row level security;
revoke all on ops.ledger_fact_tables, ops.ledger_chains, ops.ledger_entries from public;

insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values
  ('releases', 'release_id', 't.release_id = $1'),
  ('release_gates', 'gate_id', 't.release_id = $1'),
  ('gate_checks', 'check_id', 't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1)'),
  ('evidence_artifacts', 'artifact_id',
   't.release_id = $1 or t.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1)'
   ' or t.check_id in (select c.check_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id where g.release_id = $1)'
   ' or t.deployment_id in (select d.deployment_id from ops.deployments d where d.release_id = $1)'),
  ('approvals', 'approval_id', 't.release_id = $1'),
  ('exceptions', 'exception_id', 't.release_id = $1'),
  ('gate_transitions', 'transition_id', 't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1)'),
  ('deployments', 'deployment_id', 't.release_id = $1'),
  ('deployment_transitions', 'transition_id', 't.deployment_id in (select d.deployment_id from ops.deployments d where d.release_id = $1)'),
  ('incidents', 'incident_id', 't.deployment_id in (select d.deployment_id from ops.deployments d where d.release_id = $1)'),
  ('environment_events', 'event_id', 't.release_id = $1'),
  ('event_ingest_log', 'ingest_id', 't.release_id = $1');

-- ---------------------------------------------------------------------------------------------
-- The canonical forms (defined once; ops-gates bundle --verify recomputes ops.ledger_entry_hash)
-- ---------------------------------------------------------------------------------------------

-- Takes a fact row as jsonb (to_jsonb of the row, all columns); returns the sha256 (hex) of its
-- canonical content: jsonb's text form, which is deterministic for a given jsonb value (keys
-- sorted, one spacing), with null members dropped so that a nullable column added later does
-- not change the hash of rows written before it. Callers convert the row with TimeZone = UTC,
-- so timestamps render the same in every session. Raises nothing.
create function ops.ledger_content_hash(p_row jsonb) returns text
language sql immutable strict
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.jsonb_strip_nulls(p_row)::text, 'UTF8')), 'hex')
$$;

-- Takes an entry's fields; returns its hash (sha256, hex) over
-- "chain_id|seq|fact_table|row_id|operation|content_hash|prev_hash" (UUIDs lowercase with
-- hyphens, seq in decimal). Raises nothing.
create function ops.ledger_entry_hash(
  p_chain_id uuid, p_seq bigint, p_fact_table text, p_row_id uuid, p_operation text,
  p_content_hash text, p_prev_hash text
) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.concat_ws('|',
    p_chain_id::text, p_seq::text, p_fact_table, p_row_id::text, p_operation, p_content_hash, p_prev_hash), 'UTF8')), 'hex')
$$;

-- The previous hash of a chain's first entry.
create function ops.ledger_genesis() returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select pg_catalog.repeat('0', 64) $$;

-- The global chain's id.
create function ops.ledger_global_chain() returns uuid
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select '00000000-0000-0000-0000-000000000000'::uuid $$;

-- Takes a fact table's name and a row of it as jsonb; returns the chain the row belongs to: its
-- release (directly, or through its gate, check or deployment), else the global chain. An
-- ingest attempt naming a release that does not exist goes to the global chain. Raises nothing.
create function ops.ledger_chain_of(p_table text, p_row jsonb) returns uuid
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release uuid;
begin
  case p_table
    when 'gate_checks', 'gate_transitions' then
      select g.release_id into v_release from ops.release_gates g where g.gate_id = (p_row->>'gate_id')::uuid;
    when 'deployment_transitions', 'incidents' then
      select d.release_id into v_release from ops.deployments d where d.deployment_id = (p_row->>'deployment_id')::uuid;
    when 'evidence_artifacts' then
      v_release := (p_row->>'release_id')::uuid;
      if v_release is null and p_row->>'gate_id' is not null then
        select g.release_id into v_release from ops.release_gates g where g.gate_id = (p_row->>'gate_id')::uuid;
      end if;
      if v_release is null and p_row->>'check_id' is not null then
        select g.release_id into v_release
        from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
        where c.check_id = (p_row->>'check_id')::uuid;
      end if;
      if v_release is null and p_row->>'deployment_id' is not null then
        select d.release_id into v_release from ops.deployments d where d.deployment_id = (p_row->>'deployment_id')::uuid;
      end if;
    when 'event_ingest_log' then
      select r.release_id into v_release from ops.releases r where r.release_id = (p_row->>'release_id')::uuid;
    else
      v_release := (p_row->>'release_id')::uuid;
  end case;
  return coalesce(v_release, ops.ledger_global_chain());
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Appending
-- ---------------------------------------------------------------------------------------------

-- Takes a chain, a fact (table, row id), the operation and the fact's content hash; appends the
-- entry after the chain's head, holding the head row's lock until the transaction ends (so
-- entries of one chain are in commit order), and moves the head. Creates the chain on its first
-- fact. Returns the new entry's hash. Raises nothing of its own. Owner-rights: called only by
-- ops.ledger_record.
create function ops.ledger_append(
  p_chain_id uuid, p_fact_table text, p_row_id uuid, p_operation text, p_content_hash text
) returns text
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_seq bigint;
  v_prev text;
  v_hash text;
begin
  select c.head_seq, c.head_hash into v_seq, v_prev
  from ops.ledger_chains c where c.chain_id = p_chain_id for update;
  if not found then
    insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash)
    values (p_chain_id, nullif(p_chain_id, ops.ledger_global_chain()), 0, ops.ledger_genesis())
    on conflict (chain_id) do nothing;
    select c.head_seq, c.head_hash into v_seq, v_prev
    from ops.ledger_chains c where c.chain_id = p_chain_id for update;
  end if;
  v_seq := v_seq + 1;
  v_hash := ops.ledger_entry_hash(p_chain_id, v_seq, p_fact_table, p_row_id, p_operation, p_content_hash, v_prev);
  insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
  values (p_chain_id, v_seq, p_fact_table, p_row_id, p_operation, p_content_hash, v_prev, v_hash);
  update ops.ledger_chains set head_seq = v_seq, head_hash = v_hash, updated_at = pg_catalog.clock_timestamp()
  where chain_id = p_chain_id;
  return v_hash;
end
$$;

-- AFTER INSERT OR UPDATE row trigger on each fact table; TG_ARGV[0] is the table's primary key
-- column. Records the row as it now is. TimeZone is fixed so the content hash does not depend on
-- the writer's session. Returns null (an AFTER trigger). Raises nothing of its own.
create function ops.ledger_record() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set "TimeZone" = 'UTC'
set "IntervalStyle" = 'postgres'
as $$
declare
  v_row jsonb := pg_catalog.to_jsonb(new);
begin
  perform ops.ledger_append(
    ops.ledger_chain_of(tg_table_name, v_row), tg_table_name, (v_row->>tg_argv[0])::uuid,
    pg_catalog.lower(tg_op), ops.ledger_content_hash(v_row));
  return null;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Append-only, for the owner too (ENABLE ALWAYS: session_replication_role = replica does not
-- skip them; only ALTER TABLE ... DISABLE TRIGGER by the owner does, and that is what
-- verification and checkpoints are for)
-- ---------------------------------------------------------------------------------------------

-- BEFORE UPDATE/DELETE/TRUNCATE on ops.ledger_entries and ops.ledger_fact_tables, and
-- DELETE/TRUNCATE on ops.ledger_chains: refuses with OPS03.
create function ops.ledger_refuse_change() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  raise exception 'ops.% is append-only: % is not allowed', tg_table_name, pg_catalog.lower(tg_op)
    using errcode = 'OPS03', hint = 'the ledger records new entries only';
end
$$;

-- BEFORE UPDATE on ops.ledger_chains: a head moves one entry forward, to the entry just appended,
-- and nowhere else. Refuses anything else with OPS03.
create function ops.ledger_chains_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.chain_id is distinct from old.chain_id or new.release_id is distinct from old.release_id
     or new.head_seq <> old.head_seq + 1
     or new.head_hash is distinct from (select e.entry_hash from ops.ledger_entries e
                                        where e.chain_id = new.chain_id and e.seq = new.head_seq) then
    raise exception 'ops.ledger_chains: a chain head only moves to the entry appended after it'
      using errcode = 'OPS03';
  end if;
  return new;
end
$$;

create trigger ledger_entries_append_only before update or delete on ops.ledger_entries
  for each row execute function ops.ledger_refuse_change();
create trigger ledger_entries_no_truncate before truncate on ops.ledger_entries
  for each statement execute function ops.ledger_refuse_change();
create trigger ledger_chains_guard before update on ops.ledger_chains
  for each row execute function ops.ledger_chains_guard();
create trigger ledger_chains_no_delete before delete on ops.ledger_chains
  for each row execute function ops.ledger_refuse_change();
create trigger ledger_chains_no_truncate before truncate on ops.ledger_chains
  for each statement execute function ops.ledger_refuse_change();
create trigger ledger_fact_tables_fixed before update or delete on ops.ledger_fact_tables
  for each row execute function ops.ledger_refuse_change();
create trigger ledger_fact_tables_no_truncate before truncate on ops.ledger_fact_tables
  for each statement execute function ops.ledger_refuse_change();
alter table ops.ledger_entries enable always trigger ledger_entries_append_only;
alter table ops.ledger_entries enable always trigger ledger_entries_no_truncate;
alter table ops.ledger_chains enable always trigger ledger_chains_guard;
alter table ops.ledger_chains enable always trigger ledger_chains_no_delete;
alter table ops.ledger_chains enable always trigger ledger_chains_no_truncate;
alter table ops.ledger_fact_tables enable always trigger ledger_fact_tables_fixed;
alter table ops.ledger_fact_tables enable always trigger ledger_fact_tables_no_truncate;

-- ---------------------------------------------------------------------------------------------
-- Verification
-- ---------------------------------------------------------------------------------------------

-- Takes a release id, or null for every chain; returns every discrepancy between the ledger and
-- the live facts, one row each: the chain, the entry's seq (null for a fact with no entry), the
-- fact (table, row id), and its kind:
--   link_broken     an entry's hash does not match its fields, or its prev_hash is not the hash of
--                   the entry before it, or a seq is missing, or the head is not the last entry
--   order_swapped   an entry's prev_hash is the hash of a later entry: entries exchanged places
--   content_changed the fact's live row hashes differently from its latest entry
--   row_missing     the fact's row is gone
--   unrecorded      a fact row with no entry at all (written with the ledger's triggers disabled)
-- Owner-rights helper: not granted to any persona (ops.verify_ledger is). TimeZone is fixed as in
-- ops.ledger_record. Raises nothing of its own.
create function ops.ledger_findings(p_release_id uuid)
returns table (chain_id uuid, seq bigint, fact_table text, row_id uuid, kind text, detail text)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
set "TimeZone" = 'UTC'
set "IntervalStyle" = 'postgres'
as $$
declare
  f record;
begin
  -- Links, hashes and order, per chain.
  return query
    with e as (
      select x.chain_id, x.seq, x.fact_table, x.row_id, x.prev_hash, x.entry_hash,
             ops.ledger_entry_hash(x.chain_id, x.seq, x.fact_table, x.row_id, x.operation, x.content_hash, x.prev_hash) as recomputed,
             pg_catalog.lag(x.entry_hash) over w as before_hash,
             pg_catalog.lag(x.seq) over w as before_seq
      from ops.ledger_entries x
      where p_release_id is null or x.chain_id = p_release_id
      window w as (partition by x.chain_id order by x.seq)
    )
    select e.chain_id, e.seq, e.fact_table, e.row_id,
           case
             when e.seq <> coalesce(e.before_seq, 0) + 1 then 'link_broken'
             when e.prev_hash is distinct from coalesce(e.before_hash, ops.ledger_genesis())
                  and exists (select 1 from ops.ledger_entries l
                              where l.chain_id = e.chain_id and l.seq > e.seq and l.entry_hash = e.prev_hash)
               then 'order_swapped'
             else 'link_broken'
           end,
           case
             when e.seq <> coalesce(e.before_seq, 0) + 1
               then pg_catalog.format('entries %s to %s are missing', coalesce(e.before_seq, 0) + 1, e.seq - 1)
             when e.prev_hash is distinct from coalesce(e.before_hash, ops.ledger_genesis())
                  and exists (select 1 from ops.ledger_entries l
                              where l.chain_id = e.chain_id and l.seq > e.seq and l.entry_hash = e.prev_hash)
               then 'the entry links to a later entry: entries were reordered'
             when e.recomputed <> e.entry_hash then 'the entry hash does not match its fields'
             else 'prev_hash is not the hash of the entry before it'
           end
    from e
    where e.seq <> coalesce(e.before_seq, 0) + 1
       or e.recomputed <> e.entry_hash
       or e.prev_hash is distinct from coalesce(e.before_hash, ops.ledger_genesis());

  -- Heads: each chain's head is its last entry.
  return query
    select c.chain_id, c.head_seq, null::text, null::uuid, 'link_broken',
           pg_catalog.format('the chain head (seq %s) is not its last entry (seq %s)', c.head_seq, coalesce(l.seq, 0))
    from ops.ledger_chains c
    left join lateral (select x.seq, x.entry_hash from ops.ledger_entries x
                       where x.chain_id = c.chain_id order by x.seq desc limit 1) l on true
    where (p_release_id is null or c.chain_id = p_release_id)
      and (c.head_seq <> coalesce(l.seq, 0) or c.head_hash <> coalesce(l.entry_hash, ops.ledger_genesis()));

  -- Content: each fact's latest entry against its live row; facts with no entry.
  for f in select t.table_name, t.pk_column, t.release_scope from ops.ledger_fact_tables t order by t.table_name loop
    return query execute pg_catalog.format($q$
      select l.chain_id, l.seq, %1$L::text, l.row_id,
             case when t.%2$I is null then 'row_missing' else 'content_changed' end,
             case when t.%2$I is null then 'the fact''s row is gone'
                  else 'the fact''s row differs from what was recorded' end
      from (select distinct on (x.row_id) x.chain_id, x.seq, x.row_id, x.content_hash
            from ops.ledger_entries x
            where x.fact_table = %1$L and ($1 is null or x.chain_id = $1)
            order by x.row_id, x.seq desc) l
      left join ops.%3$I t on t.%2$I = l.row_id
      where t.%2$I is null or ops.ledger_content_hash(pg_catalog.to_jsonb(t)) <> l.content_hash
    $q$, f.table_name, f.pk_column, f.table_name) using p_release_id;

    return query execute pg_catalog.format($q$
      select ops.ledger_chain_of(%1$L, pg_catalog.to_jsonb(t)), null::bigint, %1$L::text, t.%2$I,
             'unrecorded', 'the fact has no ledger entry: it was written with the ledger''s triggers disabled'
      from ops.%3$I t
      where ($1 is null or (%4$s))
        and not exists (select 1 from ops.ledger_entries x where x.fact_table = %1$L and x.row_id = t.%2$I)
    $q$, f.table_name, f.pk_column, f.table_name, f.release_scope) using p_release_id;
  end loop;
end
$$;

-- The report behind both forms of ops.verify_ledger (owner-rights helper, not granted).
create function ops.ledger_report(p_release_id uuid) returns jsonb
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  with f as (
    select distinct on (x.chain_id) x.*
    from ops.ledger_findings(p_release_id) x
    order by x.chain_id, x.seq nulls last, x.fact_table, x.row_id
  ),
  c as (
    select count(*) as chains, coalesce(sum(c.head_seq), 0) as entries
    from ops.ledger_chains c where p_release_id is null or c.chain_id = p_release_id
  )
  select pg_catalog.jsonb_build_object(
    'ok', not exists (select 1 from f),
    'release_id', p_release_id,
    'chains', (select c.chains from c),
    'entries', (select c.entries from c),
    'head', (select pg_catalog.jsonb_build_object('seq', h.head_seq, 'hash', h.head_hash)
             from ops.ledger_chains h where h.chain_id = p_release_id),
    'findings', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'chain_id', f.chain_id,
        'release_id', nullif(f.chain_id, ops.ledger_global_chain()),
        'seq', f.seq, 'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail)
        order by f.seq nulls last, f.chain_id)
      from f), '[]'::jsonb))
$$;

-- Takes a release id; returns the verification of its chain as jsonb:
--   {ok, release_id, chains, entries, head: {seq, hash}, findings: [{chain_id, release_id, seq,
--    fact_table, row_id, kind, detail}]}
-- findings lists the first discrepancy of the chain (lowest seq; facts with no entry last), or is
-- empty. Raises OPS04 when the release does not exist. For release_manager and audit_reader
-- (a finding names rows of every fact table, which a developer may not read).
create function ops.verify_ledger(p_release_id uuid) returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  if not exists (select 1 from ops.releases r where r.release_id = p_release_id)
     and not exists (select 1 from ops.ledger_chains c where c.chain_id = p_release_id) then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  return ops.ledger_report(p_release_id);
end
$$;

-- Takes nothing; returns the verification of every chain (the global one included) in the form
-- of ops.verify_ledger(uuid), with the first discrepancy of each chain. Raises nothing of its own.
-- For release_manager and audit_reader.
create function ops.verify_ledger() returns jsonb
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$ select ops.ledger_report(null) $$;

-- ---------------------------------------------------------------------------------------------
-- Checkpoints and anchors
-- ---------------------------------------------------------------------------------------------

-- Takes nothing; returns a checkpoint over every chain head as jsonb:
--   {format: 'ops.ledger-checkpoint/v1', taken_at, chains, entries, root, heads: [{chain_id, seq, hash}]}
-- root is the sha256 (hex) of the heads sorted by chain id, one "chain_id:seq:hash" per line
-- joined with "\n": export it, keep it elsewhere (or sign it), and compare later
-- (ops.compare_ledger_checkpoint). Raises nothing. For release_manager and audit_reader.
create function ops.ledger_checkpoint() returns jsonb
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.jsonb_build_object(
    'format', 'ops.ledger-checkpoint/v1',
    'taken_at', pg_catalog.to_char(pg_catalog.clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'chains', count(*),
    'entries', coalesce(sum(c.head_seq), 0),
    'root', pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(coalesce(
      pg_catalog.string_agg(pg_catalog.concat_ws(':', c.chain_id::text, c.head_seq::text, c.head_hash), E'\n' order by c.chain_id), ''),
      'UTF8')), 'hex'),
    'heads', coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('chain_id', c.chain_id, 'seq', c.head_seq, 'hash', c.head_hash)
                                           order by c.chain_id), '[]'::jsonb))
  from ops.ledger_chains c
$$;

-- Takes a checkpoint as returned by ops.ledger_checkpoint; returns
--   {ok, compared, findings: [{chain_id, release_id, seq, fact_table, row_id, kind, detail}]}
-- where a finding is a chain of the checkpoint that is gone (chain_missing), shorter than it was
-- (entries_missing), or whose entry at the checkpoint's head seq has another hash now
-- (rewritten: its history up to that point was rewritten after the checkpoint), with the fact
-- recorded at that seq now. The root is recomputed from the heads first. Raises OPS22 when the
-- document is not a checkpoint or its root does not match its heads. For release_manager and
-- audit_reader.
create function ops.compare_ledger_checkpoint(p_checkpoint jsonb) returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_root text;
begin
  if pg_catalog.jsonb_typeof(p_checkpoint) is distinct from 'object'
     or p_checkpoint->>'format' is distinct from 'ops.ledger-checkpoint/v1'
     or pg_catalog.jsonb_typeof(p_checkpoint->'heads') is distinct from 'array'
     or exists (select 1 from pg_catalog.jsonb_array_elements(p_checkpoint->'heads') h
                where pg_catalog.jsonb_typeof(h) <> 'object'
                   or coalesce(h->>'chain_id', '') !~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                   or pg_catalog.jsonb_typeof(h->'seq') is distinct from 'number'
                   or coalesce(h->>'hash', '') !~ '^[0-9a-f]{64}$') then
    raise exception 'not a ledger checkpoint: expected {format: ops.ledger-checkpoint/v1, heads: [{chain_id, seq, hash}], root}'
      using errcode = 'OPS22';
  end if;
  select pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(coalesce(pg_catalog.string_agg(
           pg_catalog.concat_ws(':', h->>'chain_id', h->>'seq', h->>'hash'), E'\n' order by (h->>'chain_id')::uuid), ''), 'UTF8')), 'hex')
  into v_root
  from pg_catalog.jsonb_array_elements(p_checkpoint->'heads') h;
  if v_root is distinct from p_checkpoint->>'root' then
    raise exception 'the checkpoint''s root does not match its heads: the checkpoint file was altered'
      using errcode = 'OPS22';
  end if;
  return (
    with h as (
      select (x->>'chain_id')::uuid as chain_id, (x->>'seq')::bigint as seq, x->>'hash' as hash
      from pg_catalog.jsonb_array_elements(p_checkpoint->'heads') x
    ),
    f as (
      select h.chain_id, h.seq, e.fact_table, e.row_id,
             case when c.chain_id is null then 'chain_missing'
                  when e.seq is null then 'entries_missing'
                  else 'rewritten' end as kind,
             case when c.chain_id is null then 'the chain is gone'
                  when e.seq is null then pg_catalog.format('the chain ends at seq %s, before the checkpoint''s head', c.head_seq)
                  else 'the entry at the checkpoint''s head has another hash now: the chain was rewritten after the checkpoint' end as detail
      from h
      left join ops.ledger_chains c on c.chain_id = h.chain_id
      left join ops.ledger_entries e on e.chain_id = h.chain_id and e.seq = h.seq
      where c.chain_id is null or e.seq is null or e.entry_hash <> h.hash
    )
    select pg_catalog.jsonb_build_object(
      'ok', not exists (select 1 from f),
      'compared', (select count(*) from h),
      'findings', coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'chain_id', f.chain_id, 'release_id', nullif(f.chain_id, ops.ledger_global_chain()), 'seq', f.seq,
        'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail) order by f.chain_id)
        from f), '[]'::jsonb))
  );
end
$$;

-- Takes a release id; returns its chain as jsonb for an evidence bundle, so the anchor can be
-- checked offline: {chain_id, seq, hash, entries: [{seq, fact_table, row_id, operation,
-- content_hash, prev_hash, entry_hash}]} (seq/hash: the head now). Raises OPS04 when the release
-- does not exist or the caller may not read it (ops.assert_can_read_release). For
-- release_manager and audit_reader.
create function ops.ledger_anchor(p_release_id uuid) returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform ops.assert_can_read_release(p_release_id);
  return (
    select pg_catalog.jsonb_build_object(
      'chain_id', p_release_id,
      'seq', coalesce(c.head_seq, 0),
      'hash', coalesce(c.head_hash, ops.ledger_genesis()),
      'entries', coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
          'seq', e.seq, 'fact_table', e.fact_table, 'row_id', e.row_id, 'operation', e.operation,
          'content_hash', e.content_hash, 'prev_hash', e.prev_hash, 'entry_hash', e.entry_hash) order by e.seq)
        from ops.ledger_entries e where e.chain_id = p_release_id and e.seq <= c.head_seq), '[]'::jsonb))
    from (select 1) one
    left join ops.ledger_chains c on c.chain_id = p_release_id
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The facts already stored: recorded once, in a fixed order, so that a database migrated with
-- data verifies clean (their history before this point is not in the ledger; their state now is)
-- ---------------------------------------------------------------------------------------------

do $$
declare
  f record;
begin
  set local "TimeZone" = 'UTC';
  set local "IntervalStyle" = 'postgres';
  for f in select t.table_name, t.pk_column from ops.ledger_fact_tables t
           order by array_position(array['releases', 'release_gates', 'event_ingest_log', 'gate_checks', 'evidence_artifacts',
                                         'approvals', 'exceptions', 'gate_transitions', 'deployments', 'deployment_transitions',
                                         'incidents', 'environment_events'], t.table_name) loop
    execute format(
      'select ops.ledger_append(ops.ledger_chain_of(%1$L, to_jsonb(t)), %1$L, t.%2$I, ''insert'', ops.ledger_content_hash(to_jsonb(t)))
       from ops.%1$I t order by t.created_at, t.%2$I', f.table_name, f.pk_column);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The triggers: one line per fact table (updates only where rows change: releases, gates,
-- exceptions, deployments, incidents)
-- ---------------------------------------------------------------------------------------------

create trigger ledger_record after insert on ops.releases
  for each row execute function ops.ledger_record('release_id');
create trigger ledger_record_update after update on ops.releases
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('release_id');
create trigger ledger_record after insert on ops.release_gates
  for each row execute function ops.ledger_record('gate_id');
create trigger ledger_record_update after update on ops.release_gates
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('gate_id');
create trigger ledger_record after insert on ops.gate_checks
  for each row execute function ops.ledger_record('check_id');
create trigger ledger_record_update after update on ops.gate_checks
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('check_id');
create trigger ledger_record after insert on ops.evidence_artifacts
  for each row execute function ops.ledger_record('artifact_id');
create trigger ledger_record_update after update on ops.evidence_artifacts
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('artifact_id');
create trigger ledger_record after insert on ops.approvals
  for each row execute function ops.ledger_record('approval_id');
create trigger ledger_record_update after update on ops.approvals
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('approval_id');
create trigger ledger_record after insert on ops.exceptions
  for each row execute function ops.ledger_record('exception_id');
create trigger ledger_record_update after update on ops.exceptions
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('exception_id');
create trigger ledger_record after insert on ops.gate_transitions
  for each row execute function ops.ledger_record('transition_id');
create trigger ledger_record after insert on ops.deployments
  for each row execute function ops.ledger_record('deployment_id');
create trigger ledger_record_update after update on ops.deployments
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('deployment_id');
create trigger ledger_record after insert on ops.deployment_transitions
  for each row execute function ops.ledger_record('transition_id');
create trigger ledger_record after insert on ops.incidents
  for each row execute function ops.ledger_record('incident_id');
create trigger ledger_record_update after update on ops.incidents
  for each row when (old.* is distinct from new.*) execute function ops.ledger_record('incident_id');
create trigger ledger_record after insert on ops.environment_events
  for each row execute function ops.ledger_record('event_id');
create trigger ledger_record after insert on ops.event_ingest_log
  for each row execute function ops.ledger_record('ingest_id');

-- ---------------------------------------------------------------------------------------------
-- Who may call what
-- ---------------------------------------------------------------------------------------------

revoke execute on function
  ops.ledger_content_hash(jsonb), ops.ledger_entry_hash(uuid, bigint, text, uuid, text, text, text),
  ops.ledger_genesis(), ops.ledger_global_chain(), ops.ledger_chain_of(text, jsonb),
  ops.ledger_append(uuid, text, uuid, text, text), ops.ledger_record(), ops.ledger_refuse_change(),
  ops.ledger_chains_guard(), ops.ledger_findings(uuid), ops.ledger_report(uuid),
  ops.verify_ledger(uuid), ops.verify_ledger(), ops.ledger_checkpoint(),
  ops.compare_ledger_checkpoint(jsonb), ops.ledger_anchor(uuid)
  from public;
grant execute on function ops.verify_ledger(uuid), ops.verify_ledger(), ops.ledger_checkpoint(),
  ops.compare_ledger_checkpoint(jsonb), ops.ledger_anchor(uuid)
  to release_manager, audit_reader;
