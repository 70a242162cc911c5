// The tamper-evident ledger over GraphQL: verification of one release's chain or of all of them
// (ops.verify_ledger), checkpoints over every chain head (ops.ledger_checkpoint) and their
// comparison (ops.compare_ledger_checkpoint), and the evidence bundle's signed attestation (an
// in-toto Statement built by ops.release_attestation, in a DSSE envelope signed here with the
// key from configuration). Every judgement is made in SQL; this file shapes and signs.
import { IN_TOTO_PAYLOAD_TYPE } from '../attestation/dsse.js';
import { anyOf, LEDGER_FUNCTION_CALLERS } from '../auth/access.js';
import { builder } from '../builder.js';
import type { Context } from '../context.js';
import { BaseError, fromDatabaseError } from '../errors.js';
import { uuidArg } from './ids.js';
import { EvidenceBundleRef } from './reports/evidence-bundle.js';
import { JSONScalar } from './scalars.js';

/** The payload type of a signed ledger checkpoint. */
export const CHECKPOINT_PAYLOAD_TYPE = 'application/vnd.ops.ledger-checkpoint+json';

interface FindingRow {
  chain_id: string;
  release_id: string | null;
  seq: number | null;
  fact_table: string | null;
  row_id: string | null;
  kind: string;
  detail: string;
}

interface VerificationRow {
  ok: boolean;
  release_id: string | null;
  chains: number;
  entries: number;
  head: { seq: number; hash: string } | null;
  findings: FindingRow[];
}

interface ComparisonRow {
  ok: boolean;
  compared: number;
  findings: FindingRow[];
}

class AttestationUnavailableError extends BaseError {
  override readonly code = 'ATTESTATION_UNAVAILABLE';
  constructor() {
    super('no attestation key is configured (OPS_ATTESTATION_KEY): nothing can be signed');
    this.name = 'AttestationUnavailableError';
  }
}

async function scalar<T>(ctx: Context, sql: string, params: unknown[]): Promise<T> {
  try {
    return await ctx.read(async (c) => (await c.query<{ v: T }>(sql, params)).rows[0]!.v);
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

const LedgerFinding = builder.objectRef<FindingRow>('LedgerFinding').implement({
  description:
    'Where the ledger and the facts disagree: the chain, the entry (seq; null for a fact with no entry), the fact (table and row id), and what is wrong.',
  fields: (t) => ({
    chainId: t.exposeID('chain_id', {
      description:
        "The release id; the nil UUID for the global chain; 00000000-0000-0000-0000-000000000001 for the registry chain (the ledger's registry of fact tables and their release scope arms).",
    }),
    releaseId: t.exposeID('release_id', { nullable: true }),
    seq: t.exposeInt('seq', { nullable: true }),
    table: t.exposeString('fact_table', { nullable: true }),
    rowId: t.exposeID('row_id', { nullable: true }),
    kind: t.exposeString('kind', {
      description:
        'content_changed, row_missing, unrecorded, link_broken, order_swapped; from a checkpoint: rewritten, entries_missing, chain_missing.',
    }),
    detail: t.exposeString('detail'),
  }),
});

const LedgerVerification = builder.objectRef<VerificationRow>('LedgerVerification').implement({
  description:
    "The ledger checked against the live facts (ops.verify_ledger): each chain's entries re-hashed and re-linked, each fact's latest entry compared with its row, and facts with no entry found; the ledger's registry compared with its own chain, for one release too. One finding per chain: its first.",
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    releaseId: t.exposeID('release_id', { nullable: true }),
    chains: t.exposeInt('chains'),
    entries: t.exposeInt('entries'),
    headSeq: t.int({ nullable: true, resolve: (v) => v.head?.seq ?? null }),
    headHash: t.string({ nullable: true, resolve: (v) => v.head?.hash ?? null }),
    findings: t.field({ type: [LedgerFinding], resolve: (v) => v.findings }),
  }),
});

const LedgerCheckpointComparison = builder.objectRef<ComparisonRow>('LedgerCheckpointComparison').implement({
  description:
    'A checkpoint compared with the ledger now (ops.compare_ledger_checkpoint): every chain it names must still hold the entry it recorded as head.',
  fields: (t) => ({
    ok: t.exposeBoolean('ok'),
    compared: t.exposeInt('compared'),
    findings: t.field({ type: [LedgerFinding], resolve: (v) => v.findings }),
  }),
});

