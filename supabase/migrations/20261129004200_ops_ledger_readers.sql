-- The ledger is readable by those who read everything (release_manager, audit_reader), as every
-- other table of ops is: an auditor may export the entries and recompute them elsewhere. Still
-- written by no persona: only the owner-rights trigger functions of 20261129004000_ops_ledger.sql
-- append, and the append-only guards refuse every change, for the owner too.
create policy ledger_fact_tables_read_all on ops.ledger_fact_tables for select to release_manager, audit_reader using (true);
create policy ledger_chains_read_all on ops.ledger_chains for select to release_manager, audit_reader using (true);
create policy ledger_entries_read_all on ops.ledger_entries for select to release_manager, audit_reader using (true);
grant select on ops.ledger_fact_tables, ops.ledger_chains, ops.ledger_entries to release_manager, audit_reader;
