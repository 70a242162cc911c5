// Commands that send events through the ingest: emit (any envelope), build-complete, check,
// evidence add, signoff, deploy update/record and health-check.
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  APPROVAL_DECISIONS,
  ARTIFACT_TYPES,
  CHECK_STATUSES,
  DEPLOY_ENVIRONMENTS,
  DEPLOYMENT_STATUSES,
  EVENT_TYPES,
  GATE_CODES,
} from '../../vocabulary.js';
import {
  bool,
  type Command,
  type Context,
  choice,
  flag,
  flags,
  isoInstant,
  jsonObject,
  keyValues,
  type Output,
  type ReleaseRef,
  releaseRef,
  requiredFlag,
  resolveRelease,
  sourceSystem,
  UUID,
} from '../command.js';
import { usageError } from '../errors.js';
import {
  buildEnvelope,
  completeEnvelope,
  type EnvelopeFields,
  type IngestReply,
  sendEvent,
  validateEnvelope,
} from '../events.js';
import { tick } from '../output.js';

const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

const EVENT_OPTIONS = {
  ...RELEASE_OPTION,
  source: {
    type: 'string',
    value: '<system>',
    description:
      'source_system of the event (default: OPS_SOURCE_SYSTEM, github_actions inside GitHub Actions, else manual)',
  },
  'idempotency-key': {
    type: 'string',
    value: '<key>',
    description:
      'the key retries and re-runs reuse (default: <source>/<release_id>/<event_type>/<sha256 of the content>)',
  },
  'emitted-at': {
    type: 'string',
    value: '<iso>',
    description:
      "emitted_at (default: now); it is not part of the event's identity, so a re-run is still a duplicate",
  },
} as const;

const METADATA_OPTION = {
  metadata: { type: 'string', value: '<json>', description: 'a JSON object stored with the record' },
} as const;

const EVENT_NOTES = [
  'The event is sent to <url>/functions/v1/ops-event-ingest. Network errors, timeouts, 429 and 5xx are retried with backoff and jitter, resending the same envelope under the same idempotency key, so the event is recorded once; the answer is `accepted`, or `duplicate` with the original result when it was already recorded.',
  'Running the same command again sends the same content under the same key: the server answers it as a duplicate with the original result. Give a new --idempotency-key to record the event again; the same key with different content is refused as a key conflict (exit 1).',
];

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function optionalMetadata(ctx: Context): Record<string, unknown> | undefined {
  const text = flag(ctx, 'metadata');
  return text === undefined ? undefined : jsonObject(text, '--metadata');
}

/** Drops undefined members so the envelope (and its derived key) holds only what was given. */
export function defined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

interface Summary {
  /** One line saying what the event did. */
  what: string;
}

/** Builds, checks and sends one event; the same output shape for every event command. */
async function emitEvent(
  ctx: Context,
  release: ReleaseRef,
  event: { eventType: string; gateCode?: string; payload: Record<string, unknown> },
  summarise: (detail: Record<string, unknown>) => Summary,
): Promise<Output> {
  const key = flag(ctx, 'idempotency-key');
  const emittedAt = flag(ctx, 'emitted-at');
  const envelope = buildEnvelope({
    eventType: event.eventType,
    releaseId: release.id,
    gateCode: event.gateCode,
    sourceSystem: sourceSystem(ctx),
    payload: event.payload,
    idempotencyKey: key,
    emittedAt: emittedAt === undefined ? undefined : isoInstant(emittedAt, '--emitted-at'),
  });
  validateEnvelope(envelope);
  return reply(
    ctx,
    release.label,
    envelope,
    await sendEvent(ctx.api, envelope, { derivedKey: !key }),
    summarise,
  );
}

function reply(
  ctx: Context,
  label: string,
  envelope: EnvelopeFields,
  r: IngestReply,
  summarise: (detail: Record<string, unknown>) => Summary,
): Output {
  const type = String(envelope.event_type);
  const { what } = summarise(r.detail);
  const headline =
    r.status === 'accepted'
      ? `${tick(ctx.paint)} ${type} accepted: ${what}`
      : `${tick(ctx.paint)} ${type} was already recorded (duplicate of ingest ${r.ingestId}): ${what}`;
  return {
    data: {
      status: r.status,
      eventType: type,
      releaseId: envelope.release_id,
      gateCode: envelope.gate_code ?? null,
      idempotencyKey: r.idempotencyKey,
      ingestId: r.ingestId,
      attemptId: r.attemptId,
      attempts: r.attempts,
      detail: r.detail,
    },
    lines: [
      headline,
      ctx.paint('grey', `  release ${label} · key ${r.idempotencyKey} · ingest ${r.ingestId}`),
    ],
  };
}

