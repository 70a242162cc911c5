-- The ledger checks the gate stamped on check evidence, and what the stamp recorded again.
--
-- 20261207500000 stamps each check-attached artifact with its check's gate (check_gate_id), which
-- the gate rule now reads check evidence by, and records every such artifact written before it
-- again (an 'update' entry whose content hash is the row as it then was). Two owner's edits passed
-- every verification since:
--   - an artifact written with the stamp's trigger disabled and a gate of the owner's choosing in
--     check_gate_id (the ledger's own trigger left on): recorded as written, so its entry matches,
--     and it counts as evidence for that gate, not its check's;
--   - an artifact changed behind the ledger (every trigger off: ops.verify_ledger reports it
--     content_changed) before 20261207500000 ran: the stamp's update recorded the changed row, so
--     its latest entry, the only one the content check reads, matched again. The change was
--     laundered by the migration.
-- ops.ledger_findings now reports both as content_changed on the artifact: a stamp that is not
-- null and not its check's gate (a NULL stamp only hides the artifact from the rule, and is what a
-- row from before the stamp has until the stamp's statement runs again over it); and an artifact
-- whose latest entry is an update whose entry before it hashes neither to the row without its
-- stamp nor to the row (check evidence is append-only: the stamp's is the only update it is
-- recorded with).
-- Everything else in the function is as 20261207100000 defined it.

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261207100000 describes, plus, for the check evidence of the release (of
-- every release without one), content_changed where the gate stamped on an artifact is not its
-- check's, or where an artifact recorded again by the stamp differs, without its stamp, from what
-- its previous entry recorded. Raises data_corrupted (XX001) as 20261207100000 describes. Owner-only
-- (not granted; ops.verify_ledger is). Rule: the tamper-evident ledger, DESIGN section 7;
-- 20261207100000; the check evidence stamp, 20261207500000; this migration.
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
      and r.tbl not in ('ledger_fact_tables', 'ledger_release_scope_arms')
      and not exists (select 1 from ops.ledger_fact_tables t where t.table_name = r.tbl)
    order by r.tbl
    limit 1
  loop
    raise exception 'ops.ledger_fact_tables: the ledger has entries of %, which is no longer registered', f.table_name
      using errcode = 'data_corrupted', hint = 'the ledger''s registry was changed behind its guards';
  end loop;

  -- Links, hashes and order, per chain (for one release, its chain and the registry's).
  return query
    with e as (
      select x.chain_id, x.seq, x.fact_table, x.row_id, x.prev_hash, x.entry_hash,
             ops.ledger_entry_hash(x.chain_id, x.seq, x.fact_table, x.row_id, x.operation, x.content_hash, x.prev_hash) as recomputed,
             pg_catalog.lag(x.entry_hash) over w as before_hash,
             pg_catalog.lag(x.seq) over w as before_seq
      from ops.ledger_entries x
      where p_release_id is null or x.chain_id in (p_release_id, ops.ledger_registry_chain())
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
    where (p_release_id is null or c.chain_id in (p_release_id, ops.ledger_registry_chain()))
      and (c.head_seq <> coalesce(l.seq, 0) or c.head_hash <> coalesce(l.entry_hash, ops.ledger_genesis()));

  -- The registry, on its own chain: every entry of the chain against the live registry row it
  -- names (a registry row is only ever inserted, so each of its entries holds its content; the
  -- first that differs is where it changed), registry rows with no entry, and the chain's head row.
  return query
    with live as (
      select 'ledger_fact_tables'::text as fact_table,
             ops.ledger_registry_row_id('ledger_fact_tables', pg_catalog.to_jsonb(t)) as row_id,
             ops.ledger_content_hash(pg_catalog.to_jsonb(t)) as content_hash,
             pg_catalog.format('the registration of %s', t.table_name) as subject
      from ops.ledger_fact_tables t
      union all
      select 'ledger_release_scope_arms',
             ops.ledger_registry_row_id('ledger_release_scope_arms', pg_catalog.to_jsonb(a)),
             ops.ledger_content_hash(pg_catalog.to_jsonb(a)),
             pg_catalog.format('arm %s of %s', a.arm_no, a.table_name)
      from ops.ledger_release_scope_arms a
    ),
    rec as (
      select x.seq, x.fact_table, x.row_id, x.content_hash
      from ops.ledger_entries x
      where x.chain_id = ops.ledger_registry_chain()
    )
    select ops.ledger_registry_chain(), r.seq, r.fact_table, r.row_id,
           case when l.row_id is null then 'row_missing' else 'content_changed' end,
           case when l.row_id is null
                  then 'the registry row recorded here is gone: the ledger''s registry was changed behind its guards'
                else pg_catalog.format('%s differs from what was recorded: the ledger''s registry was changed behind its guards',
                                       l.subject) end
    from rec r
    left join live l on l.fact_table = r.fact_table and l.row_id = r.row_id
    where l.row_id is null or l.content_hash <> r.content_hash
    union all
    select ops.ledger_registry_chain(), null::bigint, l.fact_table, l.row_id, 'unrecorded',
           pg_catalog.format('%s has no ledger entry: it was written with the registry''s triggers disabled', l.subject)
    from live l
    where not exists (select 1 from rec r where r.fact_table = l.fact_table and r.row_id = l.row_id)
    union all
    select ops.ledger_registry_chain(), null::bigint, null::text, null::uuid, 'link_broken',
           'the registry chain has no head: its row in ops.ledger_chains is gone'
    where not exists (select 1 from ops.ledger_chains c where c.chain_id = ops.ledger_registry_chain());

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

  -- Check evidence and the gate stamped on it (check_gate_id, 20261207500000), which the gate rule
  -- reads check evidence by: the artifacts on the release's checks (every chain's: all of them).
  return query
    with a as (
      select t.artifact_id, t.check_id, t.check_gate_id, pg_catalog.to_jsonb(t) as content
      from ops.evidence_artifacts t
      where t.check_id is not null
        and (p_release_id is null
             or t.check_id in (select c.check_id from ops.gate_checks c
                               join ops.release_gates g on g.gate_id = c.gate_id
                               where g.release_id = p_release_id)
             or t.check_gate_id in (select g.gate_id from ops.release_gates g where g.release_id = p_release_id))
    )
    -- A stamp that is not the gate of the artifact's check makes it count for a gate it does not
    -- belong to: only a write with the stamp's trigger disabled leaves one, recorded as it was
    -- written, so the entry alone does not show it.
    select ops.ledger_chain_of('evidence_artifacts', a.content), null::bigint, 'evidence_artifacts'::text,
           a.artifact_id, 'content_changed'::text,
           'the gate stamped on the artifact is not the gate of its check: it was written with the stamp''s trigger disabled'::text
    from a
    where a.check_gate_id is not null
      and a.check_gate_id is distinct from (select c.gate_id from ops.gate_checks c where c.check_id = a.check_id)
    union all
    -- An artifact recorded again by the stamp (its latest entry an update, as 20261207500000 made
    -- for the rows before it): the row without its stamp must be what the entry before recorded
    -- (or the row itself, for one written with its stamp whose stamp the statement put back).
    -- Otherwise it was changed behind the ledger before the stamp recorded it again (which took in
    -- the change: the latest entry alone now matches the row). Check evidence is append-only, so
    -- no other update is recorded for it.
    select l.chain_id, p.seq, 'evidence_artifacts'::text, a.artifact_id, 'content_changed'::text,
           'the artifact differs from what was recorded before its check''s gate was stamped on it: it was changed behind the ledger before the stamp recorded it again'::text
    from a
    cross join lateral (
      select x.chain_id, x.seq, x.operation
      from ops.ledger_entries x
      where x.fact_table = 'evidence_artifacts' and x.row_id = a.artifact_id
      order by x.seq desc limit 1) l
    cross join lateral (
      select y.seq, y.content_hash
      from ops.ledger_entries y
      where y.fact_table = 'evidence_artifacts' and y.row_id = a.artifact_id and y.chain_id = l.chain_id
        and y.seq < l.seq
      order by y.seq desc limit 1) p
    where l.operation = 'update'
      and ops.ledger_content_hash(a.content - 'check_gate_id') <> p.content_hash
      and ops.ledger_content_hash(a.content) <> p.content_hash;
end
$$;
revoke execute on function ops.ledger_findings(uuid) from public;
