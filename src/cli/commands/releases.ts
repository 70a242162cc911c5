// Commands about releases over GraphQL: release create, release revise, status, eligible, promote,
// whoami.
import {
  CreateReleaseDocument,
  PromoteReleaseDocument,
  PromotionEligibilityDocument,
  ReleaseHealthDocument,
  ReleaseTimingDocument,
  ReviseReleaseDocument,
  ViewerDocument,
} from '../../gql/graphql.js';
import {
  type Command,
  type Context,
  choice,
  flag,
  jsonObject,
  type Output,
  releaseRef,
  requiredFlag,
} from '../command.js';
import { CliError, EXIT } from '../errors.js';
import { graphqlRequest, unwrap } from '../graphql.js';
import { cross, GATE_STATUS_COLOUR, type Paint, table, tick } from '../output.js';

interface Blocker {
  gateCode?: string | null;
  status?: string | null;
  reason?: string | null;
}

const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

export function blockerLines(blockers: readonly Blocker[]): string[] {
  return blockers.map((b) => `  - ${b.reason ?? `${b.gateCode} is ${b.status}`}`);
}

const releaseCreate: Command = {
  path: ['release', 'create'],
  summary: 'Create a release; its four gates start pending',
  usage: '--project <project> --name <release name> [options]',
  maxPositionals: 0,
  options: {
    project: { type: 'string', value: '<project>', description: 'e.g. odoo-core' },
    name: { type: 'string', value: '<name>', description: 'the release name, unique in the project' },
    env: {
      type: 'string',
      value: '<dev|staging|production>',
      description: 'environment_target (default production)',
    },
    'source-ref': { type: 'string', value: '<ref>', description: 'the branch, tag or commit' },
    scope: { type: 'string', value: '<json>', description: 'scope_metadata, a JSON object' },
    'initiating-actor': {
      type: 'string',
      value: '<subject>',
      description: 'who initiated it (only a ci_service_role names someone else; default: you)',
    },
  },
  notes: ['The initiating actor may not approve the release at G3 (separation of duties).'],
  async run(ctx) {
    const project = requiredFlag(ctx, 'project');
    const name = requiredFlag(ctx, 'name');
    const scope = flag(ctx, 'scope');
    const envFlag = flag(ctx, 'env');
    const data = await graphqlRequest(ctx.api, CreateReleaseDocument, {
      input: {
        project,
        releaseName: name,
        environmentTarget:
          envFlag === undefined ? undefined : choice(ctx, 'env', ['dev', 'staging', 'production'] as const),
        sourceRef: flag(ctx, 'source-ref'),
        scopeMetadata: scope === undefined ? undefined : jsonObject(scope, '--scope'),
        initiatingActor: flag(ctx, 'initiating-actor'),
      },
    });
    const release = unwrap(data.createRelease, 'release create');
    return {
      data: { release },
      lines: [
        `${tick(ctx.paint)} release ${release.project}/${release.releaseName} created (${release.status}), initiated by ${release.initiatingActor}`,
        ctx.paint('grey', `  id ${release.id}`),
      ],
    };
  },
};

const releaseRevise: Command = {
  path: ['release', 'revise'],
  summary: 'Bind the release to another revision; its checks, evidence and approvals so far stop counting',
  usage: '<release> --source-ref <ref> --reason <text> [--artifact-digest <sha256:…>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    'source-ref': { type: 'string', value: '<ref>', description: 'the commit, tag or branch it now ships' },
    reason: { type: 'string', value: '<text>', description: 'why (recorded; the approvers see it)' },
    'artifact-digest': {
      type: 'string',
      value: '<sha256:…>',
      description: 'the digest of the artifact built from it, if known',
    },
  },
  notes: [
    'release_manager, or the developer who owns the release. Not for a release in production. Afterwards the gates are decided again for the new revision: CI reports the build, QA and a release manager sign off again, and the release is deployed to staging again before production.',
  ],
  async run(ctx) {
    const ref = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, ReviseReleaseDocument, {
      input: {
        releaseId: ref.id,
        sourceRef: requiredFlag(ctx, 'source-ref'),
        reason: requiredFlag(ctx, 'reason'),
        artifactDigest: flag(ctx, 'artifact-digest'),
      },
    });
    const revision = unwrap(data.reviseRelease, `revision of ${ref.label}`);
    return {
      data: { releaseId: ref.id, release: ref.label, revision },
      lines: [
        `${tick(ctx.paint)} ${ref.label} is now at revision ${revision.revision}: ${revision.sourceRef} (was ${revision.previousSourceRef ?? 'no source ref'})`,
        ctx.paint(
          'grey',
          '  checks, evidence, approvals and deployments of earlier revisions no longer count; see `ops-gates status`',
        ),
      ],
    };
  },
};

