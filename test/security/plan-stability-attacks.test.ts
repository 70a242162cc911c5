// Attacks on the answers of this evening's changed functions and views depending on the plan a
// session keeps (as ops.promotion_blockers(release, null) once answered "no blockers" for five calls
// and OPS04 from the sixth): as each persona, in one session, every statement is called twelve
// times with the same arguments and twelve rounds over different arguments (a release the caller
// reads, another developer's, one that does not exist, nulls, a bad environment), under the
// default plan choice and under plans forced custom and generic (plan_cache_mode, a setting any
// caller may change); every call's answer or SQLSTATE must be the first call's. (With the
// definition of ops.promotion_blockers(release, environment) before 20261204200200 this test
// reports a release that does not exist, or another developer's, answered "no blockers" and then
// OPS04.)
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import {
  activeBypass,
  createRelease,
  passAll,
  promote,
  type Release,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let mine: Release;
let others: Release;
const MISSING = '00000000-0000-4000-8000-000000000000';

interface Statement {
  sql: string;
  args: unknown[][];
}

function statements(): Statement[] {
  const ids = [mine.release_id, others.release_id, MISSING, null];
  return [
    { sql: 'select * from ops.promotion_blockers($1::uuid)', args: ids.map((i) => [i]) },
    ...[
      'select * from ops.promotion_blockers($1::uuid, $2::text)',
      'select ops.is_eligible_for_promotion($1::uuid, $2::text) as eligible',
    ].map((sql) => ({
      sql,
      args: ids.flatMap((i) => [
        [i, null],
        [i, 'staging'],
        [i, 'production'],
        [i, 'nowhere'],
      ]),
    })),
    {
      sql: 'select * from ops.release_gate_evidence($1::uuid, $2::int[])',
      args: ids.flatMap((i) => [
        [i, null],
        [i, '{1}'],
        [i, '{}'],
      ]),
    },
    {
      sql: 'select * from ops.release_gate_evidence_up_to($1::uuid, $2::int[], $3::int)',
      args: ids.flatMap((i) => [
        [i, null, 1],
        [i, null, null],
        [i, '{1}', 0],
        [i, null, -1],
      ]),
    },
    { sql: 'select ops.verify_ledger($1::uuid) as report', args: ids.map((i) => [i]) },
    {
      sql: `select release_id, project, release_status, eligible_for_staging, eligible_for_production,
                   staging_blockers, production_blockers
            from ops.v_promotion_eligibility where release_id = $1::uuid`,
      args: ids.map((i) => [i]),
    },
    {
      sql: `select exception_id, release_id, project, release_name, state, post_review_status, approver_id
            from ops.v_exception_status where release_id = $1::uuid order by exception_id`,
      args: ids.map((i) => [i]),
    },
  ];
}

/** The answer, or the SQLSTATE it was refused with; instants and durations left out. */
async function outcome(c: pg.Client, sql: string, args: unknown[]): Promise<string> {
  await c.query('savepoint call');
  try {
    const { rows } = await c.query(sql, args);
    await c.query('release savepoint call');
    return JSON.stringify(rows)
      .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?/g, '<instant>')
      .replace(/\d+(\.\d+)? (seconds?|minutes?|hours?|days?)|\d\d:\d\d:\d\d(\.\d+)?/g, '<duration>');
  } catch (err) {
    await c.query('rollback to savepoint call');
    return `error ${(err as { code?: string }).code}`;
  }
}

/** A session as the persona (authenticator, SET ROLE, claims), one transaction. */
async function session<T>(persona: Persona, mode: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: db.apiUrl });
  await c.connect();
  try {
    await c.query('begin');
    const sub = persona === 'developer' ? who.dev : `plan-${persona}`;
    await c.query(
      `select set_config('plan_cache_mode', $3, true), set_config('role', $1, true),
              set_config('request.jwt.claims', json_build_object('sub', $2::text, 'role', $1::text)::text, true)`,
      [persona, sub, mode],
    );
    return await fn(c);
  } finally {
    await c.query('rollback').catch(() => {});
    await c.end();
  }
}

beforeAll(async () => {
  db = await useTestDatabase();
  mine = await createRelease(db);
  await passAll(db, mine);
  await activeBypass(db, mine.release_id, ['G3']);
  const d = await promote(db, mine.release_id, 'production');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  others = await createRelease(db, { sub: 'dev-other' });
  await activeBypass(db, others.release_id, ['G1']);
});

describe('answers that do not depend on the plan a session keeps', () => {
  it.each(PERSONAS)(
    'as %s, every call answers as the first, under every plan choice',
    async (persona) => {
      const seen = new Map<string, string>();
      const differing: string[] = [];
      let calls = 0;
      const record = (key: string, got: string) => {
        calls++;
        const first = seen.get(key);
        if (first === undefined) seen.set(key, got);
        else if (first !== got) differing.push(`${key}: ${first} then ${got}`);
      };
      for (const mode of ['auto', 'force_custom_plan', 'force_generic_plan']) {
        for (const s of statements()) {
          // Twelve calls with the same arguments, in a session of their own, for each argument.
          for (const args of s.args) {
            await session(persona, mode, async (c) => {
              for (let i = 0; i < 12; i++)
                record(`${s.sql} ${JSON.stringify(args)}`, await outcome(c, s.sql, args));
            });
          }
          // Twelve rounds over every argument in one session.
          await session(persona, mode, async (c) => {
            for (let i = 0; i < 12; i++) {
              for (const args of s.args)
                record(`${s.sql} ${JSON.stringify(args)}`, await outcome(c, s.sql, args));
            }
          });
        }
      }
      expect(differing).toEqual([]);
      expect(calls).toBeGreaterThan(1000);
      // What the persona was answered is what it may know: a developer reads only its own release.
      const answer = (sql: string, args: unknown[]) => seen.get(`${sql} ${JSON.stringify(args)}`);
      const blockers = 'select * from ops.promotion_blockers($1::uuid, $2::text)';
      for (const id of [MISSING, null]) {
        for (const env of [null, 'staging'])
          expect(answer(blockers, [id, env]), `${id} ${env}`).toMatch(/^error /);
      }
      if (persona === 'developer') {
        for (const env of [null, 'staging', 'production']) {
          expect(answer(blockers, [others.release_id, env])).toBe('error OPS04');
          // Its own release: the blockers, or OPS22 when the environment is missing (20261205200000).
          if (env === null) expect(answer(blockers, [mine.release_id, env])).toBe('error OPS22');
          else expect(answer(blockers, [mine.release_id, env])).not.toMatch(/^error /);
        }
        expect(
          answer(
            `select release_id, project, release_status, eligible_for_staging, eligible_for_production,
                   staging_blockers, production_blockers
            from ops.v_promotion_eligibility where release_id = $1::uuid`,
            [others.release_id],
          ),
        ).toBe('[]');
      }
    },
    600_000,
  );
});
