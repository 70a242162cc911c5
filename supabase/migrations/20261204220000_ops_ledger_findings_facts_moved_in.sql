-- Verifying one release's ledger reports the facts moved into it from another release.
--
-- ops.ledger_findings(release) compared each fact recorded on the release's chain with its live
-- row, and looked for the release's facts with no entry at all. A fact recorded on another
-- release's chain and then pointed at this release behind the ledger (a passing check's gate_id
-- set to one of this release's gates, an approval's release_id and gate_id changed, with the
-- triggers off) is neither: its entries are on the other chain. ops.verify_ledger(this release)
-- said ok while this release's gate counted a check nobody recorded for it; only the other
-- release's verification, or every chain's, reported the change. (The definitions of
-- 20261129004000 did the same; test/security/ledger-moved-fact-attacks.test.ts.)
--
-- Now, for one release, the facts its release scope selects (read through the scope's indexed
-- arms, ops.ledger_scope_arms, as the unrecorded search does) that have entries but none on this
-- release's chain are compared with the latest entry on each chain that records them: a row that
-- differs is reported as content_changed on that chain, in this release's findings too. A fact
-- that belongs to two releases as recorded (an artifact of one release attached to the other's
-- check) matches its entry and is not reported. For every chain (null) nothing changes: every
-- fact's latest entry is already compared.

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261129004000 describes: broken links and hashes, heads that are not the
-- last entry, facts whose row is gone or changed, and facts with no entry (unrecorded). For one
-- release, its facts with no entry are read through the table's release scope split into arms
-- (ops.ledger_scope_arms), one indexed SELECT each; so are its facts recorded only on other
-- chains, reported when they differ from the latest entry there (moved into the release behind
-- the ledger). Raises nothing of its own. Owner-only (not
-- granted; ops.verify_ledger is). Rule: the tamper-evident ledger, DESIGN section 7.
create or replace function ops.ledger_findings(p_release_id uuid)
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
      where %4$s
        and not exists (select 1 from ops.ledger_entries x where x.fact_table = %1$L and x.row_id = t.%2$I)
    $q$, f.table_name, f.pk_column, f.table_name,
      case when p_release_id is null then 'true'
           else pg_catalog.format('t.%I in (%s)', f.pk_column, (
             select pg_catalog.string_agg(pg_catalog.format('select t.%I from ops.%I t where %s',
                                                            f.pk_column, f.table_name, a.arm), ' union all '
                                          order by a.n)
             from pg_catalog.unnest(ops.ledger_scope_arms(f.release_scope)) with ordinality as a(arm, n)))
      end) using p_release_id;

    -- For one release: its facts recorded only on other chains, against each chain's latest entry.
    if p_release_id is not null then
      return query execute pg_catalog.format($q$
        select l.chain_id, l.seq, %1$L::text, t.%2$I, 'content_changed'::text,
               'the fact''s row differs from what was recorded'::text
        from ops.%3$I t
        cross join lateral (
          select distinct on (x.chain_id) x.chain_id, x.seq, x.content_hash
          from ops.ledger_entries x
          where x.fact_table = %1$L and x.row_id = t.%2$I
          order by x.chain_id, x.seq desc) l
        where t.%2$I in (%4$s)
          and not exists (select 1 from ops.ledger_entries y
                          where y.fact_table = %1$L and y.row_id = t.%2$I and y.chain_id = $1)
          and ops.ledger_content_hash(pg_catalog.to_jsonb(t)) <> l.content_hash
      $q$, f.table_name, f.pk_column, f.table_name, (
        select pg_catalog.string_agg(pg_catalog.format('select t.%I from ops.%I t where %s',
                                                       f.pk_column, f.table_name, a.arm), ' union all '
                                     order by a.n)
        from pg_catalog.unnest(ops.ledger_scope_arms(f.release_scope)) with ordinality as a(arm, n)))
      using p_release_id;
    end if;
  end loop;
end
$$;
revoke execute on function ops.ledger_findings(uuid) from public;

