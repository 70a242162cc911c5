-- Every table the ledger has recorded stays registered, or every verification refuses to answer.
--
-- The ledger's verifications read the fact tables named by its registry (ops.ledger_fact_tables):
-- an owner who, with the guards disabled, deleted a table's registry row and its stored arms
-- (20261205100000) passed the arms' check (no row, no arms), and from then on ops.verify_ledger()
-- and ops.verify_ledger(release) read nothing of that table: every gate of a release set to
-- passed behind the ledger, with release_gates unregistered, verified "ok" both ways, though
-- README says the verification of every chain reads every row of every fact table. Now
-- ops.ledger_findings first checks that every fact_table named by a ledger entry is still
-- registered and raises data_corrupted (XX001) naming the table otherwise, as it does for arms that
-- no longer make their scope. A table removed from the registry before any of its facts was
-- recorded is not seen (there is nothing of it on the ledger).

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261129004000 describes: broken links and hashes, heads that are not the
-- last entry, facts whose row is gone or changed, and facts with no entry (unrecorded). For one
-- release, its facts with no entry are read through the table's stored release scope arms
-- (ops.ledger_release_scope_arms), one indexed SELECT each; so are its facts recorded only on
-- other chains, reported when they differ from the latest entry there (moved into the release
-- behind the ledger). Raises data_corrupted (XX001) naming the table when a table's arms, joined
-- by ' or ', are not its registered release_scope, or when the ledger has entries of a table that
-- is no longer registered (the registry changed behind its guards), for one release or every
-- chain; the arms' text is not in the error (the arms are the owner's, and ops.verify_ledger's
-- callers see its errors). Owner-only (not granted; ops.verify_ledger is). Rule: the
-- tamper-evident ledger, DESIGN section 7; the stored arms, 20261205100000; the registry keeps
-- every recorded table, this migration.
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
  v_rows text;
begin
  -- The registry first: each table's arms must still make its release scope.
  for f in
    select t.table_name
    from ops.ledger_fact_tables t
    left join lateral (select pg_catalog.string_agg(x.arm, ' or ' order by x.arm_no) as joined
                       from ops.ledger_release_scope_arms x where x.table_name = t.table_name) a on true
    where a.joined is distinct from t.release_scope
    order by t.table_name
    limit 1
  loop
    raise exception 'ops.ledger_release_scope_arms: the arms of % no longer make its release scope', f.table_name
      using errcode = 'data_corrupted', hint = 'the ledger''s registry was changed behind its guards';
  end loop;

  -- Every table the ledger has recorded is still registered: removing a table's registry row and
  -- its arms (behind the guards) would leave its facts unread by every verification. One index
  -- probe per recorded table (ledger_entries_fact), whatever the ledger's size.
  for f in
    with recursive recorded (tbl) as (
      (select x.fact_table from ops.ledger_entries x order by x.fact_table limit 1)
      union all
      select (select x.fact_table from ops.ledger_entries x where x.fact_table > r.tbl
              order by x.fact_table limit 1)
      from recorded r where r.tbl is not null
    )
    select r.tbl as table_name from recorded r
    where r.tbl is not null
      and not exists (select 1 from ops.ledger_fact_tables t where t.table_name = r.tbl)
    order by r.tbl
    limit 1
  loop
    raise exception 'ops.ledger_fact_tables: the ledger has entries of %, which is no longer registered', f.table_name
      using errcode = 'data_corrupted', hint = 'the ledger''s registry was changed behind its guards';
  end loop;

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
  for f in select t.table_name, t.pk_column from ops.ledger_fact_tables t order by t.table_name loop
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

    -- The release's rows of the table: one SELECT per stored arm.
    if p_release_id is not null then
      select pg_catalog.string_agg(pg_catalog.format('select t.%I from ops.%I t where %s',
                                                     f.pk_column, f.table_name, x.arm), ' union all '
                                   order by x.arm_no)
        into v_rows
      from ops.ledger_release_scope_arms x where x.table_name = f.table_name;
    end if;

    return query execute pg_catalog.format($q$
      select ops.ledger_chain_of(%1$L, pg_catalog.to_jsonb(t)), null::bigint, %1$L::text, t.%2$I,
             'unrecorded', 'the fact has no ledger entry: it was written with the ledger''s triggers disabled'
      from ops.%3$I t
      where %4$s
        and not exists (select 1 from ops.ledger_entries x where x.fact_table = %1$L and x.row_id = t.%2$I)
    $q$, f.table_name, f.pk_column, f.table_name,
      case when p_release_id is null then 'true'
           else pg_catalog.format('t.%I in (%s)', f.pk_column, v_rows)
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
      $q$, f.table_name, f.pk_column, f.table_name, v_rows)
      using p_release_id;
    end if;
  end loop;
end
$$;
revoke execute on function ops.ledger_findings(uuid) from public;
