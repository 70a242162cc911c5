// Personas for Supabase Auth users: public.custom_access_token_hook, called with the event Supabase
// Auth sends before it issues a token, puts the assigned persona into app_metadata.ops_role (and
// takes a stale one away); assignments are made by ops_persona_admin only, and every grant and
// revocation is in an append-only history. The token the hook shapes is accepted by the verifier
// with the assigned persona.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createVerifier } from '../../src/auth/jwt.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** The event as Supabase Auth sends it to a Postgres hook (Auth Hooks, Custom Access Token). */
function authEvent(
  userId: string,
  appMetadata: Record<string, unknown> = { provider: 'email', providers: ['email'] },
) {
  const now = Math.floor(Date.now() / 1000);
  return {
    user_id: userId,
    claims: {
      aud: 'authenticated',
      exp: now + 3600,
      iat: now,
      iss: 'https://project.supabase.co/auth/v1',
      sub: userId,
      email: 'quinn@example.com',
      phone: '',
      app_metadata: appMetadata,
      user_metadata: { name: 'Quinn' },
      role: 'authenticated',
      aal: 'aal1',
      amr: [{ method: 'password', timestamp: now }],
      session_id: randomUUID(),
      is_anonymous: false,
    },
    authentication_method: 'password',
  };
}

/** Calls the hook as Supabase Auth does: as supabase_auth_admin. */
async function hook(
  event: unknown,
): Promise<{ claims: Record<string, unknown> & { app_metadata: Record<string, unknown> } }> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local role supabase_auth_admin');
    const { rows } = await c.query('select public.custom_access_token_hook($1::jsonb) as r', [
      JSON.stringify(event),
    ]);
    await c.query('commit');
    return rows[0].r;
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

/** Runs fn as the given role in one transaction (the owner's pool, SET LOCAL ROLE). */
function asRole<T>(role: string, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(db.admin, async (c) => {
    await c.query(`set local role ${role}`);
    return fn(c);
  });
}

const sqlState = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code,
  );

describe('public.custom_access_token_hook', () => {
  it('adds the assigned persona to app_metadata.ops_role and leaves every other claim as it was', async () => {
    const user = randomUUID();
    await asRole('ops_persona_admin', (c) =>
      c.query(`select ops.assign_persona($1, 'qa_tester', 'joined QA')`, [user]),
    );
    const event = authEvent(user);
    const out = await hook(event);
    expect(out.claims).toEqual({
      ...event.claims,
      app_metadata: { provider: 'email', providers: ['email'], ops_role: 'qa_tester' },
    });

    // The token Supabase Auth would sign from these claims carries the persona for this API.
    const secret = 'hook-test-secret-0123456789abcdef0123456789';
    const token = await new SignJWT(out.claims)
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret));
    const id = await createVerifier({ jwtSecret: secret })(`Bearer ${token}`);
    expect(id).toMatchObject({ subject: user, persona: 'qa_tester' });
  });

  it('removes an ops_role without an assignment (written by hand, or revoked) and works without app_metadata', async () => {
    const stranger = randomUUID();
    const forged = await hook(authEvent(stranger, { provider: 'email', ops_role: 'release_manager' }));
    expect(forged.claims.app_metadata).toEqual({ provider: 'email' });

    const bare = authEvent(stranger) as { claims: Record<string, unknown> };
    delete bare.claims.app_metadata;
    expect((await hook(bare)).claims.app_metadata).toEqual({});

    const user = randomUUID();
    await asRole('ops_persona_admin', (c) =>
      c.query(`select ops.assign_persona($1, 'sre', 'on call')`, [user]),
    );
    expect((await hook(authEvent(user))).claims.app_metadata).toMatchObject({ ops_role: 'sre' });
    await asRole('ops_persona_admin', (c) =>
      c.query(`select ops.revoke_persona($1, 'left the team')`, [user]),
    );
    expect((await hook(authEvent(user))).claims.app_metadata).not.toHaveProperty('ops_role');
  });

  it('refuses an event without claims (OPS22)', async () => {
    expect(await sqlState(hook({ user_id: randomUUID() }))).toBe('OPS22');
  });

  it('is executable by supabase_auth_admin only, with a fixed search_path', async () => {
    const { rows } = await db.admin.query(
      `select r.rolname, has_function_privilege(r.rolname, 'public.custom_access_token_hook(jsonb)', 'execute') as can
         from pg_roles r
        where r.rolname in ('supabase_auth_admin', 'anon', 'authenticated', 'service_role', 'authenticator',
                            'ci_service_role', 'release_manager', 'qa_tester', 'sre', 'developer', 'audit_reader',
                            'ops_persona_admin')
        order by 1`,
    );
    expect(rows.filter((r) => r.can).map((r) => r.rolname)).toEqual(['supabase_auth_admin']);
    const fn = await db.admin.query(
      `select p.proconfig, p.prosecdef from pg_proc p where p.oid = 'public.custom_access_token_hook(jsonb)'::regprocedure`,
    );
    expect(fn.rows[0]).toEqual({ proconfig: ['search_path=pg_catalog, pg_temp'], prosecdef: true });
  });
});

