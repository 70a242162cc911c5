-- ops.v_exception_status judged "expired" and "scheduled" and the time left at now(), the start of
-- the reader's transaction, while ops.exception_is_active() judges at clock_timestamp(), the moment
-- of the read. A GraphQL request reads in one transaction, so an exception that expired between its
-- start and the read was neither active (by the clock) nor expired (by now()) and showed as
-- pending approval. Every instant in the view is now the moment of the read; an approved exception
-- that turns effective between two readings of the clock shows as active, as it is by then.
-- Columns, grants and the read-only trigger are unchanged.
create or replace view ops.v_exception_status with (security_invoker = true) as
select e.exception_id, e.release_id, r.project, r.release_name, e.exception_type, e.impacted_gates,
       case
         when ops.exception_is_active(e) then 'active'
         when e.expires_at <= pg_catalog.clock_timestamp() then 'expired'
         when e.approver_id is not null and e.approver_id <> e.requested_by
              and e.effective_from > pg_catalog.clock_timestamp() then 'scheduled'
         when e.approver_id is not null and e.approver_id <> e.requested_by then 'active'
         else 'pending_approval'
       end as state,
       e.post_review_status,
       case when ops.exception_is_active(e) then e.expires_at - pg_catalog.clock_timestamp() end as time_left,
       e.requested_by, e.approver_id, e.approved_at, e.effective_from, e.expires_at, e.reason, e.created_at
from ops.exceptions e
join ops.releases r on r.release_id = e.release_id;
