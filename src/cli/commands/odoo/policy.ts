// `policy install`: the odoo policy pack, the checks an Odoo release needs per gate.
import { InstallPolicyPackDocument } from '../../../gql/graphql.js';
import { type Command, requiredFlag } from '../../command.js';
import { usageError } from '../../errors.js';
import { graphqlRequest, unwrap } from '../../graphql.js';
import { tick } from '../../output.js';
import { ODOO_CHECKS } from './common.js';

// ---- policy install -----------------------------------------------------------------------------

export const policyInstall: Command = {
  path: ['policy', 'install'],
  summary: "Make a policy pack's required checks a project's own (e.g. odoo)",
  usage: '<pack> --project <project>',
  maxPositionals: 1,
  options: { project: { type: 'string', value: '<project>', description: 'the project, e.g. odoo-shop' } },
  notes: [
    `The odoo pack requires: G1 build; G2 ${ODOO_CHECKS.tests} and ${ODOO_CHECKS.upgrade}; G4 ${ODOO_CHECKS.health}. Until each has reported pass, the release's blockers name it ("G2: required check "${ODOO_CHECKS.upgrade}" has not reported"). Installing again changes nothing. Needs a release_manager token.`,
  ],
  async run(ctx) {
    const pack = ctx.positionals[0];
    if (!pack) throw usageError('which policy pack? e.g. ops-gates policy install odoo --project odoo-shop');
    const project = requiredFlag(ctx, 'project');
    const data = await graphqlRequest(ctx.api, InstallPolicyPackDocument, { input: { project, pack } });
    const r = unwrap(data.installPolicyPack, 'policy install');
    const requirements = r.requirements ?? [];
    const added = requirements.filter((q) => q.added).length;
    return {
      data: { installation: r },
      lines: [
        `${tick(ctx.paint)} policy pack ${r.pack} installed for ${r.project}: ${added} required check${added === 1 ? '' : 's'} added`,
        ...requirements.map(
          (q) => `  ${q.gateCode}  ${q.checkName}${q.added ? '' : ctx.paint('grey', ' (already required)')}`,
        ),
      ],
    };
  },
};
