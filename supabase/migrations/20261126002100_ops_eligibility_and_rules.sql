-- Eligibility and its blockers, the stored gate status kept current, release status from the
-- facts, separation of duties, and the promotion block, all as triggers on the tables so that no
-- door and no direct SQL can skip them.

create function ops.parse_environment(p_env text) returns public.ops_environment
language plpgsql immutable
set search_path = ''
as $$
begin
  return p_env::public.ops_environment;
exception when invalid_text_representation then
  raise exception 'unknown environment "%"; expected dev, staging or production', p_env using errcode = 'OPS22';
end
$$;

-- One row per unmet requirement for promoting the release to the environment. The requirements
-- come from ops.gate_requirements.
create function ops.promotion_blockers(p_release_id uuid, p_target_env text)
returns table (gate_code public.ops_gate_code, status public.ops_gate_status, reason text)
language plpgsql stable
security definer
set search_path = ''
as $$
declare
  v_env public.ops_environment := ops.parse_environment(p_target_env);
begin
  perform ops.assert_can_read_release(p_release_id);
  return query
    select c.gate_code, c.status, r.reason
    from ops.compute_release_gates(p_release_id) c
    join ops.gate_requirements q on q.gate_code = c.gate_code and q.target_env = v_env
    cross join lateral unnest(case when cardinality(c.reasons) > 0 then c.reasons
                                   else array[format('%s is %s', c.gate_code, c.status)] end) as r(reason)
    where c.status not in ('passed', 'bypassed')
    order by c.gate_code;
end
$$;

