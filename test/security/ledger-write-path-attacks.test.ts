// Attacks on the ledger's write path (20261204160000: hash checks without a bounded regex, the
// commit-time link reading its queue once, the head guard in one probe), through the raw SQL door
// as the personas that write facts: the link moved by SET CONSTRAINTS ... IMMEDIATE / DEFERRED,
// savepoints rolled back after a fact was queued or linked, two transactions writing on two
// releases' chains in opposite orders, and hash strings with characters that look like hex
// digits. After each, every fact that committed is recorded once, in its own chain, in the order
// it was written; no chain forks (one seq or prev twice); every head is its chain's last entry;
// the queue is empty; and ops.verify_ledger finds nothing.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { beginAs, createRelease, type Release, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await useTestDatabase();
});

/** A check recorded on the connection's open transaction; returns its id. */
async function check(c: pg.ClientBase, r: Release, name: string): Promise<string> {
  const { rows } = await c.query<{ id: string }>(
    `select (ops.record_check(p_release_id => $1, p_gate_code => 'G1', p_check_name => $2, p_status => 'pass')).check_id as id`,
    [r.release_id, name],
  );
  return rows[0]!.id;
}

/** The seqs of the facts' entries in a chain, in the order given (null: not recorded). */
async function seqsOf(chain: string, ids: string[]): Promise<(number | null)[]> {
  const { rows } = await db.admin.query<{ row_id: string; seq: string }>(
    `select row_id, seq from ops.ledger_entries where chain_id = $1 and row_id = any ($2::uuid[])`,
    [chain, ids],
  );
  return ids.map((id) => {
    const found = rows.filter((r) => r.row_id === id);
    expect(found.length, `entries of ${id}`).toBeLessThanOrEqual(1);
    return found[0] ? Number(found[0].seq) : null;
  });
}

/** The chain's integrity: contiguous seqs linked one to the next, the head on the last entry. */
async function chainWhole(chain: string): Promise<void> {
  const { rows } = await db.admin.query<{ bad: number; last: string; head: string; lh: string; hh: string }>(
    `select (select count(*)::int from (
               select seq, prev_hash, lag(seq) over w as bs, lag(entry_hash) over w as bh
               from ops.ledger_entries where chain_id = $1 window w as (order by seq)) s
             where seq <> coalesce(bs, 0) + 1 or prev_hash <> coalesce(bh, repeat('0', 64))) as bad,
            (select max(seq) from ops.ledger_entries where chain_id = $1)::text as last,
            (select head_seq from ops.ledger_chains where chain_id = $1)::text as head,
            (select entry_hash from ops.ledger_entries where chain_id = $1 order by seq desc limit 1) as lh,
            (select head_hash from ops.ledger_chains where chain_id = $1) as hh`,
    [chain],
  );
  expect(rows[0]!.bad, chain).toBe(0);
  expect(rows[0]!.head, chain).toBe(rows[0]!.last);
  expect(rows[0]!.hh, chain).toBe(rows[0]!.lh);
}

async function ledgerClean(releases: Release[]): Promise<void> {
  for (const r of releases) await chainWhole(r.release_id);
  const { rows: pending } = await db.admin.query<{ n: number }>(
    'select count(*)::int as n from ops.ledger_pending',
  );
  expect(pending[0]!.n).toBe(0);
  const report = await db.as('audit_reader', who.auditor, async (c) => {
    const { rows } = await c.query('select ops.verify_ledger() as r');
    return rows[0].r as { ok: boolean; findings: unknown[] };
  });
  expect(report).toMatchObject({ ok: true, findings: [] });
}

/** One transaction as a persona on its own connection, the steps run in order, then commit. */
async function transaction(persona: Persona, steps: (c: pg.ClientBase) => Promise<void>): Promise<void> {
  const c = await db.api.connect();
  try {
    await beginAs(c, persona, `ledger-attack-${persona}`);
    await steps(c);
    await c.query('commit');
  } catch (err) {
    await c.query('rollback').catch(() => {});
    throw err;
  } finally {
    c.release();
  }
}

