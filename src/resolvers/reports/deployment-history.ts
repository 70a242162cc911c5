// ops.v_deployment_history: deployments and rollbacks with their G4 outcome.
import { anyOf, VIEW_READERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import type {
  DeployEnvironmentValue,
  DeploymentKindValue,
  DeploymentStatusValue,
  G4StatusValue,
} from '../../vocabulary.js';
import { DeployEnvironment, DeploymentKind, DeploymentStatus, G4Status } from '../enums.js';
import { optionalUuidArg } from '../ids.js';
import { connectionArgs, connectionType } from '../pagination.js';
import { Conditions, keysetPage } from '../read.js';
import { DateTime } from '../scalars.js';

export interface DeploymentHistoryRow {
  deployment_id: string;
  release_id: string;
  environment: DeployEnvironmentValue;
  kind: DeploymentKindValue;
  status: DeploymentStatusValue;
  rollback_of: string | null;
  rolled_back_by: string | null;
  deployed_at: Date;
  deployed_by: string;
  source_ref: string | null;
  g4_status: G4StatusValue;
  g4_resolved_at: Date | null;
  time_to_g4_seconds: number | null;
}

const DeploymentHistoryEntry = builder.objectRef<DeploymentHistoryRow>('DeploymentHistoryEntry').implement({
  description: 'A deployment or rollback with its G4 outcome (ops.v_deployment_history).',
  fields: (t) => ({
    deploymentId: t.exposeID('deployment_id'),
    releaseId: t.exposeID('release_id'),
    environment: t.expose('environment', { type: DeployEnvironment }),
    kind: t.expose('kind', { type: DeploymentKind }),
    status: t.expose('status', { type: DeploymentStatus }),
    rollbackOf: t.exposeID('rollback_of', { nullable: true }),
    rolledBackBy: t.exposeID('rolled_back_by', {
      nullable: true,
      description: 'The first rollback that undid this deployment.',
    }),
    deployedAt: t.field({ type: DateTime, resolve: (r) => r.deployed_at }),
    deployedBy: t.exposeString('deployed_by'),
    sourceRef: t.exposeString('source_ref', { nullable: true }),
    g4Status: t.expose('g4_status', { type: G4Status }),
    g4ResolvedAt: t.field({ type: DateTime, nullable: true, resolve: (r) => r.g4_resolved_at }),
    timeToG4Seconds: t.exposeFloat('time_to_g4_seconds', {
      nullable: true,
      description: 'From deployment to the health check verdict (g4ResolvedAt - deployedAt).',
    }),
  }),
});

const DeploymentHistoryFilter = builder.inputType('DeploymentHistoryFilter', {
  fields: (t) => ({
    environment: t.field({ type: DeployEnvironment }),
    releaseId: t.id(),
    kind: t.field({ type: DeploymentKind }),
    status: t.field({ type: DeploymentStatus }),
    g4Status: t.field({ type: G4Status }),
  }),
});

builder.queryField('deploymentHistory', (t) =>
  t.withAuth(anyOf(VIEW_READERS.v_deployment_history)).field({
    type: connectionType<DeploymentHistoryRow>('DeploymentHistoryEntry', DeploymentHistoryEntry),
    description: 'Deployments and rollbacks, newest first; at most 100 per page.',
    args: connectionArgs(t.arg, DeploymentHistoryFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<DeploymentHistoryRow>(ctx, args, {
        columns: `v.deployment_id, v.release_id, v.environment, v.kind, v.status, v.rollback_of,
                  v.rolled_back_by, v.deployed_at, v.deployed_by, v.source_ref, v.g4_status, v.g4_resolved_at,
                  extract(epoch from v.time_to_g4)::float8 as time_to_g4_seconds`,
        from: 'ops.v_deployment_history v',
        where: new Conditions()
          .when(f.environment, (p) => `v.environment = ${p}::ops_environment`)
          .when(optionalUuidArg(f.releaseId, 'releaseId'), (p) => `v.release_id = ${p}::uuid`)
          .when(f.kind, (p) => `v.kind = ${p}`)
          .when(f.status, (p) => `v.status = ${p}::ops_deployment_status`)
          .when(f.g4Status, (p) => `v.g4_status = ${p}::ops_g4_status`),
        at: 'v.deployed_at',
        id: 'v.deployment_id',
        direction: 'desc',
        idOf: (r) => r.deployment_id,
      });
    },
  }),
);
