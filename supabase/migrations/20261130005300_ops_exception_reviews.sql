-- An exception's post-review is a decision like its approval: attributable, never by its
-- requester, and final. Before, ops.review_exception set exceptions.post_review_status and
-- recorded nobody: the release manager who requested an exception marked its review waived, and a
-- finished review could be changed again, with no trace of who did either. (The approver may
-- review what they approved: the review looks at how the exception was used.)

-- One row per reviewed exception (the unique key makes a review final, also for two reviewers at
-- once), on its release's ledger chain (20261129004000_ops_ledger.sql). Written only by
-- ops.review_exception, as its definer; read by release managers and auditors.
create table ops.exception_reviews (
  review_id uuid primary key default gen_random_uuid(),
  exception_id uuid not null unique references ops.exceptions (exception_id),
  release_id uuid not null references ops.releases (release_id),
  post_review_status public.ops_post_review_status not null check (post_review_status <> 'pending'),
  reviewed_by text not null,
  reviewer_persona public.ops_persona not null,
  reviewed_at timestamptz not null default clock_timestamp()
);

comment on table ops.exception_reviews is
  'Who reviewed each exception after the fact, when, and with which outcome (complete or waived); one review per exception, never changed.';

alter table ops.exception_reviews enable row level security;
grant select on ops.exception_reviews to release_manager, audit_reader;
create policy exception_reviews_read_all on ops.exception_reviews for select
  to release_manager, audit_reader using (true);
create trigger exception_reviews_append_only before update or delete on ops.exception_reviews
  for each row execute function ops.refuse_mutation();
create trigger exception_reviews_no_truncate before truncate on ops.exception_reviews
  for each statement execute function ops.refuse_mutation();

insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values
  ('exception_reviews', 'review_id', 't.release_id = $1');
create trigger ledger_record after insert on ops.exception_reviews
  for each row execute function ops.ledger_record('review_id');

-- Records the post-review of an exception. Takes the exception and the review's outcome; returns
-- the exception. Reviewing again with the outcome already recorded returns the exception unchanged
-- (a retry); pending records nothing. Errors: OPS03 (not a release_manager; the caller requested
-- the exception), OPS04 (no such exception), OPS09 (the exception was already reviewed
-- with another outcome). Rules: DESIGN section 5 (separation of duties), README threat model.
create or replace function ops.review_exception(p_exception_id uuid, p_status public.ops_post_review_status)
returns ops.exceptions
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
  v_persona public.ops_persona := ops.require_persona('{release_manager}', 'review exceptions');
  v_actor text := ops.current_actor();
  v_exception ops.exceptions;
begin
  select * into v_exception from ops.exceptions e where e.exception_id = p_exception_id for update;
  if not found then
    raise exception 'exception % does not exist', p_exception_id using errcode = 'OPS04';
  end if;
  if v_actor = v_exception.requested_by then
    raise exception 'separation of duties: % requested exception % and may not review it', v_actor, p_exception_id
      using errcode = 'OPS03';
  end if;
  if v_exception.post_review_status = p_status then
    return v_exception;
  end if;
  if v_exception.post_review_status <> 'pending' then
    raise exception 'exception % was reviewed (%) already; a review is final', p_exception_id,
      v_exception.post_review_status using errcode = 'OPS09';
  end if;
  insert into ops.exception_reviews (exception_id, release_id, post_review_status, reviewed_by, reviewer_persona)
  values (p_exception_id, v_exception.release_id, p_status, v_actor, v_persona);
  perform ops.context_enter('reviewing_exception', p_exception_id, v_actor);
  update ops.exceptions e set post_review_status = p_status
  where e.exception_id = p_exception_id
  returning * into v_exception;
  perform ops.context_leave('reviewing_exception', p_exception_id);
  return v_exception;
end
$$;
revoke execute on function ops.review_exception(uuid, public.ops_post_review_status) from public;
grant execute on function ops.review_exception(uuid, public.ops_post_review_status)
  to ci_service_role, release_manager, qa_tester, sre, developer, audit_reader;
