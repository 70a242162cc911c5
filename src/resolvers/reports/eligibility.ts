// ops.v_promotion_eligibility: releases with their staging and production eligibility (from
// ops.promotion_blockers), computed at read time, and their gates summarised.
import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';
import { anyOf, VIEW_READERS } from '../../auth/access.js';
import { isPersona } from '../../auth/personas.js';
import { builder } from '../../builder.js';
import type { EnvironmentValue, ReleaseStatusValue } from '../../vocabulary.js';
import { Environment, ReleaseStatus } from '../enums.js';
import { connectionArgs, connectionType } from '../pagination.js';
import { Conditions, keysetPage } from '../read.js';
import { DateTime } from '../scalars.js';
import {
  GATE_SUMMARIES_JSON,
  gateSummariesOf,
  primeGateSummaries,
  ReleaseGateSummary,
} from './gate-summary.js';

export interface EligibilityRow {
  /** The release's gate summaries, when the page's statement read them (GATE_SUMMARIES_JSON). */
  '@gates'?: Record<string, unknown>[] | undefined;
  release_id: string;
  project: string;
  release_name: string;
  release_status: ReleaseStatusValue;
  environment_target: EnvironmentValue;
  created_at: Date;
  eligible_for_staging: boolean;
  eligible_for_production: boolean;
  staging_blockers: number;
  production_blockers: number;
}

/** The view's columns the type exposes (EligibilityRow). */
const ELIGIBILITY_COLUMNS = `v.release_id, v.project, v.release_name, v.release_status, v.environment_target, v.created_at, v.eligible_for_staging, v.eligible_for_production, v.staging_blockers, v.production_blockers`;

const ReleaseEligibility = builder.objectRef<EligibilityRow>('ReleaseEligibility').implement({
  description:
    'Whether a release may go to staging and to production now (ops.v_promotion_eligibility, from ops.promotion_blockers), and how many blockers stand in the way of each.',
  fields: (t) => ({
    releaseId: t.exposeID('release_id'),
    project: t.exposeString('project'),
    releaseName: t.exposeString('release_name'),
    releaseStatus: t.expose('release_status', { type: ReleaseStatus }),
    environmentTarget: t.expose('environment_target', { type: Environment }),
    createdAt: t.field({ type: DateTime, resolve: (r) => r.created_at }),
    eligibleForStaging: t.exposeBoolean('eligible_for_staging'),
    eligibleForProduction: t.exposeBoolean('eligible_for_production'),
    stagingBlockers: t.exposeInt('staging_blockers'),
    productionBlockers: t.exposeInt('production_blockers'),
    gates: t.withAuth(anyOf(VIEW_READERS.v_release_gate_summary)).field({
      type: [ReleaseGateSummary],
      description: 'G1-G4 of the release, summarised; one statement for the whole page.',
      resolve: (r, _a, ctx) => gateSummariesOf(ctx).load(r.release_id),
    }),
  }),
});

/** Whether the field's selection asks for `gates` of its nodes (through nodes or edges.node, fragments included). */
function selectsGates(info: GraphQLResolveInfo): boolean {
  const under = (sets: readonly SelectionSetNode[], path: readonly string[]): boolean => {
    if (path.length === 0) return sets.length > 0;
    const next: SelectionSetNode[] = [];
    const seen = new Set<string>();
    const visit = (set: SelectionSetNode): void => {
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          if (s.name.value === path[0] && s.selectionSet) next.push(s.selectionSet);
        } else if (s.kind === Kind.INLINE_FRAGMENT) visit(s.selectionSet);
        else if (!seen.has(s.name.value)) {
          seen.add(s.name.value);
          const fragment = info.fragments[s.name.value];
          if (fragment) visit(fragment.selectionSet);
        }
      }
    };
    for (const set of sets) visit(set);
    return under(next, path.slice(1));
  };
  const sets = info.fieldNodes.flatMap((f) => (f.selectionSet ? [f.selectionSet] : []));
  return under(sets, ['nodes', 'gates']) || under(sets, ['edges', 'node', 'gates']);
}

const PromotionEligibilityFilter = builder.inputType('PromotionEligibilityFilter', {
  fields: (t) => ({
    project: t.string(),
    releaseStatus: t.field({ type: ReleaseStatus }),
    environmentTarget: t.field({ type: Environment }),
    eligibleForStaging: t.boolean({
      description: 'Computed per release while paging: a rare value makes a page scan many releases.',
    }),
    eligibleForProduction: t.boolean({
      description: 'Computed per release while paging: a rare value makes a page scan many releases.',
    }),
  }),
});

builder.queryField('promotionEligibilities', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_promotion_eligibility)).field({
    type: connectionType<EligibilityRow>('ReleaseEligibility', ReleaseEligibility),
    description:
      'Releases with their staging and production eligibility, computed at read time; newest first, at most 100 per page. A developer sees their own releases.',
    args: connectionArgs(t.arg, PromotionEligibilityFilter),
    resolve: async (_r, args, ctx, info) => {
      const f = args.filter ?? {};
      // The page's gates in the page's statement (as the loader would read them) when the query
      // asks for them and the persona may read them; otherwise the gates field loads (or is
      // refused) as before.
      const persona = ctx.identity?.persona;
      const withGates =
        isPersona(persona) &&
        (VIEW_READERS.v_release_gate_summary as readonly string[]).includes(persona) &&
        selectsGates(info);
      const columns = withGates
        ? `${ELIGIBILITY_COLUMNS}, ${GATE_SUMMARIES_JSON} as "@gates"`
        : ELIGIBILITY_COLUMNS;
      // Eligibility is computed per release: filtering by it, the page evaluates releases until it
      // has its rows. Every other filter is a column of the release (the view's release_status is
      // its status): the page's releases are then found in ops.releases, as the caller may read
      // them, and eligibility and gates are evaluated for those only, not for the release beyond.
      const byEligibility = (f.eligibleForStaging ?? f.eligibleForProduction ?? null) !== null;
      const [on, status] = byEligibility ? ['v', 'release_status'] : ['r', 'status'];
      const page = await keysetPage<EligibilityRow>(ctx, args, {
        columns,
        from: 'ops.v_promotion_eligibility v',
        ...(byEligibility ? {} : { keys: 'ops.releases r', join: 'v.release_id = k.id' }),
        where: new Conditions()
          .when(f.project, (p) => `${on}.project = ${p}`)
          .when(f.releaseStatus, (p) => `${on}.${status} = ${p}::ops_release_status`)
          .when(f.environmentTarget, (p) => `${on}.environment_target = ${p}::ops_environment`)
          .when(f.eligibleForStaging, (p) => `v.eligible_for_staging = ${p}::boolean`)
          .when(f.eligibleForProduction, (p) => `v.eligible_for_production = ${p}::boolean`),
        at: `${on}.created_at`,
        id: `${on}.release_id`,
        direction: 'desc',
        idOf: (r) => r.release_id,
      });
      if (withGates) {
        for (const row of page.nodes) {
          primeGateSummaries(ctx, row.release_id, row['@gates'] ?? []);
          // Emptied, not deleted (a deleted property makes the row a slow dictionary object).
          row['@gates'] = undefined;
        }
      }
      return page;
    },
  }),
);
