// Offline verification of a signed evidence bundle (ops-gates bundle --verify): the DSSE
// signature with the public key alone, the in-toto Statement and its subject, and the ledger
// anchor — the release's chain as the bundle carries it, re-hashed and re-linked from its first
// entry to the head the predicate names, and, given a checkpoint kept elsewhere, the chain's entry
// at the checkpoint's head. The hashes are those of ops.ledger_entry_hash (20261129004000).
import { createHash, createPublicKey } from 'node:crypto';
import type { JWK } from 'jose';
import {
  type DsseEnvelope,
  ed25519Thumbprint,
  IN_TOTO_PAYLOAD_TYPE,
  IN_TOTO_STATEMENT_V1,
  type JwkSet,
  parseEnvelope,
  SLSA_VSA_V1,
  verifyEnvelope,
} from './dsse.js';

export const GENESIS_HASH = '0'.repeat(64);
export const GLOBAL_CHAIN = '00000000-0000-0000-0000-000000000000';

export interface LedgerEntry {
  seq: number;
  fact_table: string;
  row_id: string;
  operation: string;
  content_hash: string;
  prev_hash: string;
  entry_hash: string;
}

export interface LedgerAnchor {
  chain_id: string;
  seq: number;
  hash: string;
  entries: LedgerEntry[];
}

export interface EvidenceRef {
  artifact_id: string;
  artifact_type: string;
  artifact_url: string;
  sha256: string | null;
}

export interface Statement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: {
    verificationResult: string;
    verifiedLevels: string[];
    resourceUri: string;
    timeVerified: string;
    gates: { gate_code: string; status: string }[];
    ledger: LedgerAnchor;
    evidenceBundle: {
      release: { release_id: string; project: string; release_name: string; source_ref: string | null };
      evidence: EvidenceRef[];
    };
  };
}

export interface Checkpoint {
  format: string;
  root: string;
  heads: { chain_id: string; seq: number; hash: string }[];
}

export interface Check {
  name: 'signature' | 'statement' | 'subject' | 'ledger' | 'checkpoint';
  ok: boolean;
  detail: string;
}

export interface BundleVerification {
  ok: boolean;
  checks: Check[];
  statement?: Statement;
  keyId?: string;
}

/** ops.ledger_entry_hash: sha256 of "chain_id|seq|fact_table|row_id|operation|content_hash|prev_hash". */
export function ledgerEntryHash(chainId: string, e: Omit<LedgerEntry, 'entry_hash'>): string {
  const line = [
    chainId,
    String(e.seq),
    e.fact_table,
    e.row_id,
    e.operation,
    e.content_hash,
    e.prev_hash,
  ].join('|');
  return createHash('sha256').update(line, 'utf8').digest('hex');
}

/** The root of a checkpoint's heads, as ops.ledger_checkpoint computes it. */
export function checkpointRoot(heads: Checkpoint['heads']): string {
  const lines = [...heads]
    .sort((a, b) => (a.chain_id < b.chain_id ? -1 : a.chain_id > b.chain_id ? 1 : 0))
    .map((h) => `${h.chain_id}:${h.seq}:${h.hash}`);
  return createHash('sha256').update(lines.join('\n'), 'utf8').digest('hex');
}

/** The subject digest ops.release_attestation binds the revision with. */
export function revisionDigest(r: Statement['predicate']['evidenceBundle']['release']): string {
  return createHash('sha256')
    .update([r.release_id, r.project, r.release_name, r.source_ref ?? ''].join('|'), 'utf8')
    .digest('hex');
}

/** A JWK set from a file's or URL's text: a JWK set, one JWK, or an Ed25519 public key in PEM. */
export function parsePublicKeys(text: string): JwkSet {
  const trimmed = text.trim();
  if (trimmed.startsWith('-----BEGIN')) {
    const jwk = createPublicKey(trimmed).export({ format: 'jwk' }) as JWK;
    if (jwk.crv !== 'Ed25519') throw new Error('the public key is not an Ed25519 key');
    return { keys: [{ kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: ed25519Thumbprint(jwk.x!) }] };
  }
  const parsed = JSON.parse(trimmed) as JwkSet | JWK;
  if (Array.isArray((parsed as JwkSet).keys)) return parsed as JwkSet;
  if ((parsed as JWK).kty) return { keys: [parsed as JWK] };
  throw new Error('neither a JWK set, a JWK nor a PEM public key');
}

/** Walks the chain the bundle carries from genesis to the anchor's head; the first fault, or null. */
export function verifyAnchor(anchor: LedgerAnchor): string | null {
  if (!anchor || !Array.isArray(anchor.entries)) return 'the predicate has no ledger anchor';
  let prev = GENESIS_HASH;
  for (const [i, e] of anchor.entries.entries()) {
    if (e.seq !== i + 1) return `entry ${i + 1} is missing (found seq ${e.seq})`;
    if (e.prev_hash !== prev) return `entry ${e.seq} does not link to the entry before it`;
    if (ledgerEntryHash(anchor.chain_id, e) !== e.entry_hash)
      return `entry ${e.seq}'s hash does not match its fields`;
    prev = e.entry_hash;
  }
  if (anchor.seq !== anchor.entries.length)
    return `the anchor names seq ${anchor.seq}, the chain has ${anchor.entries.length} entries`;
  if (anchor.hash !== prev) return "the anchor's hash is not the chain's last entry";
  return null;
}

