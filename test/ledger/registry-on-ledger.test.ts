// The ledger's registry on the ledger (20261207100000): every row of ops.ledger_fact_tables and
// ops.ledger_release_scope_arms is recorded on the registry chain as it is inserted, and both
// verifications (of every chain, and of one release) compare every entry of that chain with the live
// registry row it names. The database owner who, with the guards disabled, changes the registry
// (a release scope and its arms together, a key column, a row removed, a row added or re-recorded,
// an entry forged) is found by verification; a registration through a migration-style insert keeps
// it clean. No persona writes the registry chain or calls its helpers.
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { cli, type LiveServer, startServer, token } from '../cli/support.js';
import { createRelease, passG1, type Release } from '../governance/scenario.js';
import { tryAsRole } from '../security/sql-door.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { graphqlAs, type ServedApi, serveApi } from '../support/loopback.js';
import { behindTriggers } from './support.js';

const SECRET = 'test-secret-ledger-registry-chain-0123456789abcdef0';
const REGISTRY = '00000000-0000-0000-0000-000000000001';

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
  findings: Finding[];
}

let db: TestDatabase;
let release: Release;
let scratch = 0;

beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  await passG1(db, release);
});

/** Statements run by the owner with the registry's guards (ENABLE ALWAYS) disabled, then restored. */
async function behindRegistryGuards(c: pg.ClientBase, statements: string[]): Promise<void> {
  await c.query('set local session_replication_role = replica');
  await c.query('alter table ops.ledger_fact_tables disable trigger ledger_fact_tables_fixed');
  await c.query('alter table ops.ledger_release_scope_arms disable trigger ledger_release_scope_arms_fixed');
  for (const sql of statements) await c.query(sql);
  await c.query('alter table ops.ledger_fact_tables enable always trigger ledger_fact_tables_fixed');
  await c.query(
    'alter table ops.ledger_release_scope_arms enable always trigger ledger_release_scope_arms_fixed',
  );
  await c.query('set local session_replication_role = origin');
}

/** Both verifications, as the owner, in the caller's transaction. */
async function verifyBoth(c: pg.ClientBase, releaseId: string): Promise<{ one: Report; all: Report }> {
  const one = (await c.query('select ops.verify_ledger($1::uuid) as r', [releaseId])).rows[0].r as Report;
  const all = (await c.query('select ops.verify_ledger() as r')).rows[0].r as Report;
  return { one, all };
}

/** Every finding on the registry chain (ops.ledger_findings lists them all, not the first only). */
async function registryFindings(c: pg.ClientBase): Promise<Finding[]> {
  return (
    await c.query<Finding>(
      `select chain_id, seq::int as seq, fact_table, row_id, kind, detail
       from ops.ledger_findings(null) where chain_id = $1 order by seq nulls last, fact_table, row_id`,
      [REGISTRY],
    )
  ).rows;
}

/** Runs fn in a transaction of the owner that is rolled back. */
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

/** Creates a fact table and registers it with one arm, in one transaction, as a migration would. */
async function registerScratch(c: pg.ClientBase): Promise<string> {
  const name = `registry_scratch_${++scratch}`;
  await c.query(`create table ops.${name} (fact_id uuid primary key, release_id uuid)`);
  await c.query(
    `insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ($1, 'fact_id', 't.release_id = $1')`,
    [name],
  );
  await c.query(
    `insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ($1, 1, 't.release_id = $1')`,
    [name],
  );
  return name;
}

const NARROW =
  't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1 and g.gate_id is null)';

describe('the registry chain as migrated', () => {
  it('holds one entry per registry row, verifies clean, and is pinned by a checkpoint', async () => {
    const { rows } = await db.admin.query(
      `select (select count(*) from ops.ledger_fact_tables) + (select count(*) from ops.ledger_release_scope_arms) as rows,
              (select head_seq from ops.ledger_chains where chain_id = $1) as head,
              (select release_id from ops.ledger_chains where chain_id = $1) as release_id`,
      [REGISTRY],
    );
    expect(Number(rows[0].head)).toBe(Number(rows[0].rows));
    expect(rows[0].release_id).toBeNull();
    await rolledBack(async (c) => {
      const { one, all } = await verifyBoth(c, release.release_id);
      expect(one).toMatchObject({ ok: true, findings: [] });
      expect(all).toMatchObject({ ok: true, findings: [] });
      const cp = (await c.query('select ops.ledger_checkpoint() as r')).rows[0].r;
      expect(cp.heads.map((h: { chain_id: string }) => h.chain_id)).toContain(REGISTRY);
    });
  });
});

