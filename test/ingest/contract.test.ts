// The ingest contract (DESIGN.md section 6) held by every door: the server in-process
// (createServer().fetch), the server on a real port (the Node adapter) and the Supabase Edge
// Function under Deno. Each case checks the answer, the log row it left and the domain rows; after
// every test the log has grown by exactly the number of authenticated attempts the test made.
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { attachEvidence, createRelease, passG1, type Release, storedGates } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  denoTarget,
  envelope,
  httpServerTarget,
  INGEST_PATH,
  type IngestTarget,
  inProcessTarget,
  logCount,
  logRow,
  MAX_BODY_BYTES,
  type Reply,
  rawPost,
  SECRET,
  startDenoFunction,
} from './support.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SUB = {
  ci: 'ingest-ci-service-role',
  qa: 'ingest-qa-tester',
  sre: 'ingest-sre',
  developer: 'ingest-developer',
  auditor: 'ingest-audit-reader',
};

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

// An ES256 key served as a JWKS, so the Deno function is also checked with SUPABASE_JWKS_URL.
let jwks: Server;
let jwksUrl: string;
let privateKey: CryptoKey;
beforeAll(async () => {
  const pair = await generateKeyPair('ES256', { extractable: true });
  privateKey = pair.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'ingest-test', alg: 'ES256', use: 'sig' };
  jwks = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;
});
afterAll(async () => {
  await new Promise((resolve) => jwks?.close(resolve));
});

const targets: { name: string; make: (db: TestDatabase) => Promise<IngestTarget> }[] = [
  { name: 'server in-process (createServer().fetch)', make: async (d) => inProcessTarget(d) },
  { name: 'server on a real port (node:http adapter)', make: (d) => httpServerTarget(d) },
  {
    name: 'Edge Function under Deno',
    make: (d) => denoTarget(d, { SUPABASE_JWKS_URL: jwksUrl }),
  },
];

async function gateChecksOf(ingestId: string) {
  const { rows } = await db.admin.query(
    `select c.check_id, c.check_name, c.status::text, g.gate_code::text, g.release_id
     from ops.gate_checks c join ops.release_gates g using (gate_id) where c.ingest_id = $1`,
    [ingestId],
  );
  return rows;
}

async function evidenceOf(ingestId: string) {
  const { rows } = await db.admin.query(
    `select e.artifact_id, e.artifact_type::text, e.check_id, e.deployment_id, e.release_id, g.gate_code::text
     from ops.evidence_artifacts e left join ops.release_gates g using (gate_id) where e.ingest_id = $1`,
    [ingestId],
  );
  return rows;
}

/** Rows any ingest attempt could have written, all tables together. */
async function domainRows(): Promise<number> {
  const { rows } = await db.admin.query<{ n: number }>(
    `select ((select count(*) from ops.gate_checks) + (select count(*) from ops.approvals)
           + (select count(*) from ops.evidence_artifacts) + (select count(*) from ops.deployments)
           + (select count(*) from ops.environment_events) + (select count(*) from ops.gate_transitions))::int as n`,
  );
  return rows[0]!.n;
}