describe('the ledger’s tables written directly by each persona', () => {
  const H = 'a'.repeat(64);
  const WRITES: [string, string][] = [
    [
      'a forged entry queued in ops.ledger_pending',
      `insert into ops.ledger_pending (chain_id, fact_table, row_id, operation, content_hash)
       values ('00000000-0000-0000-0000-000000000000', 'gate_checks', gen_random_uuid(), 'insert', '${H}')`,
    ],
    ['the queue emptied', 'delete from ops.ledger_pending'],
    ['the queue moved to another transaction', 'update ops.ledger_pending set xact = xact'],
    ['the queue truncated', 'truncate ops.ledger_pending'],
    [
      'an entry appended',
      `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
       values ('00000000-0000-0000-0000-000000000000', 1000000, 'gate_checks', gen_random_uuid(), 'insert', '${H}', '${H}', '${H}')`,
    ],
    ['an entry rewritten', `update ops.ledger_entries set content_hash = '${H}'`],
    ['a head moved', 'update ops.ledger_chains set head_seq = head_seq + 1'],
    [
      'a chain started',
      `insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash) values (gen_random_uuid(), null, 0, '${H}')`,
    ],
    ['the link fired by hand', 'select ops.ledger_link_pending()'],
    ['a queue row written by the recorder by hand', 'select ops.ledger_record()'],
  ];
  it.each(
    (
      ['ci_service_role', 'release_manager', 'qa_tester', 'sre', 'developer', 'audit_reader'] as Persona[]
    ).flatMap((p) => WRITES.map(([what, sql]) => [p, what, sql] as const)),
  )('%s: %s is refused', async (persona, _what, sql) => {
    const c = await db.api.connect();
    try {
      await beginAs(c, persona, `ledger-direct-${persona}`);
      const outcome = await c.query(sql).then(
        () => 'ok',
        (err: { code?: string }) => err.code ?? 'error',
      );
      expect(['42501', '0A000', '42883', '39P01']).toContain(outcome);
    } finally {
      await c.query('rollback').catch(() => {});
      c.release();
    }
  });
});

