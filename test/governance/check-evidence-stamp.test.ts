// The gate an artifact's check belongs to, stamped on the artifact (check_gate_id,
// 20261207500000), is what the gate rule reads check evidence by. Nobody chooses it: a persona's
// insert (raw SQL, the RPC, the ingest) and the owner's insert behind the other triggers get the
// check's gate whatever they give; a persona cannot update it; the owner who changes it with every
// trigger off is found by ops.verify_ledger. Rows written before the migration are stamped by it
// and recorded again, so the ledger still verifies them.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { behindTriggers } from '../ledger/support.js';
import { actAs, type TestDatabase, useTestDatabase } from '../support/db.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
const MIGRATION = readFileSync(
  path.join(MIGRATIONS, readdirSync(MIGRATIONS).find((f) => f.startsWith('20261207500000'))!),
  'utf8',
);

let db: TestDatabase;
let releaseId: string;
let gates: Record<string, string>;
let g1Check: string;

/** A new release of the developer's, with one G1 check reported by the CI; returns its ids. */
async function newRelease(name: string) {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await actAs(c, 'developer', 'stamp.dev');
    const { rows } = await c.query<{ id: string }>(
      `select (ops.create_release(p_project => 'stamp', p_release_name => $1,
                                  p_source_ref => 'refs/heads/main')).release_id as id`,
      [name],
    );
    await c.query('commit');
    const id = rows[0]!.id;
    const g = await db.admin.query<{ gate_code: string; gate_id: string }>(
      'select gate_code::text, gate_id from ops.release_gates where release_id = $1',
      [id],
    );
    const byCode = Object.fromEntries(g.rows.map((r) => [r.gate_code, r.gate_id]));
    await c.query('begin');
    await actAs(c, 'ci_service_role', 'stamp.ci');
    const check = await c.query<{ id: string }>(
      `select (ops.record_check($1, 'G1', 'build', 'pass', 'github_actions', true, null, '{}')).check_id as id`,
      [id],
    );
    await c.query('commit');
    c.release();
    return { id, gates: byCode, check: check.rows[0]!.id };
  } catch (err) {
    await c.query('rollback');
    c.release();
    throw err;
  }
}

const stampOf = async (artifactId: string) =>
  (
    await db.admin.query<{ check_gate_id: string | null }>(
      'select check_gate_id from ops.evidence_artifacts where artifact_id = $1',
      [artifactId],
    )
  ).rows[0]!.check_gate_id;

/** The artifacts ops.release_gate_evidence_up_to counts for the gate's requirement of the type. */
async function counted(release: string, gateCode: string, type: string): Promise<string[]> {
  const { rows } = await db.admin.query<{ ids: string[] }>(
    `select e.artifact_ids::text[] as ids
     from ops.release_gate_evidence_up_to($1, ops.counted_revisions($1), null) e
     join ops.release_gates g on g.gate_id = e.gate_id
     where g.gate_code = $2::public.ops_gate_code and $3::public.ops_artifact_type = any (e.artifact_types)`,
    [release, gateCode, type],
  );
  return rows.flatMap((r) => r.ids);
}

const verify = async (release: string) =>
  (
    await db.admin.query<{ r: { ok: boolean; findings: { kind: string; row_id: string }[] } }>(
      'select ops.verify_ledger($1) as r',
      [release],
    )
  ).rows[0]!.r;

beforeAll(async () => {
  db = await useTestDatabase();
  const r = await newRelease('stamped');
  releaseId = r.id;
  gates = r.gates;
  g1Check = r.check;
}, 120_000);

