// The tamper-evident record from the command line: `verify` (the ledger against the live facts,
// ledgerVerification), `ledger checkpoint` (export every chain head, or compare an exported
// checkpoint with the ledger now), and `verify-evidence` (re-hash local copies of a bundle's
// evidence files). The signed bundle itself is `bundle --signed` / `bundle --verify`
// (commands/reports.ts).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type EvidenceRef, REGISTRY_CHAIN, type Statement } from '../../attestation/verify.js';
import {
  LedgerCheckpointComparisonDocument,
  LedgerCheckpointDocument,
  type LedgerFindingFieldsFragment,
  LedgerVerificationDocument,
} from '../../gql/graphql.js';
import { type Command, flag, resolveRelease } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';
import { graphqlRequest } from '../graphql.js';
import { cross, type Paint, table, tick } from '../output.js';
import { fileSha256 } from './events/common.js';

/**
 * The chains of no release, by name: the global chain (ops.ledger_global_chain()) and the registry
 * chain (ops.ledger_registry_chain(), 20261207100000), whose findings carry no release id.
 */
const RELEASELESS_CHAINS: Readonly<Record<string, string>> = {
  '00000000-0000-0000-0000-000000000000': 'global',
  [REGISTRY_CHAIN]: 'registry',
};

function findingLines(paint: Paint, findings: readonly LedgerFindingFieldsFragment[] | null): string[] {
  return table(
    ['Chain', 'Seq', 'Table', 'Row', 'Kind', 'What'],
    (findings ?? []).map((f) => [
      f.releaseId ?? RELEASELESS_CHAINS[f.chainId ?? ''] ?? f.chainId ?? '-',
      f.seq == null ? '-' : String(f.seq),
      f.table ?? '-',
      f.rowId ?? '-',
      paint('red', f.kind ?? '?'),
      f.detail ?? '',
    ]),
  );
}

/** Reads a JSON file named on the command line, or a usage error naming it. */
export function readJsonFile(cwd: string, file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    throw usageError(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw usageError(`${what} ${file} is not JSON: ${(err as Error).message}`);
  }
}

const verify: Command = {
  path: ['verify'],
  summary: 'Verify the tamper-evident ledger against the live facts (release_manager, audit_reader)',
  usage: '[--release <release>]',
  maxPositionals: 0,
  options: {
    release: {
      type: 'string',
      value: '<release>',
      description: "only this release's chain (a UUID or project/name); default: every chain",
    },
  },
  notes: [
    "Each chain's entries are re-hashed and re-linked, each fact's latest entry is compared with its row, and facts with no entry are found; the ledger's registry is compared with its own chain (shown as 'registry'), with --release too. The first finding of each chain is reported with its table, row and seq.",
    'It exits 0 when the ledger verifies and 1 at a finding.',
  ],
  async run(ctx) {
    const given = flag(ctx, 'release');
    const ref = given ? await resolveRelease(ctx, given) : undefined;
    const data = await graphqlRequest(ctx.api, LedgerVerificationDocument, { releaseId: ref?.id ?? null });
    const v = data.ledgerVerification;
    if (!v) throw new CliError('the server returned no verification', EXIT.unavailable, 'server_error');
    const scope = ref ? `the chain of ${ref.label}` : `${v.chains} chains`;
    const p = ctx.paint;
    if (v.ok) {
      return {
        data: v,
        lines: [
          `${tick(p)} the ledger verifies: ${scope}, ${v.entries} entries${v.headHash ? `, head ${v.headHash}` : ''}`,
        ],
      };
    }
    return {
      data: v,
      exitCode: EXIT.rejected,
      lines: [
        `${cross(p)} the ledger does not match the facts (${scope}, ${v.entries} entries):`,
        '',
        ...findingLines(p, v.findings),
      ],
    };
  },
};

