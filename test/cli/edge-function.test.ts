// The same command line against a Supabase project: the Edge Function (supabase/functions/
// ops-event-ingest under Deno) behind a stand-in for Supabase's gateway, which serves functions at
// <project>/functions/v1/<name> and wants the project's anon key as `apikey`. ops-gates reaches it
// by URL alone (OPS_API_URL, OPS_ANON_KEY): supabase-js functions.invoke does the rest.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ChildService, startDenoFunction } from '../ingest/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { cli, logRows, SECRET, startServer, token } from './support.js';

const ANON_KEY = 'anon-key-of-the-test-project';

let db: TestDatabase;
let fn: ChildService;
let gateway: Server;
let gatewayUrl: string;
const seenApiKeys: (string | undefined)[] = [];

beforeAll(async () => {
  db = await useTestDatabase();
  fn = await startDenoFunction(db, { SUPABASE_JWT_SECRET: SECRET });
  const target = new URL(fn.base);
  gateway = createServer((req, res) => {
    seenApiKeys.push(req.headers.apikey as string | undefined);
    if (req.headers.apikey !== ANON_KEY) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'Invalid API key' }));
      return;
    }
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: (req.url ?? '/').replace(/^\/functions\/v1/, ''),
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  gatewayUrl = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => gateway?.close(resolve));
  await fn?.stop();
});

it('events go to the Supabase project by URL and anon key; the Edge Function records them', async () => {
  // The release is created on the project's database through the self-hosted API (GraphQL).
  const api = await startServer(db);
  let releaseId: string;
  try {
    const created = await cli(
      ['release', 'create', '--project', 'odoo-edge', '--name', `e-${Date.now()}`, '--json'],
      {
        env: { OPS_API_URL: api.url, OPS_TOKEN: await token('developer') },
      },
    );
    releaseId = created.json.release.id;
  } finally {
    await api.close();
  }

  const env = { OPS_API_URL: gatewayUrl, OPS_ANON_KEY: ANON_KEY, OPS_TOKEN: await token('ci') };
  const key = `github_actions/${Date.now()}/build_complete`;
  const args = ['build-complete', '--release', releaseId, '--status', 'pass', '--idempotency-key', key];
  const r = await cli([...args, '--emitted-at', '2026-11-26T10:00:00Z', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  expect(r.json).toMatchObject({ status: 'accepted', detail: { gate_status: 'passed' } });
  expect(seenApiKeys.at(-1)).toBe(ANON_KEY);
  const again = await cli([...args, '--emitted-at', '2026-11-26T10:00:00Z', '--json'], { env });
  expect(again.json).toMatchObject({ status: 'duplicate', ingestId: r.json.ingestId });
  expect((await logRows(db, key)).map((row) => [row.processing_status, row.created_by])).toEqual([
    ['accepted', 'ci-github-actions'],
    ['duplicate', 'ci-github-actions'],
  ]);

  // Without the anon key the gateway turns the call away: an auth failure (exit 3).
  const noKey = await cli([...args, '--json'], { env: { ...env, OPS_ANON_KEY: '' } });
  expect(noKey.code).toBe(3);
});