interface CheckpointResult {
  checkpoint: { root: string };
  envelope: unknown;
}

const LedgerCheckpoint = builder.objectRef<CheckpointResult>('LedgerCheckpoint').implement({
  description:
    'Every chain head now and their root (ops.ledger_checkpoint). Keep it outside the database; compare it later to detect a chain rewritten after it.',
  fields: (t) => ({
    checkpoint: t.field({ type: JSONScalar, resolve: (c) => c.checkpoint }),
    root: t.string({ resolve: (c) => c.checkpoint.root }),
    envelope: t.field({
      type: JSONScalar,
      nullable: true,
      description: `The checkpoint in a DSSE envelope (payloadType ${CHECKPOINT_PAYLOAD_TYPE}) signed with the attestation key; null when none is configured.`,
      resolve: (c) => c.envelope,
    }),
  }),
});

builder.queryField('ledgerVerification', (t) =>
  t.withAuth(anyOf(LEDGER_FUNCTION_CALLERS['verify_ledger(uuid)'])).field({
    type: LedgerVerification,
    description: "Verifies one release's chain, or every chain (the global one included) without releaseId.",
    args: { releaseId: t.arg.id({ required: false }) },
    resolve: (_r, args, ctx) =>
      args.releaseId == null
        ? scalar<VerificationRow>(ctx, 'select ops.verify_ledger() as v', [])
        : scalar<VerificationRow>(ctx, 'select ops.verify_ledger($1) as v', [
            uuidArg(args.releaseId, 'releaseId'),
          ]),
  }),
);

builder.queryField('ledgerCheckpoint', (t) =>
  t.withAuth(anyOf(LEDGER_FUNCTION_CALLERS['ledger_checkpoint()'])).field({
    type: LedgerCheckpoint,
    resolve: async (_r, _args, ctx) => {
      const checkpoint = await scalar<{ root: string }>(ctx, 'select ops.ledger_checkpoint() as v', []);
      const envelope = ctx.attestation?.sign(
        CHECKPOINT_PAYLOAD_TYPE,
        Buffer.from(JSON.stringify(checkpoint)),
      );
      return { checkpoint, envelope: envelope ?? null };
    },
  }),
);

builder.queryField('ledgerCheckpointComparison', (t) =>
  t.withAuth(anyOf(LEDGER_FUNCTION_CALLERS['compare_ledger_checkpoint(jsonb)'])).field({
    type: LedgerCheckpointComparison,
    description: 'Compares a checkpoint taken earlier (ledgerCheckpoint.checkpoint) with the ledger now.',
    args: { checkpoint: t.arg({ type: JSONScalar, required: true }) },
    resolve: (_r, args, ctx) =>
      scalar<ComparisonRow>(ctx, 'select ops.compare_ledger_checkpoint($1::jsonb) as v', [
        JSON.stringify(args.checkpoint),
      ]),
  }),
);

builder.objectField(EvidenceBundleRef, 'envelope', (t) =>
  t.withAuth(anyOf(LEDGER_FUNCTION_CALLERS['release_attestation(uuid, text)'])).field({
    type: JSONScalar,
    description: `The bundle as a signed attestation: an in-toto Statement v1 (subject: the release's revision; predicate: a SLSA Verification Summary v1 with the gate decisions, their evidence and digests, the policy digest, the ledger anchor and the registry chain's head at signing time), in a DSSE envelope (payloadType ${IN_TOTO_PAYLOAD_TYPE}) signed with Ed25519; the public key is at /.well-known/ops-attestation-keys.json.`,
    resolve: async (b, _args, ctx) => {
      const signer = ctx.attestation;
      if (!signer) throw new AttestationUnavailableError();
      const statement = await scalar<unknown>(ctx, 'select ops.release_attestation($1, $2) as v', [
        b.releaseId,
        `urn:ops-release-gates:verifier:${signer.keyId}`,
      ]);
      return signer.sign(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement), 'utf8'));
    },
  }),
);