describe('a registration as a migration does it', () => {
  it('records the new rows on the registry chain and keeps both verifications clean', async () => {
    const head = async () =>
      Number(
        (await db.admin.query('select head_seq from ops.ledger_chains where chain_id = $1', [REGISTRY]))
          .rows[0].head_seq,
      );
    const before = await head();
    await inTransaction(db.admin, async (c) => {
      await registerScratch(c);
    });
    expect(await head()).toBe(before + 2);
    const reports = await db.as('audit_reader', 'auditor', async (c) => verifyBoth(c, release.release_id));
    expect(reports.one).toMatchObject({ ok: true, findings: [] });
    expect(reports.all).toMatchObject({ ok: true, findings: [] });
  });
});

describe('a release scope and its arms narrowed together behind the guards, then the release’s facts changed', () => {
  let tampered: TestDatabase;
  let api: ServedApi;
  let server: LiveServer;
  let victim: Release;

  beforeAll(async () => {
    tampered = await useTestDatabase();
    victim = await createRelease(tampered);
    await passG1(tampered, victim);
    api = await serveApi(tampered, SECRET);
    server = await startServer(tampered);
    const c = await tampered.admin.connect();
    try {
      await c.query('begin');
      await behindRegistryGuards(c, [
        `update ops.ledger_fact_tables set release_scope = '${NARROW.replaceAll("'", "''")}' where table_name = 'gate_checks'`,
        `update ops.ledger_release_scope_arms set arm = '${NARROW.replaceAll("'", "''")}' where table_name = 'gate_checks'`,
      ]);
      await c.query('commit');
    } finally {
      c.release();
    }
    // A passing check of the release, written with the ledger's triggers off.
    await behindTriggers(tampered, async (c) => {
      await c.query(
        `insert into ops.gate_checks (gate_id, check_name, source_system, status, created_by)
         select gate_id, 'forged-pass', 'github_actions', 'pass', 'mallory' from ops.release_gates
         where release_id = $1 and gate_code = 'G1'`,
        [victim.release_id],
      );
    });
  });

  afterAll(async () => {
    await api?.close();
    await server?.close();
  });

  it('is reported by the release’s verification and by every chain’s, through RPC as each reader', async () => {
    for (const persona of ['release_manager', 'audit_reader'] as const) {
      const { one, all } = await tampered.as(persona, `rpc-${persona}`, (c) =>
        verifyBoth(c, victim.release_id),
      );
      for (const [form, report] of [
        ['one release', one],
        ['every chain', all],
      ] as const) {
        expect(report.ok, `${persona}, ${form}`).toBe(false);
        expect(report.findings, `${persona}, ${form}`).toContainEqual(
          expect.objectContaining({
            chain_id: REGISTRY,
            release_id: null,
            fact_table: 'ledger_fact_tables',
            kind: 'content_changed',
            detail: expect.stringContaining('the registration of gate_checks differs'),
          }),
        );
      }
    }
    const c = await tampered.admin.connect();
    try {
      const kinds = (await registryFindings(c)).map((f) => `${f.fact_table}:${f.kind}`);
      expect(kinds).toEqual([
        'ledger_fact_tables:content_changed',
        'ledger_release_scope_arms:content_changed',
      ]);
    } finally {
      c.release();
    }
  });

  it('is reported through GraphQL', async () => {
    const json = await graphqlAs(
      api,
      SECRET,
      'release_manager',
      'gql-rm',
      'query($id: ID) { ledgerVerification(releaseId: $id) { ok findings { chainId releaseId table kind detail } } }',
      { id: victim.release_id },
    );
    const v = json.data?.ledgerVerification as { ok: boolean; findings: Record<string, unknown>[] };
    expect(v.ok).toBe(false);
    expect(v.findings).toContainEqual(
      expect.objectContaining({
        chainId: REGISTRY,
        releaseId: null,
        table: 'ledger_fact_tables',
        kind: 'content_changed',
      }),
    );
  });

  it('is reported by ops-gates verify --release, on the registry chain', async () => {
    const out = await cli(['verify', '--release', victim.release_id], {
      env: { OPS_API_URL: server.url, OPS_TOKEN: await token('auditor') },
    });
    expect(out.code, out.stderr).toBe(1);
    expect(out.stdout).toMatch(/registry\s.*ledger_fact_tables\s.*content_changed/);
  });
});

