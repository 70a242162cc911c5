-- One time, in SQL too: text that names an instant must carry its offset (Z or ±hh[:mm]). A cast
-- such as '2027-03-28T02:30:00'::timestamptz reads a local time in the session's TimeZone, so the
-- same text names different instants on different servers (and, in Europe/Berlin, an hour that
-- does not exist that night). SQL that turns caller-given JSON text into a timestamptz calls this
-- instead of casting.

-- Takes the text and the name of the field it came from (for the message); returns the instant,
-- NULL for NULL. Errors: OPS22 when the text has no offset or is not an ISO-8601 instant.
create function ops.parse_instant(p_text text, p_field text default 'timestamp') returns timestamptz
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
  when datetime_field_overflow or invalid_datetime_format then
    raise exception '% "%" is not a valid instant', p_field, p_text using errcode = 'OPS22';
end
$$;
revoke execute on function ops.parse_instant(text, text) from public;
grant execute on function ops.parse_instant(text, text)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
