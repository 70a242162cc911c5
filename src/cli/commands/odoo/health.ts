// `odoo health`: the server's /web/health, probed, as the G4 health check of a deployment.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import canonicalize from 'canonicalize';
import { DEPLOY_ENVIRONMENTS } from '../../../vocabulary.js';
import { type Command, choice, durationMs, flag, releaseRef, requiredFlag, UUID } from '../../command.js';
import { usageError } from '../../errors.js';
import { probeHealth } from '../../odoo/health.js';
import { cross, tick } from '../../output.js';
import { ODOO_CHECKS, RELEASE_OPTION, recorded, SOURCE_OPTION, send } from './common.js';

// ---- odoo health --------------------------------------------------------------------------------

export const odooHealth: Command = {
  path: ['odoo', 'health'],
  summary: `Probe /web/health of a deployed Odoo and record it as the G4 health check ${ODOO_CHECKS.health}`,
  usage: '<release> --odoo-url <https://…> (--deployment <uuid> | --env <staging|production>) [options]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    'odoo-url': {
      type: 'string',
      value: '<url>',
      description: 'the Odoo server, e.g. https://staging.example.com',
    },
    deployment: { type: 'string', value: '<uuid>', description: 'the deployment it confirms' },
    env: {
      type: 'string',
      value: '<staging|production>',
      description: "or that environment's latest deployment",
    },
    samples: { type: 'string', value: '<n>', description: 'requests to make (default 3)' },
    interval: { type: 'string', value: '<duration>', description: 'between requests (default 2s)' },
    'probe-timeout': { type: 'string', value: '<duration>', description: 'per request (default 5s)' },
    report: { type: 'string', value: '<file>', description: 'also write the probe report (JSON) here' },
    ...SOURCE_OPTION,
  },
  notes: [
    'Each sample is GET <odoo-url>/web/health, with ?db_server_status=1 when the server answers it (Odoo then also checks its database server). The check passes only when every sample answered 200 with {"status": "pass"}; an unreachable server, a timeout or any other answer fails it, and with it the deployment\'s G4. The samples (status, latency) are the evidence; its sha256 is that of the report in canonical JSON.',
    'Needs a ci_service_role or sre token. An SRE names the release by its UUID.',
    'Example: ops-gates odoo health 6f1c… --odoo-url https://staging.example.com --env staging',
  ],
  async run(ctx) {
    const given = requiredFlag(ctx, 'odoo-url', 'the Odoo server to probe');
    try {
      const u = new URL(given);
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
    } catch {
      throw usageError(`--odoo-url must be an http(s) URL, not ${JSON.stringify(given)}`);
    }
    const deployment = flag(ctx, 'deployment');
    const env = flag(ctx, 'env') === undefined ? undefined : choice(ctx, 'env', DEPLOY_ENVIRONMENTS);
    if (!deployment && !env) throw usageError('give --deployment <uuid> or --env <staging|production>');
    if (deployment && !UUID.test(deployment)) throw usageError('--deployment must be a UUID');
    const samplesText = flag(ctx, 'samples') ?? '3';
    if (!/^\d+$/.test(samplesText) || Number(samplesText) < 1 || Number(samplesText) > 20)
      throw usageError('--samples must be 1 to 20');
    const intervalMs = durationMs(flag(ctx, 'interval') ?? '2s', '--interval');
    const timeoutMs = durationMs(flag(ctx, 'probe-timeout') ?? '5s', '--probe-timeout');
    const release = await releaseRef(ctx);

    const report = await probeHealth(given, { samples: Number(samplesText), intervalMs, timeoutMs });
    const document = canonicalize(report) ?? '{}';
    const sha256 = createHash('sha256').update(document).digest('hex');
    const reportFile = flag(ctx, 'report');
    if (reportFile) writeFileSync(path.resolve(ctx.io.cwd, reportFile), `${document}\n`);
    const r = await send(ctx, release, 'health_check', 'G4', {
      ...(deployment ? { deployment_id: deployment } : { environment: env }),
      status: report.status,
      check_name: ODOO_CHECKS.health,
      artifact_url: `${report.server}/web/health`,
      sha256,
      metadata: { probe: report },
    });
    const p = ctx.paint;
    const lat = report.latency_ms;
    return {
      data: {
        releaseId: release.id,
        deploymentId: r.detail.deployment_id ?? deployment ?? null,
        g4Status: r.detail.g4_status ?? null,
        check: { name: ODOO_CHECKS.health, gateCode: 'G4', status: report.status },
        evidence: { artifactType: 'health_check', sha256 },
        report,
        event: {
          eventType: 'health_check',
          status: r.status,
          idempotencyKey: r.idempotencyKey,
          ingestId: r.ingestId,
        },
      },
      lines: [
        `${report.status === 'pass' ? tick(p) : cross(p)} ${report.server}/web/health: ${report.passed} of ${report.samples.length} samples pass${lat ? ` (latency min ${lat.min} ms, median ${lat.median} ms, max ${lat.max} ms)` : ''}${report.reasons.length ? `: ${report.reasons.join('; ')}` : ''}`,
        `  G4 check ${ODOO_CHECKS.health} ${report.status} ${recorded(r)} for deployment ${r.detail.deployment_id ?? deployment ?? ''}; its G4 is ${r.detail.g4_status ?? 'unknown'}`,
        p(
          'grey',
          `  release ${release.label} · evidence sha256 ${sha256.slice(0, 12)}… · ingest ${r.ingestId}`,
        ),
      ],
    };
  },
};