describe('other changes of the registry behind its guards', () => {
  const EVIDENCE_ARMS_1_TO_3 = `(select string_agg(arm, ' or ' order by arm_no) from ops.ledger_release_scope_arms
                                where table_name = 'evidence_artifacts' and arm_no < 4)`;

  it.each([
    [
      'a pk_column changed',
      [`update ops.ledger_fact_tables set pk_column = 'gate_id' where table_name = 'gate_checks'`],
      [{ fact_table: 'ledger_fact_tables', kind: 'content_changed', detail: /registration of gate_checks/ }],
    ],
    [
      'an arm deleted with its scope narrowed to the arms left',
      [
        `update ops.ledger_fact_tables set release_scope = ${EVIDENCE_ARMS_1_TO_3} where table_name = 'evidence_artifacts'`,
        `delete from ops.ledger_release_scope_arms where table_name = 'evidence_artifacts' and arm_no = 4`,
      ],
      [
        {
          fact_table: 'ledger_fact_tables',
          kind: 'content_changed',
          detail: /registration of evidence_artifacts/,
        },
        { fact_table: 'ledger_release_scope_arms', kind: 'row_missing', detail: /is gone/ },
      ],
    ],
    [
      'a row added with the recording trigger disabled',
      [
        'create table ops.releases_shadow (release_id uuid primary key)',
        'alter table ops.ledger_fact_tables disable trigger ledger_registry_record',
        'alter table ops.ledger_release_scope_arms disable trigger ledger_registry_record',
        `insert into ops.ledger_fact_tables values ('releases_shadow', 'release_id', 'false')`,
        `insert into ops.ledger_release_scope_arms values ('releases_shadow', 1, 'false')`,
        'set constraints all immediate',
        'alter table ops.ledger_fact_tables enable always trigger ledger_registry_record',
        'alter table ops.ledger_release_scope_arms enable always trigger ledger_registry_record',
      ],
      [
        { fact_table: 'ledger_fact_tables', kind: 'unrecorded', detail: /registration of releases_shadow/ },
        { fact_table: 'ledger_release_scope_arms', kind: 'unrecorded', detail: /arm 1 of releases_shadow/ },
      ],
    ],
  ] as [string, string[], { fact_table: string; kind: string; detail: RegExp }[]][])(
    '%s is reported by both verifications',
    async (_what, statements, expected) => {
      await rolledBack(async (c) => {
        await behindRegistryGuards(c, statements);
        const found = await registryFindings(c);
        expect(found).toHaveLength(expected.length);
        for (const [i, e] of expected.entries()) {
          expect(found[i]).toMatchObject({ fact_table: e.fact_table, kind: e.kind });
          expect(found[i]?.detail).toMatch(e.detail);
        }
        const { one, all } = await verifyBoth(c, release.release_id);
        for (const report of [one, all]) {
          expect(report.ok).toBe(false);
          expect(report.findings).toContainEqual(
            expect.objectContaining({ chain_id: REGISTRY, release_id: null, kind: expected[0]?.kind }),
          );
        }
      });
    },
  );

  it('a registered table whose facts are not yet recorded, removed with its arms, is reported', async () => {
    const name = await inTransaction(db.admin, registerScratch);
    await rolledBack(async (c) => {
      await behindRegistryGuards(c, [
        `delete from ops.ledger_release_scope_arms where table_name = '${name}'`,
        `delete from ops.ledger_fact_tables where table_name = '${name}'`,
      ]);
      expect((await registryFindings(c)).map((f) => `${f.fact_table}:${f.kind}`)).toEqual([
        'ledger_fact_tables:row_missing',
        'ledger_release_scope_arms:row_missing',
      ]);
      const { one, all } = await verifyBoth(c, release.release_id);
      expect(one.ok).toBe(false);
      expect(all.ok).toBe(false);
    });
  });

  it('a change followed by a legitimate registration is still reported (the registration does not absorb it)', async () => {
    await rolledBack(async (c) => {
      await behindRegistryGuards(c, [
        `update ops.ledger_fact_tables set release_scope = 'false' where table_name = 'incidents'`,
        `update ops.ledger_release_scope_arms set arm = 'false' where table_name = 'incidents'`,
      ]);
      await registerScratch(c);
      // The registration's entries are linked at commit: link them now, as the commit would.
      await c.query('set constraints all immediate');
      const found = await registryFindings(c);
      expect(found.map((f) => `${f.fact_table}:${f.kind}`)).toEqual([
        'ledger_fact_tables:content_changed',
        'ledger_release_scope_arms:content_changed',
      ]);
      expect(found[0]?.detail).toContain('incidents');
    });
  });

  it('a change recorded again through the append path is reported at the entry it contradicts', async () => {
    await rolledBack(async (c) => {
      const first = (
        await c.query(
          `select seq::int as seq from ops.ledger_entries where chain_id = $1 and fact_table = 'ledger_fact_tables'
             and row_id = ops.ledger_registry_row_id('ledger_fact_tables', jsonb_build_object('table_name', 'incidents'))`,
          [REGISTRY],
        )
      ).rows[0].seq as number;
      await behindRegistryGuards(c, [
        `update ops.ledger_fact_tables set release_scope = 'false' where table_name = 'incidents'`,
        `update ops.ledger_release_scope_arms set arm = 'false' where table_name = 'incidents'`,
      ]);
      // The owner queues entries of the changed rows, as the recording trigger would, and links them.
      await c.query(
        `insert into ops.ledger_pending (chain_id, fact_table, row_id, operation, content_hash)
         select $1, x.tbl, ops.ledger_registry_row_id(x.tbl, x.r), 'insert', ops.ledger_content_hash(x.r)
         from (select 'ledger_fact_tables' as tbl, to_jsonb(f) as r from ops.ledger_fact_tables f where table_name = 'incidents'
               union all
               select 'ledger_release_scope_arms', to_jsonb(a) from ops.ledger_release_scope_arms a where table_name = 'incidents') x`,
        [REGISTRY],
      );
      await c.query('set constraints all immediate');
      const found = await registryFindings(c);
      expect(found[0]).toMatchObject({
        fact_table: 'ledger_fact_tables',
        kind: 'content_changed',
        seq: first,
      });
      expect(found.map((f) => f.kind)).toEqual(['content_changed', 'content_changed']);
    });
  });

  it.each([
    ['a wrong content hash', 'content_changed', false, false],
    ['a wrong entry hash', 'link_broken', true, false],
    ['a row id of no registry row', 'row_missing', false, true],
  ])('an entry forged by the owner with %s is reported', async (_what, kind, badEntryHash, otherRow) => {
    await rolledBack(async (c) => {
      const { rows } = await c.query(
        `select head_seq::int as seq, head_hash from ops.ledger_chains where chain_id = $1`,
        [REGISTRY],
      );
      const seq = (rows[0].seq as number) + 1;
      const prev = rows[0].head_hash as string;
      const rowId = otherRow
        ? '11111111-1111-4111-8111-111111111111'
        : (
            await c.query(
              `select ops.ledger_registry_row_id('ledger_fact_tables', to_jsonb(f)) as id
               from ops.ledger_fact_tables f where table_name = 'gate_checks'`,
            )
          ).rows[0].id;
      const content = (
        await c.query(
          `select ops.ledger_content_hash(to_jsonb(f) || '{"release_scope": "false"}') as h
           from ops.ledger_fact_tables f where table_name = 'gate_checks'`,
        )
      ).rows[0].h as string;
      const hash = (
        await c.query(
          `select ops.ledger_entry_hash($1, $2, 'ledger_fact_tables', $3, 'insert', $4, $5) as h`,
          [REGISTRY, seq, rowId, content, prev],
        )
      ).rows[0].h as string;
      const entryHash = badEntryHash ? 'f'.repeat(64) : hash;
      await c.query(
        `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
         values ($1, $2, 'ledger_fact_tables', $3, 'insert', $4, $5, $6)`,
        [REGISTRY, seq, rowId, content, prev, entryHash],
      );
      await c.query('update ops.ledger_chains set head_seq = $2, head_hash = $3 where chain_id = $1', [
        REGISTRY,
        seq,
        entryHash,
      ]);
      const found = await registryFindings(c);
      expect(found).toContainEqual(expect.objectContaining({ seq, kind }));
      const { one, all } = await verifyBoth(c, release.release_id);
      for (const report of [one, all]) {
        expect(report.ok).toBe(false);
        expect(report.findings).toContainEqual(expect.objectContaining({ chain_id: REGISTRY, seq }));
      }
    });
  });

  it('the registry chain’s head row removed is reported', async () => {
    await rolledBack(async (c) => {
      await c.query('alter table ops.ledger_chains disable trigger ledger_chains_no_delete');
      await c.query('delete from ops.ledger_chains where chain_id = $1', [REGISTRY]);
      await c.query('alter table ops.ledger_chains enable always trigger ledger_chains_no_delete');
      expect(await registryFindings(c)).toContainEqual(
        expect.objectContaining({ kind: 'link_broken', detail: expect.stringContaining('no head') }),
      );
    });
  });
});

