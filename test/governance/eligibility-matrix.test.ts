// Eligibility, table-driven: how far the release got × the state of a bypass exception × the
// target environment, against an expectation computed here, in plain TypeScript, from the rules
// of DESIGN.md section 4 — not from the SQL.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  approveException,
  blockers,
  createRelease,
  deployStagingWithHealth,
  type Env,
  expireException,
  type GateCode,
  isEligible,
  passG1,
  passG2,
  passG3,
  type Release,
  requestException,
} from './scenario.js';

const GATES: GateCode[] = ['G1', 'G2', 'G3', 'G4'];
/** Default gate_requirements: staging needs G1, G2; production G1-G4. */
const REQUIRED: Record<Env, GateCode[]> = { staging: ['G1', 'G2'], production: GATES };

/** How far the release got: the gates whose own inputs (checks, evidence, sign-offs, health) are complete. */
const PROGRESS = {
  nothing: [],
  G1: ['G1'],
  'G1+G2': ['G1', 'G2'],
  // Deployed to staging and confirmed healthy, but G3 never signed: G4's facts without G3.
  'G1+G2+staging health': ['G1', 'G2', 'G4'],
  'G1+G2+G3': ['G1', 'G2', 'G3'],
  'all incl. staging health': ['G1', 'G2', 'G3', 'G4'],
} satisfies Record<string, GateCode[]>;
type Progress = keyof typeof PROGRESS;

/** A gate_bypass exception on the first gate the release has not met (G4 when none). */
const EXCEPTIONS = ['none', 'pending (unapproved)', 'active bypass', 'expired bypass'] as const;
type ExceptionState = (typeof EXCEPTIONS)[number];

function bypassTarget(progress: Progress): GateCode {
  const facts: GateCode[] = PROGRESS[progress];
  return GATES.find((g) => !facts.includes(g)) ?? 'G4';
}

/**
 * The rules: a gate is satisfied when its own inputs are complete or an approved, unexpired
 * bypass lists it — and, gates being sequential, only if its predecessor is satisfied. A release
 * is eligible for an environment when every gate the environment requires is satisfied.
 */
function expectedEligible(progress: Progress, exception: ExceptionState, env: Env): boolean {
  const facts = new Set<GateCode>(PROGRESS[progress]);
  const bypassed = new Set<GateCode>(exception === 'active bypass' ? [bypassTarget(progress)] : []);
  const satisfied = new Set<GateCode>();
  for (const [i, g] of GATES.entries()) {
    const predecessorOk = i === 0 || satisfied.has(GATES[i - 1]!);
    if (predecessorOk && (facts.has(g) || bypassed.has(g))) satisfied.add(g);
  }
  return REQUIRED[env].every((g) => satisfied.has(g));
}

let db: TestDatabase;

async function build(progress: Progress, exception: ExceptionState): Promise<Release> {
  const r = await createRelease(db);
  const facts: GateCode[] = PROGRESS[progress];
  if (facts.includes('G1')) await passG1(db, r);
  if (facts.includes('G2')) await passG2(db, r);
  if (facts.includes('G3')) await passG3(db, r);
  if (facts.includes('G4')) await deployStagingWithHealth(db, r);
  if (exception !== 'none') {
    const e = await requestException(db, r.release_id, [bypassTarget(progress)]);
    if (exception !== 'pending (unapproved)') await approveException(db, e.exception_id);
    if (exception === 'expired bypass') await expireException(db, e.exception_id);
  }
  return r;
}

const scenarios = (Object.keys(PROGRESS) as Progress[]).flatMap((progress) =>
  EXCEPTIONS.map((exception) => ({ progress, exception, key: `${progress} | ${exception}` })),
);
const releases = new Map<string, Release>();

beforeAll(async () => {
  db = await useTestDatabase();
  // Each combination in a fresh release, all built in parallel.
  await Promise.all(
    scenarios.map(async (s) => {
      releases.set(s.key, await build(s.progress, s.exception));
    }),
  );
});

describe('is_eligible_for_promotion: progress × exception × environment', () => {
  const rows = scenarios.flatMap((s) =>
    (['staging', 'production'] as Env[]).map((env) => ({
      ...s,
      env,
      expected: expectedEligible(s.progress, s.exception, env),
    })),
  );

  it('covers both outcomes in both environments', () => {
    for (const env of ['staging', 'production']) {
      const outcomes = new Set(rows.filter((r) => r.env === env).map((r) => r.expected));
      expect([...outcomes].sort()).toEqual([false, true]);
    }
  });

  it.each(rows)(
    '$progress | exception: $exception | $env → $expected',
    async ({ key, env, expected, exception, progress }) => {
      const r = releases.get(key)!;
      expect(await isEligible(db, r.release_id, env)).toBe(expected);

      // The blockers agree with eligibility, and say why an exception did not help.
      const reasons = (await blockers(db, r.release_id, env)).map((b) => `${b.gate_code}: ${b.reason}`);
      expect(reasons.length === 0).toBe(expected);
      const target = bypassTarget(progress);
      const targetUnmet = !(PROGRESS[progress] as GateCode[]).includes(target);
      if (REQUIRED[env].includes(target) && targetUnmet) {
        if (exception === 'expired bypass')
          expect(reasons.join('\n')).toMatch(/bypass exception .+ expired at/);
        if (exception === 'pending (unapproved)') {
          expect(reasons.join('\n')).toMatch(/bypass exception .+ awaits approval by a release_manager/);
        }
      }
    },
  );
});