create function ops.is_eligible_for_promotion(p_release_id uuid, p_target_env text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select not exists (select 1 from ops.promotion_blockers(p_release_id, p_target_env))
$$;

-- The release status follows the facts: promoted when its latest production deployment succeeded
-- and its G4 passed; rolled_back or failed from deployment outcomes; in_progress once any gate
-- has left pending.
create function ops.derive_release_status(p_release_id uuid) returns public.ops_release_status
language sql stable
security definer
set search_path = ''
as $$
  with latest as (
    select d.* from ops.deployments d where d.release_id = p_release_id
    order by d.deployed_at desc, d.created_at desc limit 1
  ), latest_prod as (
    select d.* from ops.deployments d
    where d.release_id = p_release_id and d.environment = 'production' and d.rollback_of is null
    order by d.deployed_at desc, d.created_at desc limit 1
  )
  select case
    when exists (select 1 from latest l where l.rollback_of is not null or l.status = 'rolled_back')
      then 'rolled_back'
    when exists (select 1 from latest_prod p where p.status = 'succeeded' and p.g4_status = 'passed')
      then 'promoted'
    when exists (select 1 from latest l where l.status = 'failed' or l.g4_status = 'failed')
      then 'failed'
    when exists (select 1 from ops.release_gates g where g.release_id = p_release_id and g.status <> 'pending')
      or exists (select 1 from ops.deployments d where d.release_id = p_release_id)
      then 'in_progress'
    else 'draft'
  end::public.ops_release_status
$$;

-- Recomputes and stores every gate of the release (a change to one gate can change the next),
-- and the release status. Gate changes append gate_transitions through a trigger.
create function ops.evaluate_release(p_release_id uuid, p_reason text default null) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  c record;
  v_status public.ops_release_status;
begin
  perform set_config('ops.evaluating', 'on', true);
  perform set_config('ops.transition_reason', coalesce(p_reason, ''), true);
  for c in select * from ops.compute_release_gates(p_release_id) loop
    update ops.release_gates g set
      status = c.status,
      exception_id = c.exception_id,
      entered_at = case when c.status <> 'pending' then coalesce(g.entered_at, now()) else g.entered_at end,
      resolved_at = case when c.status in ('passed', 'failed', 'bypassed') then now() end,
      resolved_by = case when c.status in ('passed', 'failed', 'bypassed') then ops.current_actor() end
    where g.gate_id = c.gate_id
      and (g.status is distinct from c.status or g.exception_id is distinct from c.exception_id);
  end loop;
  perform set_config('ops.evaluating', 'off', true);
  v_status := ops.derive_release_status(p_release_id);
  update ops.releases r set status = v_status where r.release_id = p_release_id and r.status <> v_status;
end
$$;

create function ops.evaluate_gate(p_gate_id uuid) returns public.ops_gate_status
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_release uuid;
  v_status public.ops_gate_status;
begin
  select g.release_id into v_release from ops.release_gates g where g.gate_id = p_gate_id;
  if v_release is null then
    raise exception 'gate % does not exist', p_gate_id using errcode = 'OPS04';
  end if;
  perform ops.evaluate_release(v_release);
  select g.status into v_status from ops.release_gates g where g.gate_id = p_gate_id;
  return v_status;
end
$$;

-- Gate status: passed and bypassed are computed, never typed in; and a gate cannot pass or be
-- bypassed before its predecessor has.
create function ops.release_gates_guard() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_prev record;
begin
  if new.status is distinct from old.status and new.status in ('passed', 'bypassed') then
    select g.gate_code, g.status into v_prev
    from ops.release_gates g
    join ops.gate_definitions d on d.gate_code = g.gate_code
    where g.release_id = new.release_id
      and d.position = (select d2.position - 1 from ops.gate_definitions d2 where d2.gate_code = new.gate_code);
    if found and v_prev.status not in ('passed', 'bypassed') then
      raise exception 'gate % cannot be % before % has passed (it is %)', new.gate_code, new.status,
        v_prev.gate_code, v_prev.status using errcode = 'OPS09';
    end if;
    if coalesce(current_setting('ops.evaluating', true), '') <> 'on' then
      raise exception 'gate % cannot be set to % by hand: it is computed from checks, evidence and approvals; request an exception to bypass it',
        new.gate_code, new.status using errcode = 'OPS03';
    end if;
  end if;
  if new.release_id <> old.release_id or new.gate_code <> old.gate_code then
    raise exception 'a gate cannot move to another release or gate code' using errcode = 'OPS22';
  end if;
  return new;
end
$$;

create trigger release_gates_guard before update on ops.release_gates
  for each row execute function ops.release_gates_guard();

create function ops.release_gates_record_transition() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into ops.gate_transitions (gate_id, from_status, to_status, reason, actor, ingest_id)
  values (new.gate_id, old.status, new.status,
          coalesce(nullif(current_setting('ops.transition_reason', true), ''),
                   case when coalesce(current_setting('ops.evaluating', true), '') = 'on'
                        then 'recomputed from the gate''s checks, evidence, approvals and exceptions'
                        else 'set by ' || ops.current_actor() end),
          ops.current_actor(), ops.current_ingest_id());
  return null;
end
$$;

create trigger release_gates_transition after update of status on ops.release_gates
  for each row when (old.status is distinct from new.status)
  execute function ops.release_gates_record_transition();

-- Whatever changes a gate's inputs re-evaluates the release, so stored status is never stale.
create function ops.reevaluate_after_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_release uuid;
  v_what text;
begin
  case tg_table_name
    when 'gate_checks' then
      select g.release_id into v_release from ops.release_gates g where g.gate_id = new.gate_id;
      v_what := format('check "%s" reported %s', new.check_name, new.status);
    when 'evidence_artifacts' then
      v_release := coalesce(
        new.release_id,
        (select g.release_id from ops.release_gates g where g.gate_id = new.gate_id),
        (select g.release_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
          where c.check_id = new.check_id),
        (select d.release_id from ops.deployments d where d.deployment_id = new.deployment_id));
      v_what := format('%s evidence attached', new.artifact_type);
    when 'approvals' then
      v_release := new.release_id;
      v_what := format('%s %s (%s)', new.persona_role, new.decision, new.scope);
    when 'exceptions' then
      v_release := new.release_id;
      v_what := format('%s exception for %s %s', new.exception_type, array_to_string(new.impacted_gates, ', '),
                       case when new.approver_id is null then 'requested' else 'approved' end);
    when 'deployments' then
      v_release := new.release_id;
      v_what := format('%s deployment %s, G4 %s', new.environment, new.status, new.g4_status);
  end case;
  if v_release is not null then
    perform ops.evaluate_release(v_release, format('%s by %s', v_what, ops.current_actor()));
  end if;
  return null;
end
$$;

create trigger gate_checks_reevaluate after insert on ops.gate_checks
  for each row execute function ops.reevaluate_after_change();
create trigger evidence_artifacts_reevaluate after insert on ops.evidence_artifacts
  for each row execute function ops.reevaluate_after_change();
create trigger approvals_reevaluate after insert on ops.approvals
  for each row execute function ops.reevaluate_after_change();
create trigger exceptions_reevaluate after insert or update on ops.exceptions
  for each row execute function ops.reevaluate_after_change();
create trigger deployments_reevaluate after insert or update on ops.deployments
  for each row execute function ops.reevaluate_after_change();

-- Separation of duties on approvals: nobody approves as another persona or as someone else; a
-- gate takes approvals only from its persona; the G3 approver is neither the release's initiating
-- actor nor its G2 signer.
create function ops.approvals_guard() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_persona public.ops_persona := ops.current_persona();
  v_gate ops.release_gates;
  v_policy ops.gate_policies;
  v_release ops.releases;
begin
  if v_persona is not null and new.persona_role <> v_persona then
    raise exception 'an approval is recorded as the approver''s own persona (%), not as %', v_persona, new.persona_role
      using errcode = 'OPS03';
  end if;
  if ops.current_claims() ? 'sub' and new.approver_id <> ops.current_actor() then
    raise exception 'an approval is recorded as its approver (%), not on behalf of %', ops.current_actor(), new.approver_id
      using errcode = 'OPS03';
  end if;
  select * into v_release from ops.releases r where r.release_id = new.release_id;
  if new.gate_id is not null then
    select * into v_gate from ops.release_gates g where g.gate_id = new.gate_id;
    if v_gate.release_id <> new.release_id then
      raise exception 'gate % does not belong to release %', new.gate_id, new.release_id using errcode = 'OPS22';
    end if;
    select * into v_policy from ops.gate_policies p where p.gate_code = v_gate.gate_code;
    if v_policy.approver_persona is null then
      raise exception '% takes no approvals: it is decided by its checks and evidence', v_gate.gate_code
        using errcode = 'OPS22';
    end if;
    if new.persona_role <> v_policy.approver_persona then
      raise exception '% is signed off by a %, not a %', v_gate.gate_code, v_policy.approver_persona, new.persona_role
        using errcode = 'OPS03';
    end if;
    if v_gate.gate_code = 'G3' and new.decision = 'approved' then
      if new.approver_id = v_release.initiating_actor then
        raise exception 'separation of duties: % initiated release % and may not approve its G3',
          new.approver_id, v_release.release_name using errcode = 'OPS03';
      end if;
      if exists (
        select 1 from ops.approvals a join ops.release_gates g on g.gate_id = a.gate_id
        where g.release_id = new.release_id and g.gate_code = 'G2' and a.approver_id = new.approver_id
          and a.decision = 'approved') then
        raise exception 'separation of duties: % signed off G2 of release % and may not also approve its G3',
          new.approver_id, v_release.release_name using errcode = 'OPS03';
      end if;
    end if;
  end if;
  if new.exception_id is not null and new.decision = 'approved' and exists (
      select 1 from ops.exceptions e where e.exception_id = new.exception_id and e.requested_by = new.approver_id) then
    raise exception 'separation of duties: % requested exception % and may not approve it', new.approver_id,
      new.exception_id using errcode = 'OPS03';
  end if;
  return new;
end
$$;

create trigger approvals_guard before insert on ops.approvals
  for each row execute function ops.approvals_guard();

-- Separation of duties on exceptions: approved only by a release manager who did not request it.
create function ops.exceptions_guard() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'INSERT' then
    if new.approver_id is not null then
      raise exception 'an exception is requested first and approved afterwards by someone else'
        using errcode = 'OPS03';
    end if;
    if ops.current_persona() in ('audit_reader', 'ci_service_role') then
      raise exception 'persona % may not request exceptions', ops.current_persona() using errcode = 'OPS03';
    end if;
    return new;
  end if;
  if new.approver_id is distinct from old.approver_id and new.approver_id is not null then
    if old.approver_id is not null then
      raise exception 'exception % is already approved by %', old.exception_id, old.approver_id using errcode = 'OPS09';
    end if;
    if old.expires_at <= now() then
      raise exception 'exception % expired at % and can no longer be approved', old.exception_id, old.expires_at
        using errcode = 'OPS09';
    end if;
    if new.approver_id = new.requested_by then
      raise exception 'separation of duties: % requested exception % and may not approve it', new.requested_by,
        new.exception_id using errcode = 'OPS03';
    end if;
    if ops.current_persona() is not null and ops.current_persona() <> 'release_manager' then
      raise exception 'only a release_manager approves exceptions, not a %', ops.current_persona()
        using errcode = 'OPS03';
    end if;
    if ops.current_claims() ? 'sub' and new.approver_id <> ops.current_actor() then
      raise exception 'an exception is approved by the caller (%), not on behalf of %', ops.current_actor(),
        new.approver_id using errcode = 'OPS03';
    end if;
  end if;
  return new;
end
$$;

create trigger exceptions_guard before insert or update on ops.exceptions
  for each row execute function ops.exceptions_guard();

-- The promotion block: no deployment row for a release that is not eligible for the environment,
-- whoever inserts it (the table owner included). A rollback is allowed for a release that was
-- deployed there.
create function ops.deployments_guard() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_blockers text;
begin
  if tg_op = 'UPDATE' then
    if new.release_id <> old.release_id or new.environment <> old.environment
       or new.rollback_of is distinct from old.rollback_of then
      raise exception 'a deployment''s release, environment and rollback target cannot change'
        using errcode = 'OPS22';
    end if;
    return new;
  end if;
  if new.rollback_of is not null then
    if not exists (select 1 from ops.deployments d where d.deployment_id = new.rollback_of
                   and d.release_id = new.release_id and d.environment = new.environment) then
      raise exception 'a rollback must undo a deployment of the same release in %', new.environment
        using errcode = 'OPS22';
    end if;
    return new;
  end if;
  select string_agg(b.reason, '; ') into v_blockers
    from ops.promotion_blockers(new.release_id, new.environment::text) b;
  if v_blockers is not null then
    raise exception 'release % is not eligible for %: %', new.release_id, new.environment, v_blockers
      using errcode = 'OPS09';
  end if;
  return new;
end
$$;

create trigger deployments_guard before insert or update on ops.deployments
  for each row execute function ops.deployments_guard();
