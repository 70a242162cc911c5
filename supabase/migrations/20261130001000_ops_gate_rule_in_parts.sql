-- The gate rule in parts, and facts that count per source rather than per revision number.
--
-- ops.compute_release_gates is a short composition of one function per concern. Each part takes
-- the release row and the revisions whose facts count (ops.counted_revisions) and returns one row
-- per gate it has something to say about: whether the concern is satisfied, whether it fails the
-- gate outright, whether anything was reported at all, and the reasons in words:
--
--   ops.gate_check_findings       checks: the latest result per name, required names, stale ones
--   ops.gate_deployment_findings  G4: the standing deployment of the revision and its health
--   ops.gate_evidence_findings    evidence requirements (ops.gate_evidence) not met
--   ops.gate_approval_findings    approvals of the gate's persona, n of m, stale ones
--   ops.gate_exception_findings   the bypass and the evidence waiver in force; why others do not help
--   ops.gate_timing_findings      freezes, soak and deadlines: empty here, the place they plug in
--
-- The composition adds what no single concern knows: gates are sequential, a bypass passes a gate
-- whose predecessors passed, and the status follows from the findings (DESIGN section 4).
--
-- Facts count per source (closing "revise to another ref and back to the same one"): a fact
-- recorded at an earlier revision counts again when that revision names the same source_ref and
-- the same artifact digest (both, NULL matching NULL) as the current one and the release's scope
-- has not changed since that revision began. Revising away and back therefore brings back a
-- failing check as much as an approval; an approval of G3 by whoever revised the release to its
-- current revision does not count (the reviser does not sign G3, 20261129006100).

-- The revisions of a release whose facts count now: the current one, and every earlier one of the
-- same source_ref and artifact digest with no scope change recorded since it began. Takes a
-- release id; returns the revision numbers in order (NULL when there is no such release).
-- Invoker's rights: from ops.gate_evidence under a reader's RLS, from the gate rule as its owner.
-- Rule: DESIGN section 4 (a release is one revision; facts are about a source, not a number).
create function ops.counted_revisions(p_release_id uuid) returns integer[]
language sql stable
set search_path = pg_catalog, pg_temp
as $$
  select case when r.revision = 1 then array[1] else (
    select pg_catalog.array_agg(v.revision order by v.revision)
    from ops.release_revisions v
    where v.release_id = r.release_id
      and (v.revision = r.revision
           or (v.source_ref is not distinct from r.source_ref
               and v.artifact_digest is not distinct from r.artifact_digest
               and not exists (select 1 from ops.release_scope_changes s
                               where s.release_id = r.release_id and s.created_at >= v.created_at)))
  ) end
  from ops.releases r where r.release_id = p_release_id
$$;
revoke execute on function ops.counted_revisions(uuid) from public;
grant execute on function ops.counted_revisions(uuid) to release_manager, audit_reader;

-- Each evidence requirement of a gate (ops.gate_evidence_requirements) and the artifacts of the
-- release's counted revisions that meet it. Takes a gate id; returns one row per requirement.
-- Invoker's rights on purpose: called from ops.v_evidence_completeness it reads as the caller,
-- under RLS; from ops.gate_evidence_findings as the gate rule's owner. PL/pgSQL so that its plan
-- is kept for the session (the gate rule calls it per gate).
create or replace function ops.gate_evidence(p_gate_id uuid)
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
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_release_id uuid;
  v_revisions integer[];
