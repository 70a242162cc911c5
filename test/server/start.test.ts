// `npm start` as a newcomer runs it: no DATABASE_URL, so a real embedded PostgreSQL is initialised
// under the data folder, migrated and seeded with demo data; the API answers /health and
// /readiness; persona tokens are printed (development only), each seeing something in the
// README's first query. It runs through npm itself, in a session of its own (as `setsid npm start`
// or a process manager would), and stops on ONE signal sent to npm's PID: the server, and the
// PostgreSQL it started, are gone afterwards. A second start reuses the data instead of
// initialising again, the demo data is not duplicated, and `npm run db:url` prints the same URLs,
// which connect.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort, runProcess } from '../../src/process.js';

const dataDir = mkdtempSync(path.join(projectRoot, '.data', 'start-test-'));
const children: ChildProcess[] = [];
const pgPort = 20000 + Math.floor(Math.random() * 20000);

afterAll(() => {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        c.kill('SIGKILL');
      }
    }
  }
  rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});

interface Started {
  base: string;
  output: () => string;
  readyAfterMs: number;
  /** Sends one signal to npm's PID; resolves when npm has exited. */
  stop: (signal?: NodeJS.Signals) => Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const baseEnv = (env: Record<string, string>) => ({
  PATH: process.env.PATH,
  HOME: process.env.HOME,
  OPS_EMBEDDED_PG_PORT: String(pgPort),
  OPS_DATA_DIR: dataDir,
  ...env,
});

/** `npm start` in a session of its own; waits until /readiness answers 200. */
async function start(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let output = '';
  const began = Date.now();
  const child = spawn('npm', ['start'], {
    cwd: projectRoot,
    detached: true,
    env: baseEnv({ PORT: String(port), ...env }),
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
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    if (Date.now() > deadline) throw new Error(`server not ready:\n${output}`);
    const ok = await fetch(`${base}/readiness`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    base,
    output: () => output,
    readyAfterMs: Date.now() - began,
    stop: async (signal = 'SIGTERM') => {
      process.kill(child.pid!, signal);
      const [code, sig] = await exited;
      return { code: code as number | null, signal: sig as NodeJS.Signals | null };
    },
  };
}

/** The PostgreSQL server's PID, from its postmaster.pid. */
function postmasterPid(): number {
  const file = path.join(resolveDataRoot(dataDir), 'pg', 'postmaster.pid');
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** After npm exited: the API answers nothing and PostgreSQL is gone, within a generous while. */
async function expectNothingLeft(base: string, pgPid: number): Promise<void> {
  await expect
    .poll(() => alive(pgPid), { timeout: 60_000, interval: 250, message: 'postgres still running' })
    .toBe(false);
  const health = await fetch(`${base}/health`).then(
    (r) => r.status,
    () => 'unreachable',
  );
  expect(health).toBe('unreachable');
}

/** The README's first queries (the graphql blocks of "Two commands"), run with a token. */
const readme = readFileSync(path.join(projectRoot, 'README.md'), 'utf8');
const firstSection = readme.slice(
  readme.indexOf('## Two commands'),
  readme.indexOf('## How it fits together'),
);
const firstQueries = [...firstSection.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);

async function runQuery(base: string, token: string, query: string) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: Record<string, { nodes: unknown[] }>; errors?: unknown[] };
}

async function dbUrl(which: '--owner' | '--api'): Promise<string> {
  const r = await runProcess('npm', ['run', '-s', 'db:url', '--', which], {
    cwd: projectRoot,
    env: baseEnv({}),
  });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.trim();
}

async function whoAmI(url: string): Promise<{ user: string; db: string }> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const { rows } = await c.query('select current_user as user, current_database() as db');
    return rows[0];
  } finally {
    await c.end();
  }
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
  it('initialises, serves with demo data and tokens, stops on one signal to npm, and a second start reuses the data', async () => {
    const noStart = await runProcess('npm', ['run', '-s', 'db:url'], { cwd: projectRoot, env: baseEnv({}) });
    expect(noStart.code).toBe(1);
    expect(noStart.stderr).toContain('run npm start once');

    const first = await start({ NODE_ENV: 'development' });
    console.log(`first start (initdb + migrations + demo data): ready after ${first.readyAfterMs} ms`);
    expect((await fetch(`${first.base}/health`)).status).toBe(200);
    expect(first.output()).toContain('"initialised":true');
    const tokens: Record<string, string> = {};
    for (const persona of [
      'ci_service_role',
      'release_manager',
      'qa_tester',
      'sre',
      'developer',
      'audit_reader',
    ]) {
      const token = new RegExp(`${persona}\\s+(eyJ\\S+)`).exec(first.output())?.[1];
      expect(token, `a ${persona} token is printed`).toBeTruthy();
      tokens[persona] = token!;
    }
    const releases = await demoReleases(first.base, first.output());
    expect(releases).toEqual(['17.0.42', '17.0.43', '17.0.44', '17.0.45-hotfix']);

    // Every printed token sees something in the README's first queries: the release health query
    // for the personas that read releases, the deployment query for the SRE.
    expect(firstQueries.length).toBe(2);
    const [releaseHealth, deployments] = firstQueries as [string, string];
    for (const persona of ['ci_service_role', 'release_manager', 'qa_tester', 'developer', 'audit_reader']) {
      const body = await runQuery(first.base, tokens[persona]!, releaseHealth);
      expect(body.errors, persona).toBeUndefined();
      expect(body.data?.releases?.nodes.length, persona).toBeGreaterThan(0);
    }
    const sre = await runQuery(first.base, tokens.sre!, deployments);
    expect(sre.errors).toBeUndefined();
    expect(sre.data?.deploymentHistory?.nodes.length).toBeGreaterThan(0);

    const graphiql = await fetch(`${first.base}/graphql`, { headers: { accept: 'text/html' } });
    expect(graphiql.status).toBe(200);
    expect(await graphiql.text()).toContain('Ops release gates');

    // The database URLs: the owner and the API login, on database ops.
    const owner = await dbUrl('--owner');
    const api = await dbUrl('--api');
    expect(await whoAmI(owner)).toEqual({ user: 'postgres', db: 'ops' });
    expect(await whoAmI(api)).toEqual({ user: 'authenticator', db: 'ops' });

    const pgPid = postmasterPid();
    expect(alive(pgPid)).toBe(true);
    const stopped = await first.stop('SIGTERM');
    expect(stopped.code === 0 || stopped.signal === 'SIGTERM', JSON.stringify(stopped)).toBe(true);
    await expectNothingLeft(first.base, pgPid);
    expect(first.output()).toContain('"msg":"stopped"');
    expect(first.output()).not.toContain('second signal');

    const second = await start({ NODE_ENV: 'development' });
    console.log(`second start (existing data): ready after ${second.readyAfterMs} ms`);
    expect(second.output()).toContain('existing data reused');
    expect(second.output()).toContain('"initialised":false');
    expect(await demoReleases(second.base, second.output())).toEqual(releases);
    // The same URLs as before the restart, and they still connect.
    expect(await dbUrl('--owner')).toBe(owner);
    expect(await dbUrl('--api')).toBe(api);
    expect(await whoAmI(api)).toEqual({ user: 'authenticator', db: 'ops' });
    const pgPid2 = postmasterPid();
    const stopped2 = await second.stop('SIGINT');
    expect(stopped2.code === 0 || stopped2.signal === 'SIGINT', JSON.stringify(stopped2)).toBe(true);
    await expectNothingLeft(second.base, pgPid2);
    expect(second.output()).toContain('"msg":"stopped"');
  }, 600_000);

  it('prints no tokens and serves no GraphiQL in production', async () => {
    const prod = await start({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: 'p'.repeat(40) });
    expect(prod.output()).not.toMatch(/eyJ[\w-]+\.eyJ/);
    const page = await fetch(`${prod.base}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toContain('graphiql');
    const pgPid = postmasterPid();
    const stopped = await prod.stop('SIGTERM');
    expect(stopped.code === 0 || stopped.signal === 'SIGTERM', JSON.stringify(stopped)).toBe(true);
    await expectNothingLeft(prod.base, pgPid);
  }, 300_000);
});
