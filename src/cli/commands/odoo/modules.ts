// `odoo modules`: the modules a release changes, into its scope.
import { statSync } from 'node:fs';
import path from 'node:path';
import { RecordReleaseScopeDocument } from '../../../gql/graphql.js';
import { type Command, flag, releaseRef } from '../../command.js';
import { usageError } from '../../errors.js';
import { graphqlRequest, unwrap } from '../../graphql.js';
import { changedModules, type ModuleChange, scanAddons } from '../../odoo/manifest.js';
import { tick } from '../../output.js';
import { moduleList, RELEASE_OPTION } from './common.js';

// ---- odoo modules -------------------------------------------------------------------------------

export const odooModules: Command = {
  path: ['odoo', 'modules'],
  summary: 'Record the Odoo modules a release changes in its scope (scopeMetadata.odoo_modules)',
  usage: '<release> (--from <dir> --to <dir> | --modules <a,b>)',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    from: {
      type: 'string',
      value: '<dir>',
      description: 'the addons tree in production (e.g. a checkout of its tag)',
    },
    to: { type: 'string', value: '<dir>', description: 'the addons tree being released' },
    modules: { type: 'string', value: '<a,b>', description: 'or the changed modules, listed' },
  },
  notes: [
    "With --from and --to, every addon (a directory with a __manifest__.py) in both trees is compared by its manifest's 'version': added, removed, upgraded or downgraded modules are recorded, each with both versions. The manifest is read as text, never executed.",
    'Needs a ci_service_role, release_manager, or the developer who initiated the release.',
  ],
  async run(ctx) {
    const from = flag(ctx, 'from');
    const to = flag(ctx, 'to');
    const listed = flag(ctx, 'modules');
    let value: Record<string, unknown>;
    let changes: ModuleChange[] = [];
    if (from !== undefined || to !== undefined) {
      if (listed !== undefined) throw usageError('give --from and --to, or --modules, not both');
      if (!from || !to) throw usageError('--from and --to go together: the two addons trees');
      const trees = [from, to].map((d) => {
        const dir = path.resolve(ctx.io.cwd, d);
        try {
          if (!statSync(dir).isDirectory()) throw new Error('not a directory');
        } catch (err) {
          throw usageError(`cannot read ${d}: ${(err as Error).message}`);
        }
        return scanAddons(dir);
      });
      if (trees[1]!.size === 0) throw usageError(`${to} holds no Odoo addon (no __manifest__.py below it)`);
      changes = changedModules(trees[0]!, trees[1]!);
      value = { source: 'manifests', modules: changes.map((c) => c.module), changes };
    } else if (listed !== undefined) {
      const modules = moduleList(listed, '--modules');
      value = { source: 'list', modules };
    } else {
      throw usageError('give --from <dir> --to <dir> (two addons trees) or --modules <a,b>');
    }
    const release = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, RecordReleaseScopeDocument, {
      input: { releaseId: release.id, key: 'odoo_modules', value },
    });
    const r = unwrap(data.recordReleaseScope, 'odoo modules');
    const modules = value.modules as string[];
    return {
      data: { releaseId: r.id, odooModules: value, scopeMetadata: r.scopeMetadata },
      lines: [
        `${tick(ctx.paint)} ${modules.length} module${modules.length === 1 ? '' : 's'} recorded in the scope of ${r.project}/${r.releaseName}${modules.length ? `: ${modules.join(', ')}` : ' (no manifest version changed)'}`,
        ...changes.map(
          (c) =>
            `  ${c.module.padEnd(28)} ${c.change.padEnd(10)} ${c.from_version ?? '-'} → ${c.to_version ?? '-'}`,
        ),
      ],
    };
  },
};
