// Commands for Odoo projects: `policy install` (the odoo policy pack: the checks an Odoo release
// needs, per gate), `odoo tests` and `odoo upgrade` (a test run's and a module upgrade's log, read
// into one G2 check with the log as test_result evidence), `odoo health` (the server's
// /web/health, probed, as the G4 health check of a deployment) and `odoo modules` (the modules a
// release changes, into its scope). The logs are read here; what a check result does to a gate is
// decided by the gate rule in SQL.

import { createHash } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import canonicalize from 'canonicalize';
import { InstallPolicyPackDocument, RecordReleaseScopeDocument } from '../../gql/graphql.js';
import { DEPLOY_ENVIRONMENTS } from '../../vocabulary.js';
import {
  type Command,
  type Context,
  choice,
  durationMs,
  flag,
  type Output,
  type ReleaseRef,
  releaseRef,
  requiredFlag,
  sourceSystem,
  UUID,
} from '../command.js';
import { usageError } from '../errors.js';
import { buildEnvelope, type IngestReply, sendEvent, validateEnvelope } from '../events.js';
import { graphqlRequest, unwrap } from '../graphql.js';
import { probeHealth } from '../odoo/health.js';
import { readTestLog, readUpgradeLog } from '../odoo/logs.js';
import { changedModules, MODULE_NAME, type ModuleChange, scanAddons } from '../odoo/manifest.js';
import { cross, tick } from '../output.js';
import { defined } from './events/common.js';

export const ODOO_CHECKS = {
  tests: 'odoo-tests',
  upgrade: 'odoo-upgrade-on-production-copy',
  health: 'odoo-health',
} as const;

const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

const SOURCE_OPTION = {
  source: {
    type: 'string',
    value: '<system>',
    description:
      'source_system of the events (default: OPS_SOURCE_SYSTEM, github_actions inside GitHub Actions, else manual)',
  },
} as const;

const LOG_OPTIONS = {
  log: { type: 'string', value: '<file>', description: 'the odoo-bin log' },
  'artifact-url': {
    type: 'string',
    value: '<url>',
    description: 'where the log is kept, e.g. the CI artifact (default: its file:// URL on this machine)',
  },
} as const;

const LOG_PERSONA_NOTE =
  'Needs a ci_service_role token: the check and its log as evidence are two events, and only the pipeline persona may send both.';

const EVENT_NOTE =
  'Each event is sent to the ingest under a key derived from its content, so running the command again on the same log records nothing twice (the server answers duplicate). The exit code says whether the result was recorded, not whether it passed: read the status from the output (or --json).';

interface LogFile {
  text: string;
  sha256: string;
  url: string;
  facts: { file_name: string; size_bytes: number; sha256: string };
}

