-- The ledger's commit-time link fires once per transaction and writes each chain's entries in one
-- statement.
--
-- The deferred constraint trigger on ops.ledger_pending was queued for every entry a transaction
-- queued (four or more an ingest event): at commit the first firing linked everything and every
-- other firing entered its function (with its configuration switch) to find its row gone. And the
-- link inserted a chain's entries one statement each. Now:
--
-- - Only an entry queued while the transaction had no other entry in the queue carries the
--   trigger (the WHEN clause of a constraint trigger is judged as the row is written). The earliest
--   entry that survives to commit always carries it: an entry that found another one in the queue
--   was written in the same subtransaction as that one or in one nested inside it, so a rollback
--   that removes the earlier entry removes the later one too, and an entry written after a
--   rollback (or after an earlier link emptied the queue) finds none and carries the trigger.
--   Each firing still links every entry the transaction queued, as before.
-- - A chain's entries are chained in the order their facts were written (the same hashes, one
--   after the other, ops.ledger_entry_hash) and inserted in one statement; the head is locked and
--   moved once per chain, chains in chain order, as before.

alter table ops.ledger_pending add column carries_link boolean not null default true;

-- AFTER INSERT OR UPDATE row trigger on each fact table; TG_ARGV[0] is the table's primary key
-- column. Queues the row as it is now: its chain, its content hash (TimeZone fixed, so the hash
-- does not depend on the writer's session) and whether it is the transaction's only queued entry
-- (then it carries the commit-time link). Returns null. Raises nothing of its own. Rule: issue
-- "tamper-evident record" (20261129004000, linked at commit: 20261129004300).
create or replace function ops.ledger_record() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set "TimeZone" = 'UTC'
set "IntervalStyle" = 'postgres'
as $$
declare
  v_row jsonb := pg_catalog.to_jsonb(new);
begin
  insert into ops.ledger_pending (chain_id, fact_table, row_id, operation, content_hash, carries_link)
  values (ops.ledger_chain_of(tg_table_name, v_row), tg_table_name, (v_row->>tg_argv[0])::uuid,
          pg_catalog.lower(tg_op), ops.ledger_content_hash(v_row),
          not exists (select 1 from ops.ledger_pending q where q.xact = pg_catalog.pg_current_xact_id()));
  return null;
end
$$;
revoke execute on function ops.ledger_record() from public;

-- Deferred constraint trigger on ops.ledger_pending (queued only for an entry that carries the
-- link): at commit, links every entry the transaction queued, chain by chain in chain order (so
-- linking transactions lock chains in one order), each chain's entries in the order their facts
-- were written, in one insert per chain, each head locked and moved once; then empties the
-- transaction's queue. A firing whose entry is already linked (an earlier SET CONSTRAINTS ...
-- IMMEDIATE) returns after one primary-key probe. Returns null. Raises nothing of its own. Rule:
-- issue "tamper-evident record" (chains linked at commit, 20261129004300 and 20261129004400).
create or replace function ops.ledger_link_pending() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_xact xid8 := pg_catalog.pg_current_xact_id();
  v_chain uuid;
  v_seq bigint;
  v_hash text;
  v_seqs bigint[];
  v_tables text[];
  v_rows uuid[];
  v_ops text[];
  v_contents text[];
  v_prevs text[];
  v_hashes text[];
  p record;
begin
  if not exists (select 1 from ops.ledger_pending q where q.ord = new.ord) then
    return null;
  end if;
  for v_chain in select distinct q.chain_id from ops.ledger_pending q where q.xact = v_xact order by q.chain_id loop
    select c.head_seq, c.head_hash into v_seq, v_hash
    from ops.ledger_chains c where c.chain_id = v_chain for update;
    if not found then
      insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash)
      values (v_chain, nullif(v_chain, ops.ledger_global_chain()), 0, ops.ledger_genesis())
      on conflict (chain_id) do nothing;
      select c.head_seq, c.head_hash into v_seq, v_hash
      from ops.ledger_chains c where c.chain_id = v_chain for update;
    end if;
    v_seqs := '{}';
    v_tables := '{}';
    v_rows := '{}';
    v_ops := '{}';
    v_contents := '{}';
    v_prevs := '{}';
    v_hashes := '{}';
    for p in select q.fact_table, q.row_id, q.operation, q.content_hash
             from ops.ledger_pending q where q.xact = v_xact and q.chain_id = v_chain order by q.ord loop
      v_seq := v_seq + 1;
      v_seqs := v_seqs || v_seq;
      v_tables := v_tables || p.fact_table;
      v_rows := v_rows || p.row_id;
      v_ops := v_ops || p.operation;
      v_contents := v_contents || p.content_hash;
      v_prevs := v_prevs || v_hash;
      v_hash := ops.ledger_entry_hash(v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash);
      v_hashes := v_hashes || v_hash;
    end loop;
    insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
    select v_chain, e.seq, e.fact_table, e.row_id, e.operation, e.content_hash, e.prev_hash, e.entry_hash
    from rows from (pg_catalog.unnest(v_seqs), pg_catalog.unnest(v_tables), pg_catalog.unnest(v_rows),
                    pg_catalog.unnest(v_ops), pg_catalog.unnest(v_contents), pg_catalog.unnest(v_prevs),
                    pg_catalog.unnest(v_hashes))
      as e(seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
    order by e.seq;
    update ops.ledger_chains set head_seq = v_seq, head_hash = v_hash, updated_at = pg_catalog.clock_timestamp()
    where chain_id = v_chain;
  end loop;
  delete from ops.ledger_pending q where q.xact = v_xact;
  return null;
end
$$;
revoke execute on function ops.ledger_link_pending() from public;

drop trigger ledger_pending_link on ops.ledger_pending;
create constraint trigger ledger_pending_link after insert on ops.ledger_pending
  deferrable initially deferred
  for each row when (new.carries_link) execute function ops.ledger_link_pending();
