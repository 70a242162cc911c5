// `npm run dry-run:odoo` against a server given by OPS_API_URL: an Odoo release goes to production
// with its tests, upgrade and /web/health (a stand-in on loopback the run starts itself) recorded
// by the CLI, and the run says so and exits 0.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type LiveServer, SECRET, startServer } from '../cli/support.js';
import { useTestDatabase } from '../support/db.js';

let server: LiveServer;
beforeAll(async () => {
  server = await startServer(await useTestDatabase());
});
afterAll(async () => {
  await server?.close();
});

function dryRun(env: Record<string, string>): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'dry-run:odoo'], {
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

it('OPS_API_URL=… npm run dry-run:odoo: the Odoo checks gate one release to production', {
  timeout: 400_000,
}, async () => {
  const { code, output } = await dryRun({ OPS_API_URL: server.url, SUPABASE_JWT_SECRET: SECRET });
  expect(code, output).toBe(0);
  expect(output).toContain(`Control plane  ${server.url} (OPS_API_URL)`);
  expect(output).toMatch(/Odoo server {4}http:\/\/127\.0\.0\.1:\d+ \(a stand-in for \/web\/health/);
  expect(output).toContain(
    '✓ required: G1 build, G2 odoo-tests, G2 odoo-upgrade-on-production-copy, G4 odoo-health',
  );
  expect(output).toContain(
    'blocks staging: G2: required check "odoo-upgrade-on-production-copy" has not reported',
  );
  expect(output).toContain('✓ scope: legacy_report removed, sale_custom upgraded, website_custom added');
  expect(output).toContain('✓ odoo-tests fail: 1 failed, 1 error(s) of 42; G2 is failed');
  expect(output).toMatch(/✓ odoo-tests pass: 42 tests, log sha256 [0-9a-f]{12}…; G2 is in_progress/);
  expect(output).toContain('✓ odoo-upgrade-on-production-copy pass; G2 is in_progress');
  expect(output).toMatch(
    /✓ 3 of 3 samples pass \(median [\d.]+ ms, database server checked: true\); G4 of the deployment passed/,
  );
  expect(output).toContain('✓ G4 passed on production');
  expect(output).toContain('✓ the release is promoted');
  expect(output.split('\n').filter((l) => l.startsWith('  ✗'))).toEqual([]);
  expect(output).toContain('✓ Odoo dry run passed.');
});
