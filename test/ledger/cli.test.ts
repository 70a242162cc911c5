// The ledger and the signed evidence bundle end to end, through the real server and ops-gates:
// `verify`, `ledger checkpoint` (export and --compare), `bundle --signed` and `bundle --verify`
// offline with the public key alone (a one-byte change fails), and `verify-evidence` re-hashing
// local copies. The DSSE signature is also checked here with PAE and Ed25519 written from the
// DSSE specification, independently of src/attestation.
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type LiveServer, type Person, startServer, token } from '../cli/support.js';
import {
  createRelease,
  passAll,
  promote,
  type Release,
  recordHealthCheck,
  updateDeployment,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { behindTriggers } from './support.js';

let db: TestDatabase;
let server: LiveServer;
let release: Release;
let work: string;
let evidenceFile: string;

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) }, cwd: work };
}
/** No server at all: what an auditor has offline. */
const offline = () => ({ env: { OPS_API_URL: 'http://127.0.0.1:9' }, cwd: work });

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  work = mkdtempSync(path.join(tmpdir(), 'ops-ledger-'));
  release = await createRelease(db, { project: 'ledger-cli', name: 'r-1' });
  await passAll(db, release);
  const d = await promote(db, release.release_id, 'production');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  await recordHealthCheck(db, d.deployment_id, 'pass');
  // A file attached as evidence: the CLI computes its sha256.
  evidenceFile = path.join(work, 'junit.xml');
  writeFileSync(evidenceFile, '<testsuite tests="3" failures="0"/>\n');
  const added = await cli(
    [
      'evidence',
      'add',
      evidenceFile,
      '--release',
      release.release_id,
      '--type',
      'test_result',
      '--gate',
      'G2',
    ],
    await as('qa'),
  );
  expect(added.code, added.stderr).toBe(0);
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('ops-gates verify', () => {
  it('reports a clean ledger, for one release and for all', async () => {
    const one = await cli(['verify', '--release', release.release_id, '--json'], await as('auditor'));
    expect(one.code, one.stderr).toBe(0);
    expect(one.json).toMatchObject({ ok: true, chains: 1, findings: [] });
    const all = await cli(['verify'], await as('rm'));
    expect(all.code).toBe(0);
    expect(all.stdout).toMatch(/the ledger verifies: \d+ chains, \d+ entries/);
  });

  it('locates an edited fact and exits 1; a developer may not verify', async () => {
    const { rows } = await db.admin.query(
      `select approval_id from ops.approvals where release_id = $1 order by created_at limit 1`,
      [release.release_id],
    );
    const id = rows[0].approval_id;
    await behindTriggers(db, (c) =>
      c.query(`update ops.approvals set rationale_text = 'rewritten' where approval_id = $1`, [id]),
    );
    const r = await cli(['verify', '--release', 'ledger-cli/r-1'], await as('auditor'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('the ledger does not match the facts');
    expect(r.stdout).toMatch(new RegExp(`approvals\\s+${id}\\s+content_changed`));
    await behindTriggers(db, (c) =>
      c.query(`update ops.approvals set rationale_text = 'scenario' where approval_id = $1`, [id]),
    );
    expect((await cli(['verify', '--release', release.release_id], await as('auditor'))).code).toBe(0);
    expect((await cli(['verify'], await as('developer'))).code).toBe(3);
  });
});

describe('signed evidence bundle', () => {
  let signedFile: string;
  let keysFile: string;

  beforeAll(async () => {
    signedFile = path.join(work, 'signed.json');
    const r = await cli(['bundle', release.release_id, '--signed', '-o', 'signed.json'], await as('auditor'));
    expect(r.code, r.stderr).toBe(0);
    const keys = await fetch(`${server.url}/.well-known/ops-attestation-keys.json`);
    expect(keys.status).toBe(200);
    keysFile = path.join(work, 'keys.json');
    writeFileSync(keysFile, await keys.text());
  });

  it('is an in-toto Statement v1 with a SLSA VSA predicate in a DSSE envelope, signed with the published key', async () => {
    const envelope = JSON.parse(readFileSync(signedFile, 'utf8'));
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    const payload = Buffer.from(envelope.payload, 'base64');
    const statement = JSON.parse(payload.toString('utf8'));
    expect(statement).toMatchObject({
      _type: 'https://in-toto.io/Statement/v1',
      predicateType: 'https://slsa.dev/verification_summary/v1',
      subject: [{ name: `ledger-cli/r-1@refs/heads/main` }],
      predicate: {
        verificationResult: 'PASSED',
        slsaVersion: '1.0',
        verifiedLevels: [
          'OPS_GATE_G1_PASSED',
          'OPS_GATE_G2_PASSED',
          'OPS_GATE_G3_PASSED',
          'OPS_GATE_G4_PASSED',
        ],
        ledger: { chain_id: release.release_id },
      },
    });
    expect(statement.subject[0].digest.opsRevision).toMatch(/^[0-9a-f]{64}$/);
    expect(statement.predicate.policy.digest.sha256).toMatch(/^[0-9a-f]{64}$/);
    const junit = statement.predicate.inputAttestations.find((a: { uri: string }) =>
      a.uri.endsWith('junit.xml'),
    );
    expect(junit.digest.sha256).toMatch(/^[0-9a-f]{64}$/);
    // The anchor is the chain's head at bundle time.
    const { rows } = await db.admin.query(
      'select head_seq::int, head_hash from ops.ledger_chains where chain_id = $1',
      [release.release_id],
    );
    expect(statement.predicate.ledger).toMatchObject({ seq: rows[0].head_seq, hash: rows[0].head_hash });

    // DSSE v1 by its specification: PAE(type, body) = "DSSEv1" SP len(type) SP type SP len(body) SP body.
    const type = 'application/vnd.in-toto+json';
    const pae = Buffer.concat([Buffer.from(`DSSEv1 ${type.length} ${type} ${payload.length} `), payload]);
    const { keys } = JSON.parse(readFileSync(keysFile, 'utf8'));
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: envelope.signatures[0].keyid });
    const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: keys[0].x }, format: 'jwk' });
    expect(cryptoVerify(null, pae, key, Buffer.from(envelope.signatures[0].sig, 'base64'))).toBe(true);
  });

  it("verifies with sigstore-js's DSSE verifier (@sigstore/verify), given the public key", () => {
    const envelope = JSON.parse(readFileSync(signedFile, 'utf8'));
    const { keys } = JSON.parse(readFileSync(keysFile, 'utf8'));
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: keys[0].x }, format: 'jwk' });
    // A Sigstore bundle (v0.3) that carries only the envelope and names its key: no certificate,
    // no transparency log, no timestamp, so the verifier checks the DSSE signature and nothing else.
    const asBundle = (env: unknown) =>
      bundleFromJSON({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {
          publicKey: { hint: keys[0].kid },
          tlogEntries: [],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        dsseEnvelope: env,
      });
    const trust = toTrustMaterial(
      { mediaType: '', certificateAuthorities: [], timestampAuthorities: [], tlogs: [], ctlogs: [] },
      (hint: string) => {
        if (hint !== keys[0].kid) throw new Error(`unknown key ${hint}`);
        return { publicKey, validFor: () => true };
      },
    );
    const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
    expect(verifier.verify(toSignedEntity(asBundle(envelope)))).toMatchObject({ key: publicKey });
    const payload = Buffer.from(envelope.payload, 'base64');
    payload.writeUInt8(payload.readUInt8(payload.length - 2) ^ 1, payload.length - 2);
    expect(() =>
      verifier.verify(toSignedEntity(asBundle({ ...envelope, payload: payload.toString('base64') }))),
    ).toThrow(/signature/i);
  });

  it('verifies offline with the CLI and the public key alone', async () => {
    const r = await cli(['bundle', '--verify', 'signed.json', '--key', 'keys.json', '--json'], offline());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json.ok).toBe(true);
    expect(r.json.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok])).toEqual([
      ['signature', true],
      ['statement', true],
      ['subject', true],
      ['ledger', true],
      ['registry', true],
    ]);
    const subject = await cli(
      [
        'bundle',
        '--verify',
        'signed.json',
        '--key',
        'keys.json',
        '--subject',
        'ledger-cli/r-2@refs/heads/main',
      ],
      offline(),
    );
    expect(subject.code).toBe(1);
    expect(subject.stdout).toMatch(/✗ subject/);
    // The key from the server's well-known URL, when it is reachable.
    expect((await cli(['bundle', '--verify', 'signed.json'], await as('auditor'))).code).toBe(0);
  });

  it('fails after a one-byte change anywhere in the signed content', async () => {
    const original = readFileSync(signedFile, 'utf8');
    const envelope = JSON.parse(original);
    // One character of the base64 payload, of the signature, and of the payload type.
    const flip = (s: string, at: number) => s.slice(0, at) + (s[at] === 'A' ? 'B' : 'A') + s.slice(at + 1);
    const variants = [
      { ...envelope, payload: flip(envelope.payload, Math.floor(envelope.payload.length / 2)) },
      { ...envelope, payload: flip(envelope.payload, 10) },
      { ...envelope, signatures: [{ ...envelope.signatures[0], sig: flip(envelope.signatures[0].sig, 5) }] },
      { ...envelope, payloadType: 'application/vnd.in-toto+jsoN' },
    ];
    for (const [i, v] of variants.entries()) {
      const file = `tampered-${i}.json`;
      writeFileSync(path.join(work, file), JSON.stringify(v));
      const r = await cli(['bundle', '--verify', file, '--key', 'keys.json', '--json'], offline());
      expect(r.code, `variant ${i}`).toBe(1);
      expect(r.json.checks[0]).toMatchObject({ name: 'signature', ok: false });
    }
    // The bytes of the file itself: one byte of the decoded statement changed and re-encoded.
    const payload = Buffer.from(envelope.payload, 'base64');
    payload[payload.indexOf('PASSED')] = 'F'.charCodeAt(0);
    writeFileSync(
      path.join(work, 'edited.json'),
      JSON.stringify({ ...envelope, payload: payload.toString('base64') }),
    );
    expect((await cli(['bundle', '--verify', 'edited.json', '--key', 'keys.json'], offline())).code).toBe(1);
  });

  it('verify-evidence re-hashes local copies and reports a mismatch', async () => {
    const copies = path.join(work, 'copies');
    rmSync(copies, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(copies);
    writeFileSync(path.join(copies, 'junit.xml'), readFileSync(evidenceFile));
    const ok = await cli(['verify-evidence', 'signed.json', 'copies', '--json'], offline());
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(ok.json.results.filter((r: { status: string }) => r.status === 'match')).toHaveLength(1);
    writeFileSync(path.join(copies, 'junit.xml'), '<testsuite tests="3" failures="1"/>\n');
    const bad = await cli(['verify-evidence', 'signed.json', 'copies'], offline());
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/1 of \d+ local copies differ from the bundle/);
  });
});

