// Live events over Server-Sent Events (Yoga's transport): releaseEvents(releaseId) and
// gateChanges(project), fed by the outbox's NOTIFY so a change made through any door reaches
// subscribers on every instance; each event is re-read as the subscriber (src/events/stream.ts).
import { builder } from '../builder.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { type OutboxEventRow, outboxStream } from '../events/stream.js';
import { uuidArg } from './ids.js';
import { DateTime, JSONScalar } from './scalars.js';

export const ReleaseEventRef = builder.objectRef<OutboxEventRow>('ReleaseEvent').implement({
  description:
    'A fact announced by the outbox: a gate transition, an approval decision, an exception requested, approved or reviewed, a deployment recorded or changed, a release status change.',
  fields: (t) => ({
    eventId: t.exposeID('event_id'),
    kind: t.exposeString('kind', {
      description:
        'gate.transition, approval.requested, approval.decided, exception.requested, exception.approved, exception.reviewed, exception.expired, deadline.passed, deployment.recorded, deployment.status_changed or release.status_changed',
    }),
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    environment: t.exposeString('environment', { nullable: true }),
    actor: t.exposeString('actor'),
    change: t.field({ type: JSONScalar, resolve: (e) => e.change }),
    blockers: t.field({
      type: JSONScalar,
      nullable: true,
      description: 'For gate transitions: the promotion blockers at the moment of the change.',
      resolve: (e) => e.blockers,
    }),
    createdAt: t.field({ type: DateTime, resolve: (e) => e.created_at }),
  }),
});

builder.subscriptionType({
  description: 'Live events over Server-Sent Events (Accept: text/event-stream).',
});

builder.subscriptionField('releaseEvents', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: ReleaseEventRef,
    description:
      'Every event of a release the caller may read, as it commits; each one only if the caller may read the fact it reports.',
    args: { releaseId: t.arg.id({ required: true }) },
    subscribe: async (_r, args, ctx) => {
      const releaseId = uuidArg(args.releaseId, 'releaseId');
      const visible = await ctx.withPersona(async (c) => {
        const { rowCount } = await c
          .query('select 1 from ops.releases where release_id = $1', [releaseId])
          .catch((err: { code?: string }) => {
            // No SELECT on releases at all (sre): the same answer as a release it may not read.
            if (err.code === '42501') return { rowCount: 0 };
            throw err;
          });
        return (rowCount ?? 0) > 0;
      });
      if (!visible) throw new NotFoundError(`no release ${releaseId}`);
      return outboxStream(ctx, (e) => e.release_id === releaseId);
    },
    resolve: (e) => e,
  }),
);

builder.subscriptionField('gateChanges', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: ReleaseEventRef,
    description: "Gate transitions of a project's releases, each only if the caller may read it.",
    args: { project: t.arg.string({ required: true }) },
    subscribe: async (_r, args, ctx) => {
      const project = args.project.trim();
      if (!project || project.length > 200) throw new ValidationError('project must be 1 to 200 characters');
      return outboxStream(ctx, (e) => e.project === project && e.kind === 'gate.transition');
    },
    resolve: (e) => e,
  }),
);
