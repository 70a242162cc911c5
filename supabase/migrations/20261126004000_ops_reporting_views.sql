-- Reporting: which evidence each gate needs (as data), the history of deployment status changes,
-- a release's blockers for every environment from one gate evaluation, five security_invoker
-- views over the governance tables, and two functions that rebuild a release's decision chain from
-- the database alone: ops.release_timeline and ops.release_evidence_bundle.
--
-- Views run with the caller's rights (security_invoker), so RLS applies through them: a view is
-- granted only to the personas that may read every table it reads, and a developer sees through
-- ops.v_promotion_eligibility exactly the releases RLS shows them in ops.releases.

create type public.ops_evidence_scope as enum ('gate', 'gate_or_release', 'latest_deployment');

-- The evidence each gate needs, as data (DESIGN section 4). One row is one requirement; any one of
-- its artifact_types satisfies it. attached_to says where the evidence must hang to count:
--   gate               the gate itself or one of its checks
--   gate_or_release    that, or the release itself with no gate named
--   latest_deployment  the release's latest deployment, rollbacks aside (G4 confirms a deployment)
-- blocking = false marks evidence that is expected and reported but never holds a gate: G1 passes
-- on its required checks alone (section 4), and the build log CI attaches is informational.
create table ops.gate_evidence_requirements (
  requirement_id uuid primary key default gen_random_uuid(),
  gate_code public.ops_gate_code not null references ops.gate_definitions (gate_code),
  artifact_types public.ops_artifact_type[] not null check (cardinality(artifact_types) > 0),
  attached_to public.ops_evidence_scope not null,
  blocking boolean not null default true,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona,
  unique (gate_code, artifact_types)
);

create trigger gate_evidence_requirements_stamp before insert on ops.gate_evidence_requirements
  for each row execute function ops.stamp_created_by();

insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to, blocking) values
  ('G1', '{build_log}', 'gate', false),
  ('G2', '{test_result,uat_summary}', 'gate', true),
  ('G3', '{rollback_plan}', 'gate_or_release', true),
  ('G4', '{health_check}', 'latest_deployment', true);

alter table ops.gate_evidence_requirements enable row level security;
grant select on ops.gate_evidence_requirements to release_manager, audit_reader;
create policy gate_evidence_requirements_read_all on ops.gate_evidence_requirements for select
  to release_manager, audit_reader using (true);

-- Deployments are updated in place (status, G4 outcome); this append-only history keeps each
-- change with who made it and which ingest attempt caused it, as gate_transitions does for gates.
create table ops.deployment_transitions (
  transition_id uuid primary key default gen_random_uuid(),
  deployment_id uuid not null references ops.deployments (deployment_id),
  from_status public.ops_deployment_status not null,
  to_status public.ops_deployment_status not null,
  from_g4_status public.ops_g4_status not null,
  to_g4_status public.ops_g4_status not null,
  actor text not null default ops.current_actor(),
  ingest_id uuid references ops.event_ingest_log (ingest_id) deferrable initially deferred,
  created_at timestamptz not null default now(),
  created_by text not null default ops.current_actor(),
  created_persona public.ops_persona
);