const gateNow = (gate: string, detail: Record<string, unknown>) =>
  detail.gate_status ? `; ${gate} is now ${detail.gate_status}` : '';

// ---- emit ------------------------------------------------------------------------------------

const emit: Command = {
  path: ['emit'],
  summary: 'Send any v1.0 event, from flags or an envelope file',
  usage:
    '<event_type> --release <release> [--gate <G1-G4>] [--payload <json> | --set k=v ...] | --file <envelope.json>',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    gate: { type: 'string', value: '<G1|G2|G3|G4>', description: 'gate_code' },
    payload: { type: 'string', value: '<json>', description: 'the payload as a JSON object' },
    'payload-file': { type: 'string', value: '<file>', description: 'the payload from a JSON file' },
    set: {
      type: 'string',
      multiple: true,
      value: '<key=value>',
      description: 'a payload member (repeatable; JSON values are typed: count=3, ok=true)',
    },
    file: {
      type: 'string',
      value: '<envelope.json>',
      description:
        'an envelope (whole or partial; flags override its fields, missing key and emitted_at are filled)',
    },
    unchecked: {
      type: 'boolean',
      description: 'send without checking the envelope locally first (the server still checks it)',
    },
  },
  notes: [
    `Event types: ${EVENT_TYPES.join(', ')}.`,
    ...EVENT_NOTES,
    'Example: ops-gates emit environment_event --release odoo-core/2026.11.1 --set environment=staging --set kind=maintenance_window',
  ],
  async run(ctx) {
    const fromFile = flag(ctx, 'file');
    let base: EnvelopeFields = {};
    if (fromFile) {
      let text: string;
      try {
        text = readFileSync(path.resolve(ctx.io.cwd, fromFile), 'utf8');
      } catch (err) {
        throw usageError(`cannot read --file ${fromFile}: ${(err as Error).message}`);
      }
      base = jsonObject(text, `--file ${fromFile}`);
    }
    const eventType = ctx.positionals[0] ?? (base.event_type as string | undefined);
    if (!eventType) throw usageError('which event? give <event_type> or an envelope --file with event_type');
    if (ctx.positionals[0] && base.event_type && base.event_type !== ctx.positionals[0]) {
      throw usageError(
        `<event_type> ${ctx.positionals[0]} contradicts the file's event_type ${base.event_type}`,
      );
    }

    let payload = (base.payload as Record<string, unknown> | undefined) ?? {};
    const payloadText = flag(ctx, 'payload');
    const payloadFile = flag(ctx, 'payload-file');
    if (payloadText !== undefined) payload = jsonObject(payloadText, '--payload');
    if (payloadFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(path.resolve(ctx.io.cwd, payloadFile), 'utf8');
      } catch (err) {
        throw usageError(`cannot read --payload-file ${payloadFile}: ${(err as Error).message}`);
      }
      payload = jsonObject(text, `--payload-file ${payloadFile}`);
    }
    payload = { ...payload, ...keyValues(flags(ctx, 'set'), '--set') };

    const releaseGiven = flag(ctx, 'release');
    let release: ReleaseRef;
    if (releaseGiven) release = await resolveRelease(ctx, releaseGiven);
    else if (typeof base.release_id === 'string') release = { id: base.release_id, label: base.release_id };
    else throw usageError('which release? give --release (a UUID or project/name) or release_id in --file');

    const key = flag(ctx, 'idempotency-key');
    const emittedAt = flag(ctx, 'emitted-at');
    const fields: EnvelopeFields = {
      ...base,
      event_type: eventType,
      source_system: flag(ctx, 'source') ?? base.source_system ?? sourceSystem(ctx),
      release_id: release.id,
      payload,
    };
    const gate = flag(ctx, 'gate');
    if (gate !== undefined) fields.gate_code = gate;
    const envelope = completeEnvelope(
      fields,
      key,
      emittedAt === undefined ? undefined : isoInstant(emittedAt, '--emitted-at'),
    );
    if (!bool(ctx, 'unchecked')) validateEnvelope(envelope);
    const derivedKey = !key && fields.idempotency_key === undefined;
    const r = await sendEvent(ctx.api, envelope, { derivedKey });
    return reply(ctx, release.label, envelope, r, (d) => ({
      what: Object.entries(d)
        .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', '),
    }));
  },
};

