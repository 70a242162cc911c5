-- ops.parse_instant (20261129002400_ops_parse_instant.sql) answered an offset out of range, such as
-- 2026-11-26T10:00:00+99:99, with PostgreSQL's raw 22009 (invalid_time_zone_displacement_value)
-- instead of its own OPS22; every data exception of the cast is now the caller's invalid instant.
--
-- Takes the text and the name of the field it came from (for the message); returns the instant,
-- NULL for NULL. Errors: OPS22 when the text has no offset, is not an ISO-8601 instant, or names
-- no instant (a day, hour or offset out of range). Rule: README (instants carry their offset).
create or replace function ops.parse_instant(p_text text, p_field text default 'timestamp') returns timestamptz
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_text is null then
    return null;
  end if;
  if p_text !~ '^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}(:?\d{2})?)$' then
    if p_text ~ '^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$' then
      raise exception '% "%" has no time zone offset: add Z (UTC) or an offset such as +01:00; a local time names a different instant in every time zone',
        p_field, p_text using errcode = 'OPS22';
    end if;
    raise exception '% "%" is not an ISO-8601 instant such as 2026-11-26T10:00:00Z', p_field, p_text
      using errcode = 'OPS22';
  end if;
  return p_text::timestamptz;
exception
  when data_exception then
    raise exception '% "%" is not a valid instant', p_field, p_text using errcode = 'OPS22';
end
$$;
revoke execute on function ops.parse_instant(text, text) from public;
grant execute on function ops.parse_instant(text, text)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
