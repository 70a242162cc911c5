// What an ingested event's facts carry, and how its ledger entries are linked at commit.
// A check and its evidence are stamped by one trigger per table (who, which persona, which ingest,
// which revision, and the table's guard first); the ledger's commit-time link is queued by the
// transaction's first surviving entry only and links every entry of the transaction, whatever
// savepoints, refused attempts and earlier immediate links came between.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  createRelease,
  expectPgError,
  type Release,
  recordCheck,
  reviseRelease,
  who,
} from '../governance/scenario.js';
import { actAs, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

function buildComplete(r: Release, key: string, status = 'pass', check = 'build'): string {
  return JSON.stringify({
    schema_version: 'v1.0',
    idempotency_key: key,
    source_system: 'github_actions',
    release_id: r.release_id,
    emitted_at: new Date().toISOString(),
    event_type: 'build_complete',
    payload: { status, check_name: check, log_url: `https://ci.example/${key}` },
  });
}

async function ingest(
  c: pg.ClientBase,
  body: string,
): Promise<{ status: string; ingest_id: string; detail?: { check_id?: string; artifact_id?: string } }> {
  const { rows } = await c.query('select ops.ingest_event($1::jsonb) as r', [body]);
  return rows[0].r;
}

/** The entries the open transaction has queued, and how many of them carry the commit-time link. */
async function queued(c: pg.ClientBase): Promise<{ entries: number; carriers: number }> {
  await c.query('reset role');
  const { rows } = await c.query(
    `select count(*)::int as entries, count(*) filter (where carries_link)::int as carriers
     from ops.ledger_pending where xact = pg_current_xact_id()`,
  );
  await actAs(c, 'ci_service_role', who.ci);
  return rows[0];
}

describe('an ingested check and its evidence', () => {
  it('carry the caller, the persona, the ingest attempt and the release revision, stamped over what was given', async () => {
    const r = await createRelease(db);
    await reviseRelease(db, r.release_id, 'refs/heads/hotfix', 'second revision before any check');
    const reply = await db.as('ci_service_role', who.ci, (c) =>
      ingest(c, buildComplete(r, `stamp-${r.release_id}`)),
    );
    expect(reply.status).toBe('accepted');
    const { rows } = await db.admin.query(
      `select c.created_by, c.created_persona::text as persona, c.ingest_id, c.revision,
              a.created_by as a_by, a.created_persona::text as a_persona, a.ingest_id as a_ingest, a.revision as a_revision,
              (select revision from ops.releases where release_id = $3) as release_revision
       from ops.gate_checks c, ops.evidence_artifacts a where c.check_id = $1 and a.artifact_id = $2`,
      [reply.detail?.check_id, reply.detail?.artifact_id, r.release_id],
    );
    expect(rows[0].release_revision).toBe(2);
    expect(rows[0]).toEqual({
      created_by: who.ci,
      persona: 'ci_service_role',
      ingest_id: reply.ingest_id,
      revision: 2,
      a_by: who.ci,
      a_persona: 'ci_service_role',
      a_ingest: reply.ingest_id,
      a_revision: 2,
      release_revision: 2,
    });
  });

  it('written outside an ingest carry no ingest id, and a developer still does not overwrite another producer’s check', async () => {
    const r = await createRelease(db);
    const check = await recordCheck(db, r.release_id, 'G1', 'unit', 'pass');
    const { rows } = await db.admin.query(
      'select ingest_id, created_by from ops.gate_checks where check_id = $1',
      [check.check_id],
    );
    expect(rows[0]).toEqual({ ingest_id: null, created_by: who.ci });
    await expectPgError(
      db.as('developer', who.dev, (c) =>
        c.query(
          `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'unit', p_status => 'fail')`,
          [r.release_id],
        ),
      ),
      'OPS03',
      /reported by another producer/,
    );
  });

  it('refuse claims without a sub for a persona, before anything is written', async () => {
    const r = await createRelease(db);
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(
        `select set_config('role', 'ci_service_role', true), set_config('request.jwt.claims', '{"role":"ci_service_role"}', true)`,
      );
      await expect(
        c.query(
          `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => 'nosub', p_status => 'pass')`,
          [r.release_id],
        ),
      ).rejects.toMatchObject({ code: 'OPS03' });
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});

describe('the ledger’s commit-time link', () => {
  it('is carried by one queued entry at a time and links every entry that survives the transaction', async () => {
    const r = await createRelease(db);
    const c = await db.admin.connect();
    const keys = {
      rolledBack: `rb-${r.release_id}`,
      kept: `kept-${r.release_id}`,
      refused: `bad-${r.release_id}`,
      late: `late-${r.release_id}`,
    };
    let kept: Awaited<ReturnType<typeof ingest>>;
    let late: Awaited<ReturnType<typeof ingest>>;
    try {
      await c.query('begin');
      await actAs(c, 'ci_service_role', who.ci);
      await c.query('savepoint a');
      expect((await ingest(c, buildComplete(r, keys.rolledBack, 'pass', 'gone'))).status).toBe('accepted');
      expect((await queued(c)).carriers).toBe(1);
      await c.query('rollback to savepoint a');
      expect(await queued(c)).toEqual({ entries: 0, carriers: 0 });

      kept = await ingest(c, buildComplete(r, keys.kept));
      expect(kept.status).toBe('accepted');
      expect((await ingest(c, buildComplete(r, keys.refused, 'not-a-status'))).status).toBe('rejected');
      const before = await queued(c);
      expect(before.entries).toBeGreaterThanOrEqual(4);
      expect(before.carriers).toBe(1);

      // Linked now: the queue empties, and what follows carries a link of its own.
      await c.query('set constraints all immediate');
      await c.query('set constraints all deferred');
      expect(await queued(c)).toEqual({ entries: 0, carriers: 0 });
      late = await ingest(c, buildComplete(r, keys.late, 'fail', 'late'));
      expect(late.status).toBe('accepted');
      expect((await queued(c)).carriers).toBe(1);
      await c.query('commit');
    } catch (err) {
      await c.query('rollback');
      throw err;
    } finally {
      c.release();
    }

    const report = await db.as('audit_reader', who.auditor, async (a) => {
      const { rows } = await a.query('select ops.verify_ledger($1) as r', [r.release_id]);
      return rows[0].r;
    });
    expect(report).toMatchObject({ ok: true, findings: [] });
    const { rows } = await db.admin.query(
      `select e.fact_table, e.row_id from ops.ledger_entries e where e.chain_id = $1 and e.fact_table = 'gate_checks'`,
      [r.release_id],
    );
    expect(rows.map((e) => e.row_id).sort()).toEqual([kept.detail?.check_id, late.detail?.check_id].sort());
    const { rows: pending } = await db.admin.query('select count(*)::int as n from ops.ledger_pending');
    expect(pending[0].n).toBe(0);
    const { rows: seqs } = await db.admin.query(
      'select array_agg(seq::int order by seq) as seqs, max(seq)::int as top from ops.ledger_entries where chain_id = $1',
      [r.release_id],
    );
    expect(seqs[0].seqs).toEqual(Array.from({ length: seqs[0].top }, (_, i) => i + 1));
  });
});
