-- The ledger's release scopes are stored as their arms, not split from SQL text at run time.
--
-- Verifying one release reads each fact table's rows of that release through the top-level OR arms
-- of the table's release scope, one indexed SELECT per arm (20261204200100, 20261204220000). The
-- arms came from ops.ledger_scope_arms, which parsed the scope's text at each verification: it
-- counted parentheses, knew nothing of quotes, comments or CASE (it returned such a scope whole),
-- and was shown right only by a test comparing it with every scope then stored.
--
-- Now the arms are data: ops.ledger_release_scope_arms holds each registered fact table's arms, in
-- order, and verification reads them. The registry's release_scope stays (read by the auditors,
-- and it is the definition of 20261129004000) and is, by rule, the arms joined by ' or ':
--   - when a fact table is registered or an arm is added, a deferred constraint trigger checks, at
--     commit, that the table's arms are numbered 1..n, that release_scope is exactly
--     arm1 || ' or ' || arm2 ..., and that each arm is on its own a boolean expression over t and
--     $1 (it is planned as the whole WHERE of a SELECT of the table, and in parentheses). An arm
--     may hold no comment. OR is the loosest operator of PostgreSQL's expressions, and an arm that
--     is a whole expression with no comment ends where its text ends, so the scope's text is the
--     OR of the arms: it selects exactly the rows of their union.
--   - the arms are append-only for the owner too, like the registry (ENABLE ALWAYS guards).
--   - an owner who disables those guards and changes, adds or removes an arm (or a scope) makes the
--     two differ: every verification, of one release or of every chain, compares them first and
--     raises data_corrupted (XX001) naming the table, rather than answer through a definition
--     that is not the registry's. (Changing an arm and its scope together, consistently, is a
--     change of the registry itself, which the ledger does not record: README, "What the ledger
--     proves".)
-- A new fact table needs its registry row, its arms (one arm, its whole scope, when the scope is
-- no OR) and its trigger lines, in one migration.

create table ops.ledger_release_scope_arms (
  table_name text not null references ops.ledger_fact_tables (table_name),
  arm_no integer not null check (arm_no > 0),
  arm text not null check (pg_catalog.btrim(arm) <> '' and arm !~ '--|/\*'),
  primary key (table_name, arm_no)
);

-- Read and written by the owner alone: no persona has a grant, and RLS has no policy.
alter table ops.ledger_release_scope_arms enable row level security;
revoke all on ops.ledger_release_scope_arms from public;

create trigger ledger_release_scope_arms_fixed before update or delete on ops.ledger_release_scope_arms
  for each row execute function ops.ledger_refuse_change();
create trigger ledger_release_scope_arms_no_truncate before truncate on ops.ledger_release_scope_arms
  for each statement execute function ops.ledger_refuse_change();
alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_fixed;
alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_no_truncate;

