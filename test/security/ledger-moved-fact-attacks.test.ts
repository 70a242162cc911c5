// Attacks on verifying one release's ledger with a fact moved in from another release: the owner,
// with the ledger's triggers off, points a passing check recorded on release A at a gate of release
// B (and, as a second attack, an approval recorded on A at B). The row's entries are on A's chain,
// so A reports it changed; B's verification read only B's chain and B's unrecorded rows, so until
// 20261204220000 ops.verify_ledger(B) said ok while B's gate counted a check nobody recorded for
// it. Every chain's verification reported it before and after.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRelease, passG1, passG3, type Release, recordCheck } from '../governance/scenario.js';
import { behindTriggers } from '../ledger/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let from: Release;
let to: Release;
let untouched: Release;
let out: Release;
let clean: Release;
let check: string;
let approval: string;

async function verify(releaseId: string | null) {
  return db.as('audit_reader', 'audit-moved', async (c) =>
    releaseId === null
      ? (await c.query('select ops.verify_ledger() as r')).rows[0].r
      : (await c.query('select ops.verify_ledger($1::uuid) as r', [releaseId])).rows[0].r,
  );
}

beforeAll(async () => {
  db = await useTestDatabase();
  from = await createRelease(db);
  await passG1(db, from);
  await passG3(db, from);
  to = await createRelease(db);
  untouched = await createRelease(db);
  await passG1(db, untouched);
  // A release whose failing check is moved out to another release, so its G1 no longer fails.
  clean = await createRelease(db);
  await passG1(db, clean);
  out = await createRelease(db);
  await recordCheck(db, out.release_id, 'G1', 'unit', 'fail');
  await behindTriggers(db, async (c) => {
    const gate = async (r: Release, code: string) =>
      (
        await c.query('select gate_id from ops.release_gates where release_id = $1 and gate_code = $2', [
          r.release_id,
          code,
        ])
      ).rows[0].gate_id as string;
    check = (
      await c.query(
        `update ops.gate_checks set gate_id = $2
         where check_id = (select c.check_id from ops.gate_checks c where c.gate_id = $1 limit 1)
         returning check_id`,
        [await gate(from, 'G1'), await gate(to, 'G1')],
      )
    ).rows[0].check_id;
    approval = (
      await c.query(
        `update ops.approvals set release_id = $2, gate_id = $3
         where approval_id = (select a.approval_id from ops.approvals a where a.release_id = $1 limit 1)
         returning approval_id`,
        [from.release_id, to.release_id, await gate(to, 'G3')],
      )
    ).rows[0].approval_id;
    await c.query(
      `update ops.gate_checks set gate_id = $2
       where gate_id = $1 and status = 'fail'`,
      [await gate(out, 'G1'), await gate(untouched, 'G2')],
    );
  });
  // The control plane then evaluates both releases as usual: B's G1 passes on the moved check.
  for (const r of [from, to, out, untouched])
    await db.admin.query('select ops.evaluate_release($1)', [r.release_id]);
});

describe('a fact moved from one release to another behind the ledger', () => {
  it('is reported by the release it was moved to, and the one it was moved from', async () => {
    const { rows: g1 } = await db.admin.query(
      `select status::text from ops.release_gates where release_id = $1 and gate_code = 'G1'`,
      [to.release_id],
    );
    expect(g1[0].status).toBe('passed');
    const b = await verify(to.release_id);
    expect(b.ok).toBe(false);
    const { rows } = await db.admin.query(
      `select fact_table, row_id, kind, chain_id from ops.ledger_findings($1::uuid) order by fact_table`,
      [to.release_id],
    );
    expect(rows).toEqual([
      { fact_table: 'approvals', row_id: approval, kind: 'content_changed', chain_id: from.release_id },
      { fact_table: 'gate_checks', row_id: check, kind: 'content_changed', chain_id: from.release_id },
    ]);
    const a = await verify(from.release_id);
    expect(a.ok).toBe(false);
    expect(a.findings.map((f: { kind: string }) => f.kind)).toContain('content_changed');
    expect((await verify(null)).ok).toBe(false);
  });

  it('is reported by the release a fact was moved out of', async () => {
    const r = await verify(out.release_id);
    expect(r.ok).toBe(false);
    expect(r.findings.map((f: { kind: string; fact_table: string }) => `${f.fact_table} ${f.kind}`)).toEqual([
      'gate_checks content_changed',
    ]);
  });

  it('leaves a release nothing was moved into or out of verified', async () => {
    expect(await verify(clean.release_id)).toMatchObject({ ok: true, findings: [] });
  });

  it('agrees with every chain’s run', async () => {
    const perRelease = new Set<string>();
    for (const r of [from, to, untouched, out, clean]) {
      const { rows } = await db.admin.query(
        `select distinct chain_id, fact_table, row_id, kind from ops.ledger_findings($1::uuid)`,
        [r.release_id],
      );
      for (const f of rows) perRelease.add(JSON.stringify(f));
    }
    const { rows: all } = await db.admin.query(
      `select distinct chain_id, fact_table, row_id, kind from ops.ledger_findings(null)`,
    );
    // What the releases report is what every chain's run reports.
    expect([...perRelease].sort()).toEqual(all.map((f) => JSON.stringify(f)).sort());
  });
});
