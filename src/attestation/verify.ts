// Offline verification of a signed evidence bundle (ops-gates bundle --verify): the DSSE
// signature with the public key alone, the in-toto Statement and its subject, the ledger anchor —
// the release's chain as the bundle carries it, re-hashed and re-linked from its first entry to the
// head the predicate names, and, given a checkpoint kept elsewhere, the chain's entry at the
// checkpoint's head — and the shape of the registry chain's head the bundle names
// (20261207600000), compared with the checkpoint's registry head when both name the same seq.
// Members of the wrong type in a crafted bundle or checkpoint are faults, never exceptions. The comparison with a live ledger (--live) is judged by
// ops.compare_ledger_checkpoint over the bundle's heads (liveHeads); liveChecks words its findings.
// The hashes are those of ops.ledger_entry_hash (20261129004000).
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
/** ops.ledger_registry_chain(): the chain recording the ledger's registry (20261207100000). */
export const REGISTRY_CHAIN = '00000000-0000-0000-0000-000000000001';

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

/** The registry chain's head at signing time (predicate.registry, ops.ledger_registry_head). */
export interface RegistryHead {
  chain_id: string;
  seq: number;
  hash: string;
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
    /** Absent from bundles signed before 20261207600000. */
    registry?: RegistryHead;
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
  name:
    | 'signature'
    | 'statement'
    | 'subject'
    | 'ledger'
    | 'registry'
    | 'checkpoint'
    | 'live-ledger'
    | 'live-registry';
  ok: boolean;
  detail: string;
}

export interface BundleVerification {
  ok: boolean;
  checks: Check[];
  statement?: Statement;
  keyId?: string;
  /** Whether the bundle names the registry chain's head (false for bundles signed before it did). */
  registryCovered?: boolean;
}

/** What ops.compare_ledger_checkpoint returns (ledgerCheckpointComparison), as far as liveChecks reads it. */
export interface LiveComparison {
  ok: boolean;
  findings: { chainId: string; seq: number | null; kind: string; detail: string }[];
}

/** The line saying a bundle signed before bundles carried the registry chain's head is not covered. */
export const REGISTRY_NOT_COVERED =
  "not covered: the bundle carries no registry chain head (it was signed before bundles did), so what the release's verification reads is not pinned by it";

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
  if (!anchor || typeof anchor !== 'object' || !Array.isArray(anchor.entries))
    return 'the predicate has no ledger anchor';
  let prev = GENESIS_HASH;
  for (const [i, e] of anchor.entries.entries()) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) return `entry ${i + 1} is not an object`;
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