function gateRows(
  paint: Paint,
  gates: readonly { gateCode?: string | null; gateName?: string | null; status?: string | null }[],
  blockers: readonly Blocker[],
): string[][] {
  const rows: string[][] = [];
  for (const g of gates) {
    const status = g.status ?? '?';
    const mine = blockers.filter((b) => b.gateCode === g.gateCode).map((b) => b.reason ?? '');
    rows.push([
      g.gateCode ?? '?',
      g.gateName ?? '',
      paint(GATE_STATUS_COLOUR[status] ?? 'grey', status),
      mine[0] ?? '',
    ]);
    for (const more of mine.slice(1)) rows.push(['', '', '', more]);
  }
  return rows;
}

function eligibilityLine(
  paint: Paint,
  env: string,
  e: { eligible?: boolean | null; blockers?: Blocker[] | null },
) {
  const n = e.blockers?.length ?? 0;
  return e.eligible
    ? `${env.padEnd(11)} ${tick(paint)} eligible`
    : `${env.padEnd(11)} ${cross(paint)} not eligible (${n} blocker${n === 1 ? '' : 's'})`;
}

/** Active freezes and soak time left, per environment, and the override that lifts them. */
function timingLines(
  paint: Paint,
  timing: readonly {
    environment?: string | null;
    kind?: string | null;
    reason?: string | null;
    overriddenBy?: string | null;
  }[],
): string[] {
  if (timing.length === 0) return [];
  return [
    '',
    ...timing.map(
      (t) =>
        `${(t.environment ?? '').padEnd(11)} ${paint('yellow', (t.kind ?? '').toLowerCase())} ${t.reason ?? ''}${
          t.overriddenBy ? paint('grey', ` (lifted by timing_override ${t.overriddenBy})`) : ''
        }`,
    ),
  ];
}

const status: Command = {
  path: ['status'],
  summary: 'G1-G4 with status and blockers, and eligibility for staging and production',
  usage: '<release>',
  maxPositionals: 1,
  options: { ...RELEASE_OPTION },
  notes: ['Needs a persona that reads gates: release_manager, ci_service_role or audit_reader.'],
  async run(ctx) {
    const ref = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, ReleaseHealthDocument, { id: ref.id });
    const release = data.release;
    if (!release) throw new CliError(`no release ${ref.label}`, EXIT.rejected, 'not_found');
    // Freezes and soak time: not a gate's, so listed under the eligibility lines.
    const timing = unwrap(
      (await graphqlRequest(ctx.api, ReleaseTimingDocument, { releaseId: ref.id })).releaseTiming,
      'timing',
    );
    const blockers: Blocker[] = [];
    const seen = new Set<string>();
    for (const b of [...(release.staging?.blockers ?? []), ...(release.production?.blockers ?? [])]) {
      const key = `${b.gateCode}:${b.reason}`;
      if (!seen.has(key)) blockers.push(b);
      seen.add(key);
    }
    const p = ctx.paint;
    return {
      data: { release, timing },
      lines: [
        `${p('bold', `${release.project}/${release.releaseName}`)}  ${release.status}  ${p('grey', `id ${release.id}`)}`,
        `revision ${release.revision}: ${release.sourceRef ?? 'no source ref'}${release.artifactDigest ? ` (${release.artifactDigest})` : ''}${
          (release.revision ?? 1) > 1 ? p('grey', '  (facts of earlier revisions no longer count)') : ''
        }`,
        '',
        ...table(['Gate', 'Name', 'Status', 'Blockers'], gateRows(p, release.gates ?? [], blockers)),
        '',
        eligibilityLine(p, 'staging', release.staging ?? {}),
        eligibilityLine(p, 'production', release.production ?? {}),
        ...timingLines(p, timing),
      ],
    };
  },
};

