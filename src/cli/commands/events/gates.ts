// Events about a release's gates: build-complete and check (G1), evidence add, and signoff (G2/G3).
import { statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { APPROVAL_DECISIONS, ARTIFACT_TYPES, CHECK_STATUSES, GATE_CODES } from '../../../vocabulary.js';
import {
  bool,
  type Command,
  choice,
  flag,
  jsonObject,
  releaseRef,
  requiredFlag,
  UUID,
} from '../../command.js';
import { usageError } from '../../errors.js';

import {
  defined,
  EVENT_NOTES,
  EVENT_OPTIONS,
  emitEvent,
  fileSha256,
  gateNow,
  METADATA_OPTION,
  optionalMetadata,
} from './common.js';

export const buildComplete: Command = {
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

export const check: Command = {
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

export const evidenceAdd: Command = {
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

export const signoff: Command = {
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
