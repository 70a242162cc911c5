import { SignJWT } from 'jose';
import { PERSONAS, type Persona } from './personas.js';

export interface MintOptions {
  secret: string;
  persona: Persona;
  sub?: string;
  ttlSeconds?: number;
  issuer?: string;
  audience?: string;
}

/** Development-only HS256 token carrying the persona both ways the verifier reads it. */
export async function mintToken(opts: MintOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ role: opts.persona, app_metadata: { ops_role: opts.persona } })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(opts.sub ?? `dev:${opts.persona}`)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.ttlSeconds ?? 3600));
  if (opts.issuer) jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt.setAudience(opts.audience);
  return jwt.sign(new TextEncoder().encode(opts.secret));
}

/**
 * One token per persona. Subjects come from `subjects` (npm start passes the demo data's people,
 * so each token sees what its person did), else are like `dev-release-manager`.
 */
export async function mintPersonaTokens(
  secret: string,
  opts: Omit<MintOptions, 'secret' | 'persona' | 'sub'> = {},
  subjects: Partial<Record<Persona, string>> = {},
): Promise<Record<Persona, string>> {
  const entries = await Promise.all(
    PERSONAS.map(
      async (persona) =>
        [
          persona,
          await mintToken({
            ...opts,
            secret,
            persona,
            sub: subjects[persona] ?? `dev-${persona.replaceAll('_', '-')}`,
          }),
        ] as const,
    ),
  );
  return Object.fromEntries(entries) as Record<Persona, string>;
}