/** Whether a value is a plain JSON object whose every member is a string (a subject's digest set). */
function isStringRecord(value: unknown): value is Record<string, string> {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

/** The registry head's first fault (its shape: the registry chain, a seq of 1 or more, a sha256), or null. */
export function registryHeadFault(head: unknown): string | null {
  if (head === null || typeof head !== 'object' || Array.isArray(head))
    return 'the registry head is not an object {chain_id, seq, hash}';
  const h = head as Record<string, unknown>;
  if (h.chain_id !== REGISTRY_CHAIN)
    return `the registry head names chain ${String(h.chain_id)}, not the registry chain`;
  if (typeof h.seq !== 'number' || !Number.isSafeInteger(h.seq) || h.seq < 1)
    return `the registry head's seq ${JSON.stringify(h.seq)} is not a whole number of 1 or more`;
  if (typeof h.hash !== 'string' || !/^[0-9a-f]{64}$/.test(h.hash))
    return "the registry head's hash is not a sha256 in hex";
  return null;
}

/**
 * Verifies a signed evidence bundle with public keys alone. `subject`, when given, must be the
 * statement's subject name; `checkpoint`, when given, must agree with the chain the bundle
 * carries wherever both cover the same seq, and with the bundle's registry head when both name
 * the same seq of the registry chain. Never throws for a malformed bundle or checkpoint: each
 * fault is a failed check.
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
      : !isStringRecord(subject.digest)
        ? "the subject's digest is not an object of strings"
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
  const registry = statement.predicate.registry;
  const registryCovered = registry !== undefined;
  const registryFault = registryCovered ? registryHeadFault(registry) : null;
  checks.push({
    name: 'registry',
    ok: registryFault === null,
    detail:
      registryFault ??
      (registryCovered
        ? `registry chain head at signing: seq ${registry.seq}, ${registry.hash} (not compared with the live ledger: --live does that)`
        : REGISTRY_NOT_COVERED),
  });
  if (options.checkpoint) {
    const cp = options.checkpoint as Partial<Checkpoint> | null;
    let fault: string | null = null;
    let detail = '';
    if (
      cp === null ||
      typeof cp !== 'object' ||
      cp.format !== 'ops.ledger-checkpoint/v1' ||
      !Array.isArray(cp.heads) ||
      !cp.heads.every((h) => h !== null && typeof h === 'object' && !Array.isArray(h))
    )
      fault = 'not a ledger checkpoint';
    else if (checkpointRoot(cp.heads) !== cp.root) fault = "the checkpoint's root does not match its heads";
    else if (chainFault !== null) fault = 'not compared: the bundle carries no valid ledger anchor';
    else {
      const head = cp.heads.find((h) => h.chain_id === anchor.chain_id);
      if (!head) detail = 'the checkpoint predates this chain';
      else if (head.seq > anchor.entries.length)
        detail = `the checkpoint (seq ${head.seq}) is newer than the bundle`;
      else if (anchor.entries[head.seq - 1]?.entry_hash !== head.hash)
        fault = `the chain's entry ${head.seq} differs from the checkpoint's head: the chain was rewritten`;
      else detail = `entry ${head.seq} matches the checkpoint's head`;
      // The registry chain's head the bundle names, against the checkpoint's head of that chain:
      // both name one entry of the registry chain when their seqs are equal, so another hash there
      // means the registry chain was rewritten between the two (whichever was taken first). A
      // bundle carries no registry entries, so heads at different seqs are not comparable offline
      // (--live compares the bundle's head with the live chain).
      const reg = cp.heads.find((h) => h.chain_id === REGISTRY_CHAIN);
      if (fault === null && registryCovered && registryFault === null && reg) {
        if (reg.seq === registry!.seq && reg.hash !== registry!.hash)
          fault = `the registry chain's entry ${reg.seq} differs from the checkpoint's head: the registry chain was rewritten`;
        else if (reg.seq === registry!.seq)
          detail += `; the registry chain's entry ${reg.seq} matches the checkpoint's head`;
      }
    }
    checks.push({ name: 'checkpoint', ok: fault === null, detail: fault ?? detail });
  }
  return { ...done(statement, keyId), registryCovered };
}

/**
 * The heads a verified statement names, as a ledger checkpoint (ops.ledger-checkpoint/v1, root
 * included) for ops.compare_ledger_checkpoint: the release's chain at the anchor's head (when it
 * has entries) and, when the bundle carries it, the registry chain at its head.
 */
export function liveHeads(statement: Statement): Checkpoint {
  const heads: Checkpoint['heads'] = [];
  const anchor = statement.predicate.ledger;
  if (anchor.seq >= 1) heads.push({ chain_id: anchor.chain_id, seq: anchor.seq, hash: anchor.hash });
  const registry = statement.predicate.registry;
  if (registry) heads.push({ chain_id: registry.chain_id, seq: registry.seq, hash: registry.hash });
  return { format: 'ops.ledger-checkpoint/v1', heads, root: checkpointRoot(heads) };
}

/** One finding of the comparison, in the words of a bundle compared with the live ledger. */
function liveFault(chain: string, f: LiveComparison['findings'][number]): string {
  switch (f.kind) {
    case 'rewritten':
      return `${chain} was rewritten after the bundle was signed: its entry ${f.seq} has another hash now`;
    case 'entries_missing':
      return `${chain} was truncated: it no longer reaches seq ${f.seq}, the bundle's head`;
    case 'chain_missing':
      return `${chain} is gone from the live ledger`;
    default:
      return `${chain}: ${f.kind}: ${f.detail}`;
  }
}

/**
 * The checks of a live comparison (ops.compare_ledger_checkpoint over liveHeads(statement)) and of
 * the live verification of the release (ops.verify_ledger(release): its chain and the registry
 * chain, first finding of each): live-ledger for the release's chain, live-registry for the
 * registry chain — failed, naming the chain, when the live chain no longer holds the bundle's head
 * there (rewritten, truncated or gone), or when the live ledger no longer verifies on that chain
 * (a registry row or a fact changed behind the guards after signing, without the chain being
 * rewritten: the head still matches, the row no longer does). For a bundle without a registry
 * head, live-registry passes and says it was not covered.
 */
export function liveChecks(
  statement: Statement,
  comparison: LiveComparison,
  verification: LiveComparison['findings'] = [],
): Check[] {
  const anchor = statement.predicate.ledger;
  const registry = statement.predicate.registry;
  const finding = (chainId: string) => comparison.findings.find((f) => f.chainId === chainId);
  const unverified = (chainId: string) => verification.find((f) => f.chainId === chainId);
  const release = finding(anchor.chain_id);
  const releaseUnverified = unverified(anchor.chain_id);
  const checks: Check[] = [
    {
      name: 'live-ledger',
      ok: release === undefined && releaseUnverified === undefined,
      detail: release
        ? liveFault(`the release's chain (${anchor.chain_id})`, release)
        : releaseUnverified
          ? unverifiedFault(`the release's chain (${anchor.chain_id})`, releaseUnverified)
          : anchor.seq >= 1
            ? `the live release chain still holds entry ${anchor.seq} with the bundle's hash`
            : 'the bundle names no entry of the release chain to compare',
    },
  ];
  const reg = registry ? finding(registry.chain_id) : undefined;
  const regUnverified = registry ? unverified(registry.chain_id) : undefined;
  checks.push(
    registry
      ? {
          name: 'live-registry',
          ok: reg === undefined && regUnverified === undefined,
          detail: reg
            ? liveFault(`the registry chain (${REGISTRY_CHAIN})`, reg)
            : regUnverified
              ? unverifiedFault(`the registry chain (${REGISTRY_CHAIN})`, regUnverified)
              : `the live registry chain still holds entry ${registry.seq} with the bundle's hash`,
        }
      : { name: 'live-registry', ok: true, detail: `${REGISTRY_NOT_COVERED}; not compared` },
  );
  // Anything else the comparison found (a chain the bundle does not name) is reported, never dropped.
  for (const f of comparison.findings) {
    if (f !== release && f !== reg)
      checks.push({ name: 'live-ledger', ok: false, detail: liveFault(`chain ${f.chainId}`, f) });
  }
  // So is a finding of the live verification on another chain (a fact of the release recorded
  // only on another chain, changed there), and one of the registry chain for an uncovered bundle.
  for (const f of verification) {
    if (f !== releaseUnverified && f !== regUnverified)
      checks.push({ name: 'live-ledger', ok: false, detail: unverifiedFault(`chain ${f.chainId}`, f) });
  }
  if (!comparison.ok && comparison.findings.length === 0)
    checks.push({ name: 'live-ledger', ok: false, detail: 'the comparison failed without a finding' });
  return checks;
}

/** One finding of the live verification, in the words of a bundle compared with the live ledger. */
function unverifiedFault(chain: string, f: LiveComparison['findings'][number]): string {
  return `${chain} no longer verifies against the live rows${f.seq === null ? '' : ` (entry ${f.seq})`}: ${f.kind}: ${f.detail}`;
}
