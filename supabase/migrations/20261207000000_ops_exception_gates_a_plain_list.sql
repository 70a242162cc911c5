-- An exception names its gates as a plain list: one dimension, numbered from 1, each gate once.
--
-- ops.exceptions.impacted_gates was checked for being non-empty and holding no NULL, nothing else.
-- Through RPC or raw SQL a persona that may request exceptions could store other shapes:
-- '[0:0]={G2}' (a list numbered from 0) was stored and, once approved, bypassed G2, while its text
-- form is not a plain list: the API's exception reads (Exception.impactedGates) failed on it with an
-- internal error and answered null, so an auditor asking which gates an exception bypasses got no
-- answer for that one. '{G1,G1,...}' (any number of repeats of the four gates) was stored whole and
-- copied into every outbox event, webhook delivery and deadline-sweep reason written for it (200,000
-- repeats made an 800 kB expiry reason). '{{G2},{G3}}' was refused, but by an internal error
-- ("searching for elements in multidimensional arrays is not supported", from the NULL check) that
-- names neither the column nor what is wrong with it. Now each of these is refused at every door,
-- the owner's included, with a check_violation naming this constraint; NULL and empty lists keep
-- their own constraints (exceptions_impacted_gates_named, exceptions_impacted_gates_check).
-- NOT VALID: a database that already holds such a row keeps it and migrates; every new or changed
-- row is checked. The constraint's name sorts before exceptions_impacted_gates_named, so a
-- multi-dimensional list meets this check before that one's internal error.

-- Takes a list of gate codes; returns true when it has one dimension numbered from 1 and no gate
-- twice (NULL elements are not judged here), false for any other shape, NULL for an empty or NULL
-- list (left to the other constraints). Raises nothing. Used by the check constraint
-- exceptions_impacted_gates_flat_list; executable by the owner and by release_manager, the one
-- persona that may insert into ops.exceptions directly (a check constraint's functions run with
-- the inserting role's privileges). Rule: this migration.
create function ops.gate_list_is_plain(p_gates public.ops_gate_code[]) returns boolean
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
  select case
    when p_gates is null or pg_catalog.cardinality(p_gates) = 0 then null
    else pg_catalog.array_ndims(p_gates) = 1
         and pg_catalog.array_lower(p_gates, 1) = 1
         and (select pg_catalog.count(g) = pg_catalog.count(distinct g) from pg_catalog.unnest(p_gates) g)
  end
$$;
revoke execute on function ops.gate_list_is_plain(public.ops_gate_code[]) from public;
grant execute on function ops.gate_list_is_plain(public.ops_gate_code[]) to release_manager;

alter table ops.exceptions
  add constraint exceptions_impacted_gates_flat_list check (ops.gate_list_is_plain(impacted_gates))
  not valid;
