import { createRemoteJWKSet, decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose';
import { isPersona, type Persona } from './personas.ts';

export interface AuthConfig {
  /** Shared HS256 secret (Supabase legacy JWT secret). */
  jwtSecret?: string;
  /** JWKS endpoint for asymmetric tokens (RS256 / ES256 / EdDSA). */
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  /** The longest lifetime (exp − iat, seconds) a token may have; DEFAULT_MAX_TOKEN_LIFETIME_S when unset. */
  maxLifetimeSeconds?: number;
}

/** A day: longer than Supabase's default session token (1 h) and the CLI's minted tokens. */
export const DEFAULT_MAX_TOKEN_LIFETIME_S = 86_400;

export interface Identity {
  subject: string;
  persona: Persona | null;
  /** The verified JWT payload; handed to Postgres as request.jwt.claims. */
  claims: Record<string, unknown>;
}

export class AuthError extends Error {
  constructor(
    public readonly status: 401 | 403,
    public readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

// Algorithms are pinned per key source so a token can never pick how it is checked
// (no alg:none, no HS256-signed-with-the-public-key confusion).
const SECRET_ALGS = ['HS256'];
const JWKS_ALGS = ['RS256', 'ES256', 'EdDSA'];
const CLOCK_TOLERANCE_S = 5;

// jose error codes that mean "this token is bad" (the caller's fault → 401).
// Anything else (JWKS endpoint down, timeout, garbage JWKS) is our fault and is rethrown as-is.
const TOKEN_FAULT_CODES = new Set([
  'ERR_JWS_INVALID',
  'ERR_JWT_INVALID',
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
  'ERR_JWKS_NO_MATCHING_KEY',
  'ERR_JWKS_MULTIPLE_MATCHING_KEYS',
]);

/** ops_role from app_metadata (Supabase Auth users), else a top-level persona `role` (service tokens). */
export function personaFromClaims(claims: Record<string, unknown>): Persona | null {
  const meta = claims.app_metadata;
  if (meta && typeof meta === 'object' && !Array.isArray(meta)) {
    const opsRole = (meta as Record<string, unknown>).ops_role;
    if (isPersona(opsRole)) return opsRole;
  }
  return isPersona(claims.role) ? claims.role : null;
}

/** Text PostgreSQL can hold: no NUL, no unpaired UTF-16 surrogate. */
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
function storable(text: string): boolean {
  return !text.includes('\u0000') && !UNPAIRED_SURROGATE.test(text);
}

/**
 * The path of a claim (a key or a string value, at any depth) that is not storable text, or null.
 * Walked without recursion: a token's nesting is the caller's choice.
 */
export function unstorableClaim(claims: unknown): string | null {
  const pending: [unknown, string][] = [[claims, '$']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, path] = next;
    if (typeof value === 'string') {
      if (!storable(value)) return path.slice(0, 100);
    } else if (Array.isArray(value)) {
      for (const [i, v] of value.entries()) pending.push([v, `${path}[${i}]`]);
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (!storable(k)) return `a key of ${path.slice(0, 100)}`;
        pending.push([v, `${path}.${k}`]);
      }
    }
  }
  return null;
}

/**
 * The most a token's claims may take as request.jwt.claims (JSON.stringify, UTF-8 bytes), and the
 * deepest they may nest (the payload object is level 1). Every reading of the claims in SQL parses
 * the whole text, at a cost that grows with its size and nesting (about 1 ms for 11 KB of keys or
 * 4 KB of nested arrays, against 15-30 us for typical claims), and the database refuses claims
 * longer than the same 4096 bytes (migration 20261204170000). Supabase session tokens take 1-2 KB
 * and nest 3 deep.
 */
export const MAX_CLAIMS_BYTES = 4096;
export const MAX_CLAIMS_DEPTH = 8;

/**
 * Why the claims are beyond the bounds above, or null. The depth is walked without recursion and
 * stops at the first level too deep.
 */
export function claimsBeyondBounds(claims: Record<string, unknown>): string | null {
  const pending: [unknown, number][] = [[claims, 1]];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [value, depth] = next;
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_CLAIMS_DEPTH) return `the claims nest deeper than ${MAX_CLAIMS_DEPTH} levels`;
    for (const v of Object.values(value)) pending.push([v, depth + 1]);
  }
  if (new TextEncoder().encode(JSON.stringify(claims)).length > MAX_CLAIMS_BYTES) {
    return `the claims take more than ${MAX_CLAIMS_BYTES} bytes`;
  }
  return null;
}

