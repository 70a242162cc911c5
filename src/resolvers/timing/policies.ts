// Timing governance over GraphQL, the policies: how long a release soaks between environments and
// by when a gate's approval is due. Every rule is SQL's (20261130002000-002200); these resolvers
// validate shapes, authorise early and call one function each.
import { z } from 'zod';
import { ALL_PERSONAS, anyOf, MUTATION_CALLERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import { DeployEnvironment, GateCode } from '../enums.js';
import { MUTATION_ERRORS, runMutation } from '../errors.js';
import { DateTime } from '../scalars.js';

const everyone = anyOf(ALL_PERSONAS);

interface SoakPolicyRow {
  policy_id: string;
  from_env: string;
  to_env: string;
  project: string | null;
  min_soak_seconds: number;
  updated_at: Date | null;
  created_at: Date;
}

interface DeadlinePolicyRow {
  policy_id: string;
  gate_code: string;
  environment: string | null;
  project: string | null;
  within_seconds: number | null;
  updated_at: Date | null;
  created_at: Date;
}

const SoakPolicy = builder.objectRef<SoakPolicyRow>('SoakPolicy').implement({
  description: 'How long a revision must stand healthy in fromEnvironment before promotion to toEnvironment.',
  fields: (t) => ({
    id: t.exposeID('policy_id'),
    fromEnvironment: t.field({ type: DeployEnvironment, resolve: (p) => p.from_env as never }),
    toEnvironment: t.field({ type: DeployEnvironment, resolve: (p) => p.to_env as never }),
    project: t.exposeString('project', { nullable: true }),
    minSoakSeconds: t.exposeInt('min_soak_seconds'),
    updatedAt: t.field({ type: DateTime, nullable: true, resolve: (p) => p.updated_at }),
  }),
});

const DeadlinePolicy = builder.objectRef<DeadlinePolicyRow>('DeadlinePolicy').implement({
  description: 'G2/G3: the time a requested approval may stay undecided; G4: the time to confirm health.',
  fields: (t) => ({
    id: t.exposeID('policy_id'),
    gateCode: t.field({ type: GateCode, resolve: (p) => p.gate_code as never }),
    environment: t.field({ type: DeployEnvironment, nullable: true, resolve: (p) => p.environment as never }),
    project: t.exposeString('project', { nullable: true }),
    withinSeconds: t.exposeInt('within_seconds', { nullable: true }),
    updatedAt: t.field({ type: DateTime, nullable: true, resolve: (p) => p.updated_at }),
  }),
});

builder.queryField('soakPolicies', (t) =>
  t.withAuth(everyone).field({
    type: [SoakPolicy],
    resolve: (_r, _a, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<SoakPolicyRow>(
          `select p.*, extract(epoch from p.min_soak)::int as min_soak_seconds from ops.soak_policies p
           order by p.from_env, p.to_env, p.project nulls first`,
        );
        return rows;
      }),
  }),
);

builder.queryField('deadlinePolicies', (t) =>
  t.withAuth(everyone).field({
    type: [DeadlinePolicy],
    resolve: (_r, _a, ctx) =>
      ctx.withPersona(async (c) => {
        const { rows } = await c.query<DeadlinePolicyRow>(
          `select p.*, extract(epoch from p.within)::int as within_seconds from ops.deadline_policies p
           order by p.gate_code, p.environment nulls first, p.project nulls first`,
        );
        return rows;
      }),
  }),
);

const SetSoakPolicyInput = builder.inputType('SetSoakPolicyInput', {
  fields: (t) => ({
    fromEnvironment: t.field({ type: DeployEnvironment, required: true }),
    toEnvironment: t.field({ type: DeployEnvironment, required: true }),
    minSoakSeconds: t.int({ required: true, description: '0 switches the soak off; at most 30 days.' }),
    project: t.string(),
  }),
});

builder.mutationField('setSoakPolicy', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.setSoakPolicy)).field({
    type: SoakPolicy,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: SetSoakPolicyInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({
          fromEnvironment: z.enum(['staging', 'production']),
          toEnvironment: z.enum(['staging', 'production']),
          minSoakSeconds: z
            .number()
            .int()
            .min(0)
            .max(30 * 86_400),
          project: z.string().trim().min(1).max(200).nullish(),
        }),
        input,
        async (c, i) => {
          const { rows } = await c.query<SoakPolicyRow>(
            `select p.*, extract(epoch from p.min_soak)::int as min_soak_seconds
             from ops.set_soak_policy($1, $2, make_interval(secs => $3), $4) p`,
            [i.fromEnvironment, i.toEnvironment, i.minSoakSeconds, i.project ?? null],
          );
          return rows[0]!;
        },
      ),
  }),
);

const SetDeadlinePolicyInput = builder.inputType('SetDeadlinePolicyInput', {
  fields: (t) => ({
    gateCode: t.field({ type: GateCode, required: true }),
    withinSeconds: t.int({ description: 'Omit or null to switch the deadline off; at most 30 days.' }),
    environment: t.field({ type: DeployEnvironment, description: 'G4 only.' }),
    project: t.string(),
  }),
});

builder.mutationField('setDeadlinePolicy', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.setDeadlinePolicy)).field({
    type: DeadlinePolicy,
    errors: { types: MUTATION_ERRORS },
    args: { input: t.arg({ type: SetDeadlinePolicyInput, required: true }) },
    resolve: (_r, { input }, ctx) =>
      runMutation(
        ctx,
        z.object({
          gateCode: z.enum(['G2', 'G3', 'G4']),
          withinSeconds: z
            .number()
            .int()
            .min(1)
            .max(30 * 86_400)
            .nullish(),
          environment: z.enum(['staging', 'production']).nullish(),
          project: z.string().trim().min(1).max(200).nullish(),
        }),
        input,
        async (c, i) => {
          const { rows } = await c.query<DeadlinePolicyRow>(
            `select p.*, extract(epoch from p.within)::int as within_seconds
             from ops.set_deadline_policy($1, make_interval(secs => $2), $3, $4) p`,
            [i.gateCode, i.withinSeconds ?? null, i.environment ?? null, i.project ?? null],
          );
          return rows[0]!;
        },
      ),
  }),
);
