// What the Odoo commands share: the checks they record, their options and notes, reading a log
// file, and sending one event or one log-backed G2 check.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type Context,
  flag,
  type Output,
  type ReleaseRef,
  releaseRef,
  requiredFlag,
  sourceSystem,
} from '../../command.js';
import { usageError } from '../../errors.js';
import { buildEnvelope, type IngestReply, sendEvent, validateEnvelope } from '../../events.js';
import { MODULE_NAME } from '../../odoo/manifest.js';
import { cross, tick } from '../../output.js';

export const ODOO_CHECKS = {
  tests: 'odoo-tests',
  upgrade: 'odoo-upgrade-on-production-copy',
  health: 'odoo-health',
} as const;

export const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

export const SOURCE_OPTION = {
  source: {
    type: 'string',
    value: '<system>',
    description:
      'source_system of the events (default: OPS_SOURCE_SYSTEM, github_actions inside GitHub Actions, else manual)',
  },
} as const;

export const LOG_OPTIONS = {
  log: { type: 'string', value: '<file>', description: 'the odoo-bin log' },
  'artifact-url': {
    type: 'string',
    value: '<url>',
    description: 'where the log is kept, e.g. the CI artifact (default: its file:// URL on this machine)',
  },
} as const;

export const LOG_PERSONA_NOTE =
  'Needs a ci_service_role token: the check and its log as evidence are two events, and only the pipeline persona may send both.';

export const EVENT_NOTE =
  'Each event is sent to the ingest under a key derived from its content, so running the command again on the same log records nothing twice (the server answers duplicate). The exit code says whether the result was recorded, not whether it passed: read the status from the output (or --json).';

export interface LogFile {
  text: string;
  sha256: string;
  url: string;
  facts: { file_name: string; size_bytes: number; sha256: string };
}

export function readLog(ctx: Context): LogFile {
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

export function exitCodeFlag(ctx: Context, required: boolean): number | undefined {
  const text = required
    ? requiredFlag(ctx, 'exit-code', "odoo-bin's exit code, e.g. $?")
    : flag(ctx, 'exit-code');
  if (text === undefined) return undefined;
  if (!/^-?\d{1,3}$/.test(text.trim()))
    throw usageError(`--exit-code must be a whole number, not ${JSON.stringify(text)}`);
  return Number(text);
}

export function moduleList(text: string, what: string): string[] {
  const modules = [...new Set(text.split(/[\s,]+/).filter(Boolean))];
  if (modules.length === 0) throw usageError(`${what} names no module`);
  const bad = modules.filter((m) => !MODULE_NAME.test(m));
  if (bad.length)
    throw usageError(`${what}: ${bad.map((b) => JSON.stringify(b)).join(', ')} is not an Odoo module name`);
  return modules;
}

export async function send(
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

export const recorded = (r: IngestReply) => (r.status === 'accepted' ? 'recorded' : 'already recorded');

/** A G2 check from a log, then the log as test_result evidence linked to it. */
export async function recordLogCheck(
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
