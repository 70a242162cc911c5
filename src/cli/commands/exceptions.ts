// The exception process: request (anyone but audit_reader and ci_service_role), approve (a
// release_manager other than the requester), review after the fact, list.
import {
  ApproveExceptionDocument,
  ExceptionsDocument,
  RequestExceptionDocument,
  ReviewExceptionDocument,
} from '../../gql/graphql.js';
import { EXCEPTION_TYPES, GATE_CODES, POST_REVIEW_STATUSES } from '../../vocabulary.js';
import {
  type Command,
  type Context,
  choice,
  durationMs,
  flag,
  isoInstant,
  jsonObject,
  releaseRef,
  requiredFlag,
  resolveRelease,
  UUID,
} from '../command.js';
import { usageError } from '../errors.js';
import { graphqlRequest, unwrap } from '../graphql.js';
import { table, tick } from '../output.js';

const STATES = { active: 'ACTIVE', expired: 'EXPIRED', pending_review: 'PENDING_REVIEW' } as const;

function exceptionId(ctx: Context): string {
  const id = ctx.positionals[0] ?? flag(ctx, 'id');
  if (!id) throw usageError('which exception? give its id');
  if (!UUID.test(id)) throw usageError('the exception id must be a UUID');
  return id;
}

function gates(text: string): (typeof GATE_CODES)[number][] {
  const list = text
    .split(',')
    .map((g) => g.trim().toUpperCase())
    .filter(Boolean);
  for (const g of list) {
    if (!(GATE_CODES as readonly string[]).includes(g)) throw usageError(`--gates: ${g} is not one of G1-G4`);
  }
  if (list.length === 0) throw usageError('--gates needs at least one gate');
  return list as (typeof GATE_CODES)[number][];
}

const request: Command = {
  path: ['exception', 'request'],
  summary: 'Request a time-bounded exception (it authorises nothing until someone else approves it)',
  usage:
    '--release <release> --gates <G3[,G4]> --reason <text> --risk <text> (--expires-in <duration> | --expires-at <iso>)',
  maxPositionals: 1,
  options: {
    release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
    type: { type: 'string', value: `<${EXCEPTION_TYPES.join('|')}>`, description: 'default gate_bypass' },
    gates: { type: 'string', value: '<G1,G2,...>', description: 'the gates it covers' },
    reason: { type: 'string', value: '<text>', description: 'why it is needed' },
    risk: { type: 'string', value: '<text>', description: 'the risk statement' },
    'expires-in': { type: 'string', value: '<duration>', description: 'e.g. 4h, 2d (or --expires-at)' },
    'expires-at': { type: 'string', value: '<iso>', description: 'when it stops authorising anything' },
    'effective-from': { type: 'string', value: '<iso>', description: 'when it starts (default: now)' },
    controls: { type: 'string', value: '<json>', description: 'compensating controls, a JSON object' },
  },
  notes: [
    'Every exception expires; an expired one stops helping the instant it expires, with no job involved. After it is used, a release_manager records the post-review (`exception review`).',
  ],
  async run(ctx) {
    const expiresIn = flag(ctx, 'expires-in');
    const expiresAtFlag = flag(ctx, 'expires-at');
    if ((expiresIn === undefined) === (expiresAtFlag === undefined)) {
      throw usageError('give exactly one of --expires-in <duration> or --expires-at <iso>');
    }
    const effective = flag(ctx, 'effective-from');
    const effectiveFrom = effective === undefined ? undefined : isoInstant(effective, '--effective-from');
    const expiresAt =
      expiresAtFlag !== undefined
        ? isoInstant(expiresAtFlag, '--expires-at')
        : new Date(
            (effectiveFrom ? Date.parse(effectiveFrom) : Date.now()) + durationMs(expiresIn!, '--expires-in'),
          ).toISOString();
    const controls = flag(ctx, 'controls');
    const input = {
      exceptionType: choice(ctx, 'type', EXCEPTION_TYPES, 'gate_bypass'),
      impactedGates: gates(requiredFlag(ctx, 'gates')),
      reason: requiredFlag(ctx, 'reason'),
      riskStatement: requiredFlag(ctx, 'risk'),
      expiresAt,
      effectiveFrom,
      compensatingControls: controls === undefined ? undefined : jsonObject(controls, '--controls'),
    };
    const release = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, RequestExceptionDocument, {
      input: { releaseId: release.id, ...input },
    });
    const e = unwrap(data.requestException, 'exception request');
    return {
      data: { releaseId: release.id, release: release.label, exception: e },
      lines: [
        `${tick(ctx.paint)} exception ${e.id} requested by ${e.requestedBy}: ${e.exceptionType} of ${(e.impactedGates ?? []).join(', ')} for ${release.label}, expires ${e.expiresAt}`,
        ctx.paint(
          'grey',
          `  it needs a release_manager other than ${e.requestedBy}: ops-gates exception approve ${e.id}`,
        ),
      ],
    };
  },
};