-- Serves ops.release_timeline (a release's deployment transitions).
create index deployment_transitions_deployment on ops.deployment_transitions (deployment_id, created_at);

create trigger deployment_transitions_stamp before insert on ops.deployment_transitions
  for each row execute function ops.stamp_created_by();
create trigger deployment_transitions_append_only before update or delete on ops.deployment_transitions
  for each row execute function ops.refuse_mutation();
create trigger deployment_transitions_no_truncate before truncate on ops.deployment_transitions
  for each statement execute function ops.refuse_mutation();

alter table ops.deployment_transitions enable row level security;
grant select on ops.deployment_transitions to release_manager, sre, audit_reader;
create policy deployment_transitions_read_all on ops.deployment_transitions for select
  to release_manager, audit_reader using (true);
create policy deployment_transitions_read_sre on ops.deployment_transitions for select to sre using (true);

-- Runs as its definer: the personas that update deployments cannot write the history themselves.
create function ops.deployments_record_transition() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ops.deployment_transitions (deployment_id, from_status, to_status, from_g4_status, to_g4_status, actor,
                                          ingest_id)
  values (new.deployment_id, old.status, new.status, old.g4_status, new.g4_status, ops.current_actor(),
          ops.current_ingest_id());
  return null;
end
$$;

-- Named to fire before deployments_reevaluate (triggers fire in name order), so the deployment's
-- change is recorded before the gate transitions it causes.
create trigger deployments_record_transition after update of status, g4_status on ops.deployments
  for each row when (old.status is distinct from new.status or old.g4_status is distinct from new.g4_status)
  execute function ops.deployments_record_transition();

-- The SQL helpers below take no SET clause: the planner inlines a SQL function only without one,
-- and inlined, their plans are cached with the query that calls them instead of being made again
-- on every call (which made gate evaluation several times slower). They run with the caller's
-- rights and name everything schema-qualified; the security definer functions that call them run
-- with search_path = ''.

-- Timestamps in documents meant to be hashed: UTC, microseconds, whatever the session's TimeZone.
create function ops.iso_utc(p_at timestamptz) returns text
language sql stable
as $$
  select to_char(p_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Each evidence requirement of a gate (ops.gate_evidence_requirements) and the artifacts that meet
-- it. The one definition of "this evidence counts for that gate": ops.compute_release_gates and
-- ops.v_evidence_completeness both read it. Invoker's rights on purpose: called from the view it
-- reads as the caller, under RLS; called from compute_release_gates it reads as that function's
-- definer.
create function ops.gate_evidence(p_gate_id uuid)
returns table (
  requirement_id uuid,
  artifact_types public.ops_artifact_type[],
  attached_to public.ops_evidence_scope,
  blocking boolean,
  deployment_id uuid,
  deployment_environment public.ops_environment,
  artifact_ids uuid[],
  present_types public.ops_artifact_type[]
)
language sql stable
as $$
  select q.requirement_id, q.artifact_types, q.attached_to, q.blocking, dep.deployment_id, dep.environment,
         coalesce(ev.artifact_ids, '{}'), coalesce(ev.present_types, '{}')
  from ops.release_gates g
  join ops.gate_evidence_requirements q on q.gate_code = g.gate_code
  left join lateral (
    select d.deployment_id, d.environment from ops.deployments d
    where q.attached_to = 'latest_deployment' and d.release_id = g.release_id and d.rollback_of is null
    order by d.deployed_at desc, d.created_at desc limit 1
  ) dep on true
  left join lateral (
    select array_agg(m.artifact_id order by m.artifact_id) as artifact_ids,
           array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      -- One index-friendly branch per place evidence can hang.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
      union
      select a.artifact_id, a.artifact_type from ops.gate_checks c
      join ops.evidence_artifacts a on a.check_id = c.check_id
      where q.attached_to in ('gate', 'gate_or_release') and c.gate_id = g.gate_id
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
    ) m
    where m.artifact_type = any (q.artifact_types)
  ) ev on true
  where g.gate_id = p_gate_id
  order by q.gate_code, array_to_string(q.artifact_types, ',')
$$;

-- Every evidence artifact of a release, wherever it hangs: on the release, a gate, a check or a
-- deployment of it. Invoker's rights: read under the caller's RLS.
create function ops.release_evidence(p_release_id uuid) returns setof ops.evidence_artifacts
language sql stable
as $$
  select a.* from ops.evidence_artifacts a where a.release_id = p_release_id
  union
  select a.* from ops.release_gates g join ops.evidence_artifacts a on a.gate_id = g.gate_id
  where g.release_id = p_release_id
  union
  select a.* from ops.release_gates g join ops.gate_checks c on c.gate_id = g.gate_id
  join ops.evidence_artifacts a on a.check_id = c.check_id
  where g.release_id = p_release_id
  union
  select a.* from ops.deployments d join ops.evidence_artifacts a on a.deployment_id = d.deployment_id
  where d.release_id = p_release_id
$$;

-- The blockers of a release for every environment, from one evaluation of its gates: the
-- eligibility report reads staging and production at once instead of evaluating the gates twice.
-- ops.promotion_blockers(release, environment) becomes this, filtered, so there is still one
-- definition of eligibility. Reasons keep their order within a gate (with ordinality).
create function ops.promotion_blockers(p_release_id uuid)
returns table (
  target_env public.ops_environment,
  gate_code public.ops_gate_code,
  status public.ops_gate_status,
  reason text
)
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
    select q.target_env, c.gate_code, c.status, r.reason
    from ops.compute_release_gates(p_release_id) c
    join ops.gate_requirements q on q.gate_code = c.gate_code
    cross join lateral unnest(case when cardinality(c.reasons) > 0 then c.reasons
                                   else array[format('%s is %s', c.gate_code, c.status)] end)
      with ordinality as r(reason, n)
    where c.status not in ('passed', 'bypassed')
    order by q.target_env, c.gate_code, r.n;
end
$$;

create or replace function ops.promotion_blockers(p_release_id uuid, p_target_env text)
returns table (gate_code public.ops_gate_code, status public.ops_gate_status, reason text)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_env public.ops_environment := ops.parse_environment(p_target_env);
begin
  return query
    select b.gate_code, b.status, b.reason from ops.promotion_blockers(p_release_id) b where b.target_env = v_env;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The views
-- ---------------------------------------------------------------------------------------------

-- Per release and gate: the stored gate status and what decided it. Check counts are over the
-- latest result per check name (the result that counts for the gate, DESIGN section 4), so a rerun
-- that fixed a flaky failure counts once, as a pass; check_runs counts every result reported.
-- evidence_count: artifacts attached to the gate itself. approvals / rejections /
-- changes_requested: each approver's latest decision on the gate.
create view ops.v_release_gate_summary with (security_invoker = true) as
select r.release_id, r.project, r.release_name, r.status as release_status, r.created_at as release_created_at,
       g.gate_id, g.gate_code, g.gate_name, g.status, g.entered_at, g.resolved_at, g.resolved_by, g.exception_id,
       chk.checks_pass, chk.checks_fail, chk.checks_warning, chk.checks_skipped, chk.check_runs,
       ev.evidence_count, ap.approvals, ap.rejections, ap.changes_requested
from ops.releases r
join ops.release_gates g on g.release_id = r.release_id
cross join lateral (
  select count(*) filter (where l.status = 'pass')::int as checks_pass,
         count(*) filter (where l.status = 'fail')::int as checks_fail,
         count(*) filter (where l.status = 'warning')::int as checks_warning,
         count(*) filter (where l.status = 'skipped')::int as checks_skipped,
         coalesce(sum(l.runs), 0)::int as check_runs
  from (
    select distinct on (c.check_name) c.status, count(*) over (partition by c.check_name) as runs
    from ops.gate_checks c where c.gate_id = g.gate_id
    order by c.check_name, c.created_at desc, c.check_id desc
  ) l
) chk
cross join lateral (
  select count(*)::int as evidence_count from ops.evidence_artifacts a where a.gate_id = g.gate_id
) ev
cross join lateral (
  select count(*) filter (where l.decision = 'approved')::int as approvals,
         count(*) filter (where l.decision = 'rejected')::int as rejections,
         count(*) filter (where l.decision = 'request_changes')::int as changes_requested
  from (
    select distinct on (a.approver_id) a.decision
    from ops.approvals a where a.gate_id = g.gate_id
    order by a.approver_id, a.created_at desc, a.approval_id desc
  ) l
) ap;

-- Per release: may it go to staging, to production, and how many blockers (unmet requirements,
-- as listed by ops.promotion_blockers) stand in the way of each; every figure from
-- ops.promotion_blockers, the one definition of eligibility. Computed at read time (an exception
-- that expired a second ago no longer helps), so read it a page at a time.
create view ops.v_promotion_eligibility with (security_invoker = true) as
select r.release_id, r.project, r.release_name, r.status as release_status, r.environment_target, r.created_at,
       b.staging_blockers = 0 as eligible_for_staging, b.production_blockers = 0 as eligible_for_production,
       b.staging_blockers, b.production_blockers
from ops.releases r
cross join lateral (
  select count(*) filter (where x.target_env = 'staging')::int as staging_blockers,
         count(*) filter (where x.target_env = 'production')::int as production_blockers
  from ops.promotion_blockers(r.release_id) x
) b;

-- Per release and gate: the evidence the gate needs (ops.gate_evidence_requirements; a requirement
-- with alternatives reads 'test_result or uat_summary'), the artifact types present that meet a
-- requirement, and the blocking requirements still missing. waived: an active evidence_waiver
-- covers the gate; complete: nothing blocking is missing, or it is waived.
create view ops.v_evidence_completeness with (security_invoker = true) as
select r.release_id, r.project, r.release_name, r.created_at as release_created_at,
       g.gate_id, g.gate_code, g.status as gate_status,
       req.required, req.optional, req.present, req.missing, req.evidence_count, w.waived,
       (cardinality(req.missing) = 0 or w.waived) as complete
from ops.releases r
join ops.release_gates g on g.release_id = r.release_id
cross join lateral (
  with x as (
    select array_to_string(e.artifact_types, ' or ') as requirement, e.blocking, e.artifact_ids, e.present_types
    from ops.gate_evidence(g.gate_id) e
  )
  select coalesce((select array_agg(x.requirement order by x.requirement) from x where x.blocking), '{}') as required,
         coalesce((select array_agg(x.requirement order by x.requirement) from x where not x.blocking), '{}') as optional,
         coalesce((select array_agg(distinct t order by t) from x cross join unnest(x.present_types) t), '{}')
           as present,
         coalesce((select array_agg(x.requirement order by x.requirement) from x
                   where x.blocking and cardinality(x.artifact_ids) = 0), '{}') as missing,
         (select count(distinct i)::int from x cross join unnest(x.artifact_ids) i) as evidence_count
) req
cross join lateral (
  select exists (
    select 1 from ops.exceptions e
    where e.release_id = r.release_id and g.gate_code = any (e.impacted_gates)
      and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e)) as waived
) w;

