// `src/main.ts` as a real process: SIGTERM while a request's body is still arriving stops new
// connections, lets that request finish with 200, closes everything and exits 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const SECRET = 'test-secret-shutdown-0123456789abcdef0123';

let db: TestDatabase;
let child: ChildProcess | undefined;
let output = '';

async function waitForHealth(base: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child?.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server did not become healthy:\n${output}`);
}

/**
 * A GET on a connection of its own (no keep-alive agent that could reuse one the server accepted
 * before): the status, or the error code when no connection could be made.
 */
function freshGet(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const r = httpRequest(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    r.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? String(e)));
    r.end();
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
});

afterAll(() => {
  // Only if the test failed before the process exited on its own.
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

it('SIGTERM: stops accepting, finishes the in-flight request, exits 0', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  Object.assign(env, {
    NODE_ENV: 'test',
    DATABASE_URL: db.adminUrl,
    OPS_API_DATABASE_URL: db.apiUrl,
    PORT: String(port),
    SUPABASE_JWT_SECRET: SECRET,
    LOG_LEVEL: 'info',
  });
  // One process (no npm/tsx wrapper), so the signal reaches the server itself.
  child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: projectRoot, env });
  child.stdout?.on('data', (d) => {
    output += d;
  });
  child.stderr?.on('data', (d) => {
    output += d;
  });
  const exited = once(child, 'exit');
  await waitForHealth(base, 60_000);

  const token = await mintToken({ secret: SECRET, persona: 'sre', sub: 'slow-client' });
  const body = Buffer.from(JSON.stringify({ query: 'query Slow { viewer { subject persona } }' }));
  const half = Math.floor(body.length / 2);
  const req = httpRequest(`${base}/graphql`, {
    agent: false,
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      'content-length': body.length,
    },
  });
  const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  const connected = new Promise((resolve) => req.once('socket', (s) => s.once('connect', resolve)));
  req.flushHeaders();
  req.write(body.subarray(0, half));
  await connected;
  // The request must be in flight (its headers read), not an idle connection that stopping closes.
  // Its bytes reached the server before any later connection was opened: once one later connection
  // has been answered, it has been accepted too; once a second one has been accepted and answered,
  // the server's poll for it has also reported the first one's bytes, which it then read.
  for (let i = 0; i < 2; i++) expect(await freshGet(`${base}/health`)).toBe(200);

  child.kill('SIGTERM');
  // No new connections once stopping (polled: a busy machine may take a while to deliver the
  // signal), while the request in flight is still waiting for the rest of its body ...
  await expect
    .poll(() => freshGet(`${base}/health`), { timeout: 60_000, interval: 100 })
    .toBe('ECONNREFUSED');
  // ...but the request already in flight completes.
  req.end(body.subarray(half));
  const res = await response;
  expect(res.status, output).toBe(200);
  expect(JSON.parse(res.text)).toEqual({ data: { viewer: { subject: 'slow-client', persona: 'sre' } } });

  const [code, signal] = await exited;
  expect({ code, signal }, output).toEqual({ code: 0, signal: null });
  expect(output).toContain('"msg":"stopped"');
  // Development tokens are printed in development only.
  expect(output).not.toContain('eyJ');
});