describe('the stamp of check evidence', () => {
  it('is the check gate for a qa_tester inserting with raw SQL, whatever the statement gives', async () => {
    const ids = await db.as('qa_tester', 'stamp.qa', async (c) => {
      const forged = await c.query<{ artifact_id: string }>(
        `insert into ops.evidence_artifacts (check_id, check_gate_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://qa.example/forged', 'stamp.qa') returning artifact_id`,
        [g1Check, gates.G2],
      );
      const noCheck = await c.query<{ artifact_id: string }>(
        `insert into ops.evidence_artifacts (release_id, check_gate_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://qa.example/no-check', 'stamp.qa') returning artifact_id`,
        [releaseId, gates.G2],
      );
      return { forged: forged.rows[0]!.artifact_id, noCheck: noCheck.rows[0]!.artifact_id };
    });
    expect(await stampOf(ids.forged)).toBe(gates.G1);
    expect(await stampOf(ids.noCheck)).toBeNull();
    // G2 asks for a test_result on the gate: the artifact on G1's check does not meet it.
    expect(await counted(releaseId, 'G2', 'test_result')).toEqual([]);
  });

  it('cannot be changed by any persona', async () => {
    const { rows } = await db.admin.query<{ artifact_id: string }>(
      `select artifact_id from ops.evidence_artifacts where check_id = $1 limit 1`,
      [g1Check],
    );
    const id = rows[0]!.artifact_id;
    for (const persona of [
      'developer',
      'qa_tester',
      'release_manager',
      'sre',
      'ci_service_role',
      'audit_reader',
    ] as const) {
      await expect(
        db.as(persona, `stamp.${persona}`, (c) =>
          c.query('update ops.evidence_artifacts set check_gate_id = $2 where artifact_id = $1', [
            id,
            gates.G2,
          ]),
        ),
        persona,
      ).rejects.toThrow(/permission denied/);
    }
    expect(await stampOf(id)).toBe(gates.G1);
  });

  it('is the check gate through the RPC and the ingest', async () => {
    const viaRpc = await db.as('qa_tester', 'stamp.qa', async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `select (ops.attach_evidence($1, 'test_result', 'https://qa.example/rpc', p_check_id => $2)).artifact_id as id`,
        [releaseId, g1Check],
      );
      return rows[0]!.id;
    });
    expect(await stampOf(viaRpc)).toBe(gates.G1);
    const viaIngest = await db.as('ci_service_role', 'stamp.ci', async (c) => {
      const { rows } = await c.query<{ r: { status: string } }>('select ops.ingest_event($1::jsonb) as r', [
        JSON.stringify({
          schema_version: 'v1.0',
          idempotency_key: 'stamp/build/1',
          source_system: 'github_actions',
          event_type: 'build_complete',
          release_id: releaseId,
          payload: {
            status: 'pass',
            check_name: 'build',
            log_url: 'https://ci.example/log',
            check_gate_id: gates.G3,
          },
        }),
      ]);
      return rows[0]!.r;
    });
    expect(viaIngest, JSON.stringify(viaIngest)).toMatchObject({ status: 'accepted' });
    const { rows } = await db.admin.query<{ id: string }>(
      `select artifact_id as id from ops.evidence_artifacts where artifact_url = 'https://ci.example/log'`,
    );
    expect(rows).toHaveLength(1);
    expect(await stampOf(rows[0]!.id)).toBe(gates.G1);
    expect(await counted(releaseId, 'G1', 'build_log')).toEqual([rows[0]!.id]);
  });

  it('is the check gate for the owner writing behind the other triggers', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      const { rows } = await c.query<{ check_gate_id: string | null }>(
        `insert into ops.evidence_artifacts (check_id, check_gate_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://owner.example/a', 'owner') returning check_gate_id`,
        [g1Check, gates.G3],
      );
      expect(rows[0]!.check_gate_id).toBe(gates.G1);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('changed by the owner with every trigger off, is found by the ledger', async () => {
    const r = await newRelease('tampered');
    const id = await db.as('qa_tester', 'stamp.qa', async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `select (ops.attach_evidence($1, 'test_result', 'https://qa.example/t', p_check_id => $2)).artifact_id as id`,
        [r.id, r.check],
      );
      return rows[0]!.id;
    });
    expect(await verify(r.id)).toMatchObject({ ok: true });
    await behindTriggers(db, (c) =>
      c.query('update ops.evidence_artifacts set check_gate_id = $2 where artifact_id = $1', [
        id,
        r.gates.G2,
      ]),
    );
    expect(await stampOf(id)).toBe(r.gates.G2);
    const found = await verify(r.id);
    expect(found.ok).toBe(false);
    expect(found.findings).toContainEqual(expect.objectContaining({ kind: 'content_changed', row_id: id }));
  });
});

describe('check evidence written before the stamp', () => {
  it('is stamped by the migration and recorded again: the rule counts it, the ledger verifies', async () => {
    const r = await newRelease('legacy');
    // As before the migration: the stamp's trigger absent, the row recorded on the ledger as it is.
    const legacy = async (type: string, url: string) => {
      const c = await db.admin.connect();
      try {
        await c.query('begin');
        await c.query(
          'alter table ops.evidence_artifacts disable trigger evidence_artifacts_stamp_check_gate',
        );
        await actAs(c, 'qa_tester', 'stamp.qa');
        const { rows } = await c.query<{ id: string }>(
          `select (ops.attach_evidence($1, $3::public.ops_artifact_type, $4, p_check_id => $2)).artifact_id as id`,
          [r.id, r.check, type, url],
        );
        await c.query('reset role');
        // The ingest id's foreign key is checked at commit: checked now, so the table may be altered.
        await c.query('set constraints all immediate');
        await c.query(
          'alter table ops.evidence_artifacts enable always trigger evidence_artifacts_stamp_check_gate',
        );
        await c.query('commit');
        return rows[0]!.id;
      } catch (err) {
        await c.query('rollback');
        throw err;
      } finally {
        c.release();
      }
    };
    const log = await legacy('build_log', 'https://ci.example/legacy-log');
    await legacy('test_result', 'https://ci.example/legacy-tests');
    expect(await stampOf(log)).toBeNull();
    expect(await counted(r.id, 'G1', 'build_log')).toEqual([]);
    expect(await verify(r.id)).toMatchObject({ ok: true });
    const entries = async () =>
      (
        await db.admin.query<{ operation: string }>(
          'select operation from ops.ledger_entries where row_id = $1 order by seq',
          [log],
        )
      ).rows.map((x) => x.operation);
    expect(await entries()).toEqual(['insert']);

    const c: pg.PoolClient = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(MIGRATION);
      await c.query('commit');
    } finally {
      c.release();
    }
    expect(await stampOf(log)).toBe(r.gates.G1);
    expect(await counted(r.id, 'G1', 'build_log')).toEqual([log]);
    expect(await entries()).toEqual(['insert', 'update']);
    expect(await verify(r.id)).toMatchObject({ ok: true });
    const all = await db.admin.query<{ r: { ok: boolean } }>('select ops.verify_ledger() as r');
    expect(all.rows[0]!.r).toMatchObject({ ok: true });
    // Still append-only after the migration lifted the guard for its own statement.
    await expect(
      db.admin.query(
        `update ops.evidence_artifacts set artifact_url = 'https://x.example' where artifact_id = $1`,
        [log],
      ),
    ).rejects.toThrow(/append-only/);
  }, 120_000);
});
