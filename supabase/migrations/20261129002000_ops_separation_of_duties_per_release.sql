-- Separation of duties as a property of the release, not of the order of events: one subject
-- takes part in at most one of a release's G2 and G3 decisions (approved, rejected or changes
-- requested), whichever came first and under whichever persona. Before, only "G2 signer approves
-- G3" was refused; "G3 first, then G2" passed both gates.
--
-- The rule holds under concurrency through a unique key, not a read: ops.release_deciders has one
-- row per (release, subject), inserted by the approvals trigger. Two transactions deciding G2 and
-- G3 for one subject at once both insert that key; the second waits for the first and then
-- conflicts, whatever the isolation level (at READ COMMITTED it then reads the committed row and
-- names it; at REPEATABLE READ or SERIALIZABLE PostgreSQL raises a serialization failure itself).

create table ops.release_deciders (
  release_id uuid not null references ops.releases (release_id),
  approver_id text not null,
  gate_code public.ops_gate_code not null check (gate_code in ('G2', 'G3')),
  persona_role public.ops_persona not null,
  decision public.ops_approval_decision not null,
  approval_id uuid not null,
  created_at timestamptz not null default clock_timestamp(),
  primary key (release_id, approver_id)
);

comment on table ops.release_deciders is
  'Which of G2 and G3 each subject decided for a release (their first decision); one row per release and subject, so nobody decides both.';

-- Written only by ops.approvals_guard (as its definer); read by auditors.
alter table ops.release_deciders enable row level security;
grant select on ops.release_deciders to release_manager, audit_reader;
create policy release_deciders_read_all on ops.release_deciders for select
  to release_manager, audit_reader using (true);
create trigger release_deciders_append_only before update or delete on ops.release_deciders
  for each row execute function ops.refuse_mutation();
create trigger release_deciders_no_truncate before truncate on ops.release_deciders
  for each statement execute function ops.refuse_mutation();

-- What was decided before this rule: each subject's first G2/G3 decision per release.
insert into ops.release_deciders (release_id, approver_id, gate_code, persona_role, decision, approval_id, created_at)
select distinct on (a.release_id, a.approver_id) a.release_id, a.approver_id, g.gate_code, a.persona_role, a.decision,
       a.approval_id, a.created_at
from ops.approvals a join ops.release_gates g on g.gate_id = a.gate_id
where g.gate_code in ('G2', 'G3')
order by a.release_id, a.approver_id, a.created_at, a.approval_id;

-- Trigger (BEFORE INSERT on ops.approvals). Refuses, OPS03: an approval as another persona or
-- subject; a gate approval from a persona other than the gate's (ops.gate_policies); G3 approved
-- by the release's initiating actor; a G2 or G3 decision by a subject who decided the other of the
-- two for the release; an exception approved by its requester. OPS22: a gate of another release,
-- a gate that takes no approvals. OPS09: the deciders row of a concurrent transaction is not
-- visible to this one's snapshot. Rules: DESIGN section 5 (separation of duties).
create or replace function ops.approvals_guard() returns trigger
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_persona public.ops_persona := ops.current_persona();
  v_gate ops.release_gates;
  v_policy ops.gate_policies;
  v_release ops.releases;
  v_decider ops.release_deciders;
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
    if v_gate.gate_code = 'G3' and new.decision = 'approved' and new.approver_id = v_release.initiating_actor then
      raise exception 'separation of duties: % initiated release % and may not approve its G3',
        new.approver_id, v_release.release_name using errcode = 'OPS03';
    end if;
    if v_gate.gate_code in ('G2', 'G3') then
      insert into ops.release_deciders (release_id, approver_id, gate_code, persona_role, decision, approval_id)
      values (new.release_id, new.approver_id, v_gate.gate_code, new.persona_role, new.decision, new.approval_id)
      on conflict (release_id, approver_id) do nothing;
      if not found then
        select * into v_decider from ops.release_deciders d
          where d.release_id = new.release_id and d.approver_id = new.approver_id;
        if not found then
          raise exception 'separation of duties: % is deciding another gate of release % in a concurrent transaction; retry',
            new.approver_id, v_release.release_name using errcode = 'OPS09';
        end if;
        if v_decider.gate_code <> v_gate.gate_code then
          raise exception 'separation of duties: % % % of release % and may not also % its %',
            new.approver_id,
            case v_decider.decision when 'approved' then 'signed off' when 'rejected' then 'rejected'
                                    else 'requested changes on' end,
            v_decider.gate_code, v_release.release_name,
            case new.decision when 'approved' then 'approve' when 'rejected' then 'reject'
                              else 'request changes on' end,
            v_gate.gate_code
            using errcode = 'OPS03';
        end if;
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

revoke execute on function ops.approvals_guard() from public;
