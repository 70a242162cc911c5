// The installed command: package.json's bin points at an executable shim that runs the CLI with
// tsx from any directory, keeping the exit code, stdout and stderr of the command.
import { readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { useTestDatabase } from '../support/db.js';
import { BIN, type LiveServer, spawnCli, startServer, token } from './support.js';

let server: LiveServer;
beforeAll(async () => {
  server = await startServer(await useTestDatabase());
});
afterAll(async () => {
  await server?.close();
});

it('package.json exposes ops-gates through an executable node shim', () => {
  const pkg = JSON.parse(readFileSync(path.join(projectRoot, 'package.json'), 'utf8'));
  expect(pkg.bin).toEqual({ 'ops-gates': 'bin/ops-gates.mjs' });
  expect(pkg.scripts.cli).toBe('node bin/ops-gates.mjs');
  expect(readFileSync(BIN, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  expect(statSync(BIN).mode & 0o111).not.toBe(0);
});

it('--help works from another directory', async () => {
  const r = await spawnCli(['--help'], { cwd: tmpdir() });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^ops-gates: the command line of the release-governance control plane/);
});

it('a real command keeps its exit codes and streams: eligible is usable as a CI gate', async () => {
  const env = { OPS_API_URL: server.url, OPS_TOKEN: await token('developer') };
  const created = await spawnCli(
    ['release', 'create', '--project', 'odoo-bin', '--name', `b-${Date.now()}`, '--json'],
    { env },
  );
  expect(created.code, created.stderr).toBe(0);
  const ref = `odoo-bin/${created.json.release.releaseName}`;
  const gate = await spawnCli(['eligible', ref, '--env', 'staging'], { env, cwd: tmpdir() });
  expect(gate.code).toBe(1);
  expect(gate.stdout).toBe(`✗ ${ref} is not eligible for staging\n`);
  expect(gate.stderr).toMatch(/^blockers for staging:\n {2}- G1: no build checks reported yet/);
  const usage = await spawnCli(['eligible', ref], { env });
  expect(usage.code).toBe(2);
  const auth = await spawnCli(['eligible', ref, '--env', 'staging'], { env: { OPS_API_URL: server.url } });
  expect(auth.code).toBe(3);
});
