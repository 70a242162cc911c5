-- Whole-table reads on the paths test/db/plans-at-scale.test.ts did not drive before: the outbox
-- announcer, the webhook delivery job, the ledger's link at commit, one release's ledger
-- verification and the recovery-drill list. Found on a database of 2,500 releases (ANALYZEd).
-- Same statements, same results; only the plans change.
--
-- 1. The outbox announcer (ops.outbox_announce, run every 100 ms by each instance's events
--    listener and by the webhook worker) reads the events it took by joining the array of their
--    ids to ops.outbox_events. With a full batch (100) behind a backlog, the planner hashed the
--    whole outbox (a sequential read of 5,000 rows) rather than probe its primary key 100 times,
--    and the outbox only grows. The join now also says `e.event_id = any (v_events)`, which the
--    join already implies: an index condition on the primary key, whatever the estimate.
-- 2. The webhook delivery job (ops.webhook_record_attempts, once per batch job) counted each
--    attempt on its delivery by joining the attempts' arrays to ops.webhook_deliveries: a
--    sequential read of every delivery ever made (5,000), per batch. Same cure:
--    `d.delivery_id = any (p_delivery_ids)`.
-- 3. The ledger's link at commit (ops.ledger_link_pending, every transaction that writes facts)
--    moves the heads of the chains it extended by joining their arrays to ops.ledger_chains; the
--    deadline sweep's transaction (a few chains) read every chain (2,500, one per release). Same
--    cure: `c.chain_id = any (v_chains)`.
-- 4. One release's ledger verification looks for its exception reviews (`where release_id = $1`);
--    no index started with release_id, so it read every review. An index on release_id.
-- 5. The recovery drills (Query.recoveryDrills: the latest 100, of one environment or all) were
--    sorted from a sequential read of every drill. An index in the list's order, which the list
--    walks and leaves at its 100th row (of the environment asked for, when one is).

create index exception_reviews_release on ops.exception_reviews (release_id);

create index recovery_drills_latest on ops.recovery_drills (executed_at desc, drill_id desc);

-- Takes a batch size (events, capped at 1000). Notifies channel 'ops_outbox' once per committed
-- outbox event not yet announced, oldest first, with {"event_id","release_id","project","kind"}
-- (the notifications go out when the caller's transaction commits, so a caller that rolls back
-- announces nothing and leaves the events to the next announcer), and marks them announced.
-- Events another transaction is announcing are skipped (SKIP LOCKED): each is announced once.
-- Returns the number of events announced (fewer than p_limit: none are left). Raises OPS22 for a
-- batch size below 1. Called by the API login (through public.ops_outbox_announce, 20261203100200)
-- and the webhook worker (owner). As 20261203100000 defined it, the events taken read by primary
-- key (above). Rule: issue of the outbox (subscriptions fed from LISTEN/NOTIFY for changes made
-- through any door).
create or replace function ops.outbox_announce(p_limit integer) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_events uuid[];
  v_notice text;
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'batch size must be at least 1' using errcode = 'OPS22';
  end if;
  select pg_catalog.array_agg(x.event_id order by x.created_at, x.event_id) into v_events
  from (select e.event_id, e.created_at
        from ops.outbox_events e
        where e.announced_at is null
        order by e.created_at
        limit least(p_limit, 1000)
        for update skip locked) x;
  if v_events is null then
    return 0;
  end if;
  for v_notice in
    select pg_catalog.json_build_object('event_id', e.event_id, 'release_id', e.release_id,
                                        'project', e.project, 'kind', e.kind)::text
    from pg_catalog.unnest(v_events) with ordinality as a(event_id, n)
    join ops.outbox_events e on e.event_id = a.event_id
    where e.event_id = any (v_events)
    order by a.n
  loop
    perform pg_catalog.pg_notify('ops_outbox', v_notice);
  end loop;
  update ops.outbox_events e set announced_at = pg_catalog.clock_timestamp()
  where e.event_id = any (v_events);
  return pg_catalog.cardinality(v_events);
end
$$;