function readLog(ctx: Context): LogFile {
  const given = requiredFlag(ctx, 'log', 'the odoo-bin log file');
  const file = path.resolve(ctx.io.cwd, given);
  let bytes: Buffer;
  try {
    if (!statSync(file).isFile()) throw new Error('not a file');
    bytes = readFileSync(file);
  } catch (err) {
    throw usageError(`cannot read --log ${given}: ${(err as Error).message}`);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return {
    text: bytes.toString('utf8'),
    sha256,
    url: flag(ctx, 'artifact-url') ?? pathToFileURL(file).href,
    facts: { file_name: path.basename(file), size_bytes: bytes.length, sha256 },
  };
}

function exitCodeFlag(ctx: Context, required: boolean): number | undefined {
  const text = required
    ? requiredFlag(ctx, 'exit-code', "odoo-bin's exit code, e.g. $?")
    : flag(ctx, 'exit-code');
  if (text === undefined) return undefined;
  if (!/^-?\d{1,3}$/.test(text.trim()))
    throw usageError(`--exit-code must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

function moduleList(text: string, what: string): string[] {
  const modules = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  if (modules.length === 0) throw usageError(`${what} names no module`);
  const bad = modules.filter((m) => !MODULE_NAME.test(m));
  if (bad.length)
    throw usageError(`${what}: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not an Odoo module name`);
  return modules;
}

async function send(
  ctx: Context,
  release: ReleaseRef,
  eventType: string,
  gateCode: string | undefined,
  payload: Record<string, unknown>,
): Promise<IngestReply> {
  const envelope = buildEnvelope({
    eventType,
    releaseId: release.id,
    gateCode,
    sourceSystem: sourceSystem(ctx),
    payload,
  });
  validateEnvelope(envelope);
  return sendEvent(ctx.api, envelope, { derivedKey: true });
}

const recorded = (r: IngestReply) => (r.status === 'accepted' ? 'recorded' : 'already recorded');

/** A G2 check from a log, then the log as test_result evidence linked to it. */
async function recordLogCheck(
  ctx: Context,
  log: LogFile,
  check: { name: string; status: string; metadata: Record<string, unknown>; headline: string },
): Promise<Output> {
  const release = await releaseRef(ctx);
  const checkReply = await send(ctx, release, 'check_result', 'G2', {
    check_name: check.name,
    status: check.status,
    artifact_ref: log.url,
    metadata: { ...check.metadata, log: log.facts },
  });
  const checkId = checkReply.detail.check_id as string | undefined;
  const evidenceReply = await send(ctx, release, 'evidence_attached', 'G2', {
    artifact_type: 'test_result',
    artifact_url: log.url,
    sha256: log.sha256,
    ...(checkId ? { check_id: checkId } : {}),
    metadata: { ...log.facts, check_name: check.name, status: check.status },
  });
  const p = ctx.paint;
  const mark = check.status === 'pass' ? tick(p) : cross(p);
  const gate = checkReply.detail.gate_status;
  return {
    data: {
      releaseId: release.id,
      check: {
        name: check.name,
        gateCode: 'G2',
        status: check.status,
        checkId: checkId ?? null,
        ...check.metadata,
      },
      evidence: {
        artifactType: 'test_result',
        artifactUrl: log.url,
        sha256: log.sha256,
        artifactId: evidenceReply.detail.artifact_id ?? null,
      },
      gateStatus: gate ?? null,
      events: [
        {
          eventType: 'check_result',
          status: checkReply.status,
          idempotencyKey: checkReply.idempotencyKey,
          ingestId: checkReply.ingestId,
        },
        {
          eventType: 'evidence_attached',
          status: evidenceReply.status,
          idempotencyKey: evidenceReply.idempotencyKey,
          ingestId: evidenceReply.ingestId,
        },
      ],
    },
    lines: [
      `${mark} G2 check ${check.name} ${check.status} ${recorded(checkReply)}: ${check.headline}${gate ? `; G2 is now ${gate}` : ''}`,
      `  test_result evidence ${recorded(evidenceReply)}: ${log.facts.file_name} (sha256 ${log.sha256.slice(0, 12)}…)`,
      p('grey', `  release ${release.label} · ingest ${checkReply.ingestId}, ${evidenceReply.ingestId}`),
    ],
  };
}

// ---- odoo tests ---------------------------------------------------------------------------------

const odooTests: Command = {
  path: ['odoo', 'tests'],
  summary: `Read an Odoo test log into the G2 check ${ODOO_CHECKS.tests}, with the log as test_result evidence`,
  usage: '<release> --log <odoo.log> [--exit-code <n>] [--artifact-url <url>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    ...LOG_OPTIONS,
    'exit-code': {
      type: 'string',
      value: '<n>',
      description: "odoo-bin's exit code; non-zero fails the check",
    },
    ...SOURCE_OPTION,
  },
  notes: [
    'The log of `odoo-bin --test-enable --test-tags <tags> --stop-after-init` (Odoo 16-18). The check passes only when the log ends with the summary "0 failed, 0 error(s) of <n> tests when loading database …"; failing tests (FAIL:/ERROR: lines) are listed in its metadata. A log without the summary (the run crashed or was killed) fails; a run of zero tests is a warning.',
    LOG_PERSONA_NOTE,
    EVENT_NOTE,
    'Example: odoo-bin -d ci --test-enable --test-tags /sale_custom --stop-after-init > odoo.log 2>&1; ops-gates odoo tests odoo-shop/2026.11.1 --log odoo.log --exit-code $?',
  ],
  async run(ctx) {
    const log = readLog(ctx);
    const report = readTestLog(log.text, exitCodeFlag(ctx, false));
    const headline =
      report.summaries.length > 0
        ? `${report.failed} failed, ${report.errors} error(s) of ${report.tests} tests${report.status === 'pass' ? '' : ` (${report.reasons.join('; ')})`}`
        : report.reasons.join('; ');
    return recordLogCheck(ctx, log, {
      name: ODOO_CHECKS.tests,
      status: report.status,
      headline,
      metadata: {
        tests: report.tests,
        failed: report.failed,
        errors: report.errors,
        summary_found: report.summaries.length > 0,
        databases: report.summaries.map((s) => s.database),
        failures: report.failures,
        reasons: report.reasons,
      },
    });
  },
};

// ---- odoo upgrade -------------------------------------------------------------------------------

const odooUpgrade: Command = {
  path: ['odoo', 'upgrade'],
  summary: `Read the log of a module upgrade on a production copy into the G2 check ${ODOO_CHECKS.upgrade}`,
  usage: '<release> --log <upgrade.log> --exit-code <n> --modules <a,b> [--database <name>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    ...LOG_OPTIONS,
    'exit-code': { type: 'string', value: '<n>', description: "odoo-bin's exit code (required)" },
    modules: { type: 'string', value: '<a,b>', description: 'the modules upgraded (-u)' },
    database: { type: 'string', value: '<name>', description: 'the neutralized production copy it ran on' },
    ...SOURCE_OPTION,
  },
  notes: [
    'The log of `odoo-bin neutralize` on a copy of the production database, then `odoo-bin -d <copy> -u <modules> --stop-after-init`. The check passes only with exit code 0 and a log without traceback and without ERROR or CRITICAL lines; anything else is recorded as a failure with the reasons.',
    LOG_PERSONA_NOTE,
    EVENT_NOTE,
  ],
  async run(ctx) {
    const log = readLog(ctx);
    const exitCode = exitCodeFlag(ctx, true)!;
    const modules = moduleList(
      requiredFlag(ctx, 'modules', 'the modules upgraded, e.g. sale_custom,stock_custom'),
      '--modules',
    );
    const report = readUpgradeLog(log.text, exitCode);
    const database = flag(ctx, 'database');
    return recordLogCheck(ctx, log, {
      name: ODOO_CHECKS.upgrade,
      status: report.status,
      headline: `${modules.join(', ')} upgraded${database ? ` on ${database}` : ''}, exit code ${exitCode}${report.reasons.length ? ` (${report.reasons.join('; ')})` : ''}`,
      metadata: defined({
        modules,
        exit_code: exitCode,
        database,
        tracebacks: report.tracebacks,
        error_lines: report.errorLines,
        critical_lines: report.criticalLines,
        first_errors: report.firstErrors,
        modules_loaded: report.modulesLoaded,
        reasons: report.reasons,
      }),
    });
  },
};

// ---- odoo health --------------------------------------------------------------------------------

const odooHealth: Command = {
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

// ---- odoo modules -------------------------------------------------------------------------------

const odooModules: Command = {
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

// ---- policy install -----------------------------------------------------------------------------

const policyInstall: Command = {
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

export const odooCommands: Command[] = [policyInstall, odooTests, odooUpgrade, odooHealth, odooModules];
