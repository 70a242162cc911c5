// `npm run dry-run`, as CI and a release manager run it: it starts its own control plane on a
// throwaway embedded PostgreSQL, drives one release to production with the CLI as each persona,
// shows the two refusals, rebuilds the chain from releaseTimeline and exits 0, leaving nothing
// behind. Then the same dry run against a server given by OPS_API_URL.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type LiveServer, SECRET, startServer } from '../cli/support.js';
import { useTestDatabase } from '../support/db.js';

function dryRun(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'dry-run'], {
      cwd: projectRoot,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

const leftovers = () => readdirSync(path.join(projectRoot, '.data')).filter((f) => f.startsWith('dry-run-'));

/** What a release manager reads, and what must be true of it. */
function expectReadableAndPassing(output: string) {
  const lines = output.split('\n');
  expect(lines[0]).toBe('Release dry run: one release from creation to production through the control plane');
  for (const heading of [
    'Step 1. Dana (developer) creates the release',
    'Step 2. G1 Build Integrity: the CI pipeline reports the build',
    'Step 3. G2 Validation Readiness: Quinn (QA) attaches the test results and signs off',
    'Refusal 1. Rita (release manager) tries to promote to production before G3',
    'Refusal 2. An exception that has expired does not help',
    'Step 4. G3 Promotion Readiness: Rita (release manager, not the initiator) approves',
    'Step 5. Promote to staging',
    'Step 6. G4 Post-Deploy Operational Confirmation: Sam (SRE) confirms staging is healthy',
    'Step 7. A hotfix after approval: Dana (developer) revises the release to a new commit',
    'Step 8. The new revision earns its gates again',
    'Step 9. A change freeze: Rita freezes production for the quarter-end close',
    'Step 10. A timing_override exception lifts the freeze for this release only',
    'Step 11. Promote to production',
    'Step 12. Sam (SRE) confirms production is healthy',
    'Step 13. Ada (auditor) rebuilds the decision chain from the control plane alone',
  ]) {
    expect(
      lines.some((l) => l.startsWith(`── ${heading} ─`)),
      heading,
    ).toBe(true);
  }
  // Who did what, as typed.
  expect(output).toMatch(
    /\$ ops-gates release create --project odoo-dryrun --name \S+ --source-ref refs\/tags\/v2026\.11\.0\n {6}as dana\.dev \(developer\)/,
  );
  expect(output).toMatch(
    /\$ ops-gates signoff .* --gate G2 .*\n {6}as quinn\.qa \(qa_tester\)\n {2}✓ G2 approved by quinn\.qa; G2 is passed/,
  );
  expect(output).toMatch(/✓ G3 approved by rita\.rm; G3 is passed/);
  expect(output).toContain('✓ recorded once: the retry was answered as a duplicate of ingest');
  // Eligibility after each step, for both environments.
  expect(output).toContain(
    'May it be promoted now?  staging ✗ not yet (G1, G2)   production ✗ not yet (G1, G2, G3, G4)',
  );
  expect(output).toContain('May it be promoted now?  staging ✓ yes   production ✗ not yet (G3, G4)');
  expect(output).toContain('May it be promoted now?  staging ✓ yes   production ✓ yes');
  // The freeze refuses the promotion; the override lifts it.
  expect(output).toMatch(
    /✓ promotion to production refused during the freeze; the control plane says why:\n {6}- freeze "quarter-end close" \(\S+\) is active for production of odoo-dryrun until /,
  );
  expect(output).toMatch(/✓ with the override in force the release may go to production/);
  // The refusals.
  expect(output).toMatch(
    /✓ promotion to production refused, as it must be; the control plane says why:\n {6}- G3: no rollback_plan evidence attached/,
  );
  expect(output).toContain('gates: G1 passed · G2 passed · G3 bypassed · G4 pending');
  expect(output).toMatch(
    /✓ eligible for production: false; the control plane names the expired exception:\n {6}- G3 bypass exception [0-9a-f-]{36} expired at \S+Z/,
  );
  expect(output).toContain('✓ post-review complete');
  // The revision: approvals go stale, saying why; the new revision is approved again and promoted.
  expect(output).toMatch(
    /\$ ops-gates release revise \S+ --source-ref refs\/tags\/v2026\.11\.1 --reason 'hotfix: [^']+'\n {6}as dana\.dev \(developer\)\n {2}✓ \S+ is now at revision 2: refs\/tags\/v2026\.11\.1 \(was refs\/tags\/v2026\.11\.0\)/,
  );
  expect(output).toContain(
    '- G2: the qa_tester approval by quinn.qa is stale: approved for refs/tags/v2026.11.0, release is now at refs/tags/v2026.11.1',
  );
  expect(output).toContain(
    "✓ promoting the approved revision instead is refused: a deployment carries the release's current revision",
  );
  expect(output).toContain('✓ G2 approved again by quinn.qa; G2 is passed');
  expect(output).toContain('✓ G3 approved again by rita.rm; G3 is passed');
  expect(output).toContain('✓ the hotfix revision may now go to production');
  expect(output).toMatch(/✓ #\d+ +revised to the hotfix +by dana\.dev \(developer\)/);
  // The end state and the chain.
  expect(output).toContain('✓ the release is promoted');
  const chain = lines.filter((l) => /^ {2}[✓✗] #\d+ /.test(l));
  expect(chain).toHaveLength(28);
  expect(chain.every((l) => l.startsWith('  ✓'))).toBe(true);
  expect(output).toMatch(/✓ #\d+ +G3 bypass exception expired +by the clock/);
  expect(output).toMatch(/✓ #\d+ +production health check +by sam\.sre \(sre\)/);
  expect(output).toMatch(/✓ evidence bundle archived \(\d+ bytes, sha256 [0-9a-f]{64}\)/);
  // No failed check anywhere; plain text when piped.
  expect(lines.filter((l) => l.startsWith('  ✗'))).toEqual([]);
  expect(output).not.toContain('\u001b[');
  expect(lines.filter(Boolean).at(-2)).toMatch(/^✓ Dry run passed\./);
}

// Each dry run is dozens of CLI processes against a server: 220-275 s each were seen on a loaded
// 2-core machine, too close to a 400 s bound.
it('npm run dry-run: starts its own control plane, passes, exits 0 and cleans up', {
  timeout: 900_000,
}, async () => {
  const before = leftovers();
  const { code, output } = await dryRun({});
  expect(code, output).toBe(0);
  expect(output).toMatch(
    /Control plane {2}http:\/\/127\.0\.0\.1:\d+ \(started for this dry run on a throwaway database, removed afterwards\)/,
  );
  expectReadableAndPassing(output);
  expect(leftovers().filter((f) => !before.includes(f))).toEqual([]);
});

let server: LiveServer;
beforeAll(async () => {
  server = await startServer(await useTestDatabase());
});
afterAll(async () => {
  await server?.close();
});

it('OPS_API_URL=… npm run dry-run: drives the given server instead', { timeout: 900_000 }, async () => {
  const { code, output } = await dryRun({ OPS_API_URL: server.url, SUPABASE_JWT_SECRET: SECRET });
  expect(code, output).toBe(0);
  expect(output).toContain(`Control plane  ${server.url} (OPS_API_URL)`);
  expectReadableAndPassing(output);
});
