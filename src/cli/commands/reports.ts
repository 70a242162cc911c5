// timeline and bundle: the release's decision chain rebuilt from the database alone
// (releaseTimeline, ops.release_timeline) and the evidence bundle an auditor archives
// (releaseEvidenceBundle, ops.release_evidence_bundle). Both need release_manager or audit_reader.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ATTESTATION_KEYS_PATH, type JwkSet } from '../../attestation/dsse.js';
import {
  type Checkpoint,
  liveChecks,
  liveHeads,
  parsePublicKeys,
  verifySignedBundle,
} from '../../attestation/verify.js';
import {
  LedgerCheckpointComparisonDocument,
  LedgerVerificationDocument,
  ReleaseEvidenceBundleDocument,
  ReleaseTimelineDocument,
  SignedEvidenceBundleDocument,
} from '../../gql/graphql.js';
import { payloadHash } from '../../ingest/envelope.js';
import { bool, type Command, type Context, flag, flags, releaseRef } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { graphqlRequest } from '../graphql.js';
import { cross, table, tick } from '../output.js';
import { readJsonFile } from './ledger.js';

const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

/** Ingest attempts repeat the facts they caused; shown with --all. */
const NOISE = new Set(['ingest_attempt']);

const timeline: Command = {
  path: ['timeline'],
  summary: "The release's decision chain, fact by fact, with who did each (release_manager, audit_reader)",
  usage: '<release> [--kind <kind> ...] [--all]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    kind: {
      type: 'string',
      multiple: true,
      value: '<kind>',
      description: 'only entries of this kind (repeatable), e.g. approval, gate_transition, deployment',
    },
    all: { type: 'boolean', description: 'include every ingest attempt (shown in --json always)' },
  },
  notes: [
    'Rebuilt from the database alone: each entry has its time, actor, persona, source system and ingest attempt.',
  ],
  async run(ctx) {
    const kinds = flags(ctx, 'kind');
    const ref = await releaseRef(ctx);
    const data = await graphqlRequest(ctx.api, ReleaseTimelineDocument, { releaseId: ref.id });
    const entries = data.releaseTimeline;
    if (!entries) throw new CliError(`no release ${ref.label}`, EXIT.rejected, 'not_found');
    const chosen = kinds.length ? entries.filter((e) => kinds.includes(e.kind ?? '')) : entries;
    const shown = bool(ctx, 'all') || kinds.length ? chosen : chosen.filter((e) => !NOISE.has(e.kind ?? ''));
    const p = ctx.paint;
    return {
      data: { releaseId: ref.id, release: ref.label, entries: chosen },
      lines: [
        `${p('bold', `Timeline of ${ref.label}`)}  ${p('grey', `${shown.length} of ${entries.length} entries`)}`,
        '',
        ...table(
          ['#', 'When (UTC)', 'Who', 'Persona', 'Gate', 'What'],
          shown.map((e) => [
            String(e.seq ?? ''),
            (e.at ?? '').replace('T', ' ').replace(/\.\d+Z$|Z$/, ''),
            e.actor ?? '-',
            e.persona ?? '-',
            e.gateCode ?? '',
            e.summary ?? e.kind ?? '',
          ]),
        ),
      ],
    };
  },
};

