-- Claims that are not a JSON object are refused with OPS03, never a raw cast error. Through the raw
-- SQL door a login may set request.jwt.claims to anything (set_config(..., true)) and then call any
-- function its persona may execute: text that is not JSON got 22P02, a NUL escape ("\u0000", which
-- jsonb cannot hold) 22P05, and a JSON array, string or null was read as claims without a sub (the
-- caller then acted under the database user's name, 'db:' || session_user). Both readings of the
-- setting (ops.caller_identity, behind every stamp, current_actor and current_persona, and
-- ops.current_claims) now refuse such claims with OPS03: the caller's identity cannot be read, so
-- nothing may be done in its name (the API never sends such claims: only a forged setting does,
-- which is a caller not being who it says, like claims naming another persona). The message names
-- request.jwt.claims and what is wrong with it, never the claims' content.
--
-- The check costs no subtransaction where the server can judge input without raising
-- (pg_input_is_valid, PostgreSQL 16 and later): caller_identity runs about ten times an ingest
-- event. On PostgreSQL 15 the cast runs inside an exception block (one subtransaction a reading).
-- The function bodies are the same text on every server (supabase/schema.sql describes both).

-- check_function_bodies off: on PostgreSQL 15 pg_input_is_valid does not exist, and
-- ops.claims_text_is_json is then never called (the readers below branch on the server version).
set local check_function_bodies = off;

-- Whether text is valid jsonb input, judged without raising (so without a subtransaction). Takes
-- the claims text; returns a boolean. PostgreSQL 16 and later only: the readers of the claims call
-- it only there. Raises nothing. Every persona may call it: the readers run with their caller's
-- rights, and it reads nothing but its argument.
create function ops.claims_text_is_json(p_text text) returns boolean
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select pg_catalog.pg_input_is_valid(p_text, 'pg_catalog.jsonb')
$$;
revoke execute on function ops.claims_text_is_json(text) from public;
grant execute on function ops.claims_text_is_json(text)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

reset check_function_bodies;

-- The caller, read once: the persona (the role the transaction assumed, NULL when it is not one
-- of the six) and the claims' sub (NULL when absent). Takes nothing. OPS03 when the claims name
-- another persona than the role, and when request.jwt.claims is set but is not a JSON object (not
-- JSON, a NUL escape, an array, a string, a number, null): the caller's identity cannot be read.
-- Every persona may call it (it answers only about the caller). Rule: DESIGN section 5 (identity
-- inside SQL). The same reading of the setting as ops.current_claims.
create or replace function ops.caller_identity(out persona public.ops_persona, out sub text)
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_role text := pg_catalog.current_setting('role');
  v_text text := pg_catalog.current_setting('request.jwt.claims', true);
  v_claims jsonb := '{}'::jsonb;
  v_personas text[];
  v_named text;
begin
  if v_text <> '' then
    if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
      if not ops.claims_text_is_json(v_text) then
        raise exception 'request.jwt.claims is not JSON' using errcode = 'OPS03';
      end if;
      v_claims := v_text::jsonb;
    else
      begin
        v_claims := v_text::jsonb;
      exception when data_exception then
        raise exception 'request.jwt.claims is not JSON' using errcode = 'OPS03';
      end;
    end if;
    if pg_catalog.jsonb_typeof(v_claims) <> 'object' then
      raise exception 'request.jwt.claims is a JSON %, not an object', pg_catalog.jsonb_typeof(v_claims)
        using errcode = 'OPS03';
    end if;
  end if;
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

-- The claims of the transaction's caller (request.jwt.claims), '{}' when none. Takes nothing;
-- returns jsonb (an object). OPS03 when the setting is not a JSON object (as ops.caller_identity,
-- the same reading). Input, never a permission: the persona is the role (ops.current_persona).
-- Every persona may call it (it answers only about the caller). Rule: DESIGN section 5.
create or replace function ops.current_claims() returns jsonb
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
declare
  v_text text := pg_catalog.current_setting('request.jwt.claims', true);
  v_claims jsonb := '{}'::jsonb;
begin
  if v_text <> '' then
    if pg_catalog.current_setting('server_version_num')::integer >= 160000 then
      if not ops.claims_text_is_json(v_text) then
        raise exception 'request.jwt.claims is not JSON' using errcode = 'OPS03';
      end if;
      v_claims := v_text::jsonb;
    else
      begin
        v_claims := v_text::jsonb;
      exception when data_exception then
        raise exception 'request.jwt.claims is not JSON' using errcode = 'OPS03';
      end;
    end if;
    if pg_catalog.jsonb_typeof(v_claims) <> 'object' then
      raise exception 'request.jwt.claims is a JSON %, not an object', pg_catalog.jsonb_typeof(v_claims)
        using errcode = 'OPS03';
    end if;
  end if;
  return v_claims;
end
$$;
revoke execute on function ops.current_claims() from public;
grant execute on function ops.current_claims()
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
