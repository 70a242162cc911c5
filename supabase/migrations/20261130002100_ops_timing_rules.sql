-- The timing rules (freeze, soak, deadlines, overrides) as functions of their own, each returning
-- findings with reasons. They are hooked into the gate rule and the promotion path by
-- 20261130002200; the entry points that manage windows and policies are at the end.

-- ---------------------------------------------------------------------------------------------
-- Guards of the mutable timing tables: a window only ends (once); a policy only changes its
-- duration. Everything else about a recorded row stays as recorded.

-- Trigger (BEFORE INSERT OR UPDATE on ops.freeze_windows). Refuses a time zone PostgreSQL does
-- not know by name, and any change but ending a window once. Errors: OPS22 (unknown zone, a
-- change of what was recorded), OPS09 (already ended). Rule: issue "timing governance", freezes.
create function ops.freeze_windows_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if tg_op = 'INSERT' then
    if new.time_zone is not null
       and not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = new.time_zone) then
      raise exception 'time zone "%" is not an IANA zone name PostgreSQL knows (e.g. Europe/Brussels)', new.time_zone
        using errcode = 'OPS22';
    end if;
    if new.ended_at is not null then
      raise exception 'a freeze window is added first and ended afterwards' using errcode = 'OPS22';
    end if;
    return new;
  end if;
  if (new.window_id, new.name, new.environment, new.project, new.reason, new.starts_at, new.ends_at, new.time_zone,
      new.weekly_from_dow, new.weekly_from_time, new.weekly_until_dow, new.weekly_until_time, new.created_at,
      new.created_by, new.created_persona)
     is distinct from
     (old.window_id, old.name, old.environment, old.project, old.reason, old.starts_at, old.ends_at, old.time_zone,
      old.weekly_from_dow, old.weekly_from_time, old.weekly_until_dow, old.weekly_until_time, old.created_at,
      old.created_by, old.created_persona) then
    raise exception 'freeze window % is recorded as it was added: end it and add another instead', old.window_id
      using errcode = 'OPS22';
  end if;
  if old.ended_at is not null then
    raise exception 'freeze window % already ended at %', old.window_id, old.ended_at using errcode = 'OPS09';
  end if;
  return new;
end
$$;
revoke execute on function ops.freeze_windows_guard() from public;
create trigger freeze_windows_guard before insert or update on ops.freeze_windows
  for each row execute function ops.freeze_windows_guard();

-- Trigger (BEFORE UPDATE on ops.soak_policies and ops.deadline_policies): only the duration
-- (min_soak, within) and who changed it when may change. Errors: OPS22.
create function ops.timing_policies_guard() returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
  if (pg_catalog.to_jsonb(new) - array['min_soak', 'within', 'updated_at', 'updated_by'])
     is distinct from (pg_catalog.to_jsonb(old) - array['min_soak', 'within', 'updated_at', 'updated_by']) then
    raise exception 'a timing policy changes only its duration' using errcode = 'OPS22';
  end if;
  return new;
end
$$;
revoke execute on function ops.timing_policies_guard() from public;
create trigger soak_policies_guard before update on ops.soak_policies
  for each row execute function ops.timing_policies_guard();
create trigger deadline_policies_guard before update on ops.deadline_policies
  for each row execute function ops.timing_policies_guard();

-- ---------------------------------------------------------------------------------------------
-- Calendar

-- Takes a freeze window and an interval [p_from, p_until); returns its occurrences that overlap
-- it (starts_at, ends_at as instants), clipped to the window's period and its end. A weekly
-- window's local times are placed in its IANA zone by PostgreSQL (`timestamp AT TIME ZONE zone`),
-- so an occurrence across a daylight-saving change lasts an hour more or less, as the wall clock
-- says. Raises nothing. Rule: issue "timing governance", freeze windows.
create function ops.freeze_occurrences(p_window ops.freeze_windows, p_from timestamptz, p_until timestamptz)
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
  where c.s < c.e and c.e > p_from and c.s < p_until
  order by c.s
