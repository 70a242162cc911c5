-- The ledger's stored release scope arms are read by those who read the registry they belong to.
--
-- ops.ledger_fact_tables (each fact table's release scope) is read by release_manager and
-- audit_reader (20261129004200): an auditor checks what a release's verification looks at. Its
-- arms (20261205100000), which one release's verification reads the table through and whose join
-- is that scope, were granted to no one, so the auditor saw the scope but not the arms that
-- verification actually runs, and the rule that the audit_reader reads every table of ops
-- (test/personas/rls-matrix.test.ts) no longer held. Now the same two personas read them, through
-- the same kind of policy; nobody but the owner writes them (append-only for the owner too, as before).
create policy ledger_release_scope_arms_read_all on ops.ledger_release_scope_arms
  for select to release_manager, audit_reader using (true);
grant select on ops.ledger_release_scope_arms to release_manager, audit_reader;
