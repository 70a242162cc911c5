-- Two transactions writing facts of one release at once (two ingest events, two API instances)
-- each computed the gates from what it could see: its own facts and what had committed. The one
-- that stored last stored a status computed without the other's fact, so the stored status could
-- read `passed` while the rule, over both facts, says `failed`. Evaluating a release now first locks
-- the release row (FOR NO KEY UPDATE: it does not block the foreign-key checks of facts being
-- written), so evaluations of one release take turns until commit; under READ COMMITTED the
-- computation that follows sees every fact committed before the lock was granted, and under
-- REPEATABLE READ or SERIALIZABLE the later one fails with a serialization error instead of storing a
-- stale status (the ingest answers 503 with Retry-After; the retry then sees both facts).

-- Recomputes a release's four gates and stores what changed, then its derived status. Takes a
-- release id and the reason the gate transitions record (null: a generic one); returns nothing.
-- Takes the release's row lock until the transaction ends. Internal (triggers and governance
-- functions call it). Rule: DESIGN section 4 (stored status follows every fact).
create or replace function ops.evaluate_release(p_release_id uuid, p_reason text default null)
returns void
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  c record;
  v_status public.ops_release_status;
begin
  perform 1 from ops.releases r where r.release_id = p_release_id for no key update;
  perform ops.context_enter('evaluating', p_release_id,
    coalesce(p_reason, 'recomputed from the gate''s checks, evidence, approvals and exceptions'));
  for c in select * from ops.compute_release_gates(p_release_id) loop
    update ops.release_gates g set
      status = c.status,
      exception_id = c.exception_id,
      entered_at = case when c.status <> 'pending' then coalesce(g.entered_at, pg_catalog.clock_timestamp())
                        else g.entered_at end,
      resolved_at = case when c.status in ('passed', 'failed', 'bypassed') then pg_catalog.clock_timestamp() end,
      resolved_by = case when c.status in ('passed', 'failed', 'bypassed') then ops.current_actor() end
    where g.gate_id = c.gate_id
      and (g.status is distinct from c.status or g.exception_id is distinct from c.exception_id);
  end loop;
  perform ops.context_leave('evaluating', p_release_id);
  v_status := ops.derive_release_status(p_release_id);
  update ops.releases r set status = v_status where r.release_id = p_release_id and r.status <> v_status;
end
$$;
