// withPersona on a pooled connection: each request's role and claims are its own and end with its
// transaction; a token without a persona never reaches the database; the identity helpers in SQL
// agree with the TypeScript side.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthError, type Identity, personaFromClaims } from '../../src/auth/jwt.js';
import { isPersona, PERSONAS, type Persona } from '../../src/auth/personas.js';
import { withPersona } from '../../src/db/with-persona.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { adminAs, claimsOf } from './helpers.js';

let db: TestDatabase;
/** One connection, so consecutive requests are guaranteed to share it. */
let pool: pg.Pool;

beforeAll(async () => {
  db = await useTestDatabase();
  pool = new pg.Pool({ connectionString: db.apiUrl, max: 1 });
  // The database is dropped (WITH FORCE) after the file; an idle client must not crash the run.
  pool.on('error', () => {});
  // Registered after useTestDatabase's own afterAll, so it runs first (hooks unwind as a stack).
  afterAll(() => pool.end());
});

const SESSION_STATE = `
  select pg_backend_pid() as pid, current_user::text as "currentUser", session_user::text as "sessionUser",
         current_setting('role') as role,
         current_setting('request.jwt.claims', true) as claims,
         current_setting('request.jwt.claim.sub', true) as "claimSub",
         current_setting('request.jwt.claim.role', true) as "claimRole"`;

interface SessionState {
  pid: number;
  currentUser: string;
  sessionUser: string;
  role: string;
  claims: string | null;
  claimSub: string | null;
  claimRole: string | null;
}

const stateOf = async (c: pg.ClientBase) => (await c.query<SessionState>(SESSION_STATE)).rows[0]!;

function identityOf(sub: string, claims: Record<string, unknown>): Identity {
  return { subject: sub, persona: personaFromClaims(claims), claims: { sub, ...claims } };
}

/** The connection between requests: the login role, no persona, no claims. */
async function expectClean(pid: number): Promise<void> {
  const idle = await stateOf(pool as unknown as pg.ClientBase);
  expect(idle.pid).toBe(pid);
  expect(idle).toMatchObject({ currentUser: 'authenticator', sessionUser: 'authenticator', role: 'none' });
  for (const setting of [idle.claims, idle.claimSub, idle.claimRole]) expect(['', null]).toContain(setting);
}

describe('settings do not leak between requests on a pooled connection', () => {
  it('persona B sees only its own role and claims after persona A, and the connection is clean afterwards', async () => {
    const a = identityOf('rm-alice', {
      role: 'authenticated',
      email: 'alice@example.com',
      app_metadata: { ops_role: 'release_manager' },
    });
    const b = identityOf('dev-bob', { role: 'developer' });

    const seenA = await withPersona(pool, a, stateOf);
    expect(seenA).toMatchObject({
      currentUser: 'release_manager',
      sessionUser: 'authenticator',
      claimSub: 'rm-alice',
      claimRole: 'release_manager',
    });
    expect(JSON.parse(seenA.claims!)).toEqual(a.claims);

    const seenB = await withPersona(pool, b, async (c) => ({
      ...(await stateOf(c)),
      actor: (await c.query('select ops.current_actor() as v')).rows[0].v,
      persona: (await c.query('select ops.current_persona()::text as v')).rows[0].v,
    }));
    expect(seenB.pid).toBe(seenA.pid);
    expect(seenB).toMatchObject({
      currentUser: 'developer',
      claimSub: 'dev-bob',
      claimRole: 'developer',
      actor: 'dev-bob',
      persona: 'developer',
    });
    // B's claims exactly: nothing of A's (no email, no app_metadata) merged in.
    expect(JSON.parse(seenB.claims!)).toEqual({ sub: 'dev-bob', role: 'developer' });

    await expectClean(seenA.pid);
  });

  it('a request that throws is rolled back and the next request is clean', async () => {
    const key = `leak-test/${Date.now()}`;
    const boom = new Error('resolver failed after writing');
    await expect(
      withPersona(pool, identityOf('github_actions', { role: 'ci_service_role' }), async (c) => {
        await c.query(
          `insert into ops.environment_events (environment, event_type, source_system, idempotency_key)
           values ('staging', 'maintenance_window', 'monitoring', $1)`,
          [key],
        );
        throw boom;
      }),
    ).rejects.toBe(boom);
    const written = await db.admin.query('select 1 from ops.environment_events where idempotency_key = $1', [
      key,
    ]);
    expect(written.rowCount).toBe(0);

    // A statement error (aborted transaction) likewise.
    await expect(
      withPersona(pool, identityOf('qa-1', { role: 'qa_tester' }), (c) => c.query('select 1 / 0')),
    ).rejects.toMatchObject({ code: '22012' });

    const next = await withPersona(pool, identityOf('auditor-1', { role: 'audit_reader' }), stateOf);
    expect(next).toMatchObject({ currentUser: 'audit_reader', claimSub: 'auditor-1' });
    expect(JSON.parse(next.claims!)).toEqual({ sub: 'auditor-1', role: 'audit_reader' });
    await expectClean(next.pid);
  });

  it("a request's session-level changes of role or claims do not carry into the next request", async () => {
    const first = await withPersona(pool, identityOf('rm-1', { role: 'release_manager' }), async (c) => {
      // What a careless or injected statement could do inside a request.
      await c.query(
        `select set_config('request.jwt.claims', '{"sub":"mallory","role":"release_manager"}', false)`,
      );
      await c.query(`select set_config('role', 'audit_reader', false)`);
      return stateOf(c);
    });
    const next = await withPersona(pool, identityOf('dev-2', { role: 'developer' }), async (c) => ({
      ...(await stateOf(c)),
      actor: (await c.query('select ops.current_actor() as v')).rows[0].v,
    }));
    expect(next.pid).toBe(first.pid);
    expect(next).toMatchObject({ currentUser: 'developer', actor: 'dev-2' });
    expect(JSON.parse(next.claims!)).toEqual({ sub: 'dev-2', role: 'developer' });
    // Tidy the session-level value this test planted so later tests start from a clean connection.
    // (Between requests the planted values do persist on the connection: withPersona only ever
    // overrides them transaction-locally. Nothing may use the pool outside withPersona.)
    await pool.query('reset role; reset request.jwt.claims');
    await expectClean(first.pid);
  });
});

