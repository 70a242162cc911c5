// The ledger's write path, held to what it promises whatever form its constraints and link take
// (docs/profiling.md, "The ledger's share"): every hash column accepts and refuses exactly what
// `~ '^[0-9a-f]{64}$'` does; a chain head's guard lets a head move only forward, to its chain's
// last entry with that entry's hash; and one transaction writing facts on several chains gets each
// chain's entries contiguous, in the order it wrote them, every head on its chain's last entry and
// the queue empty.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRelease, type Release, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const GLOBAL = '00000000-0000-0000-0000-000000000000';
const HEX64 = /^[0-9a-f]{64}$/;

let db: TestDatabase;
let a: Release;
let b: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  a = await createRelease(db);
  b = await createRelease(db);
});

/** Runs fn as the owner in a transaction that is always rolled back. */
async function rolledBack<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    return await fn(c);
  } finally {
    await c.query('rollback');
    c.release();
  }
}

/** Whether the statement succeeds inside a savepoint; the SQLSTATE when it does not. */
async function attempt(c: pg.PoolClient, sql: string, params: unknown[]): Promise<string> {
  await c.query('savepoint s');
  try {
    await c.query(sql, params);
    await c.query('release savepoint s');
    return 'ok';
  } catch (err) {
    await c.query('rollback to savepoint s');
    return (err as { code?: string }).code ?? 'error';
  }
}

/** Candidate hash strings: the valid form and near misses of every kind. */
function candidates(): string[] {
  const hex = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(2);
  const out = [
    hex,
    '0'.repeat(64),
    'f'.repeat(64),
    hex.slice(0, 63),
    `${hex}0`,
    hex.toUpperCase(),
    `${hex.slice(0, 63)}A`,
    `${hex.slice(0, 63)}g`,
    `${hex.slice(0, 63)}\n`,
    `${hex}\n`,
    `\n${hex}`,
    ` ${hex.slice(1)}`,
    `${hex.slice(0, 62)}é`,
    `${hex.slice(0, 63)}-`,
    '',
    'x',
  ];
  // Random strings over a small alphabet that includes characters just outside the hex range.
  const alphabet = '0189afgAF:/`@\n ';
  let seed = 7;
  for (let i = 0; i < 60; i++) {
    const len = [63, 64, 64, 64, 65][i % 5]!;
    let s = '';
    for (let j = 0; j < len; j++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      // Every other string hex digits only; the rest mostly hex, so that near misses are common.
      s += i % 2 === 1 && seed % 7 === 0 ? alphabet[seed % alphabet.length] : '0123456789abcdef'[seed % 16];
    }
    out.push(s);
  }
  return out;
}

describe('the hash columns', () => {
  it('accept exactly the strings of 64 lower-case hex digits, in every hash column of the ledger', async () => {
    const values = candidates();
    expect(values.filter((v) => HEX64.test(v)).length).toBeGreaterThan(5);
    expect(values.filter((v) => !HEX64.test(v)).length).toBeGreaterThan(20);
    const good = '0'.repeat(64);
    await rolledBack(async (c) => {
      // Entries of a chain of their own (rolled back with the rest).
      const chain = (await c.query<{ id: string }>('select gen_random_uuid() as id')).rows[0]!.id;
      let seq = 0;
      for (const v of values) {
        // The regular expression, as PostgreSQL judges it, is the reference.
        const { rows } = await c.query<{ m: boolean }>(`select $1::text ~ '^[0-9a-f]{64}$' as m`, [v]);
        const expected = rows[0]!.m ? 'ok' : '23514';
        expect(rows[0]!.m, JSON.stringify(v)).toBe(HEX64.test(v));
        for (const column of ['content_hash', 'prev_hash', 'entry_hash']) {
          seq += 1;
          const row = { content_hash: good, prev_hash: good, entry_hash: good, [column]: v };
          const got = await attempt(
            c,
            `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
             values ($1, $2, 'gate_checks', gen_random_uuid(), 'insert', $3, $4, $5)`,
            [chain, seq, row.content_hash, row.prev_hash, row.entry_hash],
          );
          expect(got, `${column} = ${JSON.stringify(v)}`).toBe(expected);
        }
        // A chain head's hash, under the same constraint (an insert: a new chain's head is not
        // guarded, only its later moves).
        expect(
          await attempt(
            c,
            'insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash) values (gen_random_uuid(), null, 0, $1)',
            [v],
          ),
          `head_hash = ${JSON.stringify(v)}`,
        ).toBe(expected);
      }
    });
  });
});

