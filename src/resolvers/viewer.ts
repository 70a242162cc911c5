// Who is calling: the verified token's subject and the persona it maps to (null when the token
// names none, e.g. a Supabase user without app_metadata.ops_role).
import type { Identity } from '../auth/jwt.js';
import { builder } from '../builder.js';

const Viewer = builder.objectRef<Identity>('Viewer').implement({
  description: 'The caller, as established from the bearer token.',
  fields: (t) => ({
    subject: t.exposeString('subject', { description: 'The token subject (`sub`).' }),
    persona: t.string({
      nullable: true,
      description: 'The ops persona the token maps to, or null when it names none.',
      resolve: (identity) => identity.persona,
    }),
  }),
});

builder.queryField('viewer', (t) =>
  t.withAuth({ authenticated: true }).field({
    type: Viewer,
    description: 'The caller of this request.',
    resolve: (_root, _args, ctx) => ctx.identity,
  }),
);