-- Takes a registered fact table's name; returns nothing. Raises check_violation (23514) naming the
-- table when it has no arms, when its arms are not numbered 1..n, when its release_scope is not its
-- arms joined by ' or ' in order, or when an arm is not on its own a boolean expression over the
-- alias t and the release id $1 (the planner's message is in the detail). Plans each arm with
-- LIMIT 0: reads no row. Owner-only (not granted; called by ops.ledger_release_scope_arms_check).
-- Rule: the ledger's release scopes and their arms (this migration).
create function ops.ledger_release_scope_arms_verify(p_table text) returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
  v_scope text;
  v_joined text;
  v_count bigint;
  v_last integer;
  a record;
begin
  select f.release_scope into v_scope from ops.ledger_fact_tables f where f.table_name = p_table;
  select pg_catalog.string_agg(x.arm, ' or ' order by x.arm_no), pg_catalog.count(*), pg_catalog.max(x.arm_no)
    into v_joined, v_count, v_last
  from ops.ledger_release_scope_arms x where x.table_name = p_table;
  if v_count = 0 then
    raise exception 'ops.ledger_release_scope_arms: the fact table % has no arms', p_table
      using errcode = 'check_violation',
            hint = 'register its release scope as arms too: one arm, the whole scope, when it is no OR';
  end if;
  if v_last <> v_count then
    raise exception 'ops.ledger_release_scope_arms: the arms of % are numbered up to % but there are %',
      p_table, v_last, v_count
      using errcode = 'check_violation', hint = 'number the arms 1, 2, ... without gaps';
  end if;
  if v_scope is distinct from v_joined then
    raise exception 'ops.ledger_release_scope_arms: the release scope of % is not its arms joined by '' or '''
      , p_table
      using errcode = 'check_violation',
            detail = pg_catalog.format('release_scope: %s; arms joined: %s', v_scope, v_joined);
  end if;
  for a in select x.arm_no, x.arm from ops.ledger_release_scope_arms x where x.table_name = p_table order by x.arm_no loop
    begin
      execute pg_catalog.format(E'select from ops.%I t where %s\nlimit 0', p_table, a.arm) using null::uuid;
      execute pg_catalog.format('select from ops.%I t where (%s) is not null limit 0', p_table, a.arm) using null::uuid;
    exception when others then
      raise exception 'ops.ledger_release_scope_arms: arm % of % is not a boolean expression over t and $1 on its own',
        a.arm_no, p_table
        using errcode = 'check_violation', detail = pg_catalog.format('%s: %s', a.arm, sqlerrm);
    end;
  end loop;
end
$$;
revoke execute on function ops.ledger_release_scope_arms_verify(text) from public;

-- AFTER INSERT on ops.ledger_fact_tables and ops.ledger_release_scope_arms, deferred to commit:
-- the inserted row's table is checked by ops.ledger_release_scope_arms_verify (its errors). Returns
-- nothing. Owner-only (a trigger function; not granted). Rule: this migration.
create function ops.ledger_release_scope_arms_check() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  perform ops.ledger_release_scope_arms_verify(new.table_name);
  return null;
end
$$;
revoke execute on function ops.ledger_release_scope_arms_check() from public;

create constraint trigger ledger_release_scope_arms_match after insert on ops.ledger_fact_tables
  deferrable initially deferred for each row execute function ops.ledger_release_scope_arms_check();
create constraint trigger ledger_release_scope_arms_match after insert on ops.ledger_release_scope_arms
  deferrable initially deferred for each row execute function ops.ledger_release_scope_arms_check();
alter table ops.ledger_fact_tables enable always trigger ledger_release_scope_arms_match;
alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_match;

-- Every registered fact table's arms: its whole scope, where the scope is no OR; evidence
-- artifacts' four ways to belong to a release, in the order of their scope (20261129004000).
insert into ops.ledger_release_scope_arms (table_name, arm_no, arm)
select f.table_name, 1, f.release_scope from ops.ledger_fact_tables f
where f.table_name <> 'evidence_artifacts';
insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values
  ('evidence_artifacts', 1, 't.release_id = $1'),
  ('evidence_artifacts', 2, 't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1)'),
  ('evidence_artifacts', 3,
   't.check_id in (select c.check_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id where g.release_id = $1)'),
  ('evidence_artifacts', 4, 't.deployment_id in (select d.deployment_id from ops.deployments d where d.release_id = $1)');

-- Takes a release id, or null for every chain; returns the ledger's findings (chain, seq, table,
-- row, kind, detail) as 20261129004000 describes: broken links and hashes, heads that are not the
-- last entry, facts whose row is gone or changed, and facts with no entry (unrecorded). For one
-- release, its facts with no entry are read through the table's stored release scope arms
-- (ops.ledger_release_scope_arms), one indexed SELECT each; so are its facts recorded only on
-- other chains, reported when they differ from the latest entry there (moved into the release
-- behind the ledger). Raises data_corrupted (XX001) naming the table when a table's arms, joined
-- by ' or ', are not its registered release_scope (the registry changed behind its guards), for
-- one release or every chain; the arms' text is not in the error (the arms are the owner's, and
-- ops.verify_ledger's callers see its errors). Owner-only (not granted; ops.verify_ledger is). Rule: the
-- tamper-evident ledger, DESIGN section 7; the stored arms, this migration.
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

-- The splitter is no longer read by anything.
drop function ops.ledger_scope_arms(text);