describe.each(targets)('$name', ({ make }) => {
  let target: IngestTarget;
  let release: Release;
  /** Authenticated attempts made by the running test; each must leave exactly one log row. */
  let attempts = 0;
  let logBefore = 0;

  beforeAll(async () => {
    target = await make(db);
    release = await createRelease(db);
  });
  afterAll(async () => {
    await target?.close();
  });
  beforeEach(async () => {
    attempts = 0;
    logBefore = await logCount(db);
  });
  afterEach(async () => {
    expect(await logCount(db), 'one log row per authenticated attempt').toBe(logBefore + attempts);
  });

  /** Sends as a persona (counted as an authenticated attempt) or with a raw Authorization value. */
  async function send(
    as: Persona | { authorization: string | null },
    body: unknown,
    sub?: string,
  ): Promise<Reply> {
    let authorization: string | null;
    if (typeof as === 'string') {
      authorization = await bearer(as, sub ?? SUB[personaKey(as)]);
      attempts++;
    } else authorization = as.authorization;
    return target.post(typeof body === 'string' ? body : JSON.stringify(body), { authorization });
  }

  function personaKey(p: Persona): keyof typeof SUB {
    return (
      {
        ci_service_role: 'ci',
        qa_tester: 'qa',
        sre: 'sre',
        developer: 'developer',
        audit_reader: 'auditor',
      } as const
    )[p as 'ci_service_role'];
  }

  async function expectRejected(reply: Reply, status: number, error: string) {
    expect(reply.status, reply.text).toBe(status);
    expect(reply.body).toMatchObject({ status: 'rejected', error, detail: { error } });
    expect(reply.body.ingest_id).toMatch(UUID);
    const row = await logRow(db, reply.body.ingest_id);
    expect(row).toMatchObject({
      processing_status: 'rejected',
      http_status: status,
      error_detail: { error },
    });
    return row!;
  }

  // One accepted event shared by the idempotency cases below (they run in order).
  const first = {} as { env: ReturnType<typeof envelope>; reply: Reply };

  it('first attempt: 200 accepted with its ingest_id and the ids of its effects', async () => {
    const env = envelope('build_complete', release.release_id, {
      status: 'pass',
      check_name: 'build',
      log_url: `https://ci.example/runs/${randomUUID()}/log`,
      sha256: 'ab'.repeat(32),
    });
    const reply = await send('ci_service_role', env);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toEqual({
      ingest_id: expect.stringMatching(UUID),
      attempt_id: reply.body.ingest_id,
      status: 'accepted',
      detail: {
        check_id: expect.stringMatching(UUID),
        artifact_id: expect.stringMatching(UUID),
        gate_status: 'passed',
      },
    });
    Object.assign(first, { env, reply });

    const row = await logRow(db, reply.body.ingest_id);
    expect(row).toMatchObject({
      processing_status: 'accepted',
      http_status: 200,
      idempotency_key: env.idempotency_key,
      duplicate_of: null,
      result: reply.body.detail,
      created_by: SUB.ci,
    });
    expect(await gateChecksOf(reply.body.ingest_id)).toEqual([
      {
        check_id: reply.body.detail.check_id,
        check_name: 'build',
        status: 'pass',
        gate_code: 'G1',
        release_id: release.release_id,
      },
    ]);
    expect(await evidenceOf(reply.body.ingest_id)).toEqual([
      {
        artifact_id: reply.body.detail.artifact_id,
        artifact_type: 'build_log',
        check_id: reply.body.detail.check_id,
        deployment_id: null,
        release_id: release.release_id,
        gate_code: 'G1',
      },
    ]);
  });

  it('a retry (the same event re-serialised): the original result and ingest_id, logged as duplicate', async () => {
    const rows = await domainRows();
    // Other key order and spacing: the hash is of canonical JSON, so it is the same event.
    const reordered = Object.fromEntries(Object.entries(first.env).reverse());
    reordered.payload = Object.fromEntries(Object.entries(first.env.payload).reverse());
    const reply = await send('ci_service_role', JSON.stringify(reordered, null, 2));
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toMatchObject({
      status: 'duplicate',
      ingest_id: first.reply.body.ingest_id,
      detail: first.reply.body.detail,
    });
    expect(reply.body.attempt_id).not.toBe(first.reply.body.ingest_id);
    expect(await logRow(db, reply.body.attempt_id)).toMatchObject({
      processing_status: 'duplicate',
      http_status: 200,
      duplicate_of: first.reply.body.ingest_id,
      result: first.reply.body.detail,
    });
    // Nothing happened twice.
    expect(await domainRows()).toBe(rows);
    expect(await gateChecksOf(reply.body.attempt_id)).toEqual([]);
  });

  it('the same key with another payload: 409 idempotency_key_conflict, nothing applied', async () => {
    const rows = await domainRows();
    const reply = await send('ci_service_role', {
      ...first.env,
      payload: { ...first.env.payload, status: 'fail' },
    });
    await expectRejected(reply, 409, 'idempotency_key_conflict');
    expect(reply.body.detail.original_ingest_id).toBe(first.reply.body.ingest_id);
    expect(await domainRows()).toBe(rows);
  });

  it('an unknown schema_version: 422 unsupported_schema_version', async () => {
    const env = {
      ...envelope('build_complete', release.release_id, { status: 'pass' }),
      schema_version: 'v2.0',
    };
    const reply = await send('ci_service_role', env);
    await expectRejected(reply, 422, 'unsupported_schema_version');
  });

  it('missing and malformed fields: 400 naming every one of them; a non-JSON body: 400 invalid_json', async () => {
    const rows = await domainRows();
    const env: Record<string, unknown> = {
      ...envelope('check_result', release.release_id, { status: 'green' }),
    };
    delete env.idempotency_key;
    delete env.release_id;
    delete env.emitted_at;
    const reply = await send('ci_service_role', env);
    await expectRejected(reply, 400, 'invalid_envelope');
    const paths = (reply.body.detail.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'idempotency_key',
        'release_id',
        'emitted_at',
        'gate_code',
        'payload.check_name',
        'payload.status',
      ]),
    );

    await expectRejected(await send('ci_service_role', '{"schema_version": "v1.0",'), 400, 'invalid_json');
    await expectRejected(await send('ci_service_role', '[1, 2, 3]'), 400, 'invalid_envelope');
    expect(await domainRows()).toBe(rows);
  });

  it('text Postgres cannot store, absurd nesting: 400 naming the field (not a 500), logged', async () => {
    const rows = await domainRows();
    const nul = envelope('build_complete', release.release_id, {
      status: 'pass',
      metadata: { note: 'a\u0000b' },
    });
    const nulReply = await send('ci_service_role', nul);
    await expectRejected(nulReply, 400, 'invalid_envelope');
    expect(nulReply.body.detail.issues).toContainEqual({
      path: 'payload.metadata.note',
      message: expect.stringContaining('NUL'),
    });
    const surrogate = {
      ...envelope('build_complete', release.release_id, { status: 'pass' }),
      source_system: 'ci\ud800',
    };
    const surrogateReply = await send('ci_service_role', surrogate);
    await expectRejected(surrogateReply, 400, 'invalid_envelope');
    expect(surrogateReply.body.detail.issues).toContainEqual({
      path: 'source_system',
      message: expect.stringContaining('surrogate'),
    });
    // The log keeps what it can of such an envelope: its key, with U+FFFD in place of the NUL.
    const logged = await db.admin.query(
      'select idempotency_key, envelope from ops.event_ingest_log where ingest_id = $1',
      [nulReply.body.ingest_id],
    );
    expect(logged.rows[0].idempotency_key).toBe(nul.idempotency_key);
    expect(logged.rows[0].envelope.payload.metadata.note).toBe('a\uFFFDb');

    const deep = await send('ci_service_role', `${'['.repeat(20_000)}${']'.repeat(20_000)}`);
    await expectRejected(deep, 400, 'invalid_envelope');
    expect(deep.body.detail.issues[0].message).toMatch(/nested deeper than 64 levels/);
    expect(await domainRows()).toBe(rows);
  });

  it('an unknown release_id: 409 unknown_release', async () => {
    const reply = await send('ci_service_role', envelope('build_complete', randomUUID(), { status: 'pass' }));
    await expectRejected(reply, 409, 'unknown_release');
  });

  it('a persona that may not send the event: 403, nothing applied', async () => {
    const rows = await domainRows();
    // audit_reader sends nothing at all.
    await expectRejected(
      await send('audit_reader', envelope('build_complete', release.release_id, { status: 'pass' })),
      403,
      'forbidden',
    );
    // CI cannot sign off a gate.
    await expectRejected(
      await send(
        'ci_service_role',
        envelope('gate_signoff', release.release_id, { decision: 'approved' }, { gate: 'G2' }),
      ),
      403,
      'forbidden',
    );
    // A QA tester signs G2, not G3.
    await expectRejected(
      await send(
        'qa_tester',
        envelope('gate_signoff', release.release_id, { decision: 'approved' }, { gate: 'G3' }),
      ),
      403,
      'forbidden',
    );
    // A developer reports builds of their own releases only.
    await expectRejected(
      await send('developer', envelope('build_complete', release.release_id, { status: 'pass' })),
      403,
      'forbidden',
    );
    expect(await domainRows()).toBe(rows);
  });

  it('no token, a bad token, another secret, no persona: 401/403 and no log row', async () => {
    const env = envelope('build_complete', release.release_id, { status: 'pass' });
    const none = await send({ authorization: null }, env);
    expect(none.status).toBe(401);
    expect(none.body.error).toBe('missing_token');
    const garbage = await send({ authorization: 'Bearer not.a.jwt' }, env);
    expect(garbage.status).toBe(401);
    expect(garbage.body.error).toBe('invalid_token');
    const forged = await mintToken({
      secret: `${SECRET}-but-another`,
      persona: 'ci_service_role',
      sub: SUB.ci,
    });
    const wrongKey = await send({ authorization: `Bearer ${forged}` }, env);
    expect(wrongKey.status).toBe(401);
    expect(wrongKey.body.error).toBe('invalid_token');
    const expired = await mintToken({ secret: SECRET, persona: 'ci_service_role', ttlSeconds: -60 });
    expect((await send({ authorization: `Bearer ${expired}` }, env)).status).toBe(401);
    // A valid token that names no persona cannot act as anyone (nor be logged as anyone).
    const { SignJWT: Sign } = await import('jose');
    const personaless = await new Sign({ role: 'authenticated' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('someone')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET));
    const noPersona = await send({ authorization: `Bearer ${personaless}` }, env);
    expect(noPersona.status).toBe(403);
    expect(noPersona.body.error).toBe('no_persona');
    // attempts stays 0: afterEach checks the log did not grow.
  });

  it(`a body over OPS_MAX_BODY_BYTES (${MAX_BODY_BYTES}): 413, logged with http_status 413`, async () => {
    const env = envelope('build_complete', release.release_id, {
      status: 'pass',
      metadata: { filler: 'x'.repeat(100_000) },
    });
    const body = JSON.stringify(env);
    const authorization = await bearer('ci_service_role', SUB.ci);
    const replies: Reply[] = [];
    if (target.base) {
      // Declared by Content-Length, and streamed without one.
      replies.push(await rawPost(`${target.base}${target.path}`, body, { authorization }));
      replies.push(await rawPost(`${target.base}${target.path}`, body, { authorization, chunked: true }));
    } else {
      replies.push(await target.post(body, { authorization }));
    }
    attempts += replies.length;
    for (const reply of replies) {
      const row = await expectRejected(reply, 413, 'payload_too_large');
      expect(row.created_by).toBe(SUB.ci);
    }
  });

  it('each event type has its effect on the domain tables', async () => {
    const r = await createRelease(db);
    const ok = async (persona: Persona, env: ReturnType<typeof envelope>) => {
      const reply = await send(persona, env);
      expect(reply.status, `${env.event_type}: ${reply.text}`).toBe(200);
      expect(reply.body.status).toBe('accepted');
      return reply.body as { ingest_id: string; detail: Record<string, string> };
    };

    // build_complete: a G1 check and its build_log evidence; G1 re-evaluated.
    const build = await ok(
      'ci_service_role',
      envelope('build_complete', r.release_id, { status: 'pass', log_url: 'https://ci.example/log/1' }),
    );
    expect(await gateChecksOf(build.ingest_id)).toMatchObject([
      { gate_code: 'G1', status: 'pass', check_name: 'build' },
    ]);
    expect(await evidenceOf(build.ingest_id)).toMatchObject([
      { artifact_type: 'build_log', gate_code: 'G1' },
    ]);
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');

    // check_result: a check on the named gate.
    const check = await ok(
      'ci_service_role',
      envelope('check_result', r.release_id, { check_name: 'e2e-suite', status: 'pass' }, { gate: 'G2' }),
    );
    expect(await gateChecksOf(check.ingest_id)).toEqual([
      {
        check_id: check.detail.check_id,
        check_name: 'e2e-suite',
        status: 'pass',
        gate_code: 'G2',
        release_id: r.release_id,
      },
    ]);

    // evidence_attached: an artifact on the gate.
    const evidence = await ok(
      'qa_tester',
      envelope(
        'evidence_attached',
        r.release_id,
        { artifact_type: 'test_result', artifact_url: 'https://qa.example/report/1' },
        { gate: 'G2', source: 'agent' },
      ),
    );
    expect(await evidenceOf(evidence.ingest_id)).toMatchObject([
      { artifact_id: evidence.detail.artifact_id, artifact_type: 'test_result', gate_code: 'G2' },
    ]);

    // gate_signoff: the caller's approval; G2 re-evaluated and its transition tied to the event.
    const signoff = await ok(
      'qa_tester',
      envelope(
        'gate_signoff',
        r.release_id,
        { decision: 'approved', rationale_text: 'all green' },
        { gate: 'G2', source: 'agent' },
      ),
    );
    expect(signoff.detail.gate_status).toBe('passed');
    const approvals = await db.admin.query(
      `select a.approval_id, a.approver_id, a.persona_role::text, a.decision::text, g.gate_code::text
       from ops.approvals a join ops.release_gates g using (gate_id) where a.ingest_id = $1`,
      [signoff.ingest_id],
    );
    expect(approvals.rows).toEqual([
      {
        approval_id: signoff.detail.approval_id,
        approver_id: SUB.qa,
        persona_role: 'qa_tester',
        decision: 'approved',
        gate_code: 'G2',
      },
    ]);
    const transitions = await db.admin.query(
      `select t.from_status::text, t.to_status::text, g.gate_code::text
       from ops.gate_transitions t join ops.release_gates g using (gate_id) where t.ingest_id = $1`,
      [signoff.ingest_id],
    );
    expect(transitions.rows).toContainEqual({
      from_status: expect.any(String),
      to_status: 'passed',
      gate_code: 'G2',
    });

    // deployment_event: a deployment recorded, then updated.
    const created = await ok(
      'sre',
      envelope('deployment_event', r.release_id, {
        environment: 'staging',
        status: 'in_progress',
        // The release's own revision: a deployment of any other is refused.
        source_ref: 'refs/heads/main',
      }),
    );
    const deploymentId = created.detail.deployment_id!;
    expect(created.detail.status).toBe('in_progress');
    const deployment = async () =>
      (
        await db.admin.query(
          'select status::text, g4_status::text, deployed_by, ingest_id from ops.deployments where deployment_id = $1',
          [deploymentId],
        )
      ).rows[0];
    expect(await deployment()).toEqual({
      status: 'in_progress',
      g4_status: 'pending',
      deployed_by: SUB.sre,
      ingest_id: created.ingest_id,
    });
    const updated = await ok(
      'sre',
      envelope('deployment_event', r.release_id, { deployment_id: deploymentId, status: 'succeeded' }),
    );
    expect(updated.detail).toEqual({ deployment_id: deploymentId, status: 'succeeded' });
    expect((await deployment()).status).toBe('succeeded');

    // health_check: a G4 check, health_check evidence on the deployment, the deployment's g4_status.
    const health = await ok(
      'sre',
      envelope(
        'health_check',
        r.release_id,
        {
          deployment_id: deploymentId,
          status: 'pass',
          artifact_url: 'https://monitoring.example/checks/1',
        },
        { source: 'monitoring' },
      ),
    );
    expect(health.detail).toEqual({ deployment_id: deploymentId, g4_status: 'passed' });
    expect(await gateChecksOf(health.ingest_id)).toMatchObject([{ gate_code: 'G4', status: 'pass' }]);
    expect(await evidenceOf(health.ingest_id)).toMatchObject([
      { artifact_type: 'health_check', deployment_id: deploymentId },
    ]);
    expect((await deployment()).g4_status).toBe('passed');

    // environment_event: one environment_events row carrying the payload and the key.
    const envEvent = envelope('environment_event', r.release_id, {
      environment: 'staging',
      kind: 'maintenance_window',
      minutes: 30,
    });
    const event = await ok('sre', envEvent);
    const events = await db.admin.query(
      'select event_id, environment, event_type, payload, idempotency_key from ops.environment_events where ingest_id = $1',
      [event.ingest_id],
    );
    expect(events.rows).toEqual([
      {
        event_id: event.detail.event_id,
        environment: 'staging',
        event_type: 'maintenance_window',
        payload: { environment: 'staging', kind: 'maintenance_window', minutes: 30 },
        idempotency_key: envEvent.idempotency_key,
      },
    ]);
  });
});