$$;
revoke execute on function ops.freeze_occurrences(ops.freeze_windows, timestamptz, timestamptz) from public;
grant execute on function ops.freeze_occurrences(ops.freeze_windows, timestamptz, timestamptz)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Takes an instant; returns the freeze windows active at it with the end of the current
-- occurrence (until) and, for a weekly window, that occurrence's start. Raises nothing. For every
-- persona (the calendar is public to them). Rule: issue "timing governance", freeze windows.
create function ops.freeze_windows_active(p_at timestamptz default null)
returns table (window_id uuid, name text, environment public.ops_environment, project text, reason text,
               occurrence_starts_at timestamptz, until timestamptz, created_by text)
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select w.window_id, w.name, w.environment, w.project, w.reason, o.starts_at, o.ends_at, w.created_by
  from ops.freeze_windows w
  cross join lateral ops.freeze_occurrences(w, coalesce(p_at, pg_catalog.clock_timestamp()),
                                            coalesce(p_at, pg_catalog.clock_timestamp()) + interval '1 microsecond') o
  where w.starts_at <= coalesce(p_at, pg_catalog.clock_timestamp())
    and (w.ended_at is null or w.ended_at > coalesce(p_at, pg_catalog.clock_timestamp()))
  order by w.environment, o.ends_at, w.window_id
$$;
revoke execute on function ops.freeze_windows_active(timestamptz) from public;
grant execute on function ops.freeze_windows_active(timestamptz)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- ---------------------------------------------------------------------------------------------
-- Findings for one release (owner-rights helpers: callers reach them through
-- ops.promotion_blockers and the deployment trigger, which check visibility first).

