-- Verifying one release's ledger reads that release's facts, not every fact table whole. Found by
-- test/db/plans-at-scale.test.ts (ledgerVerification of one release, 2,500 releases ANALYZEd).
--
-- ops.ledger_findings looked for facts with no ledger entry with `where ($1 is null or (<scope>))`,
-- <scope> being the table's release scope from ops.ledger_fact_tables (20261129004000). A sub-select
-- under an OR is never turned into a join, so `t.gate_id in (select ... where g.release_id = $1)`
-- became a filter on a sequential read of the whole table (gate_checks, gate_transitions,
-- deployment_transitions, incidents), and evidence_artifacts' scope is itself an OR of four ways to
-- belong to a release. Now, for one release, the rows come from `t.<pk> in (<arm> union all <arm>
-- ...)`, one SELECT per top-level OR arm of the scope (ops.ledger_scope_arms): each arm is a plain
-- WHERE whose sub-select PostgreSQL joins through the table's index, and the IN is a semi-join on the
-- primary key. For every release (p_release_id null), `$1 is null or (...)` was true: the rows are
-- the whole table, as before. ops.ledger_report's count of chains read ops.ledger_chains whole for
-- the same reason (an SQL function is planned for any p_release_id): it is PL/pgSQL now, counting
-- one chain or all. Same findings and the same report; test/ledger/findings-per-release.test.ts
-- compares them with the previous definitions on every kind of finding.

-- Takes a release scope from ops.ledger_fact_tables (a boolean SQL expression over the alias t and
-- the parameter $1); returns its top-level OR arms, in order, whose union is the rows the scope
-- selects (AND and NOT bind tighter than OR, so a split outside parentheses is exact). A scope with
-- a quote, a comment or a CASE is returned whole (one arm: the same rows, read as before). Raises
-- nothing. Owner-only: called by ops.ledger_findings. Rule: the ledger's release scopes
-- (20261129004000).
create function ops.ledger_scope_arms(p_scope text) returns text[]
language plpgsql
immutable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_arms text[] := '{}';
  v_depth integer := 0;
  v_start integer := 1;
  v_len integer := pg_catalog.length(p_scope);
  v_ch text;
  i integer := 1;
begin
  if p_scope ~ '[''"]|--|/\*' or p_scope ~* '\mcase\M' then
    return array[p_scope];
  end if;
  while i <= v_len loop
    v_ch := pg_catalog.substr(p_scope, i, 1);
    if v_ch = '(' then
      v_depth := v_depth + 1;
    elsif v_ch = ')' then
      v_depth := v_depth - 1;
    elsif v_depth = 0 and pg_catalog.substr(p_scope, i, 4) ~* '^\sor\s$' then
      v_arms := v_arms || pg_catalog.btrim(pg_catalog.substr(p_scope, v_start, i - v_start));
      v_start := i + 4;
      i := i + 3;
    end if;
    i := i + 1;
  end loop;
  return v_arms || pg_catalog.btrim(pg_catalog.substr(p_scope, v_start));
end
$$;
revoke execute on function ops.ledger_scope_arms(text) from public;

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261129004000 describes: broken links and hashes, heads that are not the
-- last entry, facts whose row is gone or changed, and facts with no entry (unrecorded). For one
-- release, its facts with no entry are read through the table's release scope split into arms
-- (ops.ledger_scope_arms), one indexed SELECT each. Raises nothing of its own. Owner-only (not
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
  end loop;
end
$$;
revoke execute on function ops.ledger_findings(uuid) from public;

-- Takes a release id, or null for every chain; returns the report behind both forms of
-- ops.verify_ledger (20261129004000): {ok, release_id, chains, entries, head, findings}, the
-- first finding of each chain. The chains and entries it counts are the release's chain, or all.
-- Raises nothing of its own. Owner-only (not granted). Rule: the tamper-evident ledger, DESIGN
-- section 7.
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
          'release_id', nullif(f.chain_id, ops.ledger_global_chain()),
          'seq', f.seq, 'fact_table', f.fact_table, 'row_id', f.row_id, 'kind', f.kind, 'detail', f.detail)
          order by f.seq nulls last, f.chain_id)
        from f), '[]'::jsonb)));
end
$$;
revoke execute on function ops.ledger_report(uuid) from public;
