// A subject a persona can make the deadline sweep fail on: an exception whose gates include a NULL
// (`p_impacted_gates => '{NULL}'`), requested by one release manager and approved by another. Its
// expiry has no gate to record (ops.deadline_transitions.gate_code is NOT NULL), so recording it
// raises. The sweep of 20261206000000 then rolled back as a whole: no deadline of any release was
// recorded, at any run, while that exception stayed watched. The sweep of 20261206200000 records
// every other subject and leaves that one open, reported as a warning.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import {
  approveException,
  createRelease,
  expireException,
  type GateCode,
  requestException,
  uniqueName,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let owner: pg.Client;
let ordinary: string;
let gateless: string;

/** The sweep as 20261206000000 defined it, as a temporary function of this session. */
function previousSweep(): string {
  const file = readFileSync(
    path.join(
      projectRoot,
      'supabase/migrations/20261206000000_ops_deadline_sweep_waits_for_policy_change.sql',
    ),
    'utf8',
  );
  const previous = /create or replace function ops\.record_deadline_transitions\(\)[\s\S]*?\n\$\$;/.exec(
    file,
  )?.[0];
  expect(previous).toContain('lock table ops.gate_policies in share mode');
  return previous!.replace(
    'create or replace function ops.record_deadline_transitions()',
    'create function pg_temp.previous_record_deadline_transitions()',
  );
}

beforeAll(async () => {
  db = await useTestDatabase();
  owner = new pg.Client({ connectionString: db.adminUrl });
  await owner.connect();
  await owner.query(previousSweep());
  const project = uniqueName('sweep-persona');
  const [a, b] = await Promise.all([createRelease(db, { project }), createRelease(db, { project })]);
  // Two release managers, through their own functions: one exception naming G2, one naming NULL.
  const e1 = await requestException(db, a!.release_id, ['G2']);
  await approveException(db, e1.exception_id);
  const e2 = await requestException(db, b!.release_id, ['NULL' as GateCode]);
  await approveException(db, e2.exception_id);
  ordinary = e1.exception_id;
  gateless = e2.exception_id;
  // Both windows ended (the owner moves them into the past, as time would).
  await expireException(db, ordinary);
  await expireException(db, gateless);
}, 120_000);

afterAll(async () => {
  await owner?.end();
});

const recorded = async () =>
  (
    await owner.query(
      `select subject_id::text from ops.deadline_transitions where subject_kind = 'exception'
        and subject_id = any ($1::uuid[]) order by 1`,
      [[ordinary, gateless]],
    )
  ).rows.map((r) => r.subject_id as string);

describe('an exception a release manager made without a gate', () => {
  it('stops no other deadline from being recorded', async () => {
    await owner.query('begin');
    try {
      await expect(owner.query('select pg_temp.previous_record_deadline_transitions()')).rejects.toThrow(
        /gate_code/,
      );
    } finally {
      await owner.query('rollback');
    }
    expect(await recorded()).toEqual([]);

    const warnings: string[] = [];
    const onNotice = (n: { message?: string }) => warnings.push(n.message ?? '');
    owner.on('notice', onNotice);
    try {
      await owner.query('select ops.record_deadline_transitions()');
    } finally {
      owner.off('notice', onNotice);
    }
    expect(await recorded()).toEqual([ordinary]);
    expect(warnings).toEqual([expect.stringContaining(`exception ${gateless} expiry not recorded`)]);
    const { rows } = await owner.query(
      `select subject_id::text from ops.deadline_watch where subject_id = any ($1::uuid[])`,
      [[ordinary, gateless]],
    );
    expect(rows.map((r) => r.subject_id)).toEqual([gateless]);
  });
});
