-- The ledger's registry is on the ledger.
--
-- What the ledger covers, and how one release's verification reads a fact table, is data: the
-- registry (ops.ledger_fact_tables: table, key, release scope; 20261129004000) and the scope's arms
-- (ops.ledger_release_scope_arms; 20261205100000). Both are append-only behind ENABLE ALWAYS
-- guards, and every verification refuses (XX001) while an arm no longer makes its scope or the
-- ledger holds entries of a table that is no longer registered (20261205230000). But the registry
-- itself was on no chain: the owner, with the guards disabled, could change a table's release_scope
-- and its arms together, consistently, narrow what ops.verify_ledger(release) reads for a release
-- (then change that release's facts unseen by it), change a pk_column, or remove a table whose facts
-- were not yet recorded, and nothing on the record showed that the registry had ever changed.
--
-- Now every registry row is a fact of its own chain, the registry chain (a fixed chain id, no
-- release: ops.ledger_registry_chain()):
--   - each insert into either registry table queues an entry on that chain (an AFTER INSERT row
--     trigger, ENABLE ALWAYS), linked at commit by the ledger's own path (ops.ledger_pending,
--     20261202000200), with the row's content hash (ops.ledger_content_hash, as for every fact) and a
--     row id derived from the row's key (ops.ledger_registry_row_id); this migration records the
--     registry as it stands, one entry per row in a fixed order;
--   - the registry only grows (rows are never updated or deleted through its own path), so every
--     entry of a registry row holds the content the row was registered with: both verifications
--     (of every chain, and of one release) compare every entry of the registry chain with the live
--     row it names, re-hash and re-link the registry chain, and report on that chain a registry
--     row changed (content_changed: at its first entry that differs, so a row changed and then
--     recorded again is found), gone (row_missing), or with no entry (unrecorded), and the chain
--     broken (link_broken), in the findings shape they already use (release_id null).
-- Per row rather than one digest of the whole registry per transaction: a digest taken at the
-- next legitimate registration would take in, and so launder, any change made behind the guards
-- before it; per row, a legitimate registration adds entries of new rows and leaves what earlier
-- rows were recorded as untouched.
-- A rewrite of the registry chain itself (hashes recomputed) is found, like any chain's, against a
-- checkpoint taken before it (ops.ledger_checkpoint covers the registry chain's head).

-- Takes nothing; returns the registry chain's id (a fixed UUID that is no release's: releases get
-- random version-4 ids). Raises nothing. Owner-only (not granted). Rule: this migration.
create function ops.ledger_registry_chain() returns uuid
language sql immutable
set search_path = pg_catalog, pg_temp
as $$ select '00000000-0000-0000-0000-000000000001'::uuid $$;

-- Takes a registry table's name ('ledger_fact_tables' or 'ledger_release_scope_arms') and a row of
-- it as jsonb; returns the row's id on the registry chain: the md5 (as a UUID) of the JSON array
-- [table, key...], the key being table_name for a registered fact table and table_name, arm_no for
-- an arm, so a row keeps its id whatever else changes in it. Returns null for another table.
-- Raises nothing. Owner-only (not granted). Rule: this migration.
create function ops.ledger_registry_row_id(p_table text, p_row jsonb) returns uuid
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.md5(case p_table
    when 'ledger_fact_tables' then pg_catalog.jsonb_build_array(p_table, p_row->'table_name')
    when 'ledger_release_scope_arms' then pg_catalog.jsonb_build_array(p_table, p_row->'table_name', p_row->'arm_no')
  end::text)::uuid
$$;

-- Takes a chain id; returns the release it belongs to, or null for the global chain and the
-- registry chain (the release_id of a finding). Raises nothing. Owner-only (not granted). Rule: the
-- ledger's chains (20261129004000; the registry chain, this migration).
create function ops.ledger_chain_release(p_chain_id uuid) returns uuid
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select case when p_chain_id in (ops.ledger_global_chain(), ops.ledger_registry_chain()) then null
              else p_chain_id end
$$;

-- AFTER INSERT row trigger on ops.ledger_fact_tables and ops.ledger_release_scope_arms (ENABLE
-- ALWAYS): queues the inserted row's entry on the registry chain in ops.ledger_pending, linked at
-- commit with the transaction's other entries (ops.ledger_link_pending). Returns null (an AFTER
-- trigger). Raises nothing of its own. Owner-rights, for the owner's inserts (no persona may write
-- either table); not granted. Rule: this migration.
create function ops.ledger_registry_record() returns trigger
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
  values (ops.ledger_registry_chain(), tg_table_name, ops.ledger_registry_row_id(tg_table_name, v_row), 'insert',
          ops.ledger_content_hash(v_row),
          not exists (select 1 from ops.ledger_pending q where q.xact = pg_catalog.pg_current_xact_id()));
  return null;
end
$$;

revoke execute on function ops.ledger_registry_chain(), ops.ledger_registry_row_id(text, jsonb),
  ops.ledger_chain_release(uuid), ops.ledger_registry_record() from public;

-- The registry as it stands: its chain (no release), then one entry per row, the registered
-- tables by name, then the arms by table and number.
insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash)
values (ops.ledger_registry_chain(), null, 0, ops.ledger_genesis());