describe('the link moved by SET CONSTRAINTS and savepoints, as the personas that write facts', () => {
  const writers: Persona[] = ['ci_service_role', 'developer'];

  it.each(writers.map((p) => [p] as const))(
    '%s: immediate, deferred and immediate again, facts on two chains in between: each recorded once, in write order',
    async (persona) => {
      const a = await createRelease(db, { sub: `ledger-attack-${persona}` });
      const b = await createRelease(db, { sub: `ledger-attack-${persona}` });
      const ids: Record<string, string> = {};
      await transaction(persona, async (c) => {
        ids.a1 = await check(c, a, 'sc-a1');
        await c.query('set constraints all immediate'); // links a1 now
        ids.b1 = await check(c, b, 'sc-b1'); // linked at its statement's end
        await c.query('set constraints all deferred');
        ids.a2 = await check(c, a, 'sc-a2');
        ids.b2 = await check(c, b, 'sc-b2');
        await c.query('set constraints ops.ledger_pending_link immediate'); // links a2, b2
        await c.query('set constraints ops.ledger_pending_link deferred');
        ids.a3 = await check(c, a, 'sc-a3');
      });
      const sa = await seqsOf(a.release_id, [ids.a1!, ids.a2!, ids.a3!]);
      const sb = await seqsOf(b.release_id, [ids.b1!, ids.b2!]);
      expect(sa.every((s) => s !== null)).toBe(true);
      expect(sb.every((s) => s !== null)).toBe(true);
      expect([...sa].sort((x, y) => x! - y!)).toEqual(sa);
      expect([...sb].sort((x, y) => x! - y!)).toEqual(sb);
      await ledgerClean([a, b]);
    },
  );

  it.each(writers.map((p) => [p] as const))(
    '%s: savepoints rolled back after a fact was queued and after it was linked: the survivors recorded once, the rolled back never',
    async (persona) => {
      const a = await createRelease(db, { sub: `ledger-attack-${persona}` });
      const b = await createRelease(db, { sub: `ledger-attack-${persona}` });
      const ids: Record<string, string> = {};
      await transaction(persona, async (c) => {
        ids.a1 = await check(c, a, 'sp-a1'); // carries the link
        await c.query('savepoint s1');
        ids.gone1 = await check(c, b, 'sp-gone1'); // queued behind a1
        await c.query('set constraints all immediate'); // links a1 and gone1 inside s1
        ids.gone2 = await check(c, a, 'sp-gone2'); // queued and linked at once, inside s1
        await c.query('rollback to savepoint s1'); // undoes both links; a1 queued again, deferred again
        await c.query('savepoint s2');
        ids.gone3 = await check(c, a, 'sp-gone3');
        await c.query('rollback to savepoint s2');
        await c.query('savepoint s3');
        ids.b1 = await check(c, b, 'sp-b1');
        await c.query('release savepoint s3');
        ids.a2 = await check(c, a, 'sp-a2');
      });
      expect(await seqsOf(b.release_id, [ids.gone1!])).toEqual([null]);
      expect(await seqsOf(a.release_id, [ids.gone2!, ids.gone3!])).toEqual([null, null]);
      const sa = await seqsOf(a.release_id, [ids.a1!, ids.a2!]);
      const sb = await seqsOf(b.release_id, [ids.b1!]);
      expect(sa[0]).not.toBeNull();
      expect(sa[1]).toBeGreaterThan(sa[0]!);
      expect(sb[0]).not.toBeNull();
      const { rows } = await db.admin.query(
        'select 1 from ops.gate_checks where check_id = any ($1::uuid[])',
        [[ids.gone1, ids.gone2, ids.gone3]],
      );
      expect(rows).toHaveLength(0);
      await ledgerClean([a, b]);
    },
  );

  it('a transaction whose only fact was rolled back to a savepoint after an immediate link leaves no entry and no queue', async () => {
    const a = await createRelease(db);
    const before = await db.admin.query<{ s: string | null }>(
      'select head_seq::text as s from ops.ledger_chains where chain_id = $1',
      [a.release_id],
    );
    await transaction('ci_service_role', async (c) => {
      await c.query('savepoint s1');
      await c.query('set constraints all immediate');
      await check(c, a, 'only-gone');
      await c.query('rollback to savepoint s1');
    });
    const after = await db.admin.query<{ s: string | null }>(
      'select head_seq::text as s from ops.ledger_chains where chain_id = $1',
      [a.release_id],
    );
    expect(after.rows[0]?.s).toBe(before.rows[0]?.s);
    await ledgerClean([a]);
  });
});

describe('transactions writing on several releases’ chains in different orders', () => {
  it('eight transactions at once, each writing on three shared releases in its own order: the link never deadlocks, every committed fact recorded once', async () => {
    // Every fact about a release locks the release's row until commit (its gates are evaluated
    // again), so transactions writing on shared releases in opposite orders can deadlock in
    // their statements, before the ledger is reached: PostgreSQL then ends one of them (40P01)
    // and nothing of it is recorded. The link, at commit, locks chains in one order for all, so
    // no commit fails; and every transaction that committed has all three facts in the ledger.
    const rs = [await createRelease(db), await createRelease(db), await createRelease(db)];
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 0, 2],
      [2, 0, 1],
    ];
    const outcomes = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const c = await db.api.connect();
        let phase = 'statements';
        try {
          await beginAs(c, 'ci_service_role', `ledger-order-${i}`);
          for (const k of orders[i % orders.length]!) {
            await c.query(
              `select ops.attach_evidence(p_release_id => $1, p_artifact_type => 'build_log',
                      p_artifact_url => $2, p_gate_code => 'G1')`,
              [rs[k]!.release_id, `https://ci.example/many/${i}/${k}`],
            );
          }
          phase = 'commit';
          await c.query('commit');
          return { i, outcome: 'committed' };
        } catch (err) {
          await c.query('rollback').catch(() => {});
          return { i, outcome: `${phase}: ${(err as { code?: string }).code}` };
        } finally {
          c.release();
        }
      }),
    );
    for (const o of outcomes)
      expect(['committed', 'statements: 40P01'], `transaction ${o.i}`).toContain(o.outcome);
    const committed = outcomes.filter((o) => o.outcome === 'committed').map((o) => o.i);
    expect(committed.length).toBeGreaterThan(0);
    const { rows } = await db.admin.query<{ url: string }>(
      `select a.artifact_url as url from ops.ledger_entries e
       join ops.evidence_artifacts a on a.artifact_id = e.row_id
       where e.chain_id = any ($1::uuid[]) and e.fact_table = 'evidence_artifacts'`,
      [rs.map((r) => r.release_id)],
    );
    const recorded = rows.map((r) => r.url).sort();
    const expected = committed
      .flatMap((i) => [0, 1, 2].map((k) => `https://ci.example/many/${i}/${k}`))
      .sort();
    expect(recorded).toEqual(expected);
    await ledgerClean(rs);
  });
});

