// DSSE (Dead Simple Signing Envelope, secure-systems-lab/dsse, protocol v1) with Ed25519 keys:
// the envelope the signed evidence bundle travels in, signed by the server and verified offline
// by `ops-gates bundle --verify` with the public key alone (a JWK set, as the server publishes it
// at /.well-known/ops-attestation-keys.json).
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type KeyObject,
} from 'node:crypto';
import type { JWK } from 'jose';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
export const SLSA_VSA_V1 = 'https://slsa.dev/verification_summary/v1';
export const ATTESTATION_KEYS_PATH = '/.well-known/ops-attestation-keys.json';

export interface DsseSignature {
  keyid: string;
  sig: string;
}

export interface DsseEnvelope {
  payloadType: string;
  /** base64 of the payload bytes. */
  payload: string;
  signatures: DsseSignature[];
}

export interface JwkSet {
  keys: JWK[];
}

/** DSSE v1 pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `, 'utf8'),
    type,
    Buffer.from(` ${payload.length} `, 'utf8'),
    payload,
  ]);
}

/** An Ed25519 signing key and its public half as a JWK with its RFC 7638 thumbprint as kid. */
export interface AttestationSigner {
  keyId: string;
  publicJwk: JWK;
  sign(payloadType: string, payload: Buffer): DsseEnvelope;
}

/** RFC 7638 thumbprint (sha256, base64url) of an Ed25519 public key: its required members, sorted. */
export function ed25519Thumbprint(x: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x }))
    .digest('base64url');
}

export function createAttestationSigner(privateKeyPem: string): AttestationSigner {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new Error(`the attestation key must be an Ed25519 key, not ${privateKey.asymmetricKeyType}`);
  }
  const exported = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
  const keyId = ed25519Thumbprint(exported.x!);
  const publicJwk: JWK = { kty: 'OKP', crv: 'Ed25519', x: exported.x, kid: keyId, alg: 'EdDSA', use: 'sig' };
  return {
    keyId,
    publicJwk,
    sign(payloadType, payload) {
      const sig = cryptoSign(null, preAuthEncoding(payloadType, payload), privateKey);
      return {
        payloadType,
        payload: payload.toString('base64'),
        signatures: [{ keyid: keyId, sig: sig.toString('base64') }],
      };
    },
  };
}

export class EnvelopeError extends Error {
  constructor(
    message: string,
    public readonly code: string,
  ) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** A parsed DSSE envelope, or EnvelopeError naming what is wrong with it. */
export function parseEnvelope(value: unknown): DsseEnvelope {
  const e = value as Partial<DsseEnvelope> | null;
  if (!e || typeof e !== 'object' || Array.isArray(e))
    throw new EnvelopeError('not a DSSE envelope (a JSON object)', 'not_envelope');
  if (typeof e.payloadType !== 'string') throw new EnvelopeError('payloadType is missing', 'not_envelope');
  if (typeof e.payload !== 'string' || !BASE64.test(e.payload))
    throw new EnvelopeError('payload is not base64', 'not_envelope');
  if (!Array.isArray(e.signatures) || e.signatures.length === 0)
    throw new EnvelopeError('the envelope has no signatures', 'unsigned');
  for (const s of e.signatures) {
    if (!s || typeof s.sig !== 'string' || !BASE64.test(s.sig))
      throw new EnvelopeError('a signature is not base64', 'not_envelope');
  }
  return e as DsseEnvelope;
}

function publicKeyOf(jwk: JWK): KeyObject | undefined {
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') return undefined;
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
}

/**
 * Verifies the envelope with the keys of the set: a signature counts when its keyid names a key
 * of the set (or it has none) and it verifies over the PAE. Returns the payload bytes and the key
 * that signed; throws EnvelopeError('bad_signature') when none verifies.
 */
export function verifyEnvelope(envelope: DsseEnvelope, keys: JwkSet): { payload: Buffer; keyId: string } {
  const payload = Buffer.from(envelope.payload, 'base64');
  if (
    payload.toString('base64') !== envelope.payload.replace(/=+$/, '').padEnd(envelope.payload.length, '=')
  ) {
    throw new EnvelopeError('payload is not canonical base64', 'not_envelope');
  }
  const pae = preAuthEncoding(envelope.payloadType, payload);
  for (const s of envelope.signatures) {
    for (const jwk of keys.keys) {
      if (s.keyid && jwk.kid && s.keyid !== jwk.kid) continue;
      const key = publicKeyOf(jwk);
      if (key && cryptoVerify(null, pae, key, Buffer.from(s.sig, 'base64'))) {
        return { payload, keyId: jwk.kid ?? s.keyid ?? '' };
      }
    }
  }
  throw new EnvelopeError('no signature verifies with the given public keys', 'bad_signature');
}