-- Per exception, at read time: active (approved and inside its window, ops.exception_is_active),
-- expired, pending_approval, or scheduled (approved, window not open yet). An exception approved
-- by its own requester (the governance triggers refuse it) authorises nothing and reads as
-- pending_approval. time_left: until expiry, only while active.
create view ops.v_exception_status with (security_invoker = true) as
select e.exception_id, e.release_id, r.project, r.release_name, e.exception_type, e.impacted_gates,
       case
         when ops.exception_is_active(e) then 'active'
         when e.expires_at <= now() then 'expired'
         when e.approver_id is not null and e.approver_id <> e.requested_by and e.effective_from > now()
           then 'scheduled'
         else 'pending_approval'
       end as state,
       e.post_review_status,
       case when ops.exception_is_active(e) then e.expires_at - now() end as time_left,
       e.requested_by, e.approver_id, e.approved_at, e.effective_from, e.expires_at, e.reason, e.created_at
from ops.exceptions e
join ops.releases r on r.release_id = e.release_id;

-- Deployments and rollbacks per environment with their G4 outcome. It reads deployments only (no
-- release names), so the SRE, who reads deployments but not releases, reads it too.
-- rolled_back_by: the first rollback that undid the deployment; time_to_g4: from deployment to
-- the health check's verdict.
create view ops.v_deployment_history with (security_invoker = true) as
select d.deployment_id, d.release_id, d.environment,
       case when d.rollback_of is null then 'deployment' else 'rollback' end as kind,
       d.status, d.rollback_of, rb.deployment_id as rolled_back_by, d.deployed_at, d.deployed_by, d.source_ref,
       d.g4_status, d.g4_resolved_at, d.g4_resolved_at - d.deployed_at as time_to_g4, d.created_at
