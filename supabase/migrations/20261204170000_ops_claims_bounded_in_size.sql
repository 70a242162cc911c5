-- Claims longer than 4096 bytes are refused with OPS03 before they are parsed. Every reading of
-- request.jwt.claims (ops.caller_identity, behind every stamp, current_actor, current_persona and
-- the row policies that call ops.owns_gate per row, and ops.current_claims) parses the whole text,
-- and its cost grows with the text: on PostgreSQL 17, one reading of typical claims (86 bytes)
-- took 14-27 us, of 200 keys (2 KB) 207 us, of 1,000 keys (11 KB) about 1 ms, of arrays nested
-- 2,000 deep (4 KB) 718 us and 6,000 deep (12 KB) 1.6 ms. A token's claims are the caller's
-- choice within what its issuer signs (a Supabase user's own user_metadata among them), and the
-- API hands them to every transaction, so a caller could make each reading, about eleven an
-- ingest event and one a row where a policy reads the caller, cost a millisecond and more. The
-- API refuses a token whose claims exceed the same 4096 bytes (or nest deeper than 8 levels) with
-- a 401 (src/auth/jwt.ts); this bounds the raw SQL door, where any text can be set. The length
-- of a text is read from its header, so the bound costs nothing on the way.

-- The caller, read once: the persona (the role the transaction assumed, NULL when it is not one
-- of the six) and the claims' sub (NULL when absent). Takes nothing. OPS03 when the claims name
-- another persona than the role, when request.jwt.claims is longer than 4096 bytes, and when it is
-- set but is not a JSON object (not JSON, a NUL escape, an array, a string, a number, null): the
-- caller's identity cannot be read.
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
    if pg_catalog.octet_length(v_text) > 4096 then
      raise exception 'request.jwt.claims is longer than the 4096 bytes claims may take' using errcode = 'OPS03';
    end if;
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
-- returns jsonb (an object). OPS03 when the setting is longer than 4096 bytes or not a JSON object
-- (as ops.caller_identity, the same reading). Input, never a permission: the persona is the role (ops.current_persona).
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
    if pg_catalog.octet_length(v_text) > 4096 then
      raise exception 'request.jwt.claims is longer than the 4096 bytes claims may take' using errcode = 'OPS03';
    end if;
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
