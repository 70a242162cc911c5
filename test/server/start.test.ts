// `npm start` as a newcomer runs it: no DATABASE_URL, so a real embedded PostgreSQL is initialised
// under the data folder, migrated and seeded with demo data; the API answers /health and
// /readiness; persona tokens are printed (development only). A second start reuses the data
// instead of initialising again, and the demo data is not duplicated.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';

const dataDir = mkdtempSync(path.join(projectRoot, '.data', 'start-test-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  base: string;
  output: () => string;
  readyAfterMs: number;
  stop: () => Promise<number | null>;
}

/** Starts the server as `npm start` does (tsx src/main.ts), waits until /readiness answers 200. */
async function start(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const pgPort = 20000 + Math.floor(Math.random() * 20000);
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  const began = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      OPS_EMBEDDED_PG_PORT: String(pgPort),
      OPS_DATA_DIR: dataDir,
      ...env,
    },
  });
  children.push(child);
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit');
  // Generous: the machine is shared; the time it took is printed, not asserted.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`server not ready:\n${output}`);
    const ok = await fetch(`${base}/readiness`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    output: () => output,
    readyAfterMs: Date.now() - began,
    stop: async () => {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

async function demoReleases(base: string, output: string): Promise<string[]> {
  const token = /audit_reader\s+(\S+)/.exec(output)?.[1];
  expect(token, 'an audit_reader token is printed').toBeTruthy();
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: '{ releases(first: 50, filter: { project: "odoo-demo" }) { nodes { releaseName } } }',
    }),
  });
  const body = (await res.json()) as { data: { releases: { nodes: { releaseName: string }[] } } };
  return body.data.releases.nodes.map((n) => n.releaseName).sort();
}

describe('npm start on the embedded database', () => {
  it('initialises, serves with demo data and tokens, and a second start reuses the data', async () => {
    const first = await start({ NODE_ENV: 'development' });
    console.log(`first start (initdb + migrations + demo data): ready after ${first.readyAfterMs} ms`);
    expect((await fetch(`${first.base}/health`)).status).toBe(200);
    expect(first.output()).toContain('"initialised":true');
    for (const persona of [
      'ci_service_role',
      'release_manager',
      'qa_tester',
      'sre',
      'developer',
      'audit_reader',
    ]) {
      expect(first.output()).toMatch(new RegExp(`${persona}\\s+eyJ`));
    }
    const releases = await demoReleases(first.base, first.output());
    expect(releases).toEqual(['17.0.42', '17.0.43', '17.0.44', '17.0.45-hotfix']);
    const graphiql = await fetch(`${first.base}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain('Ops release gates');
    expect(await first.stop()).toBe(0);

    const second = await start({ NODE_ENV: 'development' });
    console.log(`second start (existing data): ready after ${second.readyAfterMs} ms`);
    expect(second.output()).toContain('existing data reused');
    expect(second.output()).toContain('"initialised":false');
    expect(await demoReleases(second.base, second.output())).toEqual(releases);
    expect(await second.stop()).toBe(0);
  });

  it('prints no tokens and serves no GraphiQL in production', async () => {
    const prod = await start({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: 'p'.repeat(40) });
    expect(prod.output()).not.toMatch(/eyJ[\w-]+\.eyJ/);
    const page = await fetch(`${prod.base}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('graphiql');
    expect(await prod.stop()).toBe(0);
  });
});