describe('the registry chain, for the personas', () => {
  const ATTEMPTS: [string, unknown[]][] = [
    [
      `insert into ops.ledger_pending (chain_id, fact_table, row_id, operation, content_hash)
       values ($1, 'ledger_fact_tables', gen_random_uuid(), 'insert', repeat('0', 64))`,
      [REGISTRY],
    ],
    [
      `insert into ops.ledger_entries (chain_id, seq, fact_table, row_id, operation, content_hash, prev_hash, entry_hash)
       values ($1, 100000, 'ledger_fact_tables', gen_random_uuid(), 'insert', repeat('0', 64), repeat('0', 64), repeat('0', 64))`,
      [REGISTRY],
    ],
    ['update ops.ledger_chains set head_seq = head_seq + 1 where chain_id = $1', [REGISTRY]],
    ['delete from ops.ledger_chains where chain_id = $1', [REGISTRY]],
    [`insert into ops.ledger_fact_tables values ('registry_persona', 'id', 'false')`, []],
    [`select ops.ledger_registry_chain()`, []],
    [`select ops.ledger_registry_row_id('ledger_fact_tables', '{"table_name": "releases"}')`, []],
    [`select ops.ledger_chain_release($1::uuid)`, [REGISTRY]],
  ];

  it('no persona writes it or calls its helpers, whatever its claims; the chain is unchanged', async () => {
    const head = async () =>
      (
        await db.admin.query('select head_seq, head_hash from ops.ledger_chains where chain_id = $1', [
          REGISTRY,
        ])
      ).rows[0];
    const before = await head();
    for (const persona of PERSONAS) {
      for (const claims of [
        { sub: `atk-${persona}`, role: persona },
        { sub: 'postgres', role: 'postgres' },
      ]) {
        for (const [sql, params] of ATTEMPTS) {
          const out = await tryAsRole(db, persona, claims, (c) => c.query(sql, params));
          expect(out, `${persona} ${JSON.stringify(claims)}: ${sql}`).toMatchObject({
            ok: false,
            code: '42501',
          });
        }
      }
    }
    expect(await head()).toEqual(before);
  });
});