from ops.deployments d
left join lateral (
  select x.deployment_id from ops.deployments x
  where x.rollback_of = d.deployment_id
  order by x.deployed_at, x.deployment_id limit 1
) rb on true;

-- The views are reports: nobody writes through them. Without a trigger PostgreSQL refuses a write
-- to a view over several relations before it checks privileges (55000 "cannot insert into
-- view"); with one, a persona is refused like on any table, for lack of the privilege (42501), and
-- the owner by the trigger.
create function ops.refuse_report_write() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  raise exception 'ops.% is a read-only report: % is not allowed', tg_table_name, lower(tg_op)
    using errcode = '42501', hint = 'write through the governance functions instead';
end
$$;

do $$
declare
  v text;
begin
  foreach v in array array['v_release_gate_summary', 'v_promotion_eligibility', 'v_evidence_completeness',
                           'v_exception_status', 'v_deployment_history'] loop
    execute format('create trigger %I instead of insert or update or delete on ops.%I
                    for each row execute function ops.refuse_report_write()', v || '_read_only', v);
  end loop;
end
$$;

-- ---------------------------------------------------------------------------------------------
-- The decision chain of one release
-- ---------------------------------------------------------------------------------------------

-- Every fact about a release in time order, one line each, from the database alone: creation,
-- ingest attempts, checks and health checks, evidence, approvals and rejections, exceptions
-- (requested, approved, expired), gate transitions with their reasons, deployments, rollbacks and
-- their status changes, incidents, environment events. `at` is when the database recorded the
-- fact (the statement clock the stamp trigger writes); an ingest attempt is placed at its arrival,
-- before the facts it caused; an exception's expiry at its expires_at once passed. Ties break on a
-- fixed order of kinds, then the entity id, so the order is stable; seq numbers the result.
-- source_system: the row's own, else that of the ingest attempt that wrote it.
create function ops.release_timeline(p_release_id uuid)
returns table (
  seq bigint,
  at timestamptz,
  kind text,
  actor text,
  persona public.ops_persona,
  source_system text,
  ingest_id uuid,
  gate_code public.ops_gate_code,
  summary text,
  entity_id uuid
)
language plpgsql stable
security definer
set search_path = ''
as $$
#variable_conflict use_column
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
  with gates as (
    select g.gate_id, g.gate_code from ops.release_gates g where g.release_id = p_release_id
  ), deps as (
    select d.* from ops.deployments d where d.release_id = p_release_id
  ), facts (at, rank, kind, actor, persona, source_system, ingest_id, gate_code, summary, entity_id) as (
    select r.created_at, 1, 'release_created', r.created_by, r.created_persona, null::text, null::uuid,
           null::public.ops_gate_code,
           format('release %s of %s created for %s from %s, initiated by %s', r.release_name, r.project,
                  r.environment_target, coalesce(r.source_ref, 'no source ref'), r.initiating_actor),
           r.release_id
    from ops.releases r where r.release_id = p_release_id
    union all
    select l.received_at, 2, 'ingest_attempt', l.created_by, l.created_persona, l.source_system, l.ingest_id,
           case when l.gate_code in ('G1', 'G2', 'G3', 'G4') then l.gate_code::public.ops_gate_code end,
           format('%s event %s: %s (HTTP %s)%s', coalesce(l.event_type, 'unknown'), coalesce(l.idempotency_key, '-'),
                  l.processing_status, coalesce(l.http_status::text, '-'),
                  case when l.duplicate_of is not null then ', duplicate of ingest ' || l.duplicate_of
                       when l.error_detail is not null then ': ' || coalesce(l.error_detail ->> 'message', l.error_detail::text)
                       else '' end),
           l.ingest_id
    from ops.event_ingest_log l where l.release_id = p_release_id
    union all
    select c.created_at, 3,
           case when g.gate_code = 'G4' and c.metadata ? 'deployment_id' then 'health_check' else 'check' end,
           c.created_by, c.created_persona, c.source_system::text, c.ingest_id, g.gate_code,
           case when g.gate_code = 'G4' and c.metadata ? 'deployment_id'
                then format('health check "%s" of the %s deployment %s: %s', c.check_name, c.metadata ->> 'environment',
                            c.metadata ->> 'deployment_id', c.status)
                else format('%s check "%s" reported %s%s', g.gate_code, c.check_name, c.status,
                            case when c.required then '' else ' (not required)' end) end,
           c.check_id
    from gates g join ops.gate_checks c on c.gate_id = g.gate_id
    union all
    select a.created_at, 4, 'evidence', a.created_by, a.created_persona, a.source_system, a.ingest_id, g.gate_code,
           format('%s evidence%s: %s%s', a.artifact_type, coalesce(' on ' || g.gate_code, ''), a.artifact_url,
                  coalesce(' (sha256 ' || a.sha256 || ')', '')),
           a.artifact_id
    from ops.release_evidence(p_release_id) a left join gates g on g.gate_id = a.gate_id
    union all
    select a.created_at, 5,
           case when a.scope = 'exception' then 'exception_' else '' end
             || case a.decision when 'approved' then 'approval' when 'rejected' then 'rejection'
                                else 'changes_requested' end,
           a.approver_id, a.persona_role, l.source_system, a.ingest_id, g.gate_code,
           format('%s %s %s %s%s', a.persona_role, a.approver_id,
                  case a.decision when 'request_changes' then 'requested changes on' else a.decision::text end,
                  case a.scope when 'gate' then g.gate_code::text when 'exception' then 'exception ' || a.exception_id
                               else 'the release' end,
                  coalesce(': ' || a.rationale_text, '')),
           a.approval_id
    from ops.approvals a
    left join gates g on g.gate_id = a.gate_id
    left join ops.event_ingest_log l on l.ingest_id = a.ingest_id
    where a.release_id = p_release_id
    union all
    select e.created_at, 6, 'exception_requested', e.requested_by, e.created_persona, null, null, null,
           format('%s exception %s for %s requested: %s; risk: %s; window %s to %s', e.exception_type, e.exception_id,
                  array_to_string(e.impacted_gates, ', '), e.reason, e.risk_statement, ops.iso_utc(e.effective_from),
                  ops.iso_utc(e.expires_at)),
           e.exception_id
    from ops.exceptions e where e.release_id = p_release_id
    union all
    select e.expires_at, 7, 'exception_expired', null, null, null, null, null,
           format('%s exception %s for %s expired%s', e.exception_type, e.exception_id,
                  array_to_string(e.impacted_gates, ', '),
                  case when e.approver_id is null then ' without being approved' else '' end),
           e.exception_id
    from ops.exceptions e where e.release_id = p_release_id and e.expires_at <= now()
    union all
    select t.created_at, 8, 'gate_transition', t.actor, t.created_persona, l.source_system, t.ingest_id, g.gate_code,
           format('%s %s -> %s: %s', g.gate_code, t.from_status, t.to_status, t.reason),
           t.transition_id
    from gates g
    join ops.gate_transitions t on t.gate_id = g.gate_id
    left join ops.event_ingest_log l on l.ingest_id = t.ingest_id
    union all
    -- The status a deployment was recorded with: before its first transition, if it has one.
    select d.created_at, 9, case when d.rollback_of is null then 'deployment' else 'rollback' end,
           d.deployed_by, d.created_persona, l.source_system, d.ingest_id, null,
           format('%s %s to %s: %s, deployed at %s from %s', case when d.rollback_of is null then 'deployment'
                                                                  else 'rollback of ' || d.rollback_of || ',' end,
                  d.deployment_id, d.environment, coalesce(initial.from_status, d.status), ops.iso_utc(d.deployed_at),
                  coalesce(d.source_ref, 'no source ref')),
           d.deployment_id
    from deps d
    left join ops.event_ingest_log l on l.ingest_id = d.ingest_id
    left join lateral (
      select t.from_status from ops.deployment_transitions t where t.deployment_id = d.deployment_id
      order by t.created_at, t.transition_id limit 1
    ) initial on true
    union all
    select t.created_at, 10, 'deployment_transition', t.actor, t.created_persona, l.source_system, t.ingest_id, null,
           format('%s deployment %s: %s', d.environment, d.deployment_id,
                  concat_ws(', ',
                            case when t.from_status <> t.to_status
                                 then format('%s -> %s', t.from_status, t.to_status) end,
                            case when t.from_g4_status <> t.to_g4_status
                                 then format('G4 %s -> %s', t.from_g4_status, t.to_g4_status) end)),
           t.transition_id
    from deps d
    join ops.deployment_transitions t on t.deployment_id = d.deployment_id
    left join ops.event_ingest_log l on l.ingest_id = t.ingest_id
    union all
    select i.created_at, 11, 'incident', i.created_by, i.created_persona, null, null, null,
           format('%s incident on the %s deployment %s, detected at %s%s%s', i.severity, d.environment, d.deployment_id,
                  ops.iso_utc(i.detected_at), coalesce(', resolved at ' || ops.iso_utc(i.resolved_at), ''),
                  coalesce(': ' || i.root_cause, '')),
           i.incident_id
    from deps d join ops.incidents i on i.deployment_id = d.deployment_id
    union all
    select v.created_at, 12, 'environment_event', v.created_by, v.created_persona, v.source_system, v.ingest_id, null,
           format('%s event in %s from %s', v.event_type, v.environment, v.source_system),
           v.event_id
    from ops.environment_events v where v.release_id = p_release_id
  )
  select row_number() over (order by f.at, f.rank, f.entity_id), f.at, f.kind, f.actor, f.persona, f.source_system,
         f.ingest_id, f.gate_code, regexp_replace(f.summary, '\s*[\r\n]+\s*', ' ', 'g'), f.entity_id
  from facts f
  order by f.at, f.rank, f.entity_id;
end
$$;

-- One JSON document with everything an auditor archives for a release: the release, its gates as
-- stored, every evidence artifact reference with its sha256, and the timeline. Only stored facts
-- and UTC timestamps in a fixed format, so the same facts give the same document; the API adds
-- its sha256 over the canonical JSON (RFC 8785), which anyone can recompute from the document.
create function ops.release_evidence_bundle(p_release_id uuid) returns jsonb
language plpgsql stable
security definer
set search_path = ''
as $$
begin
  perform ops.assert_can_read_release(p_release_id);
  return jsonb_build_object(
    'format', 'ops.release-evidence-bundle/v1',
    'release', (
      select jsonb_build_object(
        'release_id', r.release_id, 'project', r.project, 'release_name', r.release_name,
        'environment_target', r.environment_target, 'source_ref', r.source_ref, 'scope_metadata', r.scope_metadata,
        'initiating_actor', r.initiating_actor, 'status', r.status, 'created_at', ops.iso_utc(r.created_at),
        'created_by', r.created_by)
      from ops.releases r where r.release_id = p_release_id),
    'gates', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'gate_id', g.gate_id, 'gate_code', g.gate_code, 'gate_name', g.gate_name, 'status', g.status,
        'entered_at', ops.iso_utc(g.entered_at), 'resolved_at', ops.iso_utc(g.resolved_at),
        'resolved_by', g.resolved_by, 'exception_id', g.exception_id) order by g.gate_code), '[]'::jsonb)
      from ops.release_gates g where g.release_id = p_release_id),
    'evidence', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'artifact_id', a.artifact_id, 'artifact_type', a.artifact_type, 'artifact_url', a.artifact_url,
        'sha256', a.sha256, 'source_system', a.source_system, 'gate_code', g.gate_code, 'check_id', a.check_id,
        'deployment_id', a.deployment_id, 'ingest_id', a.ingest_id, 'created_at', ops.iso_utc(a.created_at),
        'created_by', a.created_by) order by a.created_at, a.artifact_id), '[]'::jsonb)
      from ops.release_evidence(p_release_id) a left join ops.release_gates g on g.gate_id = a.gate_id),
    'timeline', (
      select coalesce(jsonb_agg(jsonb_build_object(
        'seq', t.seq, 'at', ops.iso_utc(t.at), 'kind', t.kind, 'actor', t.actor, 'persona', t.persona,
        'source_system', t.source_system, 'ingest_id', t.ingest_id, 'gate_code', t.gate_code,
        'summary', t.summary, 'entity_id', t.entity_id) order by t.seq), '[]'::jsonb)
      from ops.release_timeline(p_release_id) t)
  );