function invalid(message: string): AuthError {
  return new AuthError(401, 'invalid_token', message);
}

export function createVerifier(
  config: AuthConfig,
): (authorizationHeader: string | null | undefined) => Promise<Identity> {
  if (!config.jwtSecret && !config.jwksUrl) {
    throw new Error('auth config needs jwtSecret and/or jwksUrl');
  }
  // The secret as a CryptoKey, imported once: given raw bytes, jose imports them again on every
  // verification. Usable for HMAC-SHA-256 verification only (HS256, the one algorithm it serves).
  const secret = config.jwtSecret
    ? crypto.subtle.importKey(
        'raw',
        new TextEncoder().encode(config.jwtSecret),
        { name: 'HMAC', hash: 'SHA-256' },
        false,
        ['verify'],
      )
    : null;
  // One resolver per verifier so the JWKS is cached between requests.
  const jwks = config.jwksUrl ? createRemoteJWKSet(new URL(config.jwksUrl)) : null;
  const maxLifetime = config.maxLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_S;
  const claimOpts = {
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
  };

  return async (authorizationHeader) => {
    // RFC 6750: the scheme is case-insensitive.
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorizationHeader?.trim() ?? '');
    if (!match) throw new AuthError(401, 'missing_token', 'expected Authorization: Bearer <token>');
    const token = match[1]!;

    let alg: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw invalid('malformed token');
    }

    let payload: JWTPayload;
    try {
      if (alg === 'HS256' && secret) {
        ({ payload } = await jwtVerify(token, await secret, { ...claimOpts, algorithms: SECRET_ALGS }));
      } else if (typeof alg === 'string' && JWKS_ALGS.includes(alg) && jwks) {
        ({ payload } = await jwtVerify(token, jwks, { ...claimOpts, algorithms: JWKS_ALGS }));
      } else {
        // Never echo the token; the alg is attacker-chosen but harmless to name.
        throw invalid(`token algorithm not accepted: ${String(alg).slice(0, 20)}`);
      }
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof errors.JWTExpired) throw new AuthError(401, 'token_expired', 'token expired');
      if (err instanceof errors.JOSEError && TOKEN_FAULT_CODES.has(err.code)) {
        // jose messages name the failing check (signature, "iss" claim, ...), never the token.
        throw invalid(`invalid token: ${err.message}`);
      }
      throw err;
    }

    // Every token expires, and soon: a token without exp, or one minted to live longer than the
    // configured maximum, would be a credential that never really ends.
    if (typeof payload.exp !== 'number') throw invalid('token has no exp: every token must expire');
    const nowS = Math.floor(Date.now() / 1000);
    const issuedS = typeof payload.iat === 'number' ? Math.min(payload.iat, nowS) : nowS;
    if (payload.exp - issuedS > maxLifetime + CLOCK_TOLERANCE_S) {
      throw invalid(`token lifetime exceeds the ${maxLifetime} s allowed (OPS_JWT_MAX_LIFETIME_SECONDS)`);
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('token has no subject');
    const claims = payload as Record<string, unknown>;
    // The claims become PostgreSQL text and jsonb (request.jwt.claims, the subject): a NUL or an
    // unpaired surrogate cannot be stored there, and would otherwise fail the request's transaction
    // as if the database were down (5xx), instead of being the token's fault.
    const unstorable = unstorableClaim(claims);
    if (unstorable !== null) {
      throw invalid(`claim ${unstorable} holds a NUL or an unpaired surrogate, which a claim may not hold`);
    }
    // Every reading of the claims in the database parses them whole: claims too large or too deep
    // would make each one costly (and the database refuses claims beyond MAX_CLAIMS_BYTES).
    const beyond = claimsBeyondBounds(claims);
    if (beyond !== null) throw invalid(`token refused: ${beyond}`);
    // The database refuses claims naming a persona other than the one assumed; a token naming two
    // is refused here, before it reaches a transaction.
    const persona = personaFromClaims(claims);
    if (persona && isPersona(claims.role) && claims.role !== persona) {
      throw new AuthError(
        403,
        'conflicting_persona',
        `the token names two personas (role ${claims.role}, app_metadata.ops_role ${persona})`,
      );
    }
    return { subject: payload.sub, persona, claims };
  };
}
