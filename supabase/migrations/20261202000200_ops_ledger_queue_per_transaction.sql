-- The ledger's commit-time queue is read by the transaction's own id, through an index.
--
-- ops.ledger_pending only ever holds the entries of transactions in flight: each linking
-- transaction empties its part at commit. But every queued row leaves a dead tuple behind until
-- autovacuum's next visit (a minute by default), and the link read the queue three times per
-- commit with sequential scans (its chains, each chain's entries, the delete): at 300 events a
-- second that is some 20,000 dead tuples scanned three times by every commit, the ledger's
-- largest cost (bench/profile-ingest.ts: ops.ledger_link_pending 0.8 ms of own time per event)
-- and one that grew between vacuums. Each queued row now carries its transaction's id, and the
-- link and the delete read only the transaction's own rows through (xact, chain_id, ord).
-- Autovacuum visits the two per-transaction tables after a thousand dead rows, whatever their size.

alter table ops.ledger_pending add column xact xid8 not null default pg_catalog.pg_current_xact_id();
create index ledger_pending_xact on ops.ledger_pending (xact, chain_id, ord);
alter table ops.ledger_pending set (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);
alter table ops.transaction_context set (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);

-- Deferred constraint trigger on ops.ledger_pending: at commit, links every entry the transaction
-- queued, chain by chain in chain order (so linking transactions lock chains in one order), each
-- chain's entries in the order its facts were written, each head locked and moved once; then
-- empties the transaction's queue. Firings for rows already linked return after one primary-key
-- probe. Returns null. Raises nothing of its own. Rule: issue "tamper-evident record" (chains linked
-- at commit, 20261129004300 and 20261129004400).
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
    for p in select q.fact_table, q.row_id, q.operation, q.content_hash
             from ops.ledger_pending q where q.xact = v_xact and q.chain_id = v_chain order by q.ord loop
      v_seq := v_seq + 1;
      insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
      values (v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash,
              ops.ledger_entry_hash(v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash))
      returning entry_hash into v_hash;
    end loop;
    update ops.ledger_chains set head_seq = v_seq, head_hash = v_hash, updated_at = pg_catalog.clock_timestamp()
    where chain_id = v_chain;
  end loop;
  delete from ops.ledger_pending q where q.xact = v_xact;
  return null;
end
$$;

revoke execute on function ops.ledger_link_pending() from public;