end
$$;

-- ---------------------------------------------------------------------------------------------
-- Indexes, each chosen from EXPLAIN of the query it serves (bench/reads.ts, 10,000 releases)
-- ---------------------------------------------------------------------------------------------

-- releaseGateSummary / promotionEligibilities / evidenceCompleteness filtered by project: the
-- page comes off the index in keyset order; without it the plan walks releases_created filtering on
-- project, which for a small project reads the whole index.
create index releases_project_created on ops.releases (project, created_at desc, release_id desc);
-- deploymentHistory: the newest deployments first, in keyset order, all environments; without it
-- every deployment is read, and its rolled_back_by looked up, before a sort.
create index deployments_deployed on ops.deployments (deployed_at desc, deployment_id desc);
-- v_deployment_history.rolled_back_by: the rollbacks of a deployment, one probe per row of the page.
create index deployments_rollback_of on ops.deployments (rollback_of) where rollback_of is not null;
-- exceptionStatus: soonest expiry first, in keyset order (exceptions_expires lacks the tiebreak).
create index exceptions_expires_id on ops.exceptions (expires_at, exception_id);
-- ops.release_timeline: a release's environment events.
create index environment_events_release on ops.environment_events (release_id) where release_id is not null;

-- ---------------------------------------------------------------------------------------------
-- Who reads what
-- ---------------------------------------------------------------------------------------------

-- Each view to the personas that may read every table it reads (the security_invoker view would
-- refuse anyone else with a permission error on the table anyway; this refuses them at the view).
grant select on ops.v_release_gate_summary to release_manager, audit_reader;
grant select on ops.v_promotion_eligibility to ci_service_role, release_manager, qa_tester, developer, audit_reader;
grant select on ops.v_evidence_completeness to release_manager, audit_reader;
grant select on ops.v_exception_status to release_manager, audit_reader;
grant select on ops.v_deployment_history to release_manager, sre, audit_reader;

-- Eligibility, as its two-argument form: to every persona (it checks visibility itself).
grant execute on function ops.promotion_blockers(uuid)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
-- The invoker's-rights helpers, to the readers of the views that call them.
grant execute on function ops.gate_evidence(uuid), ops.release_evidence(uuid), ops.iso_utc(timestamptz)
  to release_manager, audit_reader;
-- The decision chain: to the personas who read everything.
grant execute on function ops.release_timeline(uuid), ops.release_evidence_bundle(uuid)
  to release_manager, audit_reader;

-- As 20261126003100_ops_function_privileges.sql: nothing in ops is callable by PUBLIC.
revoke execute on all functions in schema ops from public;
