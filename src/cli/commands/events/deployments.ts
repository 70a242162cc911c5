// Events about deployments: deploy update, deploy record and the health check (G4).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CHECK_STATUSES, DEPLOY_ENVIRONMENTS, DEPLOYMENT_STATUSES } from '../../../vocabulary.js';
import { type Command, choice, flag, isoInstant, releaseRef, requiredFlag, UUID } from '../../command.js';
import { usageError } from '../../errors.js';

import {
  defined,
  EVENT_NOTES,
  EVENT_OPTIONS,
  emitEvent,
  fileSha256,
  METADATA_OPTION,
  optionalMetadata,
} from './common.js';

export const deployUpdate: Command = {
  path: ['deploy', 'update'],
  summary: "Report a deployment's progress or outcome (e.g. succeeded)",
  usage: '--release <release> --deployment <uuid> --status <in_progress|succeeded|failed|rolled_back>',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    deployment: { type: 'string', value: '<uuid>', description: 'the deployment (from `promote`)' },
    status: { type: 'string', value: `<${DEPLOYMENT_STATUSES.join('|')}>`, description: 'its new status' },
  },
  notes: EVENT_NOTES,
  async run(ctx) {
    const deployment = requiredFlag(ctx, 'deployment');
    if (!UUID.test(deployment)) throw usageError('--deployment must be a UUID');
    const status = choice(ctx, 'status', DEPLOYMENT_STATUSES);
    const release = await releaseRef(ctx);
    return emitEvent(
      ctx,
      release,
      { eventType: 'deployment_event', payload: { deployment_id: deployment, status } },
      () => ({ what: `deployment ${deployment} ${status}` }),
    );
  },
};

export const deployRecord: Command = {
  path: ['deploy', 'record'],
  summary: 'Record a deployment a pipeline made (refused when the release is not eligible)',
  usage: '--release <release> --env <staging|production> [--status <status>] [--rollback-of <uuid>]',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    env: { type: 'string', value: '<staging|production>', description: 'where it was deployed' },
    status: {
      type: 'string',
      value: `<${DEPLOYMENT_STATUSES.join('|')}>`,
      description: 'default in_progress',
    },
    'source-ref': { type: 'string', value: '<ref>', description: 'the commit or tag deployed' },
    'rollback-of': { type: 'string', value: '<uuid>', description: 'the deployment this one rolls back' },
    'deployed-at': { type: 'string', value: '<iso>', description: 'when (default: now)' },
  },
  notes: EVENT_NOTES,
  async run(ctx) {
    const env = choice(ctx, 'env', DEPLOY_ENVIRONMENTS);
    const deployedAt = flag(ctx, 'deployed-at');
    const payload = defined({
      environment: env,
      status: choice(ctx, 'status', DEPLOYMENT_STATUSES, 'in_progress'),
      source_ref: flag(ctx, 'source-ref'),
      rollback_of: flag(ctx, 'rollback-of'),
      deployed_at: deployedAt === undefined ? undefined : isoInstant(deployedAt, '--deployed-at'),
    });
    const release = await releaseRef(ctx);
    return emitEvent(ctx, release, { eventType: 'deployment_event', payload }, (d) => ({
      what: `deployment ${d.deployment_id ?? ''} to ${env} ${d.status ?? payload.status}`,
    }));
  },
};

export const healthCheck: Command = {
  path: ['health-check'],
  summary: "Report a post-deploy health check: G4 follows the deployment's result",
  usage:
    '--release <release> (--env <staging|production> | --deployment <uuid>) --status <pass|fail> [options]',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    env: {
      type: 'string',
      value: '<staging|production>',
      description: "the environment's latest deployment",
    },
    deployment: { type: 'string', value: '<uuid>', description: 'or this deployment' },
    status: { type: 'string', value: '<pass|fail|warning|skipped>', description: 'the result' },
    'check-name': { type: 'string', value: '<name>', description: 'default health_check' },
    'artifact-url': { type: 'string', value: '<url>', description: 'the health report' },
    file: {
      type: 'string',
      value: '<file>',
      description: 'the health report as a file (its sha256 is sent)',
    },
    sha256: { type: 'string', value: '<hex>', description: "the report's sha256" },
    ...METADATA_OPTION,
  },
  notes: EVENT_NOTES,
  async run(ctx) {
    const deployment = flag(ctx, 'deployment');
    const env = flag(ctx, 'env') === undefined ? undefined : choice(ctx, 'env', DEPLOY_ENVIRONMENTS);
    if (!deployment && !env) throw usageError('give --env <staging|production> or --deployment <uuid>');
    if (deployment && !UUID.test(deployment)) throw usageError('--deployment must be a UUID');
    const status = choice(ctx, 'status', CHECK_STATUSES);
    let sha256 = flag(ctx, 'sha256');
    let artifactUrl = flag(ctx, 'artifact-url');
    const file = flag(ctx, 'file');
    if (file) {
      const resolved = path.resolve(ctx.io.cwd, file);
      try {
        sha256 = await fileSha256(resolved);
      } catch (err) {
        throw usageError(`cannot read --file ${file}: ${(err as Error).message}`);
      }
      artifactUrl ??= pathToFileURL(resolved).href;
    }
    const payload = defined({
      deployment_id: deployment,
      environment: deployment ? undefined : env,
      status,
      check_name: flag(ctx, 'check-name'),
      artifact_url: artifactUrl,
      sha256,
      metadata: optionalMetadata(ctx),
    });
    const release = await releaseRef(ctx);
    return emitEvent(ctx, release, { eventType: 'health_check', gateCode: 'G4', payload }, (d) => ({
      what: `health check ${status} on ${env ?? 'deployment'} ${d.deployment_id ?? deployment ?? ''}; its G4 is ${d.g4_status ?? 'unknown'}`,
    }));
  },
};
