// The routes' remembered token verifications (src/http/verified-tokens.ts): a success is reused for
// the same header until the token's exp or the time limit, a failure never is, and the entries are
// bounded. Time is the test's own clock, not a wait.
import { describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { AuthError, createVerifier, type Identity } from '../../src/auth/jwt.js';
import { rememberVerified } from '../../src/http/verified-tokens.js';

const SECRET = 'verified-tokens-test-secret-0123456789abcdef';

function counting(verify: (h: string | null | undefined) => Promise<Identity>) {
  let calls = 0;
  return {
    calls: () => calls,
    verify: (h: string | null | undefined) => {
      calls++;
      return verify(h);
    },
  };
}

describe('rememberVerified', () => {
  it('verifies a header once while the entry lasts, and anew after the time limit', async () => {
    const inner = counting(createVerifier({ jwtSecret: SECRET }));
    let clock = Date.now();
    const verify = rememberVerified(inner.verify, { ttlMs: 1_000, now: () => clock });
    const header = `Bearer ${await mintToken({ secret: SECRET, persona: 'sre', sub: 'sre-1', ttlSeconds: 600 })}`;
    const first = await verify(header);
    const second = await verify(header);
    expect(second).toBe(first);
    expect(first.persona).toBe('sre');
    expect(inner.calls()).toBe(1);
    expect(Object.isFrozen(first.claims)).toBe(true);
    clock += 1_001;
    await verify(header);
    expect(inner.calls()).toBe(2);
  });

  it("never past the token's exp: from exp on the header goes to the verifier again", async () => {
    const inner = counting(createVerifier({ jwtSecret: SECRET }));
    let clock = Date.now();
    const verify = rememberVerified(inner.verify, { ttlMs: 3_600_000, now: () => clock });
    const header = `Bearer ${await mintToken({ secret: SECRET, persona: 'sre', sub: 'sre-2', ttlSeconds: 60 })}`;
    const exp = (await verify(header)).claims.exp as number;
    clock = exp * 1000 - 1;
    await verify(header);
    expect(inner.calls()).toBe(1);
    // (The verifier itself judges by the real clock, where the token is still valid.)
    clock = exp * 1000;
    await verify(header);
    expect(inner.calls()).toBe(2);
  });

  it('never remembers a failure', async () => {
    const inner = counting(createVerifier({ jwtSecret: SECRET }));
    const verify = rememberVerified(inner.verify);
    const forged = `Bearer ${await mintToken({ secret: `${SECRET}-other`, persona: 'sre', sub: 'x', ttlSeconds: 60 })}`;
    await expect(verify(forged)).rejects.toBeInstanceOf(AuthError);
    await expect(verify(forged)).rejects.toBeInstanceOf(AuthError);
    await expect(verify(null)).rejects.toMatchObject({ code: 'missing_token' });
    expect(inner.calls()).toBe(3);
  });

  it('holds at most maxEntries, dropping the oldest', async () => {
    const inner = counting(createVerifier({ jwtSecret: SECRET }));
    const verify = rememberVerified(inner.verify, { maxEntries: 2 });
    const headers = await Promise.all(
      ['a', 'b', 'c'].map(
        async (sub) => `Bearer ${await mintToken({ secret: SECRET, persona: 'sre', sub, ttlSeconds: 60 })}`,
      ),
    );
    for (const h of headers) await verify(h);
    expect(inner.calls()).toBe(3);
    await verify(headers[2]!);
    await verify(headers[1]!);
    expect(inner.calls()).toBe(3);
    await verify(headers[0]!);
    expect(inner.calls()).toBe(4);
  });
});
