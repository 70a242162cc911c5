-- ops.stamp_revision serves only the facts that name their release (approvals, exceptions). Its
-- branches for gate checks and evidence became unreachable when those tables got one stamp trigger
-- each (20261203200000), which derive the revision themselves: the branches were a second copy of
-- those derivations. Found by plpgsql_check (test/db/plpgsql-check.test.ts), which reads every
-- branch against the tables the trigger serves.

-- BEFORE INSERT on ops.approvals and ops.exceptions: takes the new row; returns it with revision
-- set to its release's current revision, over whatever the writer gave. Raises nothing. Rule: "facts
-- are stamped with the revision" (20261129002100).
create or replace function ops.stamp_revision() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  new.revision := (select r.revision from ops.releases r where r.release_id = new.release_id);
  return new;
end
$$;
