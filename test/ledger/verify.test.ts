// The ledger detects what the database owner does behind its back: an UPDATE of a fact with the
// triggers off, a deleted fact, two facts swapped, a fact inserted unrecorded, and a chain
// rewritten consistently after a checkpoint. Each finding names the chain, the seq, the table and
// the row. Tampering runs as the owner with session_replication_role = replica (ordinary triggers
// off; the ledger's append-only guards are ENABLE ALWAYS, so those are disabled explicitly where a
// test rewrites the ledger itself), each in a database of its own.
import { beforeAll, describe, expect, it } from 'vitest';
import { LEDGER_FUNCTION_CALLERS } from '../../src/auth/access.js';
import { PERSONAS } from '../../src/auth/personas.js';
import {
  createRelease,
  passAll,
  promote,
  type Release,
  recordCheck,
  recordHealthCheck,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { behindTriggers } from './support.js';

interface Finding {
  chain_id: string;
  release_id: string | null;
  seq: number | null;
  fact_table: string | null;
  row_id: string | null;
  kind: string;
  detail: string;
}
interface Report {
  ok: boolean;
  chains: number;
  entries: number;
  findings: Finding[];
}

let db: TestDatabase;
let release: Release;
let other: Release;

async function verify(releaseId?: string): Promise<Report> {
  return db.as('audit_reader', who.auditor, async (c) => {
    const { rows } = releaseId
      ? await c.query('select ops.verify_ledger($1) as r', [releaseId])
      : await c.query('select ops.verify_ledger() as r');
    return rows[0].r as Report;
  });
}

async function checkpoint(): Promise<Record<string, unknown>> {
  return db.as('release_manager', who.rm, async (c) => {
    const { rows } = await c.query('select ops.ledger_checkpoint() as r');
    return rows[0].r;
  });
}

async function compare(cp: unknown): Promise<{ ok: boolean; findings: Finding[] }> {
  return db.as('audit_reader', who.auditor, async (c) => {
    const { rows } = await c.query('select ops.compare_ledger_checkpoint($1) as r', [JSON.stringify(cp)]);
    return rows[0].r;
  });
}

/** As the owner with the fact tables' triggers off, in one transaction. */
async function tamper(sql: string, params: unknown[] = []): Promise<void> {
  await behindTriggers(db, (c) => c.query(sql, params));
}

/** As tamper, for the ledger's own guards: only replica mode, which they ignore. */
async function tamperLedger(sql: string): Promise<void> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    await c.query(sql);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback');
    throw err;
  } finally {
    c.release();
  }
}

/** The seq of the latest ledger entry of a fact. */
async function seqOf(table: string, rowId: string): Promise<number> {
  const { rows } = await db.admin.query(
    'select max(seq)::int as seq from ops.ledger_entries where fact_table = $1 and row_id = $2',
    [table, rowId],
  );
  return rows[0].seq;
}

/** A release taken through every gate to production, then a fresh database copy state for each test. */
async function fullRelease(): Promise<Release> {
  const r = await createRelease(db);
  await passAll(db, r);
  const d = await promote(db, r.release_id, 'production');
  await updateDeployment(db, d.deployment_id, 'succeeded');
  await recordHealthCheck(db, d.deployment_id, 'pass');
  return r;
}

beforeAll(async () => {
  db = await useTestDatabase();
  release = await fullRelease();
  other = await createRelease(db);
  await recordCheck(db, other.release_id, 'G1', 'unit', 'pass');
  await recordCheck(db, release.release_id, 'G1', 'lint', 'warning', { required: false });
  // A release-less fact (an environment event of no release) goes to the global chain.
  await db.as('ci_service_role', 'ci-bot', (c) =>
    c.query(
      `insert into ops.environment_events (environment, event_type, source_system, idempotency_key)
       values ('staging', 'config_change', 'agent', 'ledger-test/global')`,
    ),
  );
});

