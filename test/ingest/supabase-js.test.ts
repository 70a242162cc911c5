// A producer using @supabase/supabase-js: supabase.functions.invoke('ops-event-ingest', ...) with
// SUPABASE_URL pointed at the project's server and at the Edge Function under Deno gets what plain
// HTTP gets: accepted, the duplicate (also across clients: supabase-js and fetch serialise alike
// enough for the canonical hash), and the error statuses as FunctionsHttpError with the Response.
import path from 'node:path';
import { createClient, FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { runProcess } from '../../src/process.js';
import { createRelease, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  type ChildService,
  envelope,
  httpPost,
  INGEST_PATH,
  logCount,
  logRow,
  type NodeServer,
  startDenoFunction,
  startServer,
} from './support.js';

let db: TestDatabase;
let server: NodeServer;
let deno: ChildService;

beforeAll(async () => {
  db = await useTestDatabase();
  server = startServer(db);
  await server.listen();
  deno = await startDenoFunction(db);
});

afterAll(async () => {
  await deno?.stop();
  await server?.close();
});

const targets = [
  { name: 'SUPABASE_URL = the server', base: () => server.base! },
  { name: 'SUPABASE_URL = the Edge Function under Deno', base: () => deno.base },
];

class NoWebSocket {
  constructor() {
    throw new Error('realtime is not used here');
  }
}

interface Outcome {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: compared field by field
  body: any;
}

describe.each(targets)('$name', ({ base }) => {
  let supabase: SupabaseClient;
  let release: Release;

  beforeAll(async () => {
    // The anon key is whatever the project hands out; the ingest reads the Authorization header.
    supabase = createClient(base(), 'anon-key-not-used-by-the-ingest', {
      auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
      // Node 20 has no WebSocket, which supabase-js's realtime client asks for up front; these
      // producers never open a channel.
      realtime: { transport: NoWebSocket as never },
    });
    release = await createRelease(db);
  });

  /** functions.invoke, its answer read back into status and body whichever way it came. */
  async function invoke(persona: Persona | string, body: unknown): Promise<Outcome> {
    const authorization = persona.startsWith('Bearer ') ? persona : await bearer(persona as Persona);
    const { data, error, response } = await supabase.functions.invoke('ops-event-ingest', {
      body: body as Record<string, unknown>,
      headers: { Authorization: authorization },
    });
    if (error) {
      expect(error).toBeInstanceOf(FunctionsHttpError);
      const res = (error as FunctionsHttpError).context as Response;
      return { status: res.status, body: await res.json() };
    }
    return { status: response!.status, body: data };
  }

  async function plain(persona: Persona | string, body: unknown): Promise<Outcome> {
    const authorization = persona.startsWith('Bearer ') ? persona : await bearer(persona as Persona);
    const reply = await httpPost(`${base()}${INGEST_PATH}`, JSON.stringify(body), { authorization });
    return { status: reply.status, body: reply.body };
  }

  it('accepted, then the duplicate, through supabase-js and through plain HTTP alike', async () => {
    const env = envelope(
      'check_result',
      release.release_id,
      { check_name: 'unit', status: 'pass' },
      { gate: 'G1' },
    );
    const first = await invoke('ci_service_role', env);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ status: 'accepted', detail: { check_id: expect.any(String) } });

    // The same event again, from supabase-js and from fetch: the original result both times.
    for (const again of [await invoke('ci_service_role', env), await plain('ci_service_role', env)]) {
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({
        status: 'duplicate',
        ingest_id: first.body.ingest_id,
        detail: first.body.detail,
      });
      expect((await logRow(db, again.body.attempt_id))?.duplicate_of).toBe(first.body.ingest_id);
    }

    // And the other way round: plain HTTP first, supabase-js retries.
    const env2 = envelope(
      'check_result',
      release.release_id,
      { check_name: 'lint', status: 'pass' },
      { gate: 'G1' },
    );
    const viaHttp = await plain('ci_service_role', env2);
    expect(viaHttp.body.status).toBe('accepted');
    const viaJs = await invoke('ci_service_role', env2);
    expect(viaJs.body).toMatchObject({ status: 'duplicate', ingest_id: viaHttp.body.ingest_id });
  });

  it('refusals come back as FunctionsHttpError whose Response has the same status and body as plain HTTP', async () => {
    const cases: { persona: Persona | string; body: unknown; status: number; error: string }[] = [
      {
        persona: 'audit_reader',
        body: envelope('build_complete', release.release_id, { status: 'pass' }),
        status: 403,
        error: 'forbidden',
      },
      {
        persona: 'ci_service_role',
        body: { ...envelope('build_complete', release.release_id, { status: 'pass' }), schema_version: 'v9' },
        status: 422,
        error: 'unsupported_schema_version',
      },
      {
        persona: 'ci_service_role',
        body: { event_type: 'build_complete', payload: {} },
        status: 400,
        error: 'invalid_envelope',
      },
      {
        persona: 'Bearer not-a-token',
        body: envelope('build_complete', release.release_id, { status: 'pass' }),
        status: 401,
        error: 'invalid_token',
      },
    ];
    for (const c of cases) {
      const logBefore = await logCount(db);
      const js = await invoke(c.persona, c.body);
      const http = await plain(c.persona, c.body);
      expect(js.status, JSON.stringify(js.body)).toBe(c.status);
      expect(http.status).toBe(c.status);
      expect(js.body.error).toBe(c.error);
      expect(http.body.error).toBe(c.error);
      const strip = ({ ingest_id: _i, attempt_id: _a, ...rest }: Record<string, unknown>) => rest;
      expect(strip(js.body)).toEqual(strip(http.body));
      // Both attempts logged, unless the token was refused.
      expect(await logCount(db)).toBe(logBefore + (c.status === 401 ? 0 : 2));
    }
  });

  it('a conflicting reuse of a key: 409 idempotency_key_conflict either way', async () => {
    const env = envelope(
      'check_result',
      release.release_id,
      { check_name: 'e2e', status: 'pass' },
      { gate: 'G1' },
    );
    const first = await invoke('ci_service_role', env);
    expect(first.body.status).toBe('accepted');
    const changed = { ...env, payload: { ...env.payload, status: 'fail' } };
    for (const reply of [await invoke('ci_service_role', changed), await plain('ci_service_role', changed)]) {
      expect(reply.status).toBe(409);
      expect(reply.body).toMatchObject({
        error: 'idempotency_key_conflict',
        detail: { original_ingest_id: first.body.ingest_id },
      });
    }
  });
});

describe("examples/supabase-js/emit-event.mjs (the README's supabase-js call, with ws as the WebSocket)", () => {
  it('records a check through supabase-js on this Node, and a retry of it is the duplicate', async () => {
    const release = await createRelease(db);
    const token = (await bearer('ci_service_role')).replace(/^Bearer /, '');
    const run = () =>
      runProcess(
        process.execPath,
        [path.join(projectRoot, 'examples/supabase-js/emit-event.mjs'), release.release_id, 'lint', 'pass'],
        { cwd: projectRoot, env: { PATH: process.env.PATH, SUPABASE_URL: server.base!, OPS_TOKEN: token } },
      );
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({
      status: 'accepted',
      detail: { check_id: expect.any(String) },
    });
    const again = await run();
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      status: 'duplicate',
      ingest_id: JSON.parse(first.stdout).ingest_id,
    });
    const { rows } = await db.admin.query(
      `select c.check_name, c.status from ops.gate_checks c join ops.release_gates g using (gate_id)
        where g.release_id = $1 and c.check_name = 'lint'`,
      [release.release_id],
    );
    expect(rows).toEqual([{ check_name: 'lint', status: 'pass' }]);
  });
});