describe("a chain head's guard", () => {
  it("moves a head only forward and only to the last entry of its chain, with that entry's hash", async () => {
    const h = (n: number) => n.toString(16).padStart(64, '0');
    await rolledBack(async (c) => {
      await c.query('set local session_replication_role = replica'); // the guard is ENABLE ALWAYS
      const chain = (await c.query<{ id: string }>('select gen_random_uuid() as id')).rows[0]!.id;
      await c.query(
        `insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash) values ($1, null, 0, $2)`,
        [chain, h(0)],
      );
      for (const seq of [1, 2, 3]) {
        await c.query(
          `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
           values ($1, $2, 'gate_checks', gen_random_uuid(), 'insert', $3, $4, $5)`,
          [chain, seq, h(100 + seq), h(seq - 1), h(seq)],
        );
      }
      const move = (seq: number, hash: string) =>
        attempt(c, 'update ops.ledger_chains set head_seq = $2, head_hash = $3 where chain_id = $1', [
          chain,
          seq,
          hash,
        ]);
      expect(await move(2, h(2))).toBe('OPS03'); // an entry lies beyond it
      expect(await move(3, h(2))).toBe('OPS03'); // the last entry, another hash
      expect(await move(4, h(3))).toBe('OPS03'); // no such entry
      expect(await move(3, h(3))).toBe('ok');
      expect(await move(3, h(3))).toBe('OPS03'); // not forward
      expect(await move(1, h(1))).toBe('OPS03'); // backward
      expect(
        await attempt(c, 'update ops.ledger_chains set release_id = gen_random_uuid() where chain_id = $1', [
          chain,
        ]),
      ).toBe('OPS03');
    });
  });
});

describe('one transaction writing facts on several chains', () => {
  it('links each chain contiguously in write order, every head on its last entry, the queue empty', async () => {
    const written: { chain: string; table: string; id: string }[] = [];
    const globalKey = `write-path/global/${Date.now()}-${Math.random()}`;
    await db.as('ci_service_role', who.ci, async (c) => {
      // b before a, then a global fact, then a again: the link orders chains, not facts.
      for (const [r, name] of [
        [b, 'write-path-b1'],
        [a, 'write-path-a1'],
      ] as const) {
        const { rows } = await c.query<{ id: string }>(
          `select (ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => $2, p_status => 'pass')).check_id as id`,
          [r.release_id, name],
        );
        written.push({ chain: r.release_id, table: 'gate_checks', id: rows[0]!.id });
      }
      // The caller may insert an environment event but not read it back: its id is looked up after.
      await c.query(
        `insert into ops.environment_events (environment, event_type, source_system, idempotency_key)
         values ('staging', 'config_change', 'agent', $1)`,
        [globalKey],
      );
      written.push({ chain: GLOBAL, table: 'environment_events', id: '' });
      const { rows: ev } = await c.query<{ id: string }>(
        `select (ops.attach_evidence(p_release_id => $1, p_artifact_type => 'build_log',
                 p_artifact_url => 'https://ci.example/write-path', p_gate_code => 'G1')).artifact_id as id`,
        [a.release_id],
      );
      written.push({ chain: a.release_id, table: 'evidence_artifacts', id: ev[0]!.id });
    });

    const { rows: globalRow } = await db.admin.query<{ id: string }>(
      'select event_id as id from ops.environment_events where idempotency_key = $1',
      [globalKey],
    );
    written[2]!.id = globalRow[0]!.id;
    const { rows: entries } = await db.admin.query<{
      chain_id: string;
      seq: string;
      fact_table: string;
      row_id: string;
    }>(`select chain_id, seq, fact_table, row_id from ops.ledger_entries where row_id = any ($1::uuid[])`, [
      written.map((w) => w.id),
    ]);
    const entryOf = (w: (typeof written)[number]) =>
      entries.filter((e) => e.chain_id === w.chain && e.fact_table === w.table && e.row_id === w.id);
    for (const w of written) expect(entryOf(w), `${w.table} ${w.id}`).toHaveLength(1);
    // In chain a, the check comes before the evidence written after it.
    const aCheck = Number(entryOf(written[1]!)[0]!.seq);
    const aEvidence = Number(entryOf(written[3]!)[0]!.seq);
    expect(aEvidence).toBeGreaterThan(aCheck);

    // Each chain touched: seqs 1..n without a gap, each entry linked to the one before, the head on
    // the last entry.
    for (const chain of [a.release_id, b.release_id, GLOBAL]) {
      const { rows } = await db.admin.query<{
        bad: number;
        last: string;
        head: string;
        lastHash: string;
        headHash: string;
      }>(
        `select (select count(*)::int from (
                   select seq, prev_hash, lag(seq) over w as before_seq, lag(entry_hash) over w as before_hash
                   from ops.ledger_entries where chain_id = $1 window w as (order by seq)) s
                 where seq <> coalesce(before_seq, 0) + 1
                    or prev_hash <> coalesce(before_hash, repeat('0', 64))) as bad,
                (select max(seq) from ops.ledger_entries where chain_id = $1)::text as last,
                (select head_seq from ops.ledger_chains where chain_id = $1)::text as head,
                (select entry_hash from ops.ledger_entries where chain_id = $1 order by seq desc limit 1) as "lastHash",
                (select head_hash from ops.ledger_chains where chain_id = $1) as "headHash"`,
        [chain],
      );
      expect(rows[0], chain).toMatchObject({ bad: 0 });
      expect(rows[0]!.head, chain).toBe(rows[0]!.last);
      expect(rows[0]!.headHash, chain).toBe(rows[0]!.lastHash);
    }
    const { rows: pending } = await db.admin.query('select count(*)::int as n from ops.ledger_pending');
    expect(pending[0].n).toBe(0);
    const report = await db.as('audit_reader', who.auditor, async (c) => {
      const { rows } = await c.query('select ops.verify_ledger() as r');
      return rows[0].r as { ok: boolean; findings: unknown[] };
    });
    expect(report).toMatchObject({ ok: true, findings: [] });
  });
});