const bundle: Command = {
  path: ['bundle'],
  summary: "Download the release's evidence bundle (release, gates, evidence with sha256, timeline)",
  usage:
    '<release> [--signed] [-o <file.json>] | --verify <file.json> [--key <file|url>] [--checkpoint <file>] [--live]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    signed: {
      type: 'boolean',
      description:
        'the signed attestation instead: an in-toto Statement (SLSA verification summary) in a DSSE envelope',
    },
    verify: {
      type: 'string',
      value: '<file.json>',
      description: 'verify a signed bundle offline: signature, subject and ledger anchor',
    },
    key: {
      type: 'string',
      value: '<file|url>',
      description: `with --verify: the public key (JWK set, JWK or PEM); default: <api>${ATTESTATION_KEYS_PATH}`,
    },
    checkpoint: {
      type: 'string',
      value: '<file.json>',
      description: 'with --verify: a ledger checkpoint kept elsewhere, which the bundle must agree with',
    },
    live: {
      type: 'boolean',
      description:
        "with --verify: also compare the bundle's heads with the API's live ledger (release_manager, audit_reader): the release's chain and the registry chain must still hold the entries the bundle names, and still verify against the live rows",
    },
    subject: {
      type: 'string',
      value: '<name>',
      description: 'with --verify: the subject the bundle must be about (<project>/<name>@<source_ref>)',
    },
    output: {
      type: 'string',
      short: 'o',
      value: '<file.json>',
      description: 'write it here (default: stdout)',
    },
  },
  notes: [
    'The file holds the bundle itself; its sha256 over canonical JSON (RFC 8785) is printed and checked against the one the server computed, so an archived copy can be verified later.',
    "A signed bundle names the registry chain's head at signing time; --verify --live reports a registry chain rewritten or truncated since, and a registry row or a fact of the release changed behind the guards since (the release's live verification). Bundles signed before they named it verify, and say the registry is not covered.",
  ],
  async run(ctx) {
    const verifyFile = flag(ctx, 'verify');
    if (verifyFile !== undefined) return verifyBundle(ctx, verifyFile);
    const output = flag(ctx, 'output');
    if (output !== undefined && output.trim() === '') throw usageError('-o needs a file name');
    const ref = await releaseRef(ctx);
    if (bool(ctx, 'signed')) return signedBundle(ctx, ref, output);
    const data = await graphqlRequest(ctx.api, ReleaseEvidenceBundleDocument, { releaseId: ref.id });
    const b = data.releaseEvidenceBundle;
    if (!b?.bundle) throw new CliError(`no release ${ref.label}`, EXIT.rejected, 'not_found');
    const digest = payloadHash(b.bundle);
    if (b.bundleSha256 && digest !== b.bundleSha256) {
      throw new CliError(
        `the bundle arrived damaged: sha256 ${digest}, the server says ${b.bundleSha256}`,
        EXIT.unavailable,
        'bundle_digest_mismatch',
      );
    }
    const text = `${JSON.stringify(b.bundle, null, 2)}\n`;
    if (!output) {
      // The bundle is the result: JSON either way.
      return { data: b.bundle, lines: [text.trimEnd()] };
    }
    const file = path.resolve(ctx.io.cwd, output);
    try {
      writeFileSync(file, text);
    } catch (err) {
      throw usageError(`cannot write ${output}: ${(err as Error).message}`);
    }
    const bytes = Buffer.byteLength(text);
    return {
      data: { releaseId: ref.id, release: ref.label, file, bytes, sha256: digest },
      lines: [
        `${tick(ctx.paint)} evidence bundle of ${ref.label} written to ${output} (${bytes} bytes)`,
        ctx.paint('grey', `  sha256 (canonical JSON, RFC 8785) ${digest}`),
      ],
    };
  },
};

/** Writes the signed attestation (the DSSE envelope) of the release's bundle. */
async function signedBundle(ctx: Context, ref: { id: string; label: string }, output: string | undefined) {
  const data = await graphqlRequest(ctx.api, SignedEvidenceBundleDocument, { releaseId: ref.id });
  const envelope = data.releaseEvidenceBundle?.envelope;
  if (!envelope) throw new CliError(`no release ${ref.label}`, EXIT.rejected, 'not_found');
  const text = `${JSON.stringify(envelope, null, 2)}\n`;
  if (!output) return { data: envelope, lines: [text.trimEnd()] };
  const file = path.resolve(ctx.io.cwd, output);
  try {
    writeFileSync(file, text);
  } catch (err) {
    throw usageError(`cannot write ${output}: ${(err as Error).message}`);
  }
  return {
    data: { releaseId: ref.id, release: ref.label, file, bytes: Buffer.byteLength(text) },
    lines: [
      `${tick(ctx.paint)} signed evidence bundle of ${ref.label} written to ${output} (DSSE, in-toto Statement v1, SLSA VSA v1)`,
    ],
  };
}

/** The public keys from a file, a URL, or the server's well-known URL. */
async function loadKeys(ctx: Context): Promise<JwkSet> {
  const given = flag(ctx, 'key');
  const url =
    given === undefined
      ? `${ctx.api.apiUrl.replace(/\/+$/, '')}${ATTESTATION_KEYS_PATH}`
      : /^https?:\/\//.test(given)
        ? given
        : undefined;
  let text: string;
  if (url) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(ctx.api.transport.timeoutMs) });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      text = await response.text();
    } catch (err) {
      throw new CliError(
        `cannot fetch the public key from ${url}: ${(err as Error).message}`,
        EXIT.unavailable,
        'key_unavailable',
        {
          hint: 'give the key with --key <file>',
        },
      );
    }
  } else {
    try {
      text = readFileSync(path.resolve(ctx.io.cwd, given!), 'utf8');
    } catch (err) {
      throw usageError(`cannot read the key ${given}: ${(err as Error).message}`);
    }
  }
  try {
    return parsePublicKeys(text);
  } catch (err) {
    throw usageError(`the key ${given ?? url} is not usable: ${(err as Error).message}`);
  }
}