do $$
declare
  r record;
begin
  set local "TimeZone" = 'UTC';
  set local "IntervalStyle" = 'postgres';
  for r in
    select 'ledger_fact_tables'::text as fact_table, pg_catalog.to_jsonb(f) as content, f.table_name, 0 as arm_no
    from ops.ledger_fact_tables f
    union all
    select 'ledger_release_scope_arms', pg_catalog.to_jsonb(a), a.table_name, a.arm_no
    from ops.ledger_release_scope_arms a
    order by 1, 3, 4
  loop
    perform ops.ledger_append(ops.ledger_registry_chain(), r.fact_table,
                              ops.ledger_registry_row_id(r.fact_table, r.content), 'insert',
                              ops.ledger_content_hash(r.content));
  end loop;
end
$$;

create trigger ledger_registry_record after insert on ops.ledger_fact_tables
  for each row execute function ops.ledger_registry_record();
create trigger ledger_registry_record after insert on ops.ledger_release_scope_arms
  for each row execute function ops.ledger_registry_record();
alter table ops.ledger_fact_tables enable always trigger ledger_registry_record;
alter table ops.ledger_release_scope_arms enable always trigger ledger_registry_record;

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261129004000 describes: broken links and hashes, heads that are not the
-- last entry, facts whose row is gone or changed, and facts with no entry (unrecorded). For one
-- release, its facts with no entry are read through the table's stored release scope arms
-- (ops.ledger_release_scope_arms), one indexed SELECT each; so are its facts recorded only on
-- other chains, reported when they differ from the latest entry there (moved into the release
-- behind the ledger). Both forms also check the registry on its own chain
-- (ops.ledger_registry_chain()): its links and head, every entry against the live registry row it
-- names (content_changed at the first entry that differs, row_missing when the row is gone), and
-- registry rows with no entry (unrecorded); about 45 rows and their entries, read by the chain's
-- primary key. Raises data_corrupted (XX001) naming the table when a table's arms, joined by
-- ' or ', are not its registered release_scope, or when the ledger has entries of a fact table that
-- is no longer registered (the registry changed behind its guards), for one release or every
-- chain; the arms' text is not in the error or the findings (the arms are the owner's, and
-- ops.verify_ledger's callers see its errors). Owner-only (not granted; ops.verify_ledger is).
-- Rule: the tamper-evident ledger, DESIGN section 7; the stored arms, 20261205100000; the registry
-- keeps every recorded table, 20261205230000; the registry on the ledger, this migration.
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
end
$$;revoke execute on function ops.ledger_findings(uuid) from public;

-- The report behind both forms of ops.verify_ledger: takes a release id or null (every chain);
-- returns {ok, release_id, chains, entries, head, findings: [{chain_id, release_id, seq,
-- fact_table, row_id, kind, detail}]} with the first finding of each chain (a finding of the
-- registry chain among them, release_id null, whichever form is asked). chains/entries/head count
-- the release's chain only (all chains without a release). Raises what ops.ledger_findings
-- raises. Owner-rights helper, not granted. Rule: 20261129004000; the finding's release_id for the
-- registry chain, this migration.
create or replace function ops.ledger_report(p_release_id uuid) returns jsonb
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_chains bigint;
  v_entries numeric;
begin
  if p_release_id is null then
    select count(*), coalesce(sum(c.head_seq), 0) into v_chains, v_entries from ops.ledger_chains c;
  else
    select count(*), coalesce(sum(c.head_seq), 0) into v_chains, v_entries
    from ops.ledger_chains c where c.chain_id = p_release_id;
  end if;
  return (
    with f as (
      select distinct on (x.chain_id) x.*
      from ops.ledger_findings(p_release_id) x
      order by x.chain_id, x.seq nulls last, x.fact_table, x.row_id
    )
    select pg_catalog.jsonb_build_object(
      'ok', not exists (select 1 from f),
      'release_id', p_release_id,
      'chains', v_chains,
      'entries', v_entries,
      'head', (select pg_catalog.jsonb_build_object('seq', h.head_seq, 'hash', h.head_hash)
               from ops.ledger_chains h where h.chain_id = p_release_id),
      'findings', coalesce((
        select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
          'chain_id', f.chain_id,
          'release_id', ops.ledger_chain_release(f.chain_id),
          'seq', f.seq, 'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail)
          order by f.seq nulls last, f.chain_id)
        from f), '[]'::jsonb)));
end
$$;revoke execute on function ops.ledger_report(uuid) from public;

-- Takes a checkpoint as returned by ops.ledger_checkpoint; returns {ok, compared, findings} as
-- 20261129004000 describes (chain_missing, entries_missing, rewritten); unchanged but for the
-- findings' release_id, now null for the registry chain as for the global one. Raises OPS22 when
-- the document is not a checkpoint or its root does not match its heads. For release_manager and
-- audit_reader (grants kept). Rule: 20261129004000; this migration.
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
        'chain_id', f.chain_id, 'release_id', ops.ledger_chain_release(f.chain_id), 'seq', f.seq,
        'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail) order by f.chain_id)
        from f), '[]'::jsonb))
  );
end
$$;