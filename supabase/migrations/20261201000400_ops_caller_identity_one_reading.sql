-- The caller's identity is read 13 to 14 times an event (every stamped row, every current_actor).
-- Each reading called ops.current_claims (a function with its own SET clause, so its own
-- configuration switch) and listed the persona enum up to three times. It now reads the claims
-- setting itself and lists the enum once. Same answers, same errors; nothing is cached between
-- readings (a value kept for the transaction would be writable by the caller through the raw SQL
-- door: docs/profiling.md).

-- The caller, read once: the persona (the role the transaction assumed, NULL when it is not one
-- of the six) and the claims' sub (NULL when absent). Takes nothing. OPS03 when the claims name
-- another persona than the role; 22P02 when the claims are not JSON (as ops.current_claims). Every
-- persona may call it (it answers only about the caller). Rule: DESIGN section 5 (identity inside
-- SQL).
create or replace function ops.caller_identity(out persona public.ops_persona, out sub text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := pg_catalog.current_setting('role');
  v_claims jsonb := coalesce(nullif(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}'::jsonb);
  v_personas text[];
  v_named text;
begin
  sub := nullif(v_claims ->> 'sub', '');
  if v_role is null or v_role = 'none' then
    return;
  end if;
  v_personas := pg_catalog.enum_range(null::public.ops_persona)::text[];
  if not v_role = any (v_personas) then
    return;
  end if;
  foreach v_named in array array[v_claims ->> 'role', v_claims -> 'app_metadata' ->> 'ops_role'] loop
    if v_named is distinct from v_role and v_named = any (v_personas) then
      raise exception 'the claims name persona %, but the transaction assumed %', v_named, v_role
        using errcode = 'OPS03';
    end if;
  end loop;
  persona := v_role::public.ops_persona;
end
$$;
revoke execute on function ops.caller_identity() from public;
grant execute on function ops.caller_identity()
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
