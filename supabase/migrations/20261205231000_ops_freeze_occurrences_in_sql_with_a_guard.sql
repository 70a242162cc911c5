-- ops.freeze_occurrences back in SQL, its NULL refusal a one-time guard.
--
-- 20261205220000 made ops.freeze_occurrences refuse a NULL window or bound (OPS22) by rewriting
-- it in PL/pgSQL; measured against the SQL definition, ops.freeze_windows_active then cost about
-- 1.5 times as much per call with nine windows. Now the SQL body of 20261130002100 is back, with
-- one more condition that reads no column: ops.freeze_occurrences_asked(window id, from, until),
-- which PostgreSQL evaluates once, before any row, as the plan's one-time filter (it raises OPS22
-- for a NULL, else returns true). Same rows, same refusals (test/security/null-argument-sweep.test.ts).

-- Takes a freeze window's id and the two bounds of an interval; returns true when all three are
-- given. Raises OPS22 naming what is missing: no window (a NULL row has no window_id), or a NULL
-- bound. Immutable, reads nothing. Executable by every persona, since ops.freeze_occurrences
-- (invoker's rights) calls it. Rule: a question with a NULL subject is refused (20261205220000).
create function ops.freeze_occurrences_asked(p_window_id uuid, p_from timestamptz, p_until timestamptz)
returns boolean
language plpgsql immutable
set search_path = pg_catalog, pg_temp
as $$
begin
  if p_window_id is null then
    raise exception 'freeze occurrences are of a freeze window: none was given' using errcode = 'OPS22';
  end if;
  if p_from is null or p_until is null then
    raise exception 'freeze occurrences are asked between two instants, got % and %',
      coalesce(p_from::text, 'NULL'), coalesce(p_until::text, 'NULL') using errcode = 'OPS22';
  end if;
  return true;
end
$$;
revoke execute on function ops.freeze_occurrences_asked(uuid, timestamptz, timestamptz) from public;
grant execute on function ops.freeze_occurrences_asked(uuid, timestamptz, timestamptz)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Takes a freeze window and an interval [p_from, p_until); returns its occurrences that overlap
-- it (starts_at, ends_at as instants), clipped to the window's period and its end. A weekly
-- window's local times are placed in its IANA zone by PostgreSQL (`timestamp AT TIME ZONE zone`),
-- so an occurrence across a daylight-saving change lasts an hour more or less, as the wall clock
-- says. Raises OPS22 for a NULL window or a NULL bound (ops.freeze_occurrences_asked, evaluated
-- once per call): "no occurrence" would say "not frozen" about nothing. Executable by every
-- persona. Rule: freeze windows (20261130002100); a NULL argument is refused (20261205220000).
create or replace function ops.freeze_occurrences(p_window ops.freeze_windows, p_from timestamptz, p_until timestamptz)
returns table (starts_at timestamptz, ends_at timestamptz)
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  with raw (s, e) as (
    select p_window.starts_at, p_window.ends_at
    where p_window.time_zone is null
    union all
    select (d.d + p_window.weekly_from_time) at time zone p_window.time_zone,
           ((d.d + ((p_window.weekly_until_dow - p_window.weekly_from_dow + 7) % 7
                    + case when p_window.weekly_until_dow = p_window.weekly_from_dow
                                and p_window.weekly_until_time <= p_window.weekly_from_time then 7 else 0 end))
             + p_window.weekly_until_time) at time zone p_window.time_zone
    from pg_catalog.generate_series(
           ((greatest(p_from, p_window.starts_at) at time zone p_window.time_zone)::date - 7)::timestamp,
           (least(p_until, coalesce(p_window.ends_at, p_until), coalesce(p_window.ended_at, p_until))
              at time zone p_window.time_zone)::date::timestamp,
           interval '1 day') as g(day)
    cross join lateral (select g.day::date as d) d
    where p_window.time_zone is not null
      and pg_catalog.date_part('isodow', d.d) = p_window.weekly_from_dow
  )
  select c.s, c.e
  from raw r
  cross join lateral (
    select greatest(r.s, p_window.starts_at) as s,
           least(r.e, coalesce(p_window.ends_at, 'infinity'), coalesce(p_window.ended_at, 'infinity')) as e
  ) c
  where ops.freeze_occurrences_asked(p_window.window_id, p_from, p_until)
    and c.s < c.e and c.e > p_from and c.s < p_until
  order by c.s
$$;