describe('hash strings that look like hex to a reader', () => {
  it('characters outside ASCII that are digits or letters a-f elsewhere are refused in every hash column, as the regex refused them', async () => {
    const hex = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'.repeat(2);
    const lookalikes = [
      '\u0663', // ARABIC-INDIC DIGIT THREE
      '\u0967', // DEVANAGARI DIGIT ONE
      '\uff10', // FULLWIDTH DIGIT ZERO
      '\uff41', // FULLWIDTH LATIN SMALL LETTER A
      '\u00b2', // SUPERSCRIPT TWO
      '\u2460', // CIRCLED DIGIT ONE
      '\u0430', // CYRILLIC SMALL LETTER A
      '\u0435', // CYRILLIC SMALL LETTER IE (looks like e)
      '\ud835\udfce', // MATHEMATICAL BOLD DIGIT ZERO (outside the BMP)
      'a\u0301', // a with a combining accent: two characters, one glyph
      '\u200b', // ZERO WIDTH SPACE
      '\u00a0', // NO-BREAK SPACE
      '\t',
      '\r',
    ];
    const values = lookalikes.flatMap((l) => [
      `${hex.slice(0, 63)}${l}`,
      `${l}${hex.slice(1)}`,
      `${hex.slice(0, 64 - [...l].length)}${l}`,
    ]);
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      const chain = (await c.query<{ id: string }>('select gen_random_uuid() as id')).rows[0]!.id;
      const good = '0'.repeat(64);
      let seq = 0;
      for (const v of values) {
        const { rows } = await c.query<{ m: boolean }>(`select $1::text ~ '^[0-9a-f]{64}$' as m`, [v]);
        expect(rows[0]!.m, JSON.stringify(v)).toBe(false);
        for (const column of ['content_hash', 'prev_hash', 'entry_hash']) {
          seq += 1;
          const row = { content_hash: good, prev_hash: good, entry_hash: good, [column]: v };
          await c.query('savepoint s');
          let got = 'ok';
          try {
            await c.query(
              `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
               values ($1, $2, 'gate_checks', gen_random_uuid(), 'insert', $3, $4, $5)`,
              [chain, seq, row.content_hash, row.prev_hash, row.entry_hash],
            );
            await c.query('release savepoint s');
          } catch (err) {
            await c.query('rollback to savepoint s');
            got = (err as { code?: string }).code ?? 'error';
          }
          expect(got, `${column} = ${JSON.stringify(v)}`).toBe('23514');
        }
        await c.query('savepoint s');
        let head = 'ok';
        try {
          await c.query(
            'insert into ops.ledger_chains (chain_id, release_id, head_seq, head_hash) values (gen_random_uuid(), null, 0, $1)',
            [v],
          );
          await c.query('release savepoint s');
        } catch (err) {
          await c.query('rollback to savepoint s');
          head = (err as { code?: string }).code ?? 'error';
        }
        expect(head, `head_hash = ${JSON.stringify(v)}`).toBe('23514');
      }
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});
