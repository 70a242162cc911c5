// ops.ledger_findings and ops.ledger_report read one release's facts through the tables' indexes
// (20261204200100) and say what the definitions of 20261129004000 said, finding for finding and
// report for report: on a database where the owner worked behind the ledger's back in every way a
// finding can come from (facts unrecorded in each table and by each way an artifact belongs to a
// release, a fact changed, a fact deleted, an entry rewritten, a chain head moved), per release and
// for every chain, compared with the previous definitions applied in a transaction rolled back.
// The release scope arms the verification reads (20261205100000), changed behind their guards, make
// it refuse to answer.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createRelease,
  passAll,
  promote,
  type Release,
  recordCheck,
  recordHealthCheck,
  updateDeployment,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { behindTriggers, previousLedgerDefinitions } from './support.js';

interface Compared {
  findings: Record<string, unknown>[];
  report: Record<string, unknown>;
}

let db: TestDatabase;
let promoted: Release;
let started: Release;
let untouched: Release;
const unrecorded: Record<string, string> = {};

/** Every finding (sorted) and the report, for the release or for every chain (null). */
async function read(
  c: { query: TestDatabase['admin']['query'] },
  releaseId: string | null,
): Promise<Compared> {
  const { rows: findings } = await c.query(
    `select x.chain_id, x.seq, x.fact_table, x.row_id, x.kind, x.detail from ops.ledger_findings($1::uuid) x
     order by x.chain_id, x.seq nulls last, x.fact_table, x.row_id, x.kind`,
    [releaseId],
  );
  const { rows } = await c.query('select ops.ledger_report($1::uuid) as r', [releaseId]);
  return { findings, report: rows[0].r };
}

beforeAll(async () => {
  db = await useTestDatabase();
  promoted = await createRelease(db);
  await passAll(db, promoted);
  const d = await promote(db, promoted.release_id, 'production');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  await recordHealthCheck(db, d.deployment_id, 'pass');
  started = await createRelease(db);
  await recordCheck(db, started.release_id, 'G1', 'unit', 'pass');
  untouched = await createRelease(db);
  await recordCheck(db, untouched.release_id, 'G1', 'unit', 'pass');

  await behindTriggers(db, async (c) => {
    const one = async (sql: string, params: unknown[] = []) => (await c.query(sql, params)).rows[0];
    const gate = async (r: Release, code: string) =>
      (
        await one('select gate_id from ops.release_gates where release_id = $1 and gate_code = $2', [
          r.release_id,
          code,
        ])
      ).gate_id as string;
    const deployment = (
      await one('select deployment_id from ops.deployments where release_id = $1', [promoted.release_id])
    ).deployment_id as string;
    const startedCheck = (
      await one(
        `select c.check_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
         where g.release_id = $1 limit 1`,
        [started.release_id],
      )
    ).check_id as string;
    const artifact = async (key: string, columns: Record<string, string | null>) => {
      const { artifact_id } = await one(
        `insert into ops.evidence_artifacts (release_id, gate_id, check_id, deployment_id, artifact_type, source_system,
                                             artifact_url, created_by)
         values ($1, $2, $3, $4, 'test_result', 'manual', 'https://tamper.example/' || $5, 'mallory')
         returning artifact_id`,
        [
          columns.release_id ?? null,
          columns.gate_id ?? null,
          columns.check_id ?? null,
          columns.deployment_id ?? null,
          key,
        ],
      );
      unrecorded[key] = artifact_id;
    };
    // Unrecorded artifacts, one per way an artifact belongs to a release.
    await artifact('by release', { release_id: promoted.release_id });
    await artifact('by gate', { gate_id: await gate(promoted, 'G2') });
    await artifact('by check', { check_id: startedCheck });
    await artifact('by deployment', { deployment_id: deployment });
    // Unrecorded facts of the tables whose scope goes through a gate or a deployment, and one by
    // release; none of them changes what the gate rule computes (the scenario checks that).
    unrecorded.check = (
      await one(
        `insert into ops.gate_checks (gate_id, check_name, source_system, status, required, created_by)
         values ($1, 'sneaky', 'manual', 'pass', true, 'mallory') returning check_id`,
        [await gate(started, 'G1')],
      )
    ).check_id;
    unrecorded.gate_transition = (
      await one(
        `insert into ops.gate_transitions (gate_id, from_status, to_status, reason, actor, created_by)
         values ($1, 'pending', 'passed', 'sneaky', 'mallory', 'mallory') returning transition_id`,
        [await gate(promoted, 'G1')],
      )
    ).transition_id;
    unrecorded.deployment_transition = (
      await one(
        `insert into ops.deployment_transitions (deployment_id, from_status, to_status, from_g4_status, to_g4_status,
                                                 actor, created_by)
         values ($1, 'succeeded', 'failed', 'passed', 'failed', 'mallory', 'mallory') returning transition_id`,
        [deployment],
      )
    ).transition_id;
    unrecorded.approval = (
      await one(
        `insert into ops.approvals (release_id, gate_id, approver_id, persona_role, decision, scope, created_by)
         values ($1, $2, 'mallory', 'release_manager', 'approved', 'gate', 'mallory') returning approval_id`,
        [promoted.release_id, await gate(promoted, 'G3')],
      )
    ).approval_id;
    // A recorded fact changed, another deleted.
    await c.query(
      `update ops.gate_checks set check_name = 'renamed' where check_id = (
         select c.check_id from ops.gate_checks c join ops.release_gates g on g.gate_id = c.gate_id
         where g.release_id = $1 order by c.created_at limit 1)`,
      [promoted.release_id],
    );
    await c.query(
      `delete from ops.evidence_artifacts where artifact_id = (
         select a.artifact_id from ops.evidence_artifacts a where a.release_id = $1
           and a.artifact_type = 'rollback_plan' limit 1)`,
      [promoted.release_id],
    );
    // The untouched release's chain: an entry rewritten and its head moved.
    await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
    await c.query(`update ops.ledger_entries set operation = 'update' where chain_id = $1 and seq = 2`, [
      untouched.release_id,
    ]);
    await c.query('alter table ops.ledger_entries enable always trigger ledger_entries_append_only');
  });
});