describe('ops-gates ledger checkpoint', () => {
  it('exports a checkpoint, and --compare finds the chain rewritten after it', async () => {
    const exported = await cli(['ledger', 'checkpoint', '-o', 'cp.json'], await as('auditor'));
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toMatch(
      /checkpoint written to cp\.json \(signed copy cp\.json\.dsse\.json\)\n {2}root [0-9a-f]{64}/,
    );
    expect((await cli(['ledger', 'checkpoint', '--compare', 'cp.json'], await as('auditor'))).code).toBe(0);

    // The owner rewrites the release's last entry (a changed fact, re-hashed, head moved): the
    // chain is consistent on its own.
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
      await c.query('alter table ops.ledger_chains disable trigger ledger_chains_guard');
      await c.query(
        `update ops.ledger_entries e set content_hash = repeat('a', 64)
         where chain_id = $1 and seq = (select head_seq from ops.ledger_chains where chain_id = $1)`,
        [release.release_id],
      );
      await c.query(
        `update ops.ledger_entries e set entry_hash = ops.ledger_entry_hash(chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash)
         where chain_id = $1 and seq = (select head_seq from ops.ledger_chains where chain_id = $1)`,
        [release.release_id],
      );
      await c.query(
        `update ops.ledger_chains c set head_hash = (select entry_hash from ops.ledger_entries e where e.chain_id = c.chain_id and e.seq = c.head_seq)
         where chain_id = $1`,
        [release.release_id],
      );
      await c.query('alter table ops.ledger_entries enable always trigger ledger_entries_append_only');
      await c.query('alter table ops.ledger_chains enable always trigger ledger_chains_guard');
      await c.query('commit');
    } catch (err) {
      await c.query('rollback');
      throw err;
    } finally {
      c.release();
    }
    const compared = await cli(
      ['ledger', 'checkpoint', '--compare', 'cp.json', '--json'],
      await as('auditor'),
    );
    expect(compared.code).toBe(1);
    expect(compared.json.findings).toEqual([
      expect.objectContaining({
        kind: 'rewritten',
        releaseId: release.release_id,
        table: expect.any(String),
      }),
    ]);
    // The signed copy of the checkpoint compares the same.
    expect(
      (await cli(['ledger', 'checkpoint', '--compare', 'cp.json.dsse.json'], await as('auditor'))).code,
    ).toBe(1);

    // A bundle signed now carries the rewritten chain: with the checkpoint kept from before, it
    // fails offline too.
    const r = await cli(['bundle', release.release_id, '--signed', '-o', 'after.json'], await as('auditor'));
    expect(r.code).toBe(0);
    writeFileSync(
      path.join(work, 'keys2.json'),
      await (await fetch(`${server.url}/.well-known/ops-attestation-keys.json`)).text(),
    );
    const v = await cli(
      ['bundle', '--verify', 'after.json', '--key', 'keys2.json', '--checkpoint', 'cp.json', '--json'],
      offline(),
    );
    expect(v.code).toBe(1);
    expect(v.json.checks.find((x: { name: string }) => x.name === 'checkpoint')).toMatchObject({ ok: false });
    expect(v.json.checks.find((x: { name: string }) => x.name === 'ledger')).toMatchObject({ ok: true });
    // The signed copy of the checkpoint serves as well.
    const signedCp = await cli(
      ['bundle', '--verify', 'after.json', '--key', 'keys2.json', '--checkpoint', 'cp.json.dsse.json'],
      offline(),
    );
    expect(signedCp.code).toBe(1);
    expect(signedCp.stdout).toMatch(/✗ checkpoint +the chain's entry \d+ differs from the checkpoint's head/);
  });
});
