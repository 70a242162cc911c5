-- Two plans that read a whole fact table, found by test/db/plans-at-scale.test.ts on a database of
-- 2,500 releases (ANALYZEd). Same statements, same results; only the plans change.
--
-- 1. Approving an exception. ops.exceptions_guard (20261129001300) checks that the approver's
--    approval row exists: approvals where exception_id = the exception and approver_id = the
--    approver. No index starts with exception_id, so every approval of an exception read the
--    whole approvals table (3,375 rows there; every gate sign-off of every release is one). A
--    partial index on the approvals that carry an exception answers it: the equality on
--    exception_id implies the index's predicate, and gate sign-offs (exception_id null, nearly
--    all the rows) stay out of it.
--
-- 2. The exception-status page (ops.v_exception_status, first page by expiry). The view joined each
--    exception to its release; with a few dozen exceptions the planner judged hashing every release
--    (a sequential read of ops.releases) cheaper than one primary-key probe per exception, so the
--    page's cost followed the number of releases. The release's name and project now come from a
--    lateral subquery per exception, kept apart by OFFSET 0 (PostgreSQL does not pull such a
--    subquery up into a join), so each exception reads its own release by primary key, and the
--    page walks exceptions_expires_id and stops at the page as 20261204150000 intended. An inner
--    lateral join over the same release row under the same row-level security: the same rows
--    (ops.exceptions.release_id is a not-null foreign key to ops.releases, and the view's readers
--    see every release) with the same columns in the same order.

create index approvals_exception on ops.approvals (exception_id, approver_id) where exception_id is not null;

create or replace view ops.v_exception_status with (security_invoker = true) as
select e.exception_id, e.release_id, r.project, r.release_name, e.exception_type, e.impacted_gates,
       s.state,
       e.post_review_status,
       s.time_left,
       e.requested_by, e.approver_id, e.approved_at, e.effective_from, e.expires_at, e.reason, e.created_at
from ops.exceptions e
cross join lateral (select x.project, x.release_name from ops.releases x where x.release_id = e.release_id offset 0) r
cross join lateral ops.exception_standing(e) s;