const eligible: Command = {
  path: ['eligible'],
  summary: 'Exit 0 when the release may go to --env now, 1 when not (blockers on stderr): a CI gate',
  usage: '<release> --env <staging|production>',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    env: { type: 'string', value: '<staging|production>', description: 'the target environment' },
  },
  notes: ['Example: ops-gates eligible odoo-core/2026.11.1 --env production && ./deploy.sh'],
  async run(ctx) {
    const env = choice(ctx, 'env', ['staging', 'production'] as const);
    const ref = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, PromotionEligibilityDocument, {
      releaseId: ref.id,
      environment: env,
    });
    const e = data.promotionEligibility;
    if (!e)
      throw new CliError(`no eligibility answer for ${ref.label}`, EXIT.unavailable, 'unexpected_response');
    const blockers = e.blockers ?? [];
    const p = ctx.paint;
    return {
      data: {
        releaseId: ref.id,
        release: ref.label,
        environment: env,
        eligible: Boolean(e.eligible),
        blockers,
      },
      lines: [
        e.eligible
          ? `${tick(p)} ${ref.label} is eligible for ${env}`
          : `${cross(p)} ${ref.label} is not eligible for ${env}`,
      ],
      stderr: e.eligible ? [] : [`blockers for ${env}:`, ...blockerLines(blockers)],
      exitCode: e.eligible ? EXIT.ok : EXIT.rejected,
    };
  },
};

async function promotionBlockers(ctx: Context, releaseId: string, env: string): Promise<Blocker[]> {
  try {
    const data = await graphqlRequest(ctx.api, PromotionEligibilityDocument, {
      releaseId,
      environment: env as 'staging' | 'production',
    });
    return data.promotionEligibility?.blockers ?? [];
  } catch {
    return [];
  }
}

const promote: Command = {
  path: ['promote'],
  summary: 'Deploy the release to an environment if it is eligible now; refused with its blockers otherwise',
  usage: '<release> --env <staging|production> [--source-ref <ref>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    env: { type: 'string', value: '<staging|production>', description: 'the target environment' },
    'source-ref': { type: 'string', value: '<ref>', description: 'the commit or tag deployed' },
  },
  notes: [
    'release_manager or sre. The deployment starts in_progress: report its outcome with `deploy update`, then its health with `health-check` (G4).',
    'Not retried after a lost answer (it may have been applied): check with `status` first.',
  ],
  async run(ctx): Promise<Output> {
    const env = choice(ctx, 'env', ['staging', 'production'] as const);
    const ref = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, PromoteReleaseDocument, {
      input: { releaseId: ref.id, environment: env, sourceRef: flag(ctx, 'source-ref') },
    });
    const result = data.promoteRelease;
    if (result?.__typename === 'ConflictError' && /not eligible/.test(result.message ?? '')) {
      const blockers = await promotionBlockers(ctx, ref.id, env);
      throw new CliError(
        `promotion of ${ref.label} to ${env} refused: not eligible`,
        EXIT.rejected,
        'not_eligible',
        {
          blockers,
        },
      );
    }
    const deployment = unwrap(result, `promotion of ${ref.label} to ${env}`);
    return {
      data: { releaseId: ref.id, release: ref.label, deployment },
      lines: [
        `${tick(ctx.paint)} ${ref.label} promoted to ${env}: deployment ${deployment.id} (${deployment.status}, G4 ${deployment.g4Status})`,
        ctx.paint(
          'grey',
          `  next: ops-gates deploy update --release ${ref.label} --deployment ${deployment.id} --status succeeded`,
        ),
      ],
    };
  },
};

const whoami: Command = {
  path: ['whoami'],
  summary: "The token's subject and persona, as the server sees them",
  usage: '',
  maxPositionals: 0,
  options: {},
  async run(ctx) {
    const data = await graphqlRequest(ctx.api, ViewerDocument, {});
    const v = data.viewer;
    return {
      data: { viewer: v },
      lines: [`${v?.subject ?? '?'} (${v?.persona ?? 'no persona'}) at ${ctx.api.apiUrl}`],
    };
  },
};

export const releaseCommands: Command[] = [releaseCreate, releaseRevise, status, eligible, promote, whoami];
