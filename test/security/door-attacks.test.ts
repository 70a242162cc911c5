// The attack suite through the API's doors: the HTTP ingest route of the server, the Supabase Edge
// Function under Deno, and GraphQL. Each attack is tried for real; none may succeed.

import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer } from '../../src/server.js';
import { denoTarget, httpServerTarget, type IngestTarget, SECRET } from '../ingest/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type AttackContext, attacks, type HttpDoor, signToken } from './attacks.js';

let db: TestDatabase;
let ctx: AttackContext;
let http: IngestTarget;
let deno: IngestTarget;
let productionPool: pg.Pool;

function door(target: IngestTarget): HttpDoor {
  return {
    async ingest(body, token) {
      const r = await target.post(JSON.stringify(body), { authorization: `Bearer ${token}` });
      return { status: r.status, body: r.body };
    },
  };
}

beforeAll(async () => {
  db = await useTestDatabase();
  http = await httpServerTarget(db);
  deno = await denoTarget(db, { SUPABASE_JWT_SECRET: SECRET });
  productionPool = new pg.Pool({ connectionString: db.apiUrl, max: 2 });
  const production = createServer({
    config: loadConfig({ NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET, LOG_LEVEL: 'silent' }),
    pool: productionPool,
    logger: createLogger({ level: 'silent' }),
  });
  ctx = {
    db,
    doors: {
      http: door(http),
      deno: door(deno),
      graphql: {
        ingest: () => Promise.reject(new Error('use graphql()')),
        async graphql(query, variables, token) {
          const r = await fetch(`${http.base}/graphql`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify({ query, variables }),
          });
          return { status: r.status, body: await r.json().catch(() => null) };
        },
      },
    },
    token: (persona, sub, opts) => signToken(SECRET, persona, sub, opts),
    async productionGet(path, token) {
      const r = await production.fetch(
        new Request(`http://ops.test${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
      );
      await r.text();
      return { status: r.status };
    },
  };
}, 120_000);

afterAll(async () => {
  await http?.close();
  await deno?.close();
  await productionPool?.end();
});

const doorAttacks = attacks.filter((a) => a.door === 'http' || a.door === 'deno' || a.door === 'graphql');

describe('the API doors', () => {
  it.each(doorAttacks.map((a) => [`kind ${a.kind} · ${a.door} · ${a.persona} · ${a.name}`, a] as const))(
    '%s: refused (or, when open, still succeeding)',
    async (_label, attack) => {
      // An open attack (see its reason) is expected to succeed until it is closed.
      expect(await attack.run(ctx), attack.open ?? 'the attack succeeded').toBe(attack.open !== undefined);
    },
    60_000,
  );
});