-- Worker (owner only). Takes one attempt per delivery as parallel arrays: delivery id, when it
-- started, its duration (ms), the HTTP status (null: no answer), the error (null: none; kept to
-- 1000 characters) and the outcome ('delivered', 'retry', 'failed' or 'refused'). In one statement,
-- as ops.webhook_record_attempt does for one: counts the attempt on each delivery, sets its status
-- ('retry' leaves it pending) and delivery time, and records the attempt under its number. Returns
-- the number of attempts recorded. Raises OPS22 for arrays of different lengths, a delivery named
-- twice or an unknown outcome, OPS04 for a delivery that does not exist (nothing is recorded then).
-- As 20261203100100 defined it, the deliveries read by primary key (above). Rule: issue of the
-- outbox (delivery attempts and their outcomes are visible).
create or replace function ops.webhook_record_attempts(
  p_delivery_ids uuid[], p_started_at timestamptz[], p_duration_ms integer[], p_status_codes integer[],
  p_errors text[], p_outcomes text[]
) returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := coalesce(pg_catalog.cardinality(p_delivery_ids), 0);
  v_recorded integer;
begin
  if v_count = 0 then
    return 0;
  end if;
  if coalesce(pg_catalog.cardinality(p_started_at), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_duration_ms), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_status_codes), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_errors), 0) <> v_count
     or coalesce(pg_catalog.cardinality(p_outcomes), 0) <> v_count then
    raise exception 'one started_at, duration, status code, error and outcome per delivery'
      using errcode = 'OPS22';
  end if;
  if exists (select 1 from pg_catalog.unnest(p_outcomes) o
             where o is null or o not in ('delivered', 'retry', 'failed', 'refused')) then
    raise exception 'outcome must be delivered, retry, failed or refused' using errcode = 'OPS22';
  end if;
  if (select pg_catalog.count(distinct x) from pg_catalog.unnest(p_delivery_ids) x) <> v_count then
    raise exception 'a delivery is named twice or is null' using errcode = 'OPS22';
  end if;
  with a as (
    select * from rows from (pg_catalog.unnest(p_delivery_ids), pg_catalog.unnest(p_started_at),
                             pg_catalog.unnest(p_duration_ms), pg_catalog.unnest(p_status_codes),
                             pg_catalog.unnest(p_errors), pg_catalog.unnest(p_outcomes)) with ordinality
      as a(delivery_id, started_at, duration_ms, status_code, error, outcome, n)
  ), counted as (
    update ops.webhook_deliveries d
       set attempts = d.attempts + 1,
           last_attempt_at = a.started_at,
           status = case a.outcome when 'retry' then 'pending' else a.outcome end,
           delivered_at = case when a.outcome = 'delivered' then pg_catalog.clock_timestamp()
                               else d.delivered_at end
      from a
     where d.delivery_id = a.delivery_id and d.delivery_id = any (p_delivery_ids)
    returning d.delivery_id, d.attempts
  )
  insert into ops.webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error, outcome)
  select a.delivery_id, c.attempts, a.started_at, a.duration_ms, a.status_code, pg_catalog.left(a.error, 1000),
         a.outcome
  from a join counted c on c.delivery_id = a.delivery_id
  order by a.n;
  get diagnostics v_recorded = row_count;
  if v_recorded <> v_count then
    raise exception 'no webhook delivery for % of the % attempts', v_count - v_recorded, v_count
      using errcode = 'OPS04';
  end if;
  return v_recorded;
end
$$;

-- Deferred constraint trigger on ops.ledger_pending (queued only for an entry that carries the
-- link, 20261203200100): at commit, links every entry the transaction queued, chain by chain in
-- chain order (so linking transactions lock chains in one order), each chain's entries in the
-- order their facts were written and chained by ops.ledger_entry_hash; all entries in one insert,
-- all heads moved in one update (each head locked FOR UPDATE before its first entry is hashed);
-- then empties the transaction's queue. A firing that finds its transaction's queue empty (already
-- linked by an earlier firing) returns. Returns null. Raises nothing of its own (the head guard's
-- OPS03 if a head would not move to the last entry). As 20261204160000 defined it, the heads
-- moved read by primary key (above). Internal: executed by no persona. Rule: issue "tamper-evident
-- record" (chains linked at commit, 20261129004300, 20261129004400, 20261203200100).
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
  where c.chain_id = h.chain_id and c.chain_id = any (v_chains);
  delete from ops.ledger_pending q where q.xact = v_xact;
  return null;
end
$$;