describe('an untouched database', () => {
  it('verifies clean, per release and as a whole, with every kind of fact in the chain', async () => {
    const one = await verify(release.release_id);
    expect(one).toMatchObject({ ok: true, chains: 1, findings: [] });
    expect(one.entries).toBeGreaterThan(20);
    const all = await verify();
    expect(all.ok).toBe(true);
    expect(all.findings).toEqual([]);
    expect(all.chains).toBeGreaterThanOrEqual(3);
    const { rows: global } = await db.admin.query(
      `select fact_table from ops.ledger_entries where chain_id = '00000000-0000-0000-0000-000000000000'`,
    );
    expect(global.map((g) => g.fact_table)).toContain('environment_events');
    const { rows } = await db.admin.query(
      'select distinct fact_table from ops.ledger_entries where chain_id = $1 order by 1',
      [release.release_id],
    );
    expect(rows.map((r) => r.fact_table)).toEqual(
      expect.arrayContaining([
        'approvals',
        'deployment_transitions',
        'deployments',
        'evidence_artifacts',
        'gate_checks',
        'gate_transitions',
        'release_gates',
        'releases',
      ]),
    );
  });

  it('takes concurrent writes about one release without deadlock, in commit order', async () => {
    const r = await createRelease(db);
    // Each transaction writes a check (the gate row is locked by the re-evaluation) and evidence;
    // the chain is linked at commit, so no transaction holds the chain while it waits for a gate.
    await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        db.as('ci_service_role', 'ci-bot', async (c) => {
          await c.query(
            `select ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => $2, p_status => 'pass')`,
            [r.release_id, `c-${i % 4}`],
          );
          await c.query(
            `select ops.attach_evidence(p_release_id => $1, p_artifact_type => 'build_log', p_artifact_url => $2, p_gate_code => 'G1')`,
            [r.release_id, `https://ci.example/${i}`],
          );
        }),
      ),
    );
    const report = await verify(r.release_id);
    expect(report).toMatchObject({ ok: true, findings: [] });
    const { rows } = await db.admin.query(
      `select count(*) filter (where fact_table = 'gate_checks')::int as checks,
              count(*) filter (where fact_table = 'evidence_artifacts')::int as evidence
       from ops.ledger_entries where chain_id = $1`,
      [r.release_id],
    );
    expect(rows[0]).toEqual({ checks: 24, evidence: 24 });
    const { rows: pending } = await db.admin.query('select count(*)::int as n from ops.ledger_pending');
    expect(pending[0].n).toBe(0);
  });

  it('links every entry to the one before it, in seq order from 1', async () => {
    const { rows } = await db.admin.query(
      `select seq::int, prev_hash, entry_hash, lag(entry_hash) over (order by seq) as before
       from ops.ledger_entries where chain_id = $1 order by seq`,
      [release.release_id],
    );
    expect(rows[0].seq).toBe(1);
    expect(rows[0].prev_hash).toBe('0'.repeat(64));
    for (const [i, r] of rows.entries()) {
      expect(r.seq).toBe(i + 1);
      if (i > 0) expect(r.prev_hash).toBe(r.before);
    }
  });

  it('refuses to change or delete ledger entries, for the owner too and in replica mode', async () => {
    await expect(
      tamperLedger(`update ops.ledger_entries set content_hash = repeat('a', 64)`),
    ).rejects.toThrow(/append-only/);
    await expect(tamperLedger('delete from ops.ledger_entries')).rejects.toThrow(/append-only/);
    await expect(tamperLedger('truncate ops.ledger_entries')).rejects.toThrow(/append-only/);
    await expect(tamperLedger('update ops.ledger_chains set head_seq = 1')).rejects.toThrow(/chain head/);
    await expect(tamperLedger('delete from ops.ledger_chains')).rejects.toThrow(/append-only/);
    // Even with every trigger of the fact tables off.
    await expect(behindTriggers(db, (c) => c.query('delete from ops.ledger_entries'))).rejects.toThrow(
      /append-only/,
    );
  });

  it('LEDGER_FUNCTION_CALLERS: exactly the personas with EXECUTE on each ledger function; the rest of the ledger to none', async () => {
    for (const [fn, callers] of Object.entries(LEDGER_FUNCTION_CALLERS)) {
      const { rows } = await db.admin.query<{ persona: string }>(
        `select p as persona from unnest($1::text[]) p where has_function_privilege(p, $2, 'execute') order by p`,
        [PERSONAS, `ops.${fn}`],
      );
      expect(
        rows.map((r) => r.persona),
        fn,
      ).toEqual([...callers].sort());
    }
    const { rows } = await db.admin.query(
      `select p.oid::regprocedure::text as fn, r as persona
       from pg_proc p join pg_namespace n on n.oid = p.pronamespace, unnest($1::text[]) r
       where n.nspname = 'ops' and (p.proname like 'ledger%' or p.proname = 'gate_policy_digest')
         and p.proname not in ('ledger_checkpoint', 'ledger_anchor')
         and has_function_privilege(r, p.oid, 'execute')`,
      [PERSONAS],
    );
    expect(rows).toEqual([]);
    const { rows: config } = await db.admin.query(
      `select p.proname, p.proconfig from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'ops' and (p.proname like '%ledger%' or p.proname in ('release_attestation', 'gate_policy_digest'))`,
    );
    expect(config.length).toBeGreaterThanOrEqual(16);
    for (const f of config) expect(f.proconfig, f.proname).toContain('search_path=pg_catalog, pg_temp');
  });

  it('is readable by release_manager and audit_reader only, and writable by no persona', async () => {
    for (const persona of ['release_manager', 'audit_reader'] as const) {
      const { rows } = await db.as(persona, 'x', (c) =>
        c.query('select count(*)::int as n from ops.ledger_entries where chain_id = $1', [
          release.release_id,
        ]),
      );
      expect(rows[0].n).toBeGreaterThan(20);
    }
    for (const persona of PERSONAS) {
      if (persona !== 'release_manager' && persona !== 'audit_reader') {
        await expect(
          db.as(persona, 'x', (c) => c.query('select * from ops.ledger_entries limit 1')),
        ).rejects.toThrow(/permission denied/);
      }
      for (const sql of [
        `insert into ops.ledger_entries values (gen_random_uuid(), 1, 'releases', gen_random_uuid(), 'insert', repeat('a', 64), repeat('0', 64), repeat('b', 64))`,
        `update ops.ledger_chains set head_seq = head_seq`,
        `delete from ops.ledger_entries`,
      ]) {
        await expect(
          db.as(persona, 'x', (c) => c.query(sql)),
          `${persona}: ${sql}`,
        ).rejects.toThrow(/permission denied/);
      }
      await expect(
        db.as(persona, 'x', (c) =>
          c.query(
            `select ops.ledger_append(gen_random_uuid(), 'releases', gen_random_uuid(), 'insert', repeat('a', 64))`,
          ),
        ),
      ).rejects.toThrow(/permission denied/);
    }
    await expect(
      db.as('developer', who.dev, (c) => c.query('select ops.verify_ledger($1)', [release.release_id])),
    ).rejects.toThrow(/permission denied/);
  });
});

