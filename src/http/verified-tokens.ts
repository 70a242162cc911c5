// The router's token check remembers, for a short while, which Authorization headers it has
// verified, so a producer sending event after event with the same token does not pay for an HMAC
// (or JWKS signature) check on every one: profiled, verification was the largest share of the
// ingest route's own CPU (docs/profiling.md, "The ingest route"). Only successes are remembered,
// keyed by the exact header; an entry ends at the token's exp (never later, so jose's clock
// tolerance is not stretched), after VERIFIED_TOKEN_TTL_MS at most (so a key withdrawn from the
// JWKS stops being honoured soon), and the oldest entry goes first once VERIFIED_TOKEN_ENTRIES are
// held. Every other check the verifier makes depends on the token alone, not on the time.
import type { Identity } from '../auth/jwt.js';
import type { Verifier } from '../context.js';

export const VERIFIED_TOKEN_TTL_MS = 30_000;
export const VERIFIED_TOKEN_ENTRIES = 1_000;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * `verify`, remembering successes: the same identity (frozen: it is shared between requests) for
 * the same header until the token's exp or `ttlMs`, whichever comes first. Failures are never
 * remembered (each attempt is checked, and answered, anew).
 */
export function rememberVerified(
  verify: Verifier,
  options: { ttlMs?: number; maxEntries?: number; now?: () => number } = {},
): Verifier {
  const ttlMs = options.ttlMs ?? VERIFIED_TOKEN_TTL_MS;
  const maxEntries = options.maxEntries ?? VERIFIED_TOKEN_ENTRIES;
  const now = options.now ?? Date.now;
  const verified = new Map<string, { identity: Identity; until: number }>();
  return async (header) => {
    if (typeof header !== 'string') return verify(header);
    const seen = verified.get(header);
    if (seen) {
      if (now() < seen.until) return seen.identity;
      verified.delete(header);
    }
    const identity = await verify(header);
    const exp = identity.claims.exp;
    if (typeof exp === 'number') {
      if (verified.size >= maxEntries) verified.delete(verified.keys().next().value!);
      verified.set(header, { identity: deepFreeze(identity), until: Math.min(now() + ttlMs, exp * 1000) });
    }
    return identity;
  };
}
