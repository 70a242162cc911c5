-- An exception names its gates: a NULL among them is refused.
--
-- ops.exceptions.impacted_gates was checked only for being non-empty: '{NULL}' (a release manager's
-- RPC call `ops.request_exception(..., p_impacted_gates => '{NULL}', ...)`, approved by a second
-- one) was stored. Such an exception bypasses and waives nothing (no gate equals NULL), but its
-- expiry has no gate to be recorded against (ops.deadline_transitions.gate_code is NOT NULL): the
-- deadline sweep could never record it, and before 20261206200000 that stopped the whole sweep for
-- every release. Now the row is refused at every door, the owner's included (check_violation,
-- naming this constraint; GraphQL's input type already required a gate code per element).
-- NOT VALID: a database that already holds such a row keeps it (the sweep reports it each run) and
-- migrates; every new or changed row is checked.
alter table ops.exceptions
  add constraint exceptions_impacted_gates_named check (pg_catalog.array_position(impacted_gates, null) is null)
  not valid;
