-- Claims that are not a JSON object are refused with OPS03, never a raw cast error. Through the raw
-- SQL door a login may set request.jwt.claims to anything (set_config(..., true)) and then call any
-- function its persona may execute: text that is not JSON got 22P02, a NUL escape ("\u0000", which
-- jsonb cannot hold) 22P05, JSON nested past the stack's depth 54001, and a JSON array, string or
-- null was read as if it were claims without a sub. Both readings of the setting
-- (ops.caller_identity, behind every stamp, current_actor and current_persona, and
-- ops.current_claims) now refuse such claims with OPS03: the caller's identity cannot be read, so
-- nothing may be done in its name (the API never sends such claims: only a forged setting does,
-- which is a caller not being who it says, like claims naming another persona). The message names
-- request.jwt.claims and what is wrong with it, never the claims' content.
--
-- The cast runs inside an exception block: the one way to catch a failed jsonb cast that both
-- PostgreSQL 15 and 17 have, in one function body on both (supabase/schema.sql describes both). It
-- opens a subtransaction per reading, which writes nothing and so takes no transaction id, and is
-- the cheapest of the checks measured on PostgreSQL 17 (one reading of typical claims, 40,000 calls
-- a run, fastest of 8 interleaved runs): 12.9 us without any check, 15.6 us with the exception
-- block, 19.1 us with pg_input_is_valid(text, 'pg_catalog.jsonb') in its place (PostgreSQL 16 and
-- later only; it parses the type name at every call) and 22.7 us with that check in an SQL helper
-- of its own (one more function entry, with its own search_path). caller_identity runs about
-- eleven times an ingest event.

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
    begin
      v_claims := v_text::jsonb;
    exception when data_exception or program_limit_exceeded then
      -- 22P02 (not JSON), 22P05 (a NUL escape jsonb cannot hold), 54001 (nested past the stack's
      -- depth) and the like. The cast's own message may quote the claims: it is not passed on.
      raise exception 'request.jwt.claims is not JSON that jsonb can hold' using errcode = 'OPS03';
    end;
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
    begin
      v_claims := v_text::jsonb;
    exception when data_exception or program_limit_exceeded then
      -- 22P02 (not JSON), 22P05 (a NUL escape jsonb cannot hold), 54001 (nested past the stack's
      -- depth) and the like. The cast's own message may quote the claims: it is not passed on.
      raise exception 'request.jwt.claims is not JSON that jsonb can hold' using errcode = 'OPS03';
    end;
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
