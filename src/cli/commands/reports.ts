// timeline and bundle: the release's decision chain rebuilt from the database alone
// (releaseTimeline, ops.release_timeline) and the evidence bundle an auditor archives
// (releaseEvidenceBundle, ops.release_evidence_bundle). Both need release_manager or audit_reader.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ReleaseEvidenceBundleDocument, ReleaseTimelineDocument } from '../../gql/graphql.js';
import { payloadHash } from '../../ingest/envelope.js';
import { bool, type Command, flag, flags, releaseRef } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { graphqlRequest } from '../graphql.js';
import { table, tick } from '../output.js';

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
  usage: '<release> [-o <file.json>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    output: {
      type: 'string',
      short: 'o',
      value: '<file.json>',
      description: 'write it here (default: stdout)',
    },
  },
  notes: [
    'The file holds the bundle itself; its sha256 over canonical JSON (RFC 8785) is printed and checked against the one the server computed, so an archived copy can be verified later.',
  ],
  async run(ctx) {
    const output = flag(ctx, 'output');
    if (output !== undefined && output.trim() === '') throw usageError('-o needs a file name');
    const ref = await releaseRef(ctx);
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

export const reportCommands: Command[] = [timeline, bundle];
