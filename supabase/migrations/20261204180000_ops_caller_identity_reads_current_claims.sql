-- The claims are read and judged in one place. ops.caller_identity (20261204170000) carried its own
-- copy of ops.current_claims' reading of request.jwt.claims: the 4096-byte bound, the cast in an
-- exception block and the object check, written out twice. It now takes the claims from
-- ops.current_claims, so a change to what claims are accepted is made once. Same errors, messages,
-- signature and grants; one PL/pgSQL call more per reading.

-- The caller, read once: the persona (the role the transaction assumed, NULL when it is not one
-- of the six) and the claims' sub (NULL when absent). Takes nothing. OPS03 when the claims name
-- another persona than the role, and whatever ops.current_claims raises (OPS03: claims longer than
-- 4096 bytes, or set but not a JSON object): the caller's identity cannot be read. Every persona
-- may call it (it answers only about the caller). Rule: DESIGN section 5 (identity inside SQL).
create or replace function ops.caller_identity(out persona public.ops_persona, out sub text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := pg_catalog.current_setting('role');
  v_claims jsonb := ops.current_claims();
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
