// The ledger and the gate stamped on check evidence (check_gate_id, 20261207500000;
// 20261207710000). Two owner's edits the stamp let through every verification:
//   - an artifact changed behind the ledger before the stamp's migration ran, which recorded the
//     changed row again: the artifact's latest entry matched the row, and the change was gone from
//     ops.verify_ledger; it is reported again (content_changed on the artifact);
//   - an artifact written with the stamp's trigger disabled and another gate in check_gate_id:
//     recorded as written, it counted as evidence for that gate; it is reported (content_changed).
// Untouched rows, stamped by the trigger or by the migration, still verify.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { behindTriggers } from '../ledger/support.js';
import { actAs, type TestDatabase, useTestDatabase } from '../support/db.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
const STAMP_MIGRATION = readFileSync(
  path.join(MIGRATIONS, readdirSync(MIGRATIONS).find((f) => f.startsWith('20261207500000'))!),
  'utf8',
);

let db: TestDatabase;

interface Made {
  id: string;
  gates: Record<string, string>;
  check: string;
}

/** A new release of the developer's, with one G1 check reported by the CI. */
async function newRelease(name: string): Promise<Made> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await actAs(c, 'developer', 'cel.dev');
    const { rows } = await c.query<{ id: string }>(
      `select (ops.create_release(p_project => 'cel', p_release_name => $1,
                                  p_source_ref => 'refs/heads/main')).release_id as id`,
      [name],
    );
    await c.query('commit');
    const id = rows[0]!.id;
    await c.query('begin');
    await actAs(c, 'ci_service_role', 'cel.ci');
    const check = await c.query<{ id: string }>(
      `select (ops.record_check($1, 'G1', 'build', 'pass', 'github_actions', true, null, '{}')).check_id as id`,
      [id],
    );
    await c.query('commit');
    const g = await db.admin.query<{ gate_code: string; gate_id: string }>(
      'select gate_code::text, gate_id from ops.release_gates where release_id = $1',
      [id],
    );
    return {
      id,
      gates: Object.fromEntries(g.rows.map((r) => [r.gate_code, r.gate_id])),
      check: check.rows[0]!.id,
    };
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

/**
 * In one owner's transaction with the stamp's trigger disabled (every other trigger on, the
 * ledger's included), fn runs as the qa_tester; the trigger is enabled again before the commit.
 */
async function withoutStamp<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('alter table ops.evidence_artifacts disable trigger evidence_artifacts_stamp_check_gate');
    await actAs(c, 'qa_tester', 'cel.qa');
    const result = await fn(c);
    await c.query('reset role');
    // The ingest id's foreign key is checked at commit: checked now, so the table may be altered.
    await c.query('set constraints all immediate');
    await c.query(
      'alter table ops.evidence_artifacts enable always trigger evidence_artifacts_stamp_check_gate',
    );
    await c.query('commit');
    return result;
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

const verify = async (release: string | null) =>
  (
    await db.admin.query<{
      r: { ok: boolean; findings: { kind: string; row_id: string; detail: string }[] };
    }>(
      release ? 'select ops.verify_ledger($1::uuid) as r' : 'select ops.verify_ledger() as r',
      release ? [release] : [],
    )
  ).rows[0]!.r;

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

beforeAll(async () => {
  db = await useTestDatabase();
});

describe('check evidence changed behind the ledger before the stamp recorded it again', () => {
  it('is still reported after the stamp’s migration, while an untouched row verifies', async () => {
    const r = await newRelease('laundered');
    // Two artifacts on the check as before the stamp: written without it, recorded as they were.
    const [changed, untouched] = await withoutStamp(async (c) => {
      const ids: string[] = [];
      for (const url of ['https://ci.example/changed', 'https://ci.example/untouched']) {
        const { rows } = await c.query<{ id: string }>(
          `select (ops.attach_evidence($1, 'test_result', $2, p_check_id => $3)).artifact_id as id`,
          [r.id, url, r.check],
        );
        ids.push(rows[0]!.id);
      }
      return ids as [string, string];
    });
    expect(await verify(r.id)).toMatchObject({ ok: true });

    // The owner changes one of them with every trigger off: found.
    await behindTriggers(db, (c) =>
      c.query(`update ops.evidence_artifacts set sha256 = repeat('e', 64) where artifact_id = $1`, [changed]),
    );
    const before = await verify(r.id);
    expect(before.ok).toBe(false);
    expect(before.findings).toContainEqual(
      expect.objectContaining({ kind: 'content_changed', row_id: changed }),
    );

    // The stamp's migration (its statement is idempotent: run again over rows left unstamped).
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(STAMP_MIGRATION);
      await c.query('commit');
    } finally {
      c.release();
    }
    const { rows } = await db.admin.query<{ artifact_id: string; check_gate_id: string }>(
      'select artifact_id, check_gate_id from ops.evidence_artifacts where artifact_id = any ($1::uuid[])',
      [[changed, untouched]],
    );
    expect(rows.map((x) => x.check_gate_id)).toEqual([r.gates.G1, r.gates.G1]);

    // The change is still reported, on the changed artifact only, by both verifications.
    for (const report of [await verify(r.id), await verify(null)]) {
      expect(report.ok).toBe(false);
      const onArtifacts = report.findings.filter((f) => f.row_id === changed || f.row_id === untouched);
      expect(onArtifacts).toEqual([
        expect.objectContaining({
          kind: 'content_changed',
          row_id: changed,
          detail: expect.stringContaining("before its check's gate was stamped"),
        }),
      ]);
    }
  }, 120_000);
});

describe('a gate stamped on check evidence by the owner with the stamp’s trigger disabled', () => {
  it('is reported when it is not the check’s gate (the artifact counted for that gate)', async () => {
    const r = await newRelease('forged-stamp');
    const forged = await withoutStamp(async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `insert into ops.evidence_artifacts (check_id, check_gate_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://qa.example/forged-stamp', 'cel.qa') returning artifact_id as id`,
        [r.check, r.gates.G2],
      );
      return rows[0]!.id;
    });
    // It counts for G2, whose test_result requirement it meets, though its check is G1's.
    expect(await counted(r.id, 'G2', 'test_result')).toEqual([forged]);
    for (const report of [await verify(r.id), await verify(null)]) {
      expect(report.ok).toBe(false);
      expect(report.findings).toContainEqual(
        expect.objectContaining({
          kind: 'content_changed',
          row_id: forged,
          detail: expect.stringContaining('is not the gate of its check'),
        }),
      );
    }
  });

  it('is not reported when it is the check’s gate, nor when it was left unstamped', async () => {
    const r = await newRelease('stamps-kept');
    await withoutStamp(async (c) => {
      await c.query(
        `insert into ops.evidence_artifacts (check_id, check_gate_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, $2, 'test_result', 'manual', 'https://qa.example/right-stamp', 'cel.qa')`,
        [r.check, r.gates.G1],
      );
      await c.query(
        `insert into ops.evidence_artifacts (check_id, artifact_type, source_system, artifact_url, created_by)
         values ($1, 'test_result', 'manual', 'https://qa.example/no-stamp', 'cel.qa')`,
        [r.check],
      );
    });
    expect(await verify(r.id)).toMatchObject({ ok: true, findings: [] });
  });
});