begin
  select g.release_id into v_release_id from ops.release_gates g where g.gate_id = p_gate_id;
  if v_release_id is null then
    return;
  end if;
  v_revisions := ops.counted_revisions(v_release_id);
  return query
  select q.requirement_id, q.artifact_types, q.attached_to, q.blocking, dep.deployment_id, dep.environment,
         coalesce(ev.artifact_ids, '{}'), coalesce(ev.present_types, '{}')
  from ops.release_gates g
  join ops.gate_evidence_requirements q on q.gate_code = g.gate_code
  left join lateral (
    select d.deployment_id, d.environment from ops.deployments d
    where q.attached_to = 'latest_deployment' and d.release_id = g.release_id and d.rollback_of is null
      and d.revision = any (v_revisions)
    order by d.deployed_at desc, d.created_at desc limit 1
  ) dep on true
  left join lateral (
    select pg_catalog.array_agg(m.artifact_id order by m.artifact_id) as artifact_ids,
           pg_catalog.array_agg(distinct m.artifact_type order by m.artifact_type) as present_types
    from (
      -- One index-friendly branch per place evidence can hang.
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to in ('gate', 'gate_or_release') and a.gate_id = g.gate_id
        and a.revision = any (v_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.gate_checks c
      join ops.evidence_artifacts a on a.check_id = c.check_id
      where q.attached_to in ('gate', 'gate_or_release') and c.gate_id = g.gate_id
        and a.revision = any (v_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'gate_or_release' and a.release_id = g.release_id and a.gate_id is null
        and a.revision = any (v_revisions)
      union
      select a.artifact_id, a.artifact_type from ops.evidence_artifacts a
      where q.attached_to = 'latest_deployment' and a.deployment_id = dep.deployment_id
    ) m
    where m.artifact_type = any (q.artifact_types)
  ) ev on true
  where g.gate_id = p_gate_id
  order by q.gate_code, pg_catalog.array_to_string(q.artifact_types, ',');
end
$$;
revoke execute on function ops.gate_evidence(uuid) from public;
grant execute on function ops.gate_evidence(uuid) to release_manager, audit_reader;

-- "refs/tags/v1" or "refs/tags/v1 (sha256:…)" for the release as it is now; "no source ref" when
-- it has none. Takes the release row; returns the label (as ops.revision_label of its revision).
create function ops.gate_now_label(p_release ops.releases) returns text
language sql immutable
set search_path = pg_catalog, pg_temp
as $$
  select coalesce(p_release.source_ref, 'no source ref') || coalesce(' (' || p_release.artifact_digest || ')', '')
$$;
revoke execute on function ops.gate_now_label(ops.releases) from public;

-- Checks, per gate of the release: the latest result per check name among the counted revisions
-- counts. Required: the names listed for the project and gate (ops.check_requirements), else every
-- check reported on the gate as required. A failing check fails the gate when it is required; on
-- G2 whatever it is. G1 needs at least one required (build) check. A required check whose latest
-- result is of a revision that no longer counts, and that has not reported since, holds the gate
-- and is named as stale. Takes the release row and its counted revisions; returns one row per
-- gate. Internal (the gate rule's owner). Rule: DESIGN section 4, gates G1-G3.
create function ops.gate_check_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  with gates as (
    select g.gate_id, g.gate_code,
           coalesce((select pg_catalog.array_agg(cr.check_name order by cr.check_name) from ops.check_requirements cr
                     where cr.project = p_release.project and cr.gate_code = g.gate_code), '{}') as required_names
    from ops.release_gates g where g.release_id = p_release.release_id
  ),
  latest as (
    select distinct on (c.gate_id, c.check_name) c.gate_id, c.check_name, c.status, c.required
    from gates g join ops.gate_checks c on c.gate_id = g.gate_id
    where c.revision = any (p_revisions)
    order by c.gate_id, c.check_name, c.created_at desc, c.check_id desc
  )
  select g.gate_id,
         f.blocking is not true and (g.gate_code <> 'G1' or f.any_required is true) and s.reasons is null,
         coalesce(f.fails, false),
         coalesce(f.any_input, false),
         coalesce(f.reasons, '{}')
           || case when g.gate_code = 'G1' and f.any_required is not true
                   then array['G1: no build checks reported yet'] else '{}'::text[] end
           || coalesce(s.reasons, '{}')
  from gates g
  left join lateral (
    select pg_catalog.bool_or(x.reason is not null) as blocking,
           pg_catalog.bool_or(x.fails) as fails,
           pg_catalog.bool_or(x.status is not null) as any_input,
           pg_catalog.bool_or(x.is_required) as any_required,
           pg_catalog.array_agg(x.reason order by x.check_name) filter (where x.reason is not null) as reasons
    from (
      select y.check_name, y.status, y.is_required,
             y.status = 'fail' and (y.is_required or g.gate_code = 'G2') as fails,
             case
               when y.status = 'fail' and (y.is_required or g.gate_code = 'G2') then
                 pg_catalog.format('%s: check "%s" is failing', g.gate_code, y.check_name)
               when y.is_required and y.status is null then
                 pg_catalog.format('%s: required check "%s" has not reported', g.gate_code, y.check_name)
               when y.is_required and y.status <> 'pass' then
                 pg_catalog.format('%s: required check "%s" is %s, not pass', g.gate_code, y.check_name, y.status)
             end as reason
      from (
        select coalesce(r.check_name, l.check_name) as check_name, l.status, r.check_name is not null as is_required
        from (
          select n as check_name from pg_catalog.unnest(g.required_names) n
          union
          select l2.check_name from latest l2
          where l2.gate_id = g.gate_id and pg_catalog.cardinality(g.required_names) = 0 and l2.required
        ) r
        full join (select l3.check_name, l3.status from latest l3 where l3.gate_id = g.gate_id) l
          on l.check_name = r.check_name
      ) y
    ) x
  ) f on true
  left join lateral (
    select pg_catalog.array_agg(
             pg_catalog.format('%s: check "%s" %s for %s, release is now at %s', g.gate_code, st.check_name,
                               case st.status when 'pass' then 'passed' when 'fail' then 'failed'
                                              else 'was ' || st.status end,
                               ops.revision_label(p_release.release_id, st.revision), ops.gate_now_label(p_release))
             order by st.check_name) as reasons
    from (
      select distinct on (c.check_name) c.check_name, c.status, c.revision
      from ops.gate_checks c
      where p_release.revision > 1 and c.gate_id = g.gate_id and c.revision <> all (p_revisions)
        and (c.required or c.check_name = any (g.required_names))
        and not exists (select 1 from ops.gate_checks n where n.gate_id = g.gate_id
                        and n.check_name = c.check_name and n.revision = any (p_revisions))
      order by c.check_name, c.created_at desc, c.check_id desc
    ) st
  ) s on true;
end
$$;
revoke execute on function ops.gate_check_findings(ops.releases, integer[]) from public;

-- G4's deployment: G4 confirms the release's latest deployment of a counted revision (rollbacks
-- aside), and only while it stands: succeeded, not rolled back, its health check passed. A later
-- deployment (a failed one included) supersedes it; a failure, a rollback or a failed health check
-- fails G4; a deployment in progress or without a passing health check holds it. Takes the release
-- row and its counted revisions; returns the G4 row. Internal. Rule: DESIGN section 4, G4, and
-- 20261129002200.
create function ops.gate_deployment_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  select g.gate_id,
         o.verdict = 'stands',
         o.verdict in ('failed', 'rolled_back', 'unhealthy'),
         d.deployment_id is not null,
         case o.verdict
           when 'none' then array[case when old.deployment_id is null then 'G4: the release has not been deployed yet'
             else pg_catalog.format('G4: the %s deployment %s is of %s, release is now at %s', old.environment,
                                    old.deployment_id, ops.revision_label(p_release.release_id, old.revision),
                                    ops.gate_now_label(p_release)) end]
           when 'failed' then array[pg_catalog.format('G4: the %s deployment %s failed', d.environment, d.deployment_id)]
           when 'rolled_back' then
             array[pg_catalog.format('G4: the %s deployment %s was rolled back', d.environment, d.deployment_id)]
           when 'unhealthy' then
             array[pg_catalog.format('G4: the health check of the %s deployment failed', d.environment)]
           when 'running' then array[pg_catalog.format('G4: the %s deployment %s has not succeeded yet (it is %s)',
                                                       d.environment, d.deployment_id, d.status)]
           when 'unconfirmed' then
             array[pg_catalog.format('G4: the %s deployment has no passing health check yet', d.environment)]
           else '{}'::text[]
         end
  from ops.release_gates g
  left join lateral (
    select x.* from ops.deployments x
    where x.release_id = p_release.release_id and x.rollback_of is null and x.revision = any (p_revisions)
    order by x.deployed_at desc, x.created_at desc limit 1
  ) d on true
  left join lateral (
    select x.* from ops.deployments x
    where d.deployment_id is null and x.release_id = p_release.release_id and x.rollback_of is null
    order by x.deployed_at desc, x.created_at desc limit 1
  ) old on true
  cross join lateral (
    select case
      when d.deployment_id is null then 'none'
      when d.status = 'failed' then 'failed'
      when d.status = 'rolled_back'
        or exists (select 1 from ops.deployments b where b.rollback_of = d.deployment_id) then 'rolled_back'
      when d.g4_status = 'failed' then 'unhealthy'
      when d.status <> 'succeeded' then 'running'
      when d.g4_status <> 'passed' then 'unconfirmed'
      else 'stands'
    end as verdict
  ) o
  where g.release_id = p_release.release_id and g.gate_code = 'G4';
end
$$;
revoke execute on function ops.gate_deployment_findings(ops.releases, integer[]) from public;

-- Evidence, per gate: each blocking requirement of ops.gate_evidence_requirements that no artifact
-- of a counted revision meets (read through ops.gate_evidence, the same definition
-- ops.v_evidence_completeness reports). Informational requirements never hold a gate; an evidence
-- waiver is applied by the composition. Evidence never fails a gate, it holds it. Takes the release
-- row and its counted revisions; returns one row per gate. Internal. Rule: DESIGN section 4 and
-- 20261126004100 (the requirements are rows).
create function ops.gate_evidence_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  return query
  select g.gate_id, not m.unmet, false,
         exists (select 1 from ops.evidence_artifacts a where a.gate_id = g.gate_id and a.revision = any (p_revisions)),
         coalesce(m.reasons, '{}')
  from ops.release_gates g
  left join lateral (
    select pg_catalog.array_agg(case
             when e.attached_to <> 'latest_deployment' then
               pg_catalog.format('%s: no %s evidence attached', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '))
             else
               pg_catalog.format('%s: no %s evidence for the %s deployment', g.gate_code,
                                 pg_catalog.array_to_string(e.artifact_types, ' or '), e.deployment_environment)
           end order by e.ordinality) filter (where e.attached_to <> 'latest_deployment' or e.deployment_id is not null)
           as reasons,
           -- Without a deployment G4's deployment finding already says so; the gate is still held.
           pg_catalog.count(*) > 0 as unmet
    from ops.gate_evidence(g.gate_id) with ordinality e
    where e.blocking and pg_catalog.cardinality(e.artifact_ids) = 0
  ) m on true
  where g.release_id = p_release.release_id;
end
$$;
revoke execute on function ops.gate_evidence_findings(ops.releases, integer[]) from public;

-- Approvals, per gate with an approver persona (ops.gate_policies): each approver's latest decision
-- of a counted revision counts. A rejection fails the gate; a change request, or fewer approvals
-- than the policy's minimum, holds it, and then approvals of earlier revisions by approvers who
-- have not decided this one are named as stale. On G3 an approval by whoever revised the release
-- to its current revision does not count (the reviser does not sign G3). Takes the release row and
-- its counted revisions; returns one row per gate with a policy. Internal. Rule: DESIGN section 4
-- (n-of-m sign-off), 20261129002000 and 20261129006100.
create function ops.gate_approval_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
declare
  v_reviser text;
begin
  if p_release.revision > 1 then
    select v.revised_by into v_reviser from ops.release_revisions v
    where v.release_id = p_release.release_id and v.revision = p_release.revision;
  end if;
  return query
  select g.gate_id,
         not a.rejected and not a.changes and a.approved >= p.min_approvals,
         a.rejected,
         a.decided > 0,
         case when a.rejected then array[pg_catalog.format('%s: a %s rejected it', g.gate_code, p.approver_persona)]
              when a.changes then
                array[pg_catalog.format('%s: a %s requested changes', g.gate_code, p.approver_persona)]
              else '{}'::text[] end
         || case when a.approved < p.min_approvals and not a.rejected then
              array[case when a.approved = 0 then pg_catalog.format('%s: no %s approval yet', g.gate_code,
                                                                     p.approver_persona)
                         else pg_catalog.format('%s: %s of %s required %s approvals', g.gate_code, a.approved,
                                                p.min_approvals, p.approver_persona) end]
              || coalesce(st.reasons, '{}')
            else '{}'::text[] end
  from ops.release_gates g
  join ops.gate_policies p on p.gate_code = g.gate_code and p.approver_persona is not null
  cross join lateral (
    select pg_catalog.count(*) filter (where l.decision = 'approved')::integer as approved,
           coalesce(pg_catalog.bool_or(l.decision = 'rejected'), false) as rejected,
           coalesce(pg_catalog.bool_or(l.decision = 'request_changes'), false) as changes,
           pg_catalog.count(*) as decided
    from (
      select distinct on (x.approver_id) x.decision
      from ops.approvals x
      where x.gate_id = g.gate_id and x.persona_role = p.approver_persona and x.revision = any (p_revisions)
        and not (g.gate_code = 'G3' and x.approver_id = v_reviser and x.revision <> p_release.revision)
      order by x.approver_id, x.created_at desc, x.approval_id desc
    ) l
  ) a
  left join lateral (
    select pg_catalog.array_agg(
             pg_catalog.format('%s: the %s approval by %s is stale: approved for %s, release is now at %s',
                               g.gate_code, p.approver_persona, s.approver_id,
                               ops.revision_label(p_release.release_id, s.revision), ops.gate_now_label(p_release))
             order by s.approver_id) filter (where s.decision = 'approved') as reasons
    from (
      select distinct on (x.approver_id) x.approver_id, x.decision, x.revision
      from ops.approvals x
      where p_release.revision > 1 and x.gate_id = g.gate_id and x.persona_role = p.approver_persona
        and x.revision <> all (p_revisions)
        and not exists (select 1 from ops.approvals n where n.gate_id = g.gate_id
                        and n.approver_id = x.approver_id and n.revision = any (p_revisions))
      order by x.approver_id, x.created_at desc, x.approval_id desc
    ) s
  ) st on true
  where g.release_id = p_release.release_id;
end
$$;
revoke execute on function ops.gate_approval_findings(ops.releases, integer[]) from public;

-- Exceptions, per gate an exception names: the active gate_bypass of a counted revision that the
-- composition applies (the one expiring last), whether an active evidence_waiver covers the gate's
-- evidence, and why each other bypass naming the gate does not help (of a revision that no longer
-- counts, expired, awaiting approval, not yet in effect). Takes the release row and its counted
-- revisions; returns one row per gate named by an exception. Internal. Rule: DESIGN section 4
-- (exceptions), 20261126002200 (who approves them).
create function ops.gate_exception_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, bypass_exception_id uuid, evidence_waived boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
#variable_conflict use_column
begin
  if not exists (select 1 from ops.exceptions e where e.release_id = p_release.release_id) then
    return;
  end if;
  return query
  select g.gate_id,
         (select e.exception_id from ops.exceptions e
          where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
            and e.exception_type = 'gate_bypass' and ops.exception_is_active(e) and e.revision = any (p_revisions)
          order by e.expires_at desc limit 1),
         exists (select 1 from ops.exceptions e
                 where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
                   and e.exception_type = 'evidence_waiver' and ops.exception_is_active(e)
                   and e.revision = any (p_revisions)),
         coalesce((
           select pg_catalog.array_agg(case
                    when e.revision <> all (p_revisions) then
                      pg_catalog.format('%s bypass exception %s was requested for %s, release is now at %s',
                                        g.gate_code, e.exception_id, ops.revision_label(p_release.release_id, e.revision),
                                        ops.gate_now_label(p_release))
                    when e.expires_at <= pg_catalog.clock_timestamp() then
                      pg_catalog.format('%s bypass exception %s expired at %s', g.gate_code, e.exception_id,
                                        pg_catalog.to_char(e.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    when e.approver_id is null then
                      pg_catalog.format('%s bypass exception %s awaits approval by a release_manager', g.gate_code,
                                        e.exception_id)
                    else
                      pg_catalog.format('%s bypass exception %s takes effect at %s', g.gate_code, e.exception_id,
                                        pg_catalog.to_char(e.effective_from at time zone 'UTC',
                                                           'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                  end order by e.created_at)
           from ops.exceptions e
           where e.release_id = p_release.release_id and g.gate_code = any (e.impacted_gates)
             and e.exception_type = 'gate_bypass'
             and (not ops.exception_is_active(e) or e.revision <> all (p_revisions))), '{}')
  from ops.release_gates g
  where g.release_id = p_release.release_id;
end
$$;
revoke execute on function ops.gate_exception_findings(ops.releases, integer[]) from public;

-- Timing, per gate: freeze windows, soak time and deadlines. The place timing rules plug into the
-- gate rule: replace this function's body (same signature and columns) to return a row for each
-- gate a timing rule holds or fails; an absent row means timing has nothing against the gate.
-- Today it returns no rows. Takes the release row and its counted revisions. Internal.
create function ops.gate_timing_findings(p_release ops.releases, p_revisions integer[])
returns table (gate_id uuid, satisfied boolean, failed boolean, has_input boolean, reasons text[])
language plpgsql stable
set search_path = pg_catalog, pg_temp
as $$
begin
  return;
end
$$;
revoke execute on function ops.gate_timing_findings(ops.releases, integer[]) from public;

-- G1-G4 of a release as the rule computes them now: the composition of the parts above. Takes a
-- release id; returns per gate its status, the reasons it is not passed (empty when passed or
-- bypassed) and the exception that bypasses it. OPS04: no such release. Status: passed when every
-- concern is satisfied and the previous gate passed (or was bypassed); bypassed when an active
-- bypass covers it and the previous gate passed; failed when a concern fails it; in_progress when
-- anything was reported (or only the previous gate holds it); pending otherwise. Gates are
-- sequential: a gate after one not passed says what it waits for. Rule: DESIGN section 4.
create or replace function ops.compute_release_gates(p_release_id uuid)
returns table (
  gate_id uuid,
  gate_code public.ops_gate_code,
  status public.ops_gate_status,
  reasons text[],
  exception_id uuid
)
language plpgsql stable
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_release ops.releases;
  v_revisions integer[];
  g record;
  v_prev_ok boolean := true;
  v_prev_code public.ops_gate_code;
  v_prev_status public.ops_gate_status;
  v_ok boolean;
  v_status public.ops_gate_status;
  v_reasons text[];
begin
  select * into v_release from ops.releases r where r.release_id = p_release_id;
  if not found then
    raise exception 'release % does not exist', p_release_id using errcode = 'OPS04';
  end if;
  v_revisions := ops.counted_revisions(p_release_id);
  for g in
    select rg.gate_id, rg.gate_code,
           coalesce(x.evidence_waived, false) as waived, x.bypass_exception_id, x.reasons as exception_reasons,
           coalesce(c.satisfied, true) and coalesce(d.satisfied, true)
             and (coalesce(x.evidence_waived, false) or coalesce(e.satisfied, true))
             and coalesce(a.satisfied, true) and coalesce(t.satisfied, true) as ok,
           c.failed is true or d.failed is true or e.failed is true or a.failed is true
             or t.failed is true as hard_fail,
           c.has_input is true or d.has_input is true or e.has_input is true or a.has_input is true
             or t.has_input is true as any_input,
           coalesce(c.reasons, '{}') || coalesce(d.reasons, '{}')
             || case when x.evidence_waived then '{}'::text[] else coalesce(e.reasons, '{}') end
             || coalesce(a.reasons, '{}') || coalesce(t.reasons, '{}') as reasons
    from ops.release_gates rg
    join ops.gate_definitions gd on gd.gate_code = rg.gate_code
    left join ops.gate_check_findings(v_release, v_revisions) c on c.gate_id = rg.gate_id
    left join ops.gate_deployment_findings(v_release, v_revisions) d on d.gate_id = rg.gate_id
    left join ops.gate_evidence_findings(v_release, v_revisions) e on e.gate_id = rg.gate_id
    left join ops.gate_approval_findings(v_release, v_revisions) a on a.gate_id = rg.gate_id
    left join ops.gate_exception_findings(v_release, v_revisions) x on x.gate_id = rg.gate_id
    left join ops.gate_timing_findings(v_release, v_revisions) t on t.gate_id = rg.gate_id
    where rg.release_id = p_release_id
    order by gd.position
  loop
    v_reasons := g.reasons;
    if not v_prev_ok then
      v_reasons := pg_catalog.format('%s: waiting for %s, which is %s', g.gate_code, v_prev_code, v_prev_status)
                   || v_reasons;
    end if;
    exception_id := null;
    if g.ok and v_prev_ok then
      v_status := 'passed';
      v_reasons := '{}';
    elsif g.bypass_exception_id is not null and v_prev_ok then
      v_status := 'bypassed';
      exception_id := g.bypass_exception_id;
      v_reasons := '{}';
    elsif g.hard_fail then
      v_status := 'failed';
    elsif g.any_input or (g.ok and not v_prev_ok) then
      v_status := 'in_progress';
    else
      v_status := 'pending';
    end if;
    if v_status not in ('passed', 'bypassed') then
      v_reasons := v_reasons || coalesce(g.exception_reasons, '{}');
    end if;
    gate_id := g.gate_id;
    gate_code := g.gate_code;
    status := v_status;
    reasons := v_reasons;
    return next;
    v_prev_ok := v_status in ('passed', 'bypassed');
    v_prev_code := g.gate_code;
    v_prev_status := v_status;
  end loop;
end
$$;
revoke execute on function ops.compute_release_gates(uuid) from public;
