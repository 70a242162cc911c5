-- A ledger checkpoint's seq is a whole number, or the checkpoint is refused by name.
--
-- ops.compare_ledger_checkpoint (20261129004000; 20261207100000) checked that each head's seq is a
-- JSON number, then cast it to bigint: a seq of 1.5 or 1e30 in a checkpoint whose root matches its
-- heads (anyone can compute the root) failed on the cast (22P02, 22003: "invalid input syntax for
-- type bigint") instead of being refused as not a checkpoint (OPS22). That is what
-- `ops-gates ledger checkpoint --compare` and `bundle --verify --live` send a file's heads to, and
-- what ledgerCheckpointComparison passes a caller's JSON to. Now a seq must be written as a whole
-- number of 0 to 18 digits; anything else is refused with OPS22 before anything is read.

-- Takes a checkpoint as returned by ops.ledger_checkpoint; returns {ok, compared, findings} as
-- 20261129004000 describes (chain_missing, entries_missing, rewritten; release_id null for the
-- global and the registry chain). Raises OPS22 when the document is not a checkpoint (a head's seq
-- not a whole number among the shape faults) or its root does not match its heads. For
-- release_manager and audit_reader (grants kept). Rule: 20261129004000; 20261207100000; the seq's
-- shape, this migration.
create or replace function ops.compare_ledger_checkpoint(p_checkpoint jsonb) returns jsonb
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
                   or (h->>'seq') !~ '^[0-9]{1,18}$'
                   or coalesce(h->>'hash', '') !~ '^[0-9a-f]{64}$') then
    raise exception 'not a ledger checkpoint: expected {format: ops.ledger-checkpoint/v1, heads: [{chain_id, seq (a whole number, 0 or more), hash}], root}'
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
        'chain_id', f.chain_id, 'release_id', ops.ledger_chain_release(f.chain_id), 'seq', f.seq,
        'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail) order by f.chain_id)
        from f), '[]'::jsonb))
  );
end
$$;