describe('refusals before the database', () => {
  it.each([
    ['persona null', null],
    ['a role that is not a persona', 'authenticated'],
    ['a superuser name', 'postgres'],
  ])(
    'an identity with %s is refused with 403 no_persona without taking a connection',
    async (_label, persona) => {
      const connect = vi.fn(async () => {
        throw new Error('the database was touched');
      });
      const fakePool = { connect } as unknown as pg.Pool;
      const fn = vi.fn(async () => 'ran');
      const identity = { subject: 'someone', persona, claims: { sub: 'someone' } } as unknown as Identity;
      const err = await withPersona(fakePool, identity, fn).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthError);
      expect(err).toMatchObject({ status: 403, code: 'no_persona' });
      expect(connect).not.toHaveBeenCalled();
      expect(fn).not.toHaveBeenCalled();
    },
  );

  it('a real pool is never connected for a persona-less identity', async () => {
    const fresh = new pg.Pool({ connectionString: db.apiUrl, max: 1 });
    try {
      await expect(
        withPersona(
          fresh,
          { subject: 'u-1', persona: null, claims: { sub: 'u-1', role: 'authenticated' } },
          stateOf,
        ),
      ).rejects.toMatchObject({ name: 'AuthError', status: 403, code: 'no_persona' });
      expect(fresh.totalCount).toBe(0);
    } finally {
      await fresh.end();
    }
  });
});

