// An exception's gates as a list of odd shape. Through RPC or raw SQL, a persona that may request
// exceptions could store '[0:0]={G2}' (numbered from 0), which once approved bypassed G2 while the
// API's exception reads failed on its gates (INTERNAL_SERVER_ERROR, impactedGates null: an auditor
// could not see what it bypassed), and '{G1,G1,...}' with any number of repeats, copied whole into
// the outbox, webhook deliveries and the deadline sweep's reasons. '{{G2},{G3}}' was refused by an
// internal error (0A000) naming nothing. Since 20261207000000 each is refused at every door, the
// owner's too, by a check_violation naming exceptions_impacted_gates_flat_list; nothing is stored.
// A plain list, in any order, is still accepted, and shows in the API as it was asked for.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { ExceptionsDocument, RequestExceptionDocument } from '../../src/gql/graphql.js';
import { pgArray } from '../../src/resolvers/rows.js';
import { createRelease, uniqueName, who } from '../governance/scenario.js';
import { createTestApi, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { tryAsRole } from './sql-door.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
});

afterAll(async () => {
  await api?.close();
});

const ODD = {
  'numbered from 0': '[0:0]={G2}',
  'numbered from -5': '[-5:-4]={G1,G2}',
  'a gate twice': '{G2,G2}',
  'two dimensions': '{{G2},{G3}}',
  'a gate 100,000 times': `{${Array(100_000).fill('G1').join(',')}}`,
} as const;

const count = async (releaseId: string) =>
  (
    await db.admin.query<{ n: number }>(
      'select count(*)::int as n from ops.exceptions where release_id = $1',
      [releaseId],
    )
  ).rows[0]!.n;

const requestAs = (releaseId: string, gates: string) =>
  db.as('release_manager', who.rm2, (c) =>
    c.query<{ exception_id: string }>(
      `select exception_id from ops.request_exception($1, 'gate_bypass', $2::public.ops_gate_code[], 'r', 'low',
                                                      now() + interval '1 day')`,
      [releaseId, gates],
    ),
  );

describe('an exception whose gates are not a plain list', () => {
  it('is refused at request through RPC as a release manager, naming the constraint, nothing stored', async () => {
    const r = await createRelease(db, { project: uniqueName('gate-shape') });
    for (const [what, gates] of Object.entries(ODD)) {
      await expect(requestAs(r.release_id, gates), what).rejects.toMatchObject({
        code: '23514',
        constraint: 'exceptions_impacted_gates_flat_list',
      });
    }
    expect(await count(r.release_id)).toBe(0);
    // Plain lists, in either order, still work.
    await requestAs(r.release_id, '{G3,G2}');
    await requestAs(r.release_id, '{G2}');
    expect(await count(r.release_id)).toBe(2);
  });

  it('is refused for every persona through the raw SQL door (RPC and a direct insert), and for the owner', async () => {
    const r = await createRelease(db, { project: uniqueName('gate-shape-sql') });
    for (const persona of PERSONAS) {
      for (const [what, gates] of Object.entries(ODD)) {
        const claims = { sub: `gate-shape-${persona}`, role: persona };
        const rpc = await tryAsRole(db, persona, claims, (c) =>
          c.query(
            `select ops.request_exception($1, 'gate_bypass', $2::public.ops_gate_code[], 'r', 'low',
                                          now() + interval '1 hour')`,
            [r.release_id, gates],
          ),
        );
        expect(rpc, `${persona} rpc ${what}`).toMatchObject({ ok: false });
        const insert = await tryAsRole(db, persona, claims, (c) =>
          c.query(
            `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
                                         requested_by, expires_at)
             values ($1, 'gate_bypass', $2::public.ops_gate_code[], 'r', 'low', $3, now() + interval '1 hour')`,
            [r.release_id, gates, `gate-shape-${persona}`],
          ),
        );
        expect(insert, `${persona} insert ${what}`).toMatchObject({ ok: false });
      }
    }
    // The release manager may insert directly: its refusal is this constraint's, not a privilege's.
    const direct = await tryAsRole(
      db,
      'release_manager',
      { sub: 'gate-shape-rm', role: 'release_manager' },
      (c) =>
        c.query(
          `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
                                     requested_by, expires_at)
         values ($1, 'gate_bypass', '[0:0]={G2}', 'r', 'low', 'gate-shape-rm', now() + interval '1 hour')`,
          [r.release_id],
        ),
    );
    expect(direct).toMatchObject({ ok: false, code: '23514', message: expect.stringContaining('flat_list') });
    const owner = new pg.Client({ connectionString: db.adminUrl });
    await owner.connect();
    try {
      for (const gates of Object.values(ODD)) {
        await expect(
          owner.query(
            `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
                                         requested_by, expires_at)
             values ($1, 'gate_bypass', $2::public.ops_gate_code[], 'r', 'low', 'owner', now() + interval '1 hour')`,
            [r.release_id, gates],
          ),
        ).rejects.toMatchObject({ code: '23514', constraint: 'exceptions_impacted_gates_flat_list' });
      }
    } finally {
      await owner.end();
    }
    expect(await count(r.release_id)).toBe(0);
  });

  it('cannot leave an exception the API fails to show: the release reads whole, gates as asked', async () => {
    const r = await createRelease(db, { project: uniqueName('gate-shape-api') });
    await requestAs(r.release_id, '[0:0]={G2}').catch(() => {});
    await requestAs(r.release_id, '{G3,G2}');
    const out = await api.executeOperation({
      operation: ExceptionsDocument,
      variables: { releaseId: r.release_id },
      persona: 'audit_reader',
      sub: 'aud-gate-shape',
    });
    expect(out.errors).toBeUndefined();
    expect(out.data?.exceptions?.map((e) => e?.impactedGates)).toEqual([['G3', 'G2']]);
  });

  it('is refused through GraphQL (a gate twice), nothing stored', async () => {
    const r = await createRelease(db, { project: uniqueName('gate-shape-gql') });
    const out = await api.executeOperation({
      operation: RequestExceptionDocument,
      variables: {
        input: {
          releaseId: r.release_id,
          exceptionType: 'gate_bypass',
          impactedGates: ['G2', 'G2'],
          reason: 'flaky suite',
          riskStatement: 'low',
          expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
        },
      },
      persona: 'release_manager',
      sub: who.rm2,
    });
    expect(out.data?.requestException).toMatchObject({
      __typename: 'ValidationError',
      message: expect.stringContaining('exceptions_impacted_gates_flat_list'),
    });
    expect(await count(r.release_id)).toBe(0);
  });

  it('stored before the constraint (NOT VALID keeps it), still reads in the API as its gates', () => {
    // The text form PostgreSQL sends for such a row; plain lists read as before.
    expect(pgArray('[0:0]={G2}')).toEqual(['G2']);
    expect(pgArray('[-5:-4]={G1,G2}')).toEqual(['G1', 'G2']);
    expect(pgArray('{G3,G2}')).toEqual(['G3', 'G2']);
    expect(pgArray('{}')).toEqual([]);
  });
});