describe('the ledger findings read per release', () => {
  it('find every kind of tampering, each on its own release', async () => {
    const now = async (r: Release) => (await read(db.admin, r.release_id)).findings;
    const rows = (fs: Record<string, unknown>[], kind: string) =>
      fs.filter((f) => f.kind === kind).map((f) => f.row_id);
    const p = await now(promoted);
    expect(rows(p, 'unrecorded')).toEqual(
      expect.arrayContaining([
        unrecorded['by release'],
        unrecorded['by gate'],
        unrecorded['by deployment'],
        unrecorded.gate_transition,
        unrecorded.deployment_transition,
        unrecorded.approval,
      ]),
    );
    expect(p.map((f) => f.kind)).toEqual(expect.arrayContaining(['content_changed', 'row_missing']));
    const s = await now(started);
    expect(rows(s, 'unrecorded')).toEqual(expect.arrayContaining([unrecorded['by check'], unrecorded.check]));
    expect((await now(untouched)).map((f) => f.kind)).toContain('link_broken');
  });

  it('say what the previous definitions said, per release and for every chain', async () => {
    const targets = [promoted.release_id, started.release_id, untouched.release_id, null];
    const current: Compared[] = [];
    for (const t of targets) current.push(await read(db.admin, t));
    const c = await db.admin.connect();
    const previous: Compared[] = [];
    try {
      await c.query('begin');
      for (const sql of previousLedgerDefinitions()) await c.query(sql);
      for (const t of targets) previous.push(await read(c, t));
    } finally {
      await c.query('rollback');
      c.release();
    }
    expect(current.map((x) => x.findings.length).every((n) => n > 0)).toBe(true);
    expect(current).toEqual(previous);
  });

  // The stored arms (20261205100000) are a way to tamper the previous definitions did not have: an
  // arm narrowed behind the guards would hide a release's unrecorded facts from its verification.
  // The arms are append-only for the owner too; an owner who disables the guards and changes them
  // (or the scope alone) makes them differ from the registered scope, and every verification then
  // refuses to answer, naming the table, rather than answer through them.
  it.each([
    [
      'an arm narrowed',
      `update ops.ledger_release_scope_arms set arm = 'false' where table_name = 'gate_checks'`,
    ],
    [
      'an arm removed',
      `delete from ops.ledger_release_scope_arms where table_name = 'evidence_artifacts' and arm_no = 4`,
    ],
    ['an arm added', `insert into ops.ledger_release_scope_arms values ('evidence_artifacts', 5, 'false')`],
    [
      'two arms swapped',
      `update ops.ledger_release_scope_arms a set arm = (select b.arm from ops.ledger_release_scope_arms b
         where b.table_name = a.table_name and b.arm_no = 3 - a.arm_no)
       where a.table_name = 'evidence_artifacts' and a.arm_no in (1, 2)`,
    ],
    [
      'every arm of a table removed',
      `delete from ops.ledger_release_scope_arms where table_name = 'gate_transitions'`,
    ],
    [
      'the scope changed alone',
      `update ops.ledger_fact_tables set release_scope = 'false' where table_name = 'incidents'`,
    ],
  ])('refuse to answer once %s behind the guards', async (_what, sql) => {
    const table = /table_name = '(\w+)'|values \('(\w+)'/.exec(sql)!.slice(1).find(Boolean)!;
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set constraints all immediate');
      await c.query('alter table ops.ledger_release_scope_arms disable trigger user');
      await c.query('alter table ops.ledger_fact_tables disable trigger user');
      await c.query(sql);
      for (const [q, arg] of [
        ['select count(*) from ops.ledger_findings($1::uuid)', promoted.release_id],
        ['select count(*) from ops.ledger_findings($1::uuid)', null],
        ['select ops.ledger_report($1::uuid)', started.release_id],
        ['select ops.verify_ledger($1::uuid)', untouched.release_id],
        ['select ops.verify_ledger()', undefined],
      ] as const) {
        await c.query('savepoint v');
        await expect(c.query(q, arg === undefined ? [] : [arg]), `${q} ${arg}`).rejects.toMatchObject({
          code: 'XX001',
          message: expect.stringContaining(`the arms of ${table} no longer make its release scope`),
        });
        await c.query('rollback to savepoint v');
      }
    } finally {
      await c.query('rollback');
      c.release();
    }
    // Restored: the verification answers again.
    expect((await read(db.admin, promoted.release_id)).findings.length).toBeGreaterThan(0);
  });
});