const approve: Command = {
  path: ['exception', 'approve'],
  summary: 'Approve an exception someone else requested (release_manager)',
  usage: '<exception-id> [--rationale <text>]',
  maxPositionals: 1,
  options: {
    rationale: { type: 'string', value: '<text>', description: 'why it is acceptable' },
  },
  async run(ctx) {
    const id = exceptionId(ctx);
    const data = await graphqlRequest(ctx.api, ApproveExceptionDocument, {
      input: { exceptionId: id, rationale: flag(ctx, 'rationale') },
    });
    const e = unwrap(data.approveException, 'exception approve');
    return {
      data: { exception: e },
      lines: [
        `${tick(ctx.paint)} exception ${e.id} approved by ${e.approverId} (requested by ${e.requestedBy}); covers ${(e.impactedGates ?? []).join(', ')} until ${e.expiresAt}`,
      ],
    };
  },
};

const review: Command = {
  path: ['exception', 'review'],
  summary: "Record an exception's post-review (release_manager)",
  usage: '<exception-id> --status <pending|complete|waived>',
  maxPositionals: 1,
  options: {
    status: {
      type: 'string',
      value: `<${POST_REVIEW_STATUSES.join('|')}>`,
      description: 'the post-review outcome',
    },
  },
  async run(ctx) {
    const id = exceptionId(ctx);
    const data = await graphqlRequest(ctx.api, ReviewExceptionDocument, {
      input: { exceptionId: id, postReviewStatus: choice(ctx, 'status', POST_REVIEW_STATUSES) },
    });
    const e = unwrap(data.reviewException, 'exception review');
    return {
      data: { exception: e },
      lines: [`${tick(ctx.paint)} exception ${e.id} post-review ${e.postReviewStatus}`],
    };
  },
};

const list: Command = {
  path: ['exception', 'list'],
  summary: 'Exceptions, soonest expiry first (release_manager, audit_reader)',
  usage: '[--release <release>] [--state <active|expired|pending_review>]',
  maxPositionals: 1,
  options: {
    release: { type: 'string', value: '<release>', description: 'only this release' },
    state: { type: 'string', value: '<active|expired|pending_review>', description: 'only in this state' },
  },
  async run(ctx) {
    const given = flag(ctx, 'release') ?? ctx.positionals[0];
    const release = given ? await resolveRelease(ctx, given) : undefined;
    const stateFlag = flag(ctx, 'state');
    const state =
      stateFlag === undefined
        ? undefined
        : STATES[choice(ctx, 'state', Object.keys(STATES) as (keyof typeof STATES)[])];
    const data = await graphqlRequest(ctx.api, ExceptionsDocument, { releaseId: release?.id, state });
    const rows = data.exceptions ?? [];
    return {
      data: { exceptions: rows },
      lines: rows.length
        ? table(
            ['Id', 'Type', 'Gates', 'Requested by', 'Approved by', 'Expires', 'Post-review'],
            rows.map((e) => [
              e.id ?? '',
              e.exceptionType ?? '',
              (e.impactedGates ?? []).join(','),
              e.requestedBy ?? '',
              e.approverId ?? '-',
              e.expiresAt ?? '',
              e.postReviewStatus ?? '',
            ]),
          )
        : ['no exceptions'],
    };
  },
};

export const exceptionCommands: Command[] = [request, approve, review, list];