/**
 * Verifies a signed evidence bundle with public keys alone. `subject`, when given, must be the
 * statement's subject name; `checkpoint`, when given, must agree with the chain the bundle
 * carries wherever both cover the same seq.
 */
export function verifySignedBundle(
  value: unknown,
  keys: JwkSet,
  options: { subject?: string; checkpoint?: Checkpoint } = {},
): BundleVerification {
  const checks: Check[] = [];
  const done = (statement?: Statement, keyId?: string): BundleVerification => ({
    ok: checks.every((c) => c.ok),
    checks,
    statement,
    keyId,
  });
  let envelope: DsseEnvelope;
  let payload: Buffer;
  let keyId: string;
  try {
    envelope = parseEnvelope(value);
    ({ payload, keyId } = verifyEnvelope(envelope, keys));
    checks.push({ name: 'signature', ok: true, detail: `Ed25519 signature by key ${keyId}` });
  } catch (err) {
    checks.push({ name: 'signature', ok: false, detail: (err as Error).message });
    return done();
  }
  let statement: Statement;
  try {
    if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
      throw new Error(`payloadType is ${envelope.payloadType}`);
    statement = JSON.parse(payload.toString('utf8')) as Statement;
    if (statement._type !== IN_TOTO_STATEMENT_V1) throw new Error(`_type is ${statement._type}`);
    if (statement.predicateType !== SLSA_VSA_V1)
      throw new Error(`predicateType is ${statement.predicateType}`);
    if (!statement.predicate?.evidenceBundle?.release) throw new Error('the predicate names no release');
    checks.push({
      name: 'statement',
      ok: true,
      detail: `in-toto Statement v1, SLSA VSA v1: ${statement.predicate.verificationResult} (${statement.predicate.verifiedLevels.join(', ')})`,
    });
  } catch (err) {
    checks.push({
      name: 'statement',
      ok: false,
      detail: `not a verification summary: ${(err as Error).message}`,
    });
    return done(undefined, keyId);
  }
  const release = statement.predicate.evidenceBundle.release;
  const subject = statement.subject?.[0];
  const expectedName = `${release.project}/${release.release_name}@${release.source_ref ?? ''}`;
  const subjectFault =
    statement.subject?.length !== 1 || !subject
      ? 'the statement must have one subject'
      : subject.name !== expectedName
        ? `the subject ${subject.name} is not the release's revision ${expectedName}`
        : subject.digest?.opsRevision !== revisionDigest(release)
          ? "the subject's opsRevision digest does not match the release"
          : options.subject !== undefined && subject.name !== options.subject
            ? `the subject is ${subject.name}, not ${options.subject}`
            : null;
  checks.push({
    name: 'subject',
    ok: subjectFault === null,
    detail:
      subjectFault ??
      `${subject!.name} (${Object.entries(subject!.digest)
        .map(([k, v]) => `${k}:${v.slice(0, 12)}…`)
        .join(', ')})`,
  });
  const anchor = statement.predicate.ledger;
  const anchorFault = verifyAnchor(anchor);
  const chainFault =
    anchorFault ?? (anchor.chain_id !== release.release_id ? "the ledger chain is not the release's" : null);
  checks.push({
    name: 'ledger',
    ok: chainFault === null,
    detail: chainFault ?? `chain ${anchor.chain_id}: ${anchor.seq} entries linked, head ${anchor.hash}`,
  });
  if (options.checkpoint) {
    const cp = options.checkpoint;
    let fault: string | null = null;
    let detail = '';
    if (cp.format !== 'ops.ledger-checkpoint/v1' || !Array.isArray(cp.heads))
      fault = 'not a ledger checkpoint';
    else if (checkpointRoot(cp.heads) !== cp.root) fault = "the checkpoint's root does not match its heads";
    else {
      const head = cp.heads.find((h) => h.chain_id === anchor.chain_id);
      if (!head) detail = 'the checkpoint predates this chain';
      else if (head.seq > (anchor.entries?.length ?? 0))
        detail = `the checkpoint (seq ${head.seq}) is newer than the bundle`;
      else if (anchor.entries[head.seq - 1]?.entry_hash !== head.hash)
        fault = `the chain's entry ${head.seq} differs from the checkpoint's head: the chain was rewritten`;
      else detail = `entry ${head.seq} matches the checkpoint's head`;
    }
    checks.push({ name: 'checkpoint', ok: fault === null, detail: fault ?? detail });
  }
  return done(statement, keyId);
}
