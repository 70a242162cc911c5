-- Linking at commit, in one pass per chain: the head row is locked and moved once per chain and
-- transaction (not once per fact), the queue emptied in one statement, and the deferred firings
-- for the other queued rows of the transaction return after one primary-key probe. The head guard
-- accepts a head moved forward by several entries, still only to the entry at its new seq.

-- BEFORE UPDATE on ops.ledger_chains: a head moves forward, to the last entry appended, and
-- nowhere else. Refuses anything else with OPS03.
create or replace function ops.ledger_chains_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.chain_id is distinct from old.chain_id or new.release_id is distinct from old.release_id
     or new.head_seq <= old.head_seq
     or new.head_hash is distinct from (select e.entry_hash from ops.ledger_entries e
                                        where e.chain_id = new.chain_id and e.seq = new.head_seq)
     or exists (select 1 from ops.ledger_entries e where e.chain_id = new.chain_id and e.seq > new.head_seq) then
    raise exception 'ops.ledger_chains: a chain head only moves forward, to the last entry appended'
      using errcode = 'OPS03';
  end if;
  return new;
end
$$;

-- Deferred constraint trigger on ops.ledger_pending: at commit, links every entry the transaction
-- queued, chain by chain in chain order (so linking transactions lock chains in one order), each
-- chain's entries in the order its facts were written, each head locked and moved once; then
-- empties the queue. Firings for rows already linked return at once. Returns null. Raises nothing
-- of its own.
create or replace function ops.ledger_link_pending() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_chain uuid;
  v_seq bigint;
  v_hash text;
  p record;
begin
  if not exists (select 1 from ops.ledger_pending q where q.ord = new.ord) then
    return null;
  end if;
  for v_chain in select distinct q.chain_id from ops.ledger_pending q order by q.chain_id loop
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
             from ops.ledger_pending q where q.chain_id = v_chain order by q.ord loop
      v_seq := v_seq + 1;
      insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
      values (v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash,
              ops.ledger_entry_hash(v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash))
      returning entry_hash into v_hash;
    end loop;
    update ops.ledger_chains set head_seq = v_seq, head_hash = v_hash, updated_at = pg_catalog.clock_timestamp()
    where chain_id = v_chain;
  end loop;
  delete from ops.ledger_pending;
  return null;
end
$$;

revoke execute on function ops.ledger_chains_guard(), ops.ledger_link_pending() from public;