// ---- build-complete and check ------------------------------------------------------------------

const buildComplete: Command = {
  path: ['build-complete'],
  summary: "Report a build's outcome: a G1 check (and its build log as evidence)",
  usage: '--release <release> --status <pass|fail> [--artifact-ref <url>] [options]',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    status: { type: 'string', value: '<pass|fail|warning|skipped>', description: 'the build outcome' },
    'check-name': { type: 'string', value: '<name>', description: 'the G1 check (default: build)' },
    'artifact-ref': { type: 'string', value: '<url>', description: 'where the run is, e.g. the CI run URL' },
    'log-url': { type: 'string', value: '<url>', description: 'the build log (default: the artifact ref)' },
    sha256: { type: 'string', value: '<hex>', description: 'sha256 of the build log' },
    ...METADATA_OPTION,
  },
  notes: [
    ...EVENT_NOTES,
    'Example (GitHub Actions): ops-gates build-complete --release "$OPS_RELEASE" --status pass --artifact-ref "$RUN_URL" --idempotency-key "github_actions/$GITHUB_RUN_ID/build_complete"',
  ],
  async run(ctx) {
    const status = choice(ctx, 'status', CHECK_STATUSES);
    const payload = defined({
      status,
      check_name: flag(ctx, 'check-name'),
      artifact_ref: flag(ctx, 'artifact-ref'),
      log_url: flag(ctx, 'log-url'),
      sha256: flag(ctx, 'sha256'),
      metadata: optionalMetadata(ctx),
    });
    const release = await releaseRef(ctx);
    return emitEvent(ctx, release, { eventType: 'build_complete', gateCode: 'G1', payload }, (d) => ({
      what: `G1 check ${flag(ctx, 'check-name') ?? 'build'} ${status}${gateNow('G1', d)}`,
    }));
  },
};

const check: Command = {
  path: ['check'],
  summary: 'Report one check result on a gate',
  usage: '--release <release> --gate <G1-G4> --name <check> --status <pass|fail|warning|skipped> [options]',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    gate: { type: 'string', value: '<G1|G2|G3|G4>', description: 'the gate' },
    name: { type: 'string', value: '<check>', description: 'the check name, e.g. unit-tests' },
    status: { type: 'string', value: '<pass|fail|warning|skipped>', description: 'the result' },
    optional: { type: 'boolean', description: 'the check does not count towards the gate' },
    'artifact-ref': { type: 'string', value: '<url>', description: 'where the result can be seen' },
    ...METADATA_OPTION,
  },
  notes: EVENT_NOTES,
  async run(ctx) {
    const gate = choice(ctx, 'gate', GATE_CODES);
    const name = requiredFlag(ctx, 'name');
    const status = choice(ctx, 'status', CHECK_STATUSES);
    const payload = defined({
      check_name: name,
      status,
      required: bool(ctx, 'optional') ? false : undefined,
      artifact_ref: flag(ctx, 'artifact-ref'),
      metadata: optionalMetadata(ctx),
    });
    const release = await releaseRef(ctx);
    return emitEvent(ctx, release, { eventType: 'check_result', gateCode: gate, payload }, (d) => ({
      what: `${gate} check ${name} ${status}${gateNow(gate, d)}`,
    }));
  },
};

// ---- evidence ---------------------------------------------------------------------------------

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

