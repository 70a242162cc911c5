// Project policy and release scope: installPolicyPack (a named set of required checks per gate,
// e.g. `odoo`, made a project's own by ops.install_policy_pack) and recordReleaseScope (one key of
// a release's scope_metadata, e.g. the Odoo modules it changes, by ops.record_release_scope).
import { z } from 'zod';
import { anyOf, MUTATION_CALLERS } from '../auth/access.js';
import { builder } from '../builder.js';
import type { GateCodeValue } from '../vocabulary.js';
import { GateCode } from './enums.js';
import { callRow, MUTATION_ERRORS, runMutation } from './errors.js';
import { uuid } from './ids.js';
import { ReleaseRef } from './refs.js';
import type { ReleaseRow } from './rows.js';
import { JSONScalar } from './scalars.js';

interface PackCheckRow {
  gate_code: GateCodeValue;
  check_name: string;
  added: boolean;
}

interface PolicyPackInstallation {
  project: string;
  pack: string;
  requirements: PackCheckRow[];
}

const PolicyPackRequirement = builder.objectRef<PackCheckRow>('PolicyPackRequirement').implement({
  description: 'A check the pack requires on a gate; `added` when this installation added it.',
  fields: (t) => ({
    gateCode: t.expose('gate_code', { type: GateCode }),
    checkName: t.exposeString('check_name'),
    added: t.exposeBoolean('added'),
  }),
});

const PolicyPackInstallationRef = builder
  .objectRef<PolicyPackInstallation>('PolicyPackInstallation')
  .implement({
    description: "A policy pack made a project's own: its required checks, gate by gate.",
    fields: (t) => ({
      project: t.exposeString('project'),
      pack: t.exposeString('pack'),
      requirements: t.field({ type: [PolicyPackRequirement], resolve: (i) => i.requirements }),
    }),
  });

const InstallPolicyPackInput = builder.inputType('InstallPolicyPackInput', {
  fields: (t) => ({
    project: t.string({ required: true }),
    pack: t.string({ required: true, description: 'e.g. odoo' }),
  }),
});

const installSchema = z.object({
  project: z.string().trim().min(1).max(200),
  pack: z.string().trim().min(1).max(63),
});

builder.mutationField('installPolicyPack', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.installPolicyPack)).field({
    type: PolicyPackInstallationRef,
    description:
      "Makes a policy pack's required checks the project's own (ops.check_requirements) and marks the project's platform; idempotent.",
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: InstallPolicyPackInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, installSchema, input, async (c, i) => {
        const { rows } = await c.query<PackCheckRow>(
          'select gate_code::text, check_name, added from ops.install_policy_pack($1, $2)',
          [i.project, i.pack],
        );
        return { project: i.project, pack: i.pack, requirements: rows };
      }),
  }),
);

const RecordReleaseScopeInput = builder.inputType('RecordReleaseScopeInput', {
  fields: (t) => ({
    releaseId: t.id({ required: true }),
    key: t.string({ required: true, description: 'e.g. odoo_modules' }),
    value: t.field({ type: JSONScalar, required: true }),
  }),
});

const scopeSchema = z.object({
  releaseId: uuid,
  key: z
    .string()
    .regex(/^[a-z][a-z0-9_.-]{0,63}$/, 'must be a lower-case identifier (a-z, 0-9, _, ., -; at most 64)'),
  value: z.unknown().refine((v) => v !== null && v !== undefined, 'must not be null'),
});

builder.mutationField('recordReleaseScope', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.recordReleaseScope)).field({
    type: ReleaseRef,
    description: "Sets one key of the release's scopeMetadata; the change is kept with its previous value.",
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: RecordReleaseScopeInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(ctx, scopeSchema, input, (c, i) =>
        callRow<ReleaseRow>(c, 'ops.record_release_scope', {
          p_release_id: i.releaseId,
          p_key: i.key,
          // Always JSON text, so a string or a number arrives as jsonb and not as its bare text.
          p_value: JSON.stringify(i.value),
        }),
      ),
  }),
);