describe('identity helpers in SQL', () => {
  it('ops.current_actor() is the subject as text, also for a non-UUID service subject', async () => {
    await db.admin.query(`insert into ops.releases (project, release_name) values ('odoo-core', 'actor-1')`);
    const { rows: gate } = await db.admin.query(
      `select g.gate_id from ops.release_gates g join ops.releases r using (release_id)
       where r.release_name = 'actor-1' and g.gate_code = 'G1'`,
    );
    const seen = await withPersona(
      pool,
      identityOf('github_actions', { role: 'ci_service_role' }),
      async (c) => {
        const actor = (await c.query('select ops.current_actor() as actor')).rows[0].actor;
        const { rows } = await c.query(
          `insert into ops.gate_checks (gate_id, check_name, source_system, status, created_by)
         values ($1, 'build', 'github_actions', 'pass', 'forged') returning created_by, created_persona`,
          [gate[0].gate_id],
        );
        return { actor, stamped: rows[0] };
      },
    );
    expect(seen).toEqual({
      actor: 'github_actions',
      stamped: { created_by: 'github_actions', created_persona: 'ci_service_role' },
    });

    // auth.uid() casts the same subject to uuid and raises on it (shown with the same claims as the
    // superuser, since the personas are not even granted schema auth).
    const claims = JSON.stringify({ sub: 'github_actions', role: 'ci_service_role' });
    await expect(
      adminAs(db, null, async (c) => {
        await c.query(
          `select set_config('request.jwt.claims', $1, true), set_config('request.jwt.claim.sub', 'github_actions', true)`,
          [claims],
        );
        return c.query('select auth.uid()');
      }),
    ).rejects.toMatchObject({ code: '22P02' });
    const both = await adminAs(db, { sub: 'github_actions' }, async (c) => {
      return (await c.query('select ops.current_actor() as actor')).rows[0].actor;
    });
    expect(both).toBe('github_actions');
  });

  const shapes: Array<[string, Record<string, unknown>]> = [
    ['role only', { role: 'sre' }],
    ['app_metadata.ops_role only', { app_metadata: { ops_role: 'qa_tester' } }],
    ['both, differing (ops_role wins)', { role: 'developer', app_metadata: { ops_role: 'release_manager' } }],
    ['neither', { email: 'x@example.com' }],
    [
      "role 'authenticated' with ops_role",
      { role: 'authenticated', app_metadata: { ops_role: 'audit_reader' } },
    ],
    ["role 'authenticated' alone", { role: 'authenticated' }],
    [
      'an unknown ops_role falls back to role',
      { role: 'ci_service_role', app_metadata: { ops_role: 'admin' } },
    ],
    ['app_metadata not an object', { role: 'service_role', app_metadata: 'sre' }],
    ['app_metadata an array', { app_metadata: ['sre'] }],
    ['ops_role not a string', { role: 'developer', app_metadata: { ops_role: 7 } }],
  ];

  // SQL reads the persona from the role the transaction assumed, never from the claims: the API
  // assumes the persona personaFromClaims derives, and SQL agrees, unless the claims also name a
  // different persona (a token that contradicts itself), which SQL refuses.
  it.each(shapes)(
    'ops.current_persona() is the assumed role, never the claims: %s',
    async (_label, shape) => {
      const claims: Record<string, unknown> = { sub: 'user-1', ...shape };
      const expected: Persona | null = personaFromClaims(claims);
      // A session that assumed no persona (the owner's) has none, whatever its claims say.
      const ownerPersona = await adminAs(db, claims, async (c) => {
        return (await c.query('select ops.current_persona()::text as p')).rows[0].p;
      });
      expect(ownerPersona).toBeNull();
      if (expected) {
        const named = [claims.role, (claims.app_metadata as { ops_role?: unknown } | undefined)?.ops_role];
        const contradicts = named.some((n) => typeof n === 'string' && isPersona(n) && n !== expected);
        const seen = withPersona(pool, { subject: 'user-1', persona: expected, claims }, async (c) => {
          return (await c.query('select ops.current_persona()::text as p, current_user::text as u')).rows[0];
        });
        if (contradicts) {
          await expect(seen).rejects.toMatchObject({
            code: 'OPS03',
            message: expect.stringMatching(/the claims name persona/),
          });
        } else {
          await expect(seen).resolves.toEqual({ p: expected, u: expected });
        }
      }
    },
  );
});

describe('the request role', () => {
  it.each(PERSONAS)('is neither superuser nor BYPASSRLS, as %s or as the login role', async (persona) => {
    const seen = await withPersona(
      pool,
      { subject: 's-1', persona, claims: claimsOf(persona, 's-1') },
      async (c) => {
        const { rows } = await c.query(
          `select session_user::text as "sessionUser", current_user::text as "currentUser",
                (select rolsuper from pg_roles where rolname = session_user) as "sessionSuper",
                (select rolbypassrls from pg_roles where rolname = session_user) as "sessionBypass",
                (select rolsuper from pg_roles where rolname = current_user) as "currentSuper",
                (select rolbypassrls from pg_roles where rolname = current_user) as "currentBypass"`,
        );
        return rows[0];
      },
    );
    expect(seen).toEqual({
      sessionUser: 'authenticator',
      currentUser: persona,
      sessionSuper: false,
      sessionBypass: false,
      currentSuper: false,
      currentBypass: false,
    });
  });

  it('cannot become a superuser, and resetting the role inside a request leaves it with nothing in ops', async () => {
    await expect(
      withPersona(pool, { subject: 's-1', persona: 'sre', claims: claimsOf('sre', 's-1') }, (c) =>
        c.query('set local role postgres'),
      ),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      withPersona(
        pool,
        { subject: 's-1', persona: 'audit_reader', claims: claimsOf('audit_reader', 's-1') },
        async (c) => {
          await c.query('reset role');
          return c.query('select 1 from ops.releases limit 1');
        },
      ),
    ).rejects.toMatchObject({ code: '42501', message: 'permission denied for schema ops' });
  });
});