describe('tampering by the owner', () => {
  it('an UPDATE of any fact with the triggers off is detected and located', async () => {
    const { rows: facts } = await db.admin.query(
      `select distinct on (fact_table) fact_table, row_id from ops.ledger_entries where chain_id = $1
       order by fact_table, seq`,
      [release.release_id],
    );
    const { rows: tables } = await db.admin.query(
      'select table_name, pk_column from ops.ledger_fact_tables where table_name = any($1)',
      [facts.map((f) => f.fact_table)],
    );
    expect(tables.length).toBeGreaterThanOrEqual(8);
    for (const f of facts) {
      const pk = tables.find((t) => t.table_name === f.fact_table)!.pk_column as string;
      // created_by exists on every fact table: a rewrite of who did it.
      await tamper(`update ops.${f.fact_table} set created_by = created_by || '-forged' where ${pk} = $1`, [
        f.row_id,
      ]);
      const report = await verify(release.release_id);
      expect(report.ok, f.fact_table).toBe(false);
      expect(report.findings).toEqual([
        expect.objectContaining({
          kind: 'content_changed',
          fact_table: f.fact_table,
          row_id: f.row_id,
          seq: await seqOf(f.fact_table, f.row_id),
          release_id: release.release_id,
        }),
      ]);
      await tamper(`update ops.${f.fact_table} set created_by = left(created_by, -7) where ${pk} = $1`, [
        f.row_id,
      ]);
      expect((await verify(release.release_id)).ok).toBe(true);
    }
  });

  it('a changed check result is found by verifying everything too', async () => {
    const { rows } = await db.admin.query(
      `select c.check_id from ops.gate_checks c join ops.release_gates g using (gate_id)
       where g.release_id = $1 and c.status = 'pass' limit 1`,
      [other.release_id],
    );
    const checkId = rows[0].check_id;
    await tamper(`update ops.gate_checks set status = 'fail' where check_id = $1`, [checkId]);
    const all = await verify();
    expect(all.ok).toBe(false);
    expect(all.findings).toEqual([
      expect.objectContaining({ kind: 'content_changed', fact_table: 'gate_checks', row_id: checkId }),
    ]);
    expect((await verify(release.release_id)).ok).toBe(true);
    await tamper(`update ops.gate_checks set status = 'pass' where check_id = $1`, [checkId]);
    expect((await verify()).ok).toBe(true);
  });

  it('a deleted fact is detected and located', async () => {
    const { rows } = await db.admin.query(
      'select approval_id from ops.approvals where release_id = $1 order by created_at limit 1',
      [release.release_id],
    );
    const approvalId = rows[0].approval_id;
    const seq = await seqOf('approvals', approvalId);
    await behindTriggers(
      db,
      async (c) => {
        await c.query('delete from ops.approvals where approval_id = $1', [approvalId]);
        const { rows: r } = await c.query('select ops.verify_ledger($1) as r', [release.release_id]);
        expect(r[0].r.findings).toEqual([
          expect.objectContaining({ kind: 'row_missing', fact_table: 'approvals', row_id: approvalId, seq }),
        ]);
      },
      { commit: false },
    );
    expect(await verify(release.release_id)).toMatchObject({ ok: true, findings: [] });
  });

  it('two facts swapped are detected at the first of them', async () => {
    // Two checks of the release exchange their names and results (a failing check passed off as
    // the passing one); their rows are otherwise unchanged.
    const { rows } = await db.admin.query(
      `select distinct on (c.check_name) c.check_id, c.check_name, c.status::text
       from ops.gate_checks c join ops.release_gates g using (gate_id)
       where g.release_id = $1 order by c.check_name, c.created_at limit 2`,
      [release.release_id],
    );
    const [a, b] = rows;
    expect(a.check_name).not.toBe(b.check_name);
    const swap = (x: typeof a, y: typeof a) =>
      tamper(
        `update ops.gate_checks set check_name = case check_id when $1::uuid then $3 else $4 end,
                                    status = (case check_id when $1::uuid then $5 else $6 end)::public.ops_check_status
         where check_id in ($1, $2)`,
        [x.check_id, y.check_id, y.check_name, x.check_name, y.status, x.status],
      );
    await swap(a, b);
    const seqA = await seqOf('gate_checks', a.check_id);
    const seqB = await seqOf('gate_checks', b.check_id);
    const report = await verify(release.release_id);
    expect(report.findings).toEqual([
      expect.objectContaining({
        kind: 'content_changed',
        fact_table: 'gate_checks',
        row_id: seqA < seqB ? a.check_id : b.check_id,
        seq: Math.min(seqA, seqB),
      }),
    ]);
    await swap(
      { ...a, check_name: b.check_name, status: b.status },
      { ...b, check_name: a.check_name, status: a.status },
    );
    expect(await verify(release.release_id)).toMatchObject({ findings: [] });
  });

  it('two ledger entries swapped are detected as reordered, at the first of them', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
      await c.query(
        'update ops.ledger_entries set seq = seq + 1000000 where chain_id = $1 and seq in (5, 6)',
        [release.release_id],
      );
      await c.query(
        'update ops.ledger_entries set seq = case seq when 1000005 then 6 else 5 end where chain_id = $1 and seq > 1000000',
        [release.release_id],
      );
      const { rows } = await c.query('select ops.ledger_report($1) as r', [release.release_id]);
      const report = rows[0].r as Report;
      expect(report.ok).toBe(false);
      expect(report.findings).toHaveLength(1);
      expect(report.findings[0]).toMatchObject({ kind: 'order_swapped', seq: 5 });
    } finally {
      await c.query('rollback');
      c.release();
    }
    expect((await verify(release.release_id)).ok).toBe(true);
  });

  it('a fact inserted with the triggers off is found as unrecorded', async () => {
    const { rows } = await db.admin.query(
      `select gate_id from ops.release_gates where release_id = $1 and gate_code = 'G3'`,
      [release.release_id],
    );
    const id = '22222222-2222-4222-8222-222222222222';
    await tamper(
      `insert into ops.approvals (approval_id, release_id, gate_id, approver_id, persona_role, decision, scope, created_by)
       values ($1, $2, $3, 'mallory', 'release_manager', 'approved', 'gate', 'mallory')`,
      [id, release.release_id, rows[0].gate_id],
    );
    const report = await verify(release.release_id);
    expect(report.findings).toEqual([
      expect.objectContaining({ kind: 'unrecorded', fact_table: 'approvals', row_id: id, seq: null }),
    ]);
    await tamper('delete from ops.approvals where approval_id = $1', [id]);
    expect((await verify(release.release_id)).ok).toBe(true);
  });

  it('an entry whose hash no longer matches its fields breaks the link there', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
      await c.query(`update ops.ledger_entries set operation = 'update' where chain_id = $1 and seq = 3`, [
        release.release_id,
      ]);
      const { rows } = await c.query('select ops.ledger_report($1) as r', [release.release_id]);
      expect(rows[0].r.findings).toEqual([expect.objectContaining({ kind: 'link_broken', seq: 3 })]);
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('a chain rewritten consistently after a checkpoint verifies clean, and the checkpoint finds it', async () => {
    const cp = await checkpoint();
    expect(cp).toMatchObject({ format: 'ops.ledger-checkpoint/v1' });
    expect(cp.root).toMatch(/^[0-9a-f]{64}$/);
    expect(await compare(cp)).toMatchObject({ ok: true, findings: [] });

    // The owner changes a check's result and rewrites the chain from that entry on, with every
    // hash recomputed and the head moved: the chain is self-consistent again.
    const { rows } = await db.admin.query(
      `select c.check_id from ops.gate_checks c join ops.release_gates g using (gate_id)
       where g.release_id = $1 order by c.created_at limit 1`,
      [release.release_id],
    );
    const checkId = rows[0].check_id;
    const seq = await seqOf('gate_checks', checkId);
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query("set local timezone = 'UTC'");
      await c.query('alter table ops.ledger_entries disable trigger ledger_entries_append_only');
      await c.query('alter table ops.ledger_chains disable trigger ledger_chains_guard');
      await c.query(`update ops.gate_checks set status = 'fail' where check_id = $1`, [checkId]);
      await c.query(
        `update ops.ledger_entries set content_hash = ops.ledger_content_hash((select to_jsonb(t) from ops.gate_checks t where check_id = $2))
         where chain_id = $1 and seq = $3`,
        [release.release_id, checkId, seq],
      );
      const { rows: tail } = await c.query(
        'select seq from ops.ledger_entries where chain_id = $1 and seq >= $2 order by seq',
        [release.release_id, seq],
      );
      for (const t of tail) {
        await c.query(
          `update ops.ledger_entries e set
             prev_hash = coalesce((select p.entry_hash from ops.ledger_entries p where p.chain_id = e.chain_id and p.seq = e.seq - 1), repeat('0', 64))
           where chain_id = $1 and seq = $2`,
          [release.release_id, t.seq],
        );
        await c.query(
          `update ops.ledger_entries e set entry_hash = ops.ledger_entry_hash(chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash)
           where chain_id = $1 and seq = $2`,
          [release.release_id, t.seq],
        );
      }
      await c.query(
        `update ops.ledger_chains c set head_hash = (select entry_hash from ops.ledger_entries e where e.chain_id = c.chain_id and e.seq = c.head_seq)
         where chain_id = $1`,
        [release.release_id],
      );
      await c.query('alter table ops.ledger_entries enable always trigger ledger_entries_append_only');
      await c.query('alter table ops.ledger_chains enable always trigger ledger_chains_guard');
      await c.query('commit');
    } catch (err) {
      await c.query('rollback');
      throw err;
    } finally {
      c.release();
    }

    expect(await verify(release.release_id)).toMatchObject({ ok: true, findings: [] });
    const head = (cp.heads as { chain_id: string; seq: number }[]).find(
      (h) => h.chain_id === release.release_id,
    )!;
    const compared = await compare(cp);
    expect(compared.ok).toBe(false);
    expect(compared.findings).toEqual([
      expect.objectContaining({ kind: 'rewritten', chain_id: release.release_id, seq: head.seq }),
    ]);

    // An edited checkpoint file is refused, not compared.
    const edited = structuredClone(cp) as { heads: { hash: string }[] };
    edited.heads[0]!.hash = 'e'.repeat(64);
    await expect(compare(edited)).rejects.toThrow(/root does not match/);
    await expect(compare({ format: 'something else' })).rejects.toThrow(/not a ledger checkpoint/);
  });
});