describe('replaying an accepted event as another persona', () => {
  let target: IngestTarget;
  beforeAll(async () => {
    target = await inProcessTarget(db);
  });
  afterAll(async () => {
    await target?.close();
  });

  // A replay is no way around the permission matrix: the persona is checked before the key.
  it('a persona that may not send the event gets 403 even when it replays an accepted one', async () => {
    const release = await createRelease(db);
    await passG1(db, release);
    await attachEvidence(db, 'qa_tester', SUB.qa, release.release_id, 'test_result', 'G2');
    const signoff = JSON.stringify(
      envelope('gate_signoff', release.release_id, { decision: 'approved' }, { gate: 'G2', source: 'agent' }),
    );
    const original = await target.post(signoff, { authorization: await bearer('qa_tester', SUB.qa) });
    expect(original.body.status).toBe('accepted');
    for (const persona of ['audit_reader', 'ci_service_role', 'release_manager'] as const) {
      const replay = await target.post(signoff, { authorization: await bearer(persona) });
      expect(replay.status, `${persona}: ${replay.text}`).toBe(403);
      expect(replay.body).toMatchObject({ status: 'rejected', error: 'forbidden' });
      expect(replay.body.detail).not.toHaveProperty('approval_id');
    }
  });
});

describe('the Edge Function specifically', () => {
  let target: IngestTarget;
  let release: Release;
  beforeAll(async () => {
    target = await denoTarget(db, { SUPABASE_JWKS_URL: jwksUrl });
    release = await createRelease(db);
  });
  afterAll(async () => {
    await target?.close();
  });

  it('answers at /ops-event-ingest (as Supabase routes it) and at /functions/v1/ops-event-ingest; 404 elsewhere', async () => {
    const authorization = await bearer('ci_service_role', SUB.ci);
    for (const path of ['/ops-event-ingest', INGEST_PATH, `${INGEST_PATH}/`]) {
      const reply = await target.post(
        JSON.stringify(
          envelope(
            'check_result',
            release.release_id,
            { check_name: `lint${path}`, status: 'pass' },
            { gate: 'G1' },
          ),
        ),
        { authorization, path },
      );
      expect(reply.status, `${path}: ${reply.text}`).toBe(200);
      expect(reply.body.status).toBe('accepted');
    }
    const before = await logCount(db);
    const elsewhere = await target.post('{}', { authorization, path: '/other-function' });
    expect(elsewhere.status).toBe(404);
    expect(await logCount(db)).toBe(before);
  });

  it('verifies asymmetric tokens through SUPABASE_JWKS_URL', async () => {
    const token = await new SignJWT({ role: 'ci_service_role' })
      .setProtectedHeader({ alg: 'ES256', kid: 'ingest-test' })
      .setSubject('ci-jwks')
      .setExpirationTime('5m')
      .sign(privateKey);
    const reply = await target.post(
      JSON.stringify(
        envelope('check_result', release.release_id, { check_name: 'jwks', status: 'pass' }, { gate: 'G1' }),
      ),
      { authorization: `Bearer ${token}` },
    );
    expect(reply.status, reply.text).toBe(200);
    expect((await logRow(db, reply.body.ingest_id))?.created_by).toBe('ci-jwks');
  });

  it('refuses to start without SUPABASE_DB_URL or a JWT key, naming the variables', async () => {
    await expect(
      startDenoFunction({ apiUrl: '' }, { SUPABASE_JWT_SECRET: '', OPS_MAX_BODY_BYTES: 'lots' }),
    ).rejects.toThrow(
      /SUPABASE_DB_URL: required.*SUPABASE_JWT_SECRET or SUPABASE_JWKS_URL.*OPS_MAX_BODY_BYTES/s,
    );
  });
});