const evidenceAdd: Command = {
  path: ['evidence', 'add'],
  summary: 'Attach evidence: a file (its sha256 is computed) or a URL',
  usage: '<file|url> --release <release> --type <artifact_type> [--gate <G1-G4>] [options]',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    type: { type: 'string', value: `<${ARTIFACT_TYPES.join('|')}>`, description: 'what the evidence is' },
    gate: { type: 'string', value: '<G1|G2|G3|G4>', description: 'the gate it supports' },
    deployment: {
      type: 'string',
      value: '<uuid>',
      description: 'the deployment it belongs to (health checks)',
    },
    check: { type: 'string', value: '<uuid>', description: 'the check it belongs to' },
    'artifact-url': {
      type: 'string',
      value: '<url>',
      description: 'for a file: where it is kept (default: its file:// URL on this machine)',
    },
    sha256: { type: 'string', value: '<hex>', description: 'for a URL: its sha256' },
    ...METADATA_OPTION,
  },
  notes: [
    'G2 needs test_result or uat_summary evidence; G3 a rollback_plan; G4 health_check evidence.',
    ...EVENT_NOTES,
  ],
  async run(ctx) {
    const target = ctx.positionals[0];
    if (!target) throw usageError('which evidence? give a file or a URL');
    const type = choice(ctx, 'type', ARTIFACT_TYPES);
    const gate = flag(ctx, 'gate') === undefined ? undefined : choice(ctx, 'gate', GATE_CODES);
    let artifactUrl: string;
    let sha256 = flag(ctx, 'sha256');
    let fileFacts: Record<string, unknown> = {};
    if (URL_LIKE.test(target)) {
      artifactUrl = target;
    } else {
      const file = path.resolve(ctx.io.cwd, target);
      let size: number;
      try {
        const stat = statSync(file);
        if (!stat.isFile()) throw new Error('not a file');
        size = stat.size;
      } catch (err) {
        throw usageError(`cannot read ${target}: ${(err as Error).message}`);
      }
      sha256 = await fileSha256(file);
      artifactUrl = flag(ctx, 'artifact-url') ?? pathToFileURL(file).href;
      fileFacts = { file_name: path.basename(file), size_bytes: size };
    }
    for (const id of ['deployment', 'check']) {
      const v = flag(ctx, id);
      if (v !== undefined && !UUID.test(v)) throw usageError(`--${id} must be a UUID`);
    }
    const metadata = { ...fileFacts, ...(optionalMetadata(ctx) ?? {}) };
    const payload = defined({
      artifact_type: type,
      artifact_url: artifactUrl,
      sha256,
      deployment_id: flag(ctx, 'deployment'),
      check_id: flag(ctx, 'check'),
      metadata: Object.keys(metadata).length ? metadata : undefined,
    });
    const release = await releaseRef({ ...ctx, positionals: [] });
    return emitEvent(ctx, release, { eventType: 'evidence_attached', gateCode: gate, payload }, (d) => ({
      what: `${type}${gate ? ` on ${gate}` : ''} ${artifactUrl}${sha256 ? ` (sha256 ${sha256.slice(0, 12)}…)` : ''}${d.artifact_id ? `, artifact ${d.artifact_id}` : ''}`,
    }));
  },
};

// ---- signoff ----------------------------------------------------------------------------------

const signoff: Command = {
  path: ['signoff'],
  summary: 'Sign a gate off as yourself: G2 (qa_tester) or G3 (release_manager)',
  usage:
    '--release <release> --gate <G2|G3> --decision <approved|rejected|request_changes> --rationale <text>',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    gate: { type: 'string', value: '<G2|G3>', description: 'the gate' },
    decision: { type: 'string', value: `<${APPROVAL_DECISIONS.join('|')}>`, description: 'your decision' },
    rationale: { type: 'string', value: '<text>', description: 'why, in words (required)' },
    'rationale-json': {
      type: 'string',
      value: '<json>',
      description: 'structured rationale (a JSON object)',
    },
  },
  notes: [
    'The approver and persona come from your token. The G3 approver may be neither the release initiator nor the G2 signer. Your latest decision counts: a rejection fails the gate, request_changes holds it.',
    ...EVENT_NOTES,
  ],
  async run(ctx) {
    const gate = choice(ctx, 'gate', ['G2', 'G3'] as const);
    const decision = choice(ctx, 'decision', APPROVAL_DECISIONS);
    const rationale = requiredFlag(ctx, 'rationale', 'say why');
    const structured = flag(ctx, 'rationale-json');
    const payload = defined({
      decision,
      rationale_text: rationale,
      rationale_structured: structured === undefined ? undefined : jsonObject(structured, '--rationale-json'),
    });
    const release = await releaseRef(ctx);
    return emitEvent(ctx, release, { eventType: 'gate_signoff', gateCode: gate, payload }, (d) => ({
      what: `${gate} ${decision}${gateNow(gate, d)}`,
    }));
  },
};

// ---- deployments and health ---------------------------------------------------------------------

const deployUpdate: Command = {
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

const deployRecord: Command = {
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

const healthCheck: Command = {
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

export const eventCommands: Command[] = [
  emit,
  buildComplete,
  check,
  evidenceAdd,
  signoff,
  deployUpdate,
  deployRecord,
  healthCheck,
];
