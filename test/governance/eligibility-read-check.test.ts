// ops.promotion_blockers(release, environment) and ops.is_eligible_for_promotion check the release
// first, on every call of a session (20261204200200). PL/pgSQL plans a statement for the call's
// values for the first five calls in a session and may then keep a generic plan; given no
// environment, the plans made for the values skipped the read check (no blockers: eligible) and
// the generic one did not (OPS04), so one call answered differently from the sixth time on. Each
// case runs on a connection of its own, whose plans nothing has cached yet.
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { beginAs, createRelease, who } from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

const CALLS = 10;

/** What each of CALLS calls of `sql` ends with, on a new session as the persona ('ok' or the SQLSTATE). */
async function outcomes(persona: Persona, sub: string, sql: string, params: unknown[]): Promise<string[]> {
  const c = new pg.Client({ connectionString: db.apiUrl });
  await c.connect();
  try {
    await beginAs(c, persona, sub);
    const out: string[] = [];
    for (let i = 0; i < CALLS; i++) {
      await c.query('savepoint call');
      try {
        const { rows } = await c.query(sql, params);
        out.push(`ok ${JSON.stringify(rows)}`);
        await c.query('release savepoint call');
      } catch (err) {
        out.push((err as { code?: string }).code ?? 'error');
        await c.query('rollback to savepoint call');
      }
    }
    await c.query('rollback');
    return out;
  } finally {
    await c.end();
  }
}

const BLOCKERS = 'select count(*)::int as n from ops.promotion_blockers($1::uuid, $2::text)';
const ELIGIBLE = 'select ops.is_eligible_for_promotion($1::uuid, $2::text) as eligible';

describe('eligibility checks the release on every call', () => {
  it('a release that does not exist, or another developer’s, is OPS04 on every call, with or without an environment', async () => {
    const theirs = await createRelease(db, { sub: 'dev-owner' });
    for (const releaseId of ['00000000-0000-4000-8000-000000000404', theirs.release_id]) {
      for (const env of [null, 'staging']) {
        for (const sql of [BLOCKERS, ELIGIBLE]) {
          expect(
            await outcomes('developer', 'dev-someone-else', sql, [releaseId, env]),
            `${sql} (${releaseId}, ${env})`,
          ).toEqual(Array(CALLS).fill('OPS04'));
        }
      }
    }
  });

  it('a readable release gets the same answer on every call: its blockers, or OPS22 with no environment', async () => {
    const r = await createRelease(db, { sub: who.dev });
    for (const env of [null, 'staging']) {
      for (const sql of [BLOCKERS, ELIGIBLE]) {
        const answers = await outcomes('developer', who.dev, sql, [r.release_id, env]);
        expect(new Set(answers).size, `${sql} (${env}): ${answers.join(', ')}`).toBe(1);
        if (env === null) expect(answers[0]).toBe('OPS22');
        else expect(answers[0]).toMatch(/^ok /);
      }
    }
  });
});
