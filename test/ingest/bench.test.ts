// The ingest benchmark in its short mode, on this file's database, so it cannot rot: it runs to
// the end, every answer it got was accepted or duplicate, and it prints all three phases and the
// ratios. No figure is asserted: timing on a shared machine says nothing about the code.
import { spawn } from 'node:child_process';
import { beforeAll, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

it('npm run bench:ingest -- --short completes and prints the three phases and the ratios', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/ingest.ts', '--short'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      DATABASE_URL: db.adminUrl,
      OPS_API_DATABASE_URL: db.apiUrl,
      BENCH_SECONDS: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d) => {
    output += d;
  });
  child.stderr.on('data', (d) => {
    output += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, output).toBe(0);
  expect(output).toMatch(
    /\(a\) database: select ops\.ingest_event +\d+ ev\/s +p50 +[\d.]+ ms +p99 +[\d.]+ ms/,
  );
  expect(output).toMatch(/\(b\) HTTP: POST \/bench\/noop +\d+ ev\/s/);
  expect(output).toMatch(/\(c\) ingest: POST \/functions\/v1\/ops-event-ingest +\d+ ev\/s/);
  expect(output).toMatch(/ratios: c\/a = \d+\.\d\d +c\/b = \d+\.\d\d/);
  expect(output).toMatch(/target c >= 0\.6 x min\(a, b\) = \d+ ev\/s: (met|NOT met)/);
  expect(output).toMatch(/target p99\(c\) <= 50 ms: (met|NOT met)/);
  const result = JSON.parse(/BENCH_RESULT (.*)/.exec(output)![1]!);
  for (const phase of ['a', 'b', 'c']) {
    expect(result[phase].errors, phase).toBe(0);
    expect(result[phase].count, phase).toBeGreaterThan(0);
  }
}, 180_000);