const checkpoint: Command = {
  path: ['ledger', 'checkpoint'],
  summary: 'Export a checkpoint over every chain head, or compare one with the ledger now',
  usage: '[-o <file.json>] | --compare <file.json>',
  maxPositionals: 0,
  options: {
    output: {
      type: 'string',
      short: 'o',
      value: '<file.json>',
      description: 'write it here (default: stdout)',
    },
    compare: {
      type: 'string',
      value: '<file.json>',
      description: 'a checkpoint exported earlier: report every chain rewritten or shortened since',
    },
  },
  notes: [
    'Keep checkpoints outside the database (another system, a signed commit, a ticket): a chain rewritten consistently by someone with the database password still verifies on its own, but no longer matches a checkpoint taken before.',
    'With --compare, exit 0 when every chain still holds the checkpoint, 1 otherwise.',
  ],
  async run(ctx) {
    const compareFile = flag(ctx, 'compare');
    const p = ctx.paint;
    if (compareFile !== undefined) {
      const saved = readJsonFile(ctx.io.cwd, compareFile, 'checkpoint');
      // A signed checkpoint (the envelope) or the checkpoint itself.
      const doc =
        saved && typeof saved === 'object' && 'payload' in saved && 'payloadType' in saved
          ? JSON.parse(Buffer.from(String((saved as { payload: string }).payload), 'base64').toString('utf8'))
          : (saved as Record<string, unknown>)?.checkpoint && typeof saved === 'object'
            ? (saved as { checkpoint: unknown }).checkpoint
            : saved;
      const data = await graphqlRequest(ctx.api, LedgerCheckpointComparisonDocument, { checkpoint: doc });
      const c = data.ledgerCheckpointComparison;
      if (!c) throw new CliError('the server returned no comparison', EXIT.unavailable, 'server_error');
      if (c.ok) {
        return {
          data: c,
          lines: [`${tick(p)} every one of the ${c.compared} chains of the checkpoint still holds it`],
        };
      }
      return {
        data: c,
        exitCode: EXIT.rejected,
        lines: [
          `${cross(p)} the ledger no longer matches the checkpoint (${c.findings?.length ?? 0} of ${c.compared} chains):`,
          '',
          ...findingLines(p, c.findings),
        ],
      };
    }
    const output = flag(ctx, 'output');
    if (output !== undefined && output.trim() === '') throw usageError('-o needs a file name');
    const data = await graphqlRequest(ctx.api, LedgerCheckpointDocument, {});
    const cp = data.ledgerCheckpoint;
    if (!cp) throw new CliError('the server returned no checkpoint', EXIT.unavailable, 'server_error');
    const text = `${JSON.stringify(cp.checkpoint, null, 2)}\n`;
    if (!output) return { data: cp.checkpoint, lines: [text.trimEnd()] };
    const file = path.resolve(ctx.io.cwd, output);
    try {
      writeFileSync(file, text);
    } catch (err) {
      throw usageError(`cannot write ${output}: ${(err as Error).message}`);
    }
    if (cp.envelope) writeFileSync(`${file}.dsse.json`, `${JSON.stringify(cp.envelope, null, 2)}\n`);
    return {
      data: { file, root: cp.root, signed: cp.envelope ? `${file}.dsse.json` : null },
      lines: [
        `${tick(p)} checkpoint written to ${output}${cp.envelope ? ` (signed copy ${output}.dsse.json)` : ''}`,
        p('grey', `  root ${cp.root}`),
      ],
    };
  },
};

/** The evidence list of a signed bundle (DSSE envelope) or of a plain bundle document. */
export function bundleEvidence(doc: unknown): EvidenceRef[] {
  const d = doc as Record<string, unknown> | null;
  if (d && typeof d.payload === 'string' && typeof d.payloadType === 'string') {
    const statement = JSON.parse(Buffer.from(d.payload, 'base64').toString('utf8')) as Statement;
    return statement.predicate?.evidenceBundle?.evidence ?? [];
  }
  if (d && Array.isArray(d.evidence)) return d.evidence as EvidenceRef[];
  throw usageError('not an evidence bundle: expected a signed bundle (bundle --signed) or a bundle document');
}

/** Where a local copy of an artifact would be: the last segment of its URL's path. */
function localName(url: string): string {
  try {
    return decodeURIComponent(path.posix.basename(new URL(url).pathname));
  } catch {
    return path.posix.basename(url);
  }
}

const verifyEvidence: Command = {
  path: ['verify-evidence'],
  summary: "Re-hash local copies of a bundle's evidence files and report any that differ",
  usage: '<bundle.json> <dir>',
  maxPositionals: 2,
  options: {},
  notes: [
    'Each artifact with a sha256 is looked for in <dir> under the last segment of its URL (e.g. file:///ci/out/junit.xml → <dir>/junit.xml). Exit 0 when every copy found matches, 1 when one differs; artifacts with no local copy are listed.',
    'Works offline; check the bundle itself first with `ops-gates bundle --verify`.',
  ],
  async run(ctx) {
    const [bundleFile, dir] = ctx.positionals;
    if (!bundleFile || !dir) throw usageError('give the bundle file and the folder of local copies');
    try {
      if (!statSync(path.resolve(ctx.io.cwd, dir)).isDirectory()) throw new Error('not a folder');
    } catch (err) {
      throw usageError(`${dir}: ${(err as Error).message}`);
    }
    const evidence = bundleEvidence(readJsonFile(ctx.io.cwd, bundleFile, 'bundle')).filter((e) => e.sha256);
    const results: {
      artifactId: string;
      url: string;
      file: string;
      expected: string;
      actual: string | null;
      status: string;
    }[] = [];
    for (const e of evidence) {
      const file = path.resolve(ctx.io.cwd, dir, localName(e.artifact_url));
      let actual: string | null = null;
      try {
        actual = await fileSha256(file);
      } catch {
        // no local copy
      }
      results.push({
        artifactId: e.artifact_id,
        url: e.artifact_url,
        file,
        expected: e.sha256!,
        actual,
        status: actual === null ? 'missing' : actual === e.sha256 ? 'match' : 'mismatch',
      });
    }
    const mismatches = results.filter((r) => r.status === 'mismatch');
    const p = ctx.paint;
    return {
      data: { ok: mismatches.length === 0, results },
      exitCode: mismatches.length ? EXIT.rejected : EXIT.ok,
      lines: [
        ...table(
          ['', 'Artifact', 'Local copy', 'sha256 in bundle', 'sha256 of copy'],
          results.map((r) => [
            r.status === 'match' ? tick(p) : r.status === 'mismatch' ? cross(p) : p('grey', '?'),
            r.url,
            r.status === 'missing' ? p('grey', 'none') : path.relative(ctx.io.cwd, r.file) || r.file,
            r.expected,
            r.actual ?? '-',
          ]),
        ),
        '',
        mismatches.length
          ? `${cross(p)} ${mismatches.length} of ${results.length} local copies differ from the bundle`
          : `${tick(p)} ${results.filter((r) => r.status === 'match').length} of ${results.length} artifacts have a matching local copy`,
      ],
    };
  },
};

export const ledgerCommands: Command[] = [verify, checkpoint, verifyEvidence];