-- Takes a release id; returns its active timing_override exception (approved by a release
-- manager other than the requester, in its window, for the release's current revision), or NULL.
-- Read-time validity as for every exception (ops.exception_is_active).
create function ops.timing_override_active(p_release_id uuid) returns ops.exceptions
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select e.* from ops.exceptions e join ops.releases r on r.release_id = e.release_id
  where e.release_id = p_release_id and e.exception_type = 'timing_override'
    and ops.exception_is_active(e) and e.revision = r.revision
  order by e.expires_at desc, e.exception_id
  limit 1
$$;
revoke execute on function ops.timing_override_active(uuid) from public;

-- Takes a release id, a target environment and an instant; returns the freeze windows that cover
-- a promotion of the release to the environment at that instant (window, reason naming it and when
-- the occurrence ends, until), whether or not an override lifts them.
create function ops.freeze_findings(p_release_id uuid, p_env public.ops_environment, p_at timestamptz)
returns table (window_id uuid, reason text, until timestamptz)
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select a.window_id,
         pg_catalog.format('freeze "%s" (%s) is active for %s%s until %s: %s', a.name, a.window_id, a.environment,
                           coalesce(' of ' || a.project, ''), ops.iso_utc(a.until), a.reason),
         a.until
  from ops.releases r
  cross join lateral ops.freeze_windows_active(p_at) a
  where r.release_id = p_release_id and a.environment = p_env and (a.project is null or a.project = r.project)
$$;
revoke execute on function ops.freeze_findings(uuid, public.ops_environment, timestamptz) from public;

-- Takes a release id, a target environment and an instant; returns what the soak policy for
-- promoting it there still asks (reason saying how long is left, until: when the soak completes,
-- NULL when it has not started), whether or not an override lifts it. The soak counts from the G4
-- confirmation (g4_resolved_at) of the release's latest deployment of its current revision in the
-- earlier environment; a deployment that failed, was rolled back or failed its health check is
-- not standing, and the soak restarts with the next confirmed deployment.
create function ops.soak_findings(p_release_id uuid, p_env public.ops_environment, p_at timestamptz)
returns table (from_env public.ops_environment, min_soak interval, reason text, until timestamptz)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
  v_policy ops.soak_policies;
  v_dep ops.deployments;
  v_rolled_back boolean;
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  for v_policy in
    select distinct on (p.from_env) p.* from ops.soak_policies p
    where p.to_env = p_env and (p.project is null or p.project = v_release.project)
    order by p.from_env, p.project nulls last
  loop
    continue when v_policy.min_soak <= interval '0';
    from_env := v_policy.from_env;
    min_soak := v_policy.min_soak;
    select * into v_dep from ops.deployments d
      where d.release_id = p_release_id and d.environment = v_policy.from_env and d.rollback_of is null
        and d.revision = v_release.revision
      order by d.deployed_at desc, d.created_at desc limit 1;
    if v_dep.deployment_id is null then
      reason := pg_catalog.format('soak: %s must stand healthy in %s for %s first; it has not been deployed there',
                                  ops.revision_label(p_release_id, v_release.revision), v_policy.from_env,
                                  v_policy.min_soak);
      until := null;
      return next;
      continue;
    end if;
    v_rolled_back := v_dep.status = 'rolled_back'
      or exists (select 1 from ops.deployments b where b.rollback_of = v_dep.deployment_id);
    if v_dep.status <> 'succeeded' or v_rolled_back or v_dep.g4_status <> 'passed' or v_dep.g4_resolved_at is null then
      reason := pg_catalog.format('soak: the %s deployment %s is not standing healthy (%s, G4 %s); the %s soak starts with its next confirmed deployment',
                                  v_policy.from_env, v_dep.deployment_id,
                                  case when v_rolled_back then 'rolled back' else v_dep.status::text end,
                                  v_dep.g4_status, v_policy.min_soak);
      until := null;
      return next;
      continue;
    end if;
    if v_dep.g4_resolved_at + v_policy.min_soak > p_at then
      until := v_dep.g4_resolved_at + v_policy.min_soak;
      reason := pg_catalog.format('soak: %s has stood healthy in %s for %s of %s; %s left (until %s)',
                                  ops.revision_label(p_release_id, v_release.revision), v_policy.from_env,
                                  pg_catalog.date_trunc('second', p_at - v_dep.g4_resolved_at), v_policy.min_soak,
                                  pg_catalog.date_trunc('second', until - p_at),
                                  ops.iso_utc(until));
      return next;
    end if;
  end loop;
end
$$;
revoke execute on function ops.soak_findings(uuid, public.ops_environment, timestamptz) from public;

-- Takes a release id and an instant; returns the timing blockers of promoting it to each
-- environment (target_env, kind 'freeze' or 'soak', reason, until, window_id). An active
-- timing_override exception of the release lifts them all: it returns none for that release.
-- Raises nothing. Called by ops.promotion_blockers (20261130002200), which checks visibility.
create function ops.timing_blockers(p_release_id uuid, p_at timestamptz)
returns table (target_env public.ops_environment, kind text, reason text, until timestamptz, window_id uuid)
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select x.target_env, x.kind, x.reason, x.until, x.window_id
  from (
    select e.env as target_env, 'freeze'::text as kind, f.reason, f.until, f.window_id
    from unnest(array['staging', 'production']::public.ops_environment[]) e(env)
    cross join lateral ops.freeze_findings(p_release_id, e.env, p_at) f
    union all
    select e.env, 'soak', s.reason, s.until, null::uuid
    from unnest(array['staging', 'production']::public.ops_environment[]) e(env)
    cross join lateral ops.soak_findings(p_release_id, e.env, p_at) s
  ) x
  where (ops.timing_override_active(p_release_id)).exception_id is null
  order by x.target_env, x.kind, x.until nulls last
$$;
revoke execute on function ops.timing_blockers(uuid, timestamptz) from public;

-- ---------------------------------------------------------------------------------------------
-- Deadlines

-- Takes a gate code, an environment (G4) and a project; returns the deadline that applies (the
-- most specific policy's `within`), or NULL when none does.
create function ops.deadline_for(p_gate_code public.ops_gate_code, p_environment public.ops_environment, p_project text)
returns interval
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select p.within from ops.deadline_policies p
  where p.gate_code = p_gate_code
    and (p.environment is null or p.environment = p_environment)
    and (p.project is null or p.project = p_project)
  order by p.project nulls last, p.environment nulls last
  limit 1
$$;
revoke execute on function ops.deadline_for(public.ops_gate_code, public.ops_environment, text) from public;

-- Takes a deployment; returns why its G4 fails for want of a timely health confirmation ("G4:
-- health not confirmed within N minutes ..."), or NULL. Judged at read time with
-- clock_timestamp(): pending after deployed_at + the G4 deadline of its environment, or confirmed
-- only after it. Rollbacks have no deadline. Rule: issue "timing governance", deadlines.
create function ops.g4_deadline_reason(p_deployment ops.deployments) returns text
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_within interval;
  v_due timestamptz;
begin
  if p_deployment.deployment_id is null or p_deployment.rollback_of is not null
     or p_deployment.g4_status = 'failed' then
    return null;
  end if;
  v_within := ops.deadline_for('G4', p_deployment.environment,
                               (select r.project from ops.releases r where r.release_id = p_deployment.release_id));
  if v_within is null then
    return null;
  end if;
  v_due := p_deployment.deployed_at + v_within;
  if (p_deployment.g4_status = 'passed' and p_deployment.g4_resolved_at > v_due)
     or (p_deployment.g4_status = 'pending' and pg_catalog.clock_timestamp() >= v_due) then
    return pg_catalog.format('G4: health not confirmed within %s of the %s deployment %s (due %s)',
                             case when pg_catalog.date_part('epoch', v_within)::numeric % 60 = 0
                                  then (pg_catalog.date_part('epoch', v_within)::numeric / 60)::bigint || ' minutes'
                                  else pg_catalog.date_part('epoch', v_within)::numeric || ' seconds' end,
                             p_deployment.environment, p_deployment.deployment_id, ops.iso_utc(v_due));
  end if;
  return null;
end
$$;
revoke execute on function ops.g4_deadline_reason(ops.deployments) from public;

-- Takes an approval request; returns its state at read time: 'decided' (an approver of the gate's
-- persona decided the release's revision between the request and its deadline), 'expired' (the
-- deadline passed first) or 'requested'. Rule: issue "timing governance", approval deadlines.
create function ops.approval_request_state(p_request ops.timing_approval_requests) returns text
language sql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
  select case
    when exists (
      select 1 from ops.approvals a
      join ops.release_gates g on g.gate_id = a.gate_id
      left join ops.gate_policies p on p.gate_code = g.gate_code
      where a.release_id = p_request.release_id and g.gate_code = p_request.gate_code
        and a.revision = p_request.revision and a.created_at >= p_request.requested_at
        and (p.approver_persona is null or a.persona_role = p.approver_persona)
        and (p_request.due_at is null or a.created_at < p_request.due_at)) then 'decided'
    when p_request.due_at is not null and p_request.due_at <= pg_catalog.clock_timestamp() then 'expired'
    else 'requested'
  end
$$;
revoke execute on function ops.approval_request_state(ops.timing_approval_requests) from public;

-- Takes nothing; records the deadline transitions that are due and not yet recorded: approval
-- requests that expired, and deployments whose G4 failed for want of a health confirmation (whose
-- release is then re-evaluated, so its stored gates and status move too). Returns how many it
-- recorded. Safe to run concurrently from any number of job runners: each transition has a unique
-- key and is inserted with ON CONFLICT DO NOTHING, so exactly one runner records it. Not granted
-- to any persona: the job runs it as the database owner (src/timing/deadline-job.ts).
create function ops.record_deadline_transitions() returns integer
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_count integer := 0;
  v_n integer;
  q record;
  d record;
begin
  for q in
    select r.*, rel.project from ops.timing_approval_requests r join ops.releases rel on rel.release_id = r.release_id
    where r.due_at is not null and r.due_at <= pg_catalog.clock_timestamp()
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'approval_request' and t.subject_id = r.request_id)
    order by r.due_at, r.request_id
  loop
    continue when ops.approval_request_state(
      (select x from ops.timing_approval_requests x where x.request_id = q.request_id)) <> 'expired';
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('approval_request', q.request_id, q.release_id, q.gate_code, 'expired',
            pg_catalog.format('%s approval requested by %s at %s was not decided by %s', q.gate_code, q.requested_by,
                              ops.iso_utc(q.requested_at), ops.iso_utc(q.due_at)),
            q.due_at)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    v_count := v_count + v_n;
  end loop;

  for d in
    select x.*, ops.g4_deadline_reason(x) as reason,
           x.deployed_at + ops.deadline_for('G4', x.environment, r.project) as due_at
    from ops.deployments x join ops.releases r on r.release_id = x.release_id
    where x.rollback_of is null and x.g4_status = 'pending' and x.status in ('in_progress', 'succeeded')
      and not exists (select 1 from ops.deadline_transitions t
                      where t.subject_kind = 'deployment_g4' and t.subject_id = x.deployment_id)
    order by x.deployed_at, x.deployment_id
  loop
    continue when d.reason is null;
    insert into ops.deadline_transitions (subject_kind, subject_id, release_id, gate_code, to_state, reason, due_at)
    values ('deployment_g4', d.deployment_id, d.release_id, 'G4', 'failed', d.reason, d.due_at)
    on conflict on constraint deadline_transitions_once do nothing;
    get diagnostics v_n = row_count;
    if v_n > 0 then
      v_count := v_count + 1;
      perform ops.evaluate_release(d.release_id, d.reason);
    end if;
  end loop;
  return v_count;
end
$$;
revoke execute on function ops.record_deadline_transitions() from public;

-- ---------------------------------------------------------------------------------------------
-- The freeze at the moment of the write

-- Trigger (BEFORE INSERT OR UPDATE OF status on ops.deployments, named to run after
-- ops.deployments_guard). A promotion is the insert of a deployment (not a rollback) as in_progress
-- or succeeded, and its move to succeeded: each is judged against the freeze windows at
-- clock_timestamp(), so a deployment prepared or started before a freeze cannot complete during
-- it. A rollback, and a move to failed or rolled_back, always goes through: a freeze never stops
-- undoing a change. An active timing_override exception of the release lets the promotion through
-- and the use is recorded (ops.timing_override_uses), once per window and deployment; so is the
-- soak time it lifts at the insert. Errors: OPS09 (frozen). Rule: issue "timing governance",
-- freeze windows and overrides.
create function ops.freeze_guard_deployment() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_at timestamptz := pg_catalog.clock_timestamp();
  v_override ops.exceptions;
  v_freeze record;
  v_soak record;
begin
  if new.rollback_of is not null then
    return new;
  end if;
  if tg_op = 'INSERT' and new.status not in ('in_progress', 'succeeded') then
    return new;
  end if;
  if tg_op = 'UPDATE' and not (new.status = 'succeeded' and old.status is distinct from 'succeeded') then
    return new;
  end if;
  v_override := ops.timing_override_active(new.release_id);
  for v_freeze in select * from ops.freeze_findings(new.release_id, new.environment, v_at) loop
    if v_override.exception_id is null then
      raise exception 'release % may not be promoted to % now: %; an approved timing_override exception lifts it for one release',
        new.release_id, new.environment, v_freeze.reason using errcode = 'OPS09';
    end if;
    insert into ops.timing_override_uses (exception_id, release_id, deployment_id, lifted, window_id, detail)
    select v_override.exception_id, new.release_id, new.deployment_id, 'freeze', v_freeze.window_id,
           pg_catalog.format('timing_override %s lifted %s for the %s deployment %s (%s)', v_override.exception_id,
                             v_freeze.reason, new.environment, new.deployment_id,
                             case when tg_op = 'INSERT' then 'start' else 'completion' end)
    where not exists (select 1 from ops.timing_override_uses u
                      where u.deployment_id = new.deployment_id and u.window_id = v_freeze.window_id);
  end loop;
  if tg_op = 'INSERT' and v_override.exception_id is not null then
    for v_soak in select * from ops.soak_findings(new.release_id, new.environment, v_at) loop
      insert into ops.timing_override_uses (exception_id, release_id, deployment_id, lifted, detail)
      values (v_override.exception_id, new.release_id, new.deployment_id, 'soak',
              pg_catalog.format('timing_override %s lifted the %s soak from %s for the %s deployment %s: %s',
                                v_override.exception_id, v_soak.min_soak, v_soak.from_env, new.environment,
                                new.deployment_id, v_soak.reason));
    end loop;
  end if;
  return new;
end
$$;
revoke execute on function ops.freeze_guard_deployment() from public;
create trigger deployments_guard_freeze before insert or update of status on ops.deployments
  for each row execute function ops.freeze_guard_deployment();

-- ---------------------------------------------------------------------------------------------
-- Entry points

-- Takes a name, an environment ('staging' or 'production'), a reason, a start and an end instant
-- (for a weekly window: the period it recurs in, end optional), optionally a project (NULL: every
-- project) and a weekly recurrence (IANA zone, ISO weekday 1-7 and local time it starts, weekday
-- and local time it ends). Returns the window. For release_manager and sre: an SRE freezes during
-- an incident (a freeze only ever makes promotion harder); ending one is the release manager's
-- (ops.end_freeze_window). Errors: OPS03 (other personas), OPS22 (bad environment, zone, order,
-- a one-off window without end or longer than 90 days, a start more than a day in the past).
create function ops.add_freeze_window(p_name text, p_environment text, p_reason text, p_starts_at timestamptz,
                                      p_ends_at timestamptz default null, p_project text default null,
                                      p_time_zone text default null, p_weekly_from_dow integer default null,
                                      p_weekly_from_time time default null, p_weekly_until_dow integer default null,
                                      p_weekly_until_time time default null)
returns ops.freeze_windows
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_window ops.freeze_windows;
begin
  perform ops.require_persona('{release_manager,sre}', 'add freeze windows');
  if p_starts_at is null or p_starts_at < pg_catalog.clock_timestamp() - interval '1 day' then
    raise exception 'a freeze window starts now or later (at most a day back), not at %', coalesce(p_starts_at::text, 'no time')
      using errcode = 'OPS22';
  end if;
  begin
    insert into ops.freeze_windows (name, environment, project, reason, starts_at, ends_at, time_zone,
                                    weekly_from_dow, weekly_from_time, weekly_until_dow, weekly_until_time)
    values (p_name, ops.parse_environment(p_environment), p_project, p_reason, p_starts_at, p_ends_at, p_time_zone,
            p_weekly_from_dow, p_weekly_from_time, p_weekly_until_dow, p_weekly_until_time)
    returning * into v_window;
  exception
    when check_violation or not_null_violation then
      raise exception 'the freeze window is not valid: %', sqlerrm using errcode = 'OPS22';
  end;
  return v_window;
end
$$;
revoke execute on function ops.add_freeze_window(text, text, text, timestamptz, timestamptz, text, text, integer, time,
                                                 integer, time) from public;
grant execute on function ops.add_freeze_window(text, text, text, timestamptz, timestamptz, text, text, integer, time,
                                                integer, time) to release_manager, sre;

-- Takes a window id and a reason; ends the window now (a one-off window early, a weekly one for
-- good) and returns it. For release_manager. Errors: OPS03, OPS04 (no such window), OPS09
-- (already ended), OPS22 (no reason).
create function ops.end_freeze_window(p_window_id uuid, p_reason text) returns ops.freeze_windows
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_window ops.freeze_windows;
begin
  perform ops.require_persona('{release_manager}', 'end freeze windows');
  if p_reason is null or pg_catalog.btrim(p_reason) = '' or pg_catalog.length(p_reason) > 2000 then
    raise exception 'ending a freeze window takes a reason (1 to 2000 characters)' using errcode = 'OPS22';
  end if;
  select * into v_window from ops.freeze_windows w where w.window_id = p_window_id for update;
  if not found then
    raise exception 'freeze window % does not exist', p_window_id using errcode = 'OPS04';
  end if;
  update ops.freeze_windows w
  set ended_at = greatest(pg_catalog.clock_timestamp(), w.starts_at), ended_by = ops.current_actor(),
      end_reason = p_reason
  where w.window_id = p_window_id
  returning * into v_window;
  return v_window;
end
$$;
revoke execute on function ops.end_freeze_window(uuid, text) from public;
grant execute on function ops.end_freeze_window(uuid, text) to release_manager;

-- Takes the earlier and the later environment, a minimum soak (0 switches it off) and optionally
-- a project; sets the soak policy and returns it. For release_manager. Errors: OPS03, OPS22.
create function ops.set_soak_policy(p_from_env text, p_to_env text, p_min_soak interval, p_project text default null)
returns ops.soak_policies
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_policy ops.soak_policies;
begin
  perform ops.require_persona('{release_manager}', 'set soak policies');
  begin
    insert into ops.soak_policies as p (from_env, to_env, project, min_soak)
    values (ops.parse_environment(p_from_env), ops.parse_environment(p_to_env), p_project, p_min_soak)
    on conflict on constraint soak_policies_key do update
      set min_soak = excluded.min_soak, updated_at = pg_catalog.clock_timestamp(), updated_by = ops.current_actor()
    returning * into v_policy;
  exception
    when check_violation or not_null_violation then
      raise exception 'the soak policy is not valid (two different environments, 0 to 30 days): %', sqlerrm
        using errcode = 'OPS22';
  end;
  return v_policy;
end
$$;
revoke execute on function ops.set_soak_policy(text, text, interval, text) from public;
grant execute on function ops.set_soak_policy(text, text, interval, text) to release_manager;

-- Takes a gate (G2, G3: approval deadline; G4: health-confirmation deadline), the time allowed
-- (NULL switches it off) and optionally an environment (G4 only) and a project; sets the deadline
-- policy and returns it. For release_manager. Errors: OPS03, OPS22.
create function ops.set_deadline_policy(p_gate_code public.ops_gate_code, p_within interval,
                                        p_environment text default null, p_project text default null)
returns ops.deadline_policies
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_policy ops.deadline_policies;
begin
  perform ops.require_persona('{release_manager}', 'set deadline policies');
  begin
    insert into ops.deadline_policies as p (gate_code, environment, project, within)
    values (p_gate_code, case when p_environment is not null then ops.parse_environment(p_environment) end,
            p_project, p_within)
    on conflict on constraint deadline_policies_key do update
      set within = excluded.within, updated_at = pg_catalog.clock_timestamp(), updated_by = ops.current_actor()
    returning * into v_policy;
  exception
    when check_violation or not_null_violation then
      raise exception 'the deadline policy is not valid (G2, G3 or G4; an environment only for G4; more than 0 and at most 30 days): %',
        sqlerrm using errcode = 'OPS22';
  end;
  return v_policy;
end
$$;
revoke execute on function ops.set_deadline_policy(public.ops_gate_code, interval, text, text) from public;
grant execute on function ops.set_deadline_policy(public.ops_gate_code, interval, text, text) to release_manager;

-- Takes a release id, a gate (G2 or G3) and an optional note; records a request for a decision on
-- the release's current revision, due after the gate's approval deadline (NULL: none), and
-- returns it. For release_manager, and developer on releases they own. Errors: OPS03, OPS04 (no
-- such release, or not the developer's), OPS09 (an open request for the gate already exists),
-- OPS22 (not G2/G3, note too long).
create function ops.request_approval(p_release_id uuid, p_gate_code public.ops_gate_code, p_note text default null)
returns ops.timing_approval_requests
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
  v_request ops.timing_approval_requests;
  v_at timestamptz := pg_catalog.clock_timestamp();
  v_within interval;
begin
  perform ops.require_persona('{release_manager,developer}', 'request approvals');
  perform ops.assert_can_read_release(p_release_id);
  if p_gate_code is null or p_gate_code not in ('G2', 'G3') then
    raise exception 'approvals are requested for G2 or G3, not %', coalesce(p_gate_code::text, 'no gate')
      using errcode = 'OPS22';
  end if;
  if p_note is not null and (pg_catalog.btrim(p_note) = '' or pg_catalog.length(p_note) > 2000) then
    raise exception 'a note is 1 to 2000 characters' using errcode = 'OPS22';
  end if;
  select * into v_release from ops.releases r where r.release_id = p_release_id for update;
  if exists (select 1 from ops.timing_approval_requests q
             where q.release_id = p_release_id and q.gate_code = p_gate_code and q.revision = v_release.revision
               and ops.approval_request_state(q) = 'requested') then
    raise exception 'a % approval of release % is already requested and open', p_gate_code, p_release_id
      using errcode = 'OPS09';
  end if;
  v_within := ops.deadline_for(p_gate_code, null, v_release.project);
  insert into ops.timing_approval_requests (release_id, gate_code, revision, requested_by, requested_at, due_at, note)
  values (p_release_id, p_gate_code, v_release.revision, ops.current_actor(), v_at, v_at + v_within, p_note)
  returning * into v_request;
  return v_request;
end
$$;
revoke execute on function ops.request_approval(uuid, public.ops_gate_code, text) from public;
grant execute on function ops.request_approval(uuid, public.ops_gate_code, text) to release_manager, developer;

-- Takes a release id; returns its approval requests with their state at read time (requested,
-- decided, expired) and the transition recorded for them, if any. For every persona that may read
-- the release (ops.assert_can_read_release). Errors: OPS04.
create function ops.release_approval_requests(p_release_id uuid)
returns table (request_id uuid, gate_code public.ops_gate_code, revision integer, requested_by text,
               requested_at timestamptz, due_at timestamptz, note text, state text, expired_recorded_at timestamptz)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
    select q.request_id, q.gate_code, q.revision, q.requested_by, q.requested_at, q.due_at, q.note,
           ops.approval_request_state(q),
           (select t.created_at from ops.deadline_transitions t
            where t.subject_kind = 'approval_request' and t.subject_id = q.request_id)
    from ops.timing_approval_requests q
    where q.release_id = p_release_id
    order by q.requested_at, q.request_id;
end
$$;
revoke execute on function ops.release_approval_requests(uuid) from public;
grant execute on function ops.release_approval_requests(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- Takes a release id; returns its timing blockers now (target environment, kind, reason, until,
-- window) and, per environment, whether an override lifts them (overridden_by). For every persona
-- that may read the release. Errors: OPS04.
create function ops.release_timing_status(p_release_id uuid)
returns table (target_env public.ops_environment, kind text, reason text, until timestamptz, window_id uuid,
               overridden_by uuid)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_at timestamptz := pg_catalog.clock_timestamp();
  v_override uuid;
begin
  perform ops.assert_can_read_release(p_release_id);
  v_override := (ops.timing_override_active(p_release_id)).exception_id;
  return query
    select e.env, 'freeze'::text, f.reason, f.until, f.window_id, v_override
    from unnest(array['staging', 'production']::public.ops_environment[]) e(env)
    cross join lateral ops.freeze_findings(p_release_id, e.env, v_at) f
    union all
    select e.env, 'soak', s.reason, s.until, null::uuid, v_override
    from unnest(array['staging', 'production']::public.ops_environment[]) e(env)
    cross join lateral ops.soak_findings(p_release_id, e.env, v_at) s
    order by 1, 2, 4 nulls last;
end
$$;
revoke execute on function ops.release_timing_status(uuid) from public;
grant execute on function ops.release_timing_status(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;

-- The approval-request state is read by the reporting view ops.v_approval_requests as its
-- readers (who read every approval anyway).
grant execute on function ops.approval_request_state(ops.timing_approval_requests) to release_manager, audit_reader;
