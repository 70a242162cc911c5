-- The ledger's write path does the same work with fewer and cheaper steps.
--
-- Measured (docs/profiling.md, "The ledger's share"): each row of ops.ledger_entries ran three
-- CHECK constraints of the form `x ~ '^[0-9a-f]{64}$'`, and each head move one more. PostgreSQL's
-- regular expressions expand a bounded repeat into one state per repetition and build them anew at
-- every match: 11-17 us a match, some ten matches an ingest event, a sixth of what the ledger cost.
-- The same constraint written as "64 characters, each a lower-case hex digit" matches in 1.5-2.5 us
-- and accepts and refuses exactly the same strings (PostgreSQL's `$` matches only at the end of the
-- string, and every character `[0-9a-f]` admits is one character long).
--
-- The commit-time link read its queue three times (a primary-key probe for "already linked", the
-- distinct chains, then each chain's entries) and wrote one insert and one head update per chain. It
-- now reads the transaction's queue once, in (chain, write order) through the (xact, chain_id, ord)
-- index, locks each chain's head in chain order as it reaches it (the lock order of every linking
-- transaction, as before), and writes every entry in one insert and every head in one update. A
-- firing whose transaction's queue is already empty (an earlier SET CONSTRAINTS ... IMMEDIATE linked
-- it) finds nothing and returns: the "already linked" probe by `ord` was that same test, so the
-- queue's primary key served nothing but that probe and goes, one index write less per fact.
--
-- The head guard asked two questions of ops.ledger_entries (the entry at the new head has the head's
-- hash; no entry lies beyond it); one backward probe of the chain's last entry answers both.

alter table ops.ledger_entries
  drop constraint ledger_entries_content_hash_check,
  drop constraint ledger_entries_prev_hash_check,
  drop constraint ledger_entries_entry_hash_check,
  add constraint ledger_entries_content_hash_check
    check (pg_catalog.length(content_hash) = 64 and content_hash ~ '^[0-9a-f]+$'),
  add constraint ledger_entries_prev_hash_check
    check (pg_catalog.length(prev_hash) = 64 and prev_hash ~ '^[0-9a-f]+$'),
  add constraint ledger_entries_entry_hash_check
    check (pg_catalog.length(entry_hash) = 64 and entry_hash ~ '^[0-9a-f]+$');

alter table ops.ledger_chains
  drop constraint ledger_chains_head_hash_check,
  add constraint ledger_chains_head_hash_check
    check (pg_catalog.length(head_hash) = 64 and head_hash ~ '^[0-9a-f]+$');

-- Deferred constraint trigger on ops.ledger_pending (queued only for an entry that carries the
-- link, 20261203200100): at commit, links every entry the transaction queued, chain by chain in
-- chain order (so linking transactions lock chains in one order), each chain's entries in the
-- order their facts were written and chained by ops.ledger_entry_hash; all entries in one insert,
-- all heads moved in one update (each head locked FOR UPDATE before its first entry is hashed);
-- then empties the transaction's queue. A firing that finds its transaction's queue empty (already
-- linked by an earlier firing) returns. Returns null. Raises nothing of its own (the head guard's
-- OPS03 if a head would not move to the last entry). Rule: issue "tamper-evident record" (chains
-- linked at commit, 20261129004300, 20261129004400, 20261203200100).
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
  v_chains uuid[] := '{}';
  v_heads bigint[] := '{}';
  v_head_hashes text[] := '{}';
  v_entry_chains uuid[] := '{}';
  v_seqs bigint[] := '{}';
  v_tables text[] := '{}';
  v_rows uuid[] := '{}';
  v_ops text[] := '{}';
  v_contents text[] := '{}';
  v_prevs text[] := '{}';
  v_hashes text[] := '{}';
  p record;
begin
  for p in select q.chain_id, q.fact_table, q.row_id, q.operation, q.content_hash
           from ops.ledger_pending q where q.xact = v_xact order by q.chain_id, q.ord loop
    if v_chain is distinct from p.chain_id then
      if v_chain is not null then
        v_chains := v_chains || v_chain;
        v_heads := v_heads || v_seq;
        v_head_hashes := v_head_hashes || v_hash;
      end if;
      v_chain := p.chain_id;
      select c.head_seq, c.head_hash into v_seq, v_hash
      from ops.ledger_chains c where c.chain_id = v_chain for update;
      if not found then
        insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash)
        values (v_chain, nullif(v_chain, ops.ledger_global_chain()), 0, ops.ledger_genesis())
        on conflict (chain_id) do nothing;
        select c.head_seq, c.head_hash into v_seq, v_hash
        from ops.ledger_chains c where c.chain_id = v_chain for update;
      end if;
    end if;
    v_seq := v_seq + 1;
    v_entry_chains := v_entry_chains || v_chain;
    v_seqs := v_seqs || v_seq;
    v_tables := v_tables || p.fact_table;
    v_rows := v_rows || p.row_id;
    v_ops := v_ops || p.operation;
    v_contents := v_contents || p.content_hash;
    v_prevs := v_prevs || v_hash;
    v_hash := ops.ledger_entry_hash(v_chain, v_seq, p.fact_table, p.row_id, p.operation, p.content_hash, v_hash);
    v_hashes := v_hashes || v_hash;
  end loop;
  if v_chain is null then
    return null;
  end if;
  v_chains := v_chains || v_chain;
  v_heads := v_heads || v_seq;
  v_head_hashes := v_head_hashes || v_hash;
  insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
  select e.chain_id, e.seq, e.fact_table, e.row_id, e.operation, e.content_hash, e.prev_hash, e.entry_hash
  from rows from (pg_catalog.unnest(v_entry_chains), pg_catalog.unnest(v_seqs), pg_catalog.unnest(v_tables),
                  pg_catalog.unnest(v_rows), pg_catalog.unnest(v_ops), pg_catalog.unnest(v_contents),
                  pg_catalog.unnest(v_prevs), pg_catalog.unnest(v_hashes))
    as e(chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
  order by e.chain_id, e.seq;
  update ops.ledger_chains c
  set head_seq = h.head_seq, head_hash = h.head_hash, updated_at = pg_catalog.clock_timestamp()
  from rows from (pg_catalog.unnest(v_chains), pg_catalog.unnest(v_heads), pg_catalog.unnest(v_head_hashes))
    as h(chain_id, head_seq, head_hash)
  where c.chain_id = h.chain_id;
  delete from ops.ledger_pending q where q.xact = v_xact;
  return null;
end
$$;
revoke execute on function ops.ledger_link_pending() from public;

-- BEFORE UPDATE row trigger on ops.ledger_chains (ENABLE ALWAYS): a head keeps its chain and
-- release and only moves forward, to the chain's last entry with that entry's hash. Returns the new
-- row. Raises OPS03 otherwise. Rule: issue "tamper-evident record" (20261129004000).
create or replace function ops.ledger_chains_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if new.chain_id is distinct from old.chain_id or new.release_id is distinct from old.release_id
     or new.head_seq <= old.head_seq
     or not exists (select 1
                    from (select e.seq, e.entry_hash from ops.ledger_entries e
                          where e.chain_id = new.chain_id order by e.seq desc limit 1) l
                    where l.seq = new.head_seq and l.entry_hash = new.head_hash) then
    raise exception 'ops.ledger_chains: a chain head only moves forward, to the last entry appended'
      using errcode = 'OPS03';
  end if;
  return new;
end
$$;
revoke execute on function ops.ledger_chains_guard() from public;

alter table ops.ledger_pending drop constraint ledger_pending_pkey;