async function verifyBundle(ctx: Context, file: string) {
  if (file.trim() === '') throw usageError('--verify needs a file name');
  const doc = readJsonFile(ctx.io.cwd, file, 'bundle');
  const keys = await loadKeys(ctx);
  const checkpointFile = flag(ctx, 'checkpoint');
  const saved = checkpointFile ? readJsonFile(ctx.io.cwd, checkpointFile, 'checkpoint') : undefined;
  // The checkpoint itself, or its signed copy (ledger checkpoint -o writes both).
  const checkpoint = (
    saved && typeof saved === 'object' && 'payload' in saved
      ? JSON.parse(Buffer.from(String((saved as { payload: unknown }).payload), 'base64').toString('utf8'))
      : saved
  ) as Checkpoint | undefined;
  const result = verifySignedBundle(doc, keys, { subject: flag(ctx, 'subject'), checkpoint });
  const live = bool(ctx, 'live');
  let comparison: { ok: boolean; compared: number; verifies: boolean } | undefined;
  if (live && result.ok && result.statement) {
    // The comparison is judged by the database (ops.compare_ledger_checkpoint) over the bundle's
    // heads; only a bundle that verifies offline is compared.
    const data = await graphqlRequest(ctx.api, LedgerCheckpointComparisonDocument, {
      checkpoint: liveHeads(result.statement),
    });
    const c = data.ledgerCheckpointComparison;
    if (!c) throw new CliError('the server returned no comparison', EXIT.unavailable, 'server_error');
    const findings = (c.findings ?? []).map((f) => ({
      chainId: f.chainId ?? '',
      seq: f.seq ?? null,
      kind: f.kind ?? '',
      detail: f.detail ?? '',
    }));
    // And the release's live verification (ops.verify_ledger(release): its chain and the registry
    // chain): a registry row or a fact changed behind the guards after signing, with the chain
    // left as it was, keeps the head matching and is found only there.
    const verified = await graphqlRequest(ctx.api, LedgerVerificationDocument, {
      releaseId: result.statement.predicate.evidenceBundle.release.release_id,
    });
    const v = verified.ledgerVerification;
    if (!v) throw new CliError('the server returned no verification', EXIT.unavailable, 'server_error');
    const unverified = (v.findings ?? []).map((f) => ({
      chainId: f.chainId ?? '',
      seq: f.seq ?? null,
      kind: f.kind ?? '',
      detail: f.detail ?? '',
    }));
    result.checks.push(...liveChecks(result.statement, { ok: c.ok ?? false, findings }, unverified));
    result.ok = result.checks.every((x) => x.ok);
    comparison = { ok: c.ok ?? false, compared: c.compared ?? 0, verifies: v.ok ?? false };
  }
  const p = ctx.paint;
  const predicate = result.statement?.predicate;
  const uncovered = result.statement !== undefined && result.registryCovered === false;
  return {
    data: {
      ok: result.ok,
      checks: result.checks,
      keyId: result.keyId,
      subject: result.statement?.subject,
      verificationResult: predicate?.verificationResult,
      ledger: predicate
        ? predicate.ledger && typeof predicate.ledger === 'object'
          ? { chainId: predicate.ledger.chain_id, seq: predicate.ledger.seq, hash: predicate.ledger.hash }
          : null
        : undefined,
      registry: predicate
        ? predicate.registry
          ? {
              chainId: predicate.registry.chain_id,
              seq: predicate.registry.seq,
              hash: predicate.registry.hash,
            }
          : null
        : undefined,
      registryCovered: result.statement ? result.registryCovered : undefined,
      live: live ? (comparison ?? null) : undefined,
    },
    exitCode: result.ok ? EXIT.ok : EXIT.rejected,
    lines: [
      ...result.checks.map((c) => `${c.ok ? tick(p) : cross(p)} ${c.name.padEnd(13)} ${c.detail}`),
      ...(live && !comparison && !result.ok
        ? [p('grey', '  not compared with the live ledger: the bundle does not verify offline')]
        : []),
      '',
      result.ok
        ? `${tick(p)} ${file} verifies${live ? ' against the live ledger' : ''}${uncovered ? ' (the registry is not covered: the bundle names no registry chain head)' : ''}`
        : `${cross(p)} ${file} does not verify`,
    ],
  };
}

export const reportCommands: Command[] = [timeline, bundle];