describe('persona assignments', () => {
  it('only ops_persona_admin grants; no persona, not the API login, can', async () => {
    for (const persona of ['release_manager', 'audit_reader', 'developer'] as const) {
      const state = await sqlState(
        db.as(persona, 'mallory', (c) =>
          c.query(`select ops.assign_persona('mallory', 'release_manager', 'me')`),
        ),
      );
      expect(state, persona).toBe('42501');
      const direct = await sqlState(
        db.as(persona, 'mallory', (c) =>
          c.query(
            `insert into ops.persona_assignments (subject, persona, reason, changed_by, changed_at)
             values ('mallory', 'release_manager', 'me', 'x', now())`,
          ),
        ),
      );
      expect(direct, persona).toBe('42501');
    }
    const { rows } = await db.admin.query(
      `select pg_has_role('authenticator', 'ops_persona_admin', 'member') as api,
              pg_has_role('release_manager', 'ops_persona_admin', 'member') as rm`,
    );
    expect(rows[0]).toEqual({ api: false, rm: false });
  });

  it('records every grant and revocation with who and when; the history cannot be changed, nor an assignment deleted', async () => {
    const user = randomUUID();
    const before = Date.now();
    await asRole('ops_persona_admin', async (c) => {
      await c.query(`select ops.assign_persona($1, 'developer', 'new hire')`, [user]);
      // A claimed actor and time are overwritten with the real ones.
      await c.query(
        `update ops.persona_assignments set persona = 'qa_tester', reason = 'moved to QA' where subject = $1`,
        [user],
      );
      await c.query(`select ops.revoke_persona($1, 'left')`, [user]);
    });
    const { rows } = await db.admin.query(
      `select action, persona, previous_persona, reason, changed_by, login_role, at
         from ops.persona_assignment_history where subject = $1 order by history_id`,
      [user],
    );
    expect(rows.map(({ at: _at, ...r }) => r)).toEqual([
      {
        action: 'grant',
        persona: 'developer',
        previous_persona: null,
        reason: 'new hire',
        changed_by: 'ops_persona_admin',
        login_role: 'postgres',
      },
      {
        action: 'grant',
        persona: 'qa_tester',
        previous_persona: 'developer',
        reason: 'moved to QA',
        changed_by: 'ops_persona_admin',
        login_role: 'postgres',
      },
      {
        action: 'revoke',
        persona: 'qa_tester',
        previous_persona: 'qa_tester',
        reason: 'left',
        changed_by: 'ops_persona_admin',
        login_role: 'postgres',
      },
    ]);
    for (const r of rows) expect(new Date(r.at).getTime()).toBeGreaterThanOrEqual(before - 5_000);

    // Revoking again, or an unknown subject: refused.
    expect(
      await sqlState(
        asRole('ops_persona_admin', (c) => c.query(`select ops.revoke_persona($1, 'again')`, [user])),
      ),
    ).toBe('OPS22');
    expect(
      await sqlState(asRole('ops_persona_admin', (c) => c.query(`select ops.revoke_persona('nobody', 'x')`))),
    ).toBe('OPS04');

    // Append-only, even for the owner; the assignment row is revoked, never deleted.
    expect(
      await sqlState(
        db.admin.query(`update ops.persona_assignment_history set reason = 'x' where subject = $1`, [user]),
      ),
    ).toBe('OPS03');
    expect(
      await sqlState(db.admin.query(`delete from ops.persona_assignment_history where subject = $1`, [user])),
    ).toBe('OPS03');
    expect(
      await sqlState(db.admin.query(`delete from ops.persona_assignments where subject = $1`, [user])),
    ).toBe('OPS03');
    expect(
      await sqlState(
        asRole('ops_persona_admin', (c) =>
          c.query(`delete from ops.persona_assignments where subject = $1`, [user]),
        ),
      ),
    ).toBe('42501');

    // The auditor reads the history; an unknown persona is refused.
    const seen = await db.as('audit_reader', 'avery', (c) =>
      c.query('select count(*)::int as n from ops.persona_assignment_history where subject = $1', [user]),
    );
    expect(seen.rows[0].n).toBe(3);
    expect(
      await sqlState(
        asRole('ops_persona_admin', (c) => c.query(`select ops.assign_persona('x', 'admin', 'y')`)),
      ),
    ).toBe('23514');
  });
});
