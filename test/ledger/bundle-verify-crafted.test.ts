// `ops-gates bundle --verify` against what an auditor may be handed: a bundle signed by the real
// server after the database owner rewrote the registry chain consistently, checked offline with a
// checkpoint kept from before the rewrite (both name the registry chain's entry at the same seq,
// with different hashes, so the rewrite shows offline); and crafted bundles and checkpoints (a
// key of the test's own signs them: offline, only the shape and field checks stand between them
// and a verdict), each refused with a named fault (exit 1) rather than an internal error (exit 4).
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttestationSigner } from '../../src/attestation/dsse.js';
import { cli, type LiveServer, type Person, startServer, token } from '../cli/support.js';
import { createRelease, passAll, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const REGISTRY = '00000000-0000-0000-0000-000000000001';
const NARROW =
  't.gate_id in (select g.gate_id from ops.release_gates g where g.release_id = $1 and g.gate_id is null)';

interface CheckOut {
  name: string;
  ok: boolean;
  detail: string;
}

let db: TestDatabase;
let server: LiveServer;
let release: Release;
let work: string;

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) }, cwd: work };
}
/** No server at all: what an auditor has offline. */
const offline = () => ({ env: { OPS_API_URL: 'http://127.0.0.1:9' }, cwd: work });
const check = (out: { json: { checks: CheckOut[] } }, name: string) =>
  out.json.checks.find((c) => c.name === name);

/** A statement as parsed from a bundle file (JSON, any shape a crafted file may give it). */
type Crafted = ReturnType<typeof JSON.parse>;

function statementOf(file: string): Crafted {
  const envelope = JSON.parse(readFileSync(path.join(work, file), 'utf8'));
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
}

async function signBundle(file: string): Promise<void> {
  const r = await cli(['bundle', release.release_id, '--signed', '-o', file], await as('auditor'));
  expect(r.code, r.stderr).toBe(0);
}

/** Statements run by the owner with the ledger's and the registry's guards disabled, then restored. */
async function behindAllGuards(c: pg.ClientBase, statements: string[]): Promise<void> {
  const guards = [
    ['ops.ledger_fact_tables', 'ledger_fact_tables_fixed'],
    ['ops.ledger_release_scope_arms', 'ledger_release_scope_arms_fixed'],
    ['ops.ledger_entries', 'ledger_entries_append_only'],
    ['ops.ledger_chains', 'ledger_chains_guard'],
  ];
  await c.query('set local session_replication_role = replica');
  for (const [rel, name] of guards) await c.query(`alter table ${rel} disable trigger ${name}`);
  for (const sql of statements) await c.query(sql);
  for (const [rel, name] of guards) await c.query(`alter table ${rel} enable always trigger ${name}`);
  await c.query('set local session_replication_role = origin');
}

/** The registry chain re-recorded from the registry as it stands and re-linked, its head moved. */
const REWRITE_REGISTRY_CHAIN = `
do $$
declare
  e record;
  v_prev text := ops.ledger_genesis();
  v_content text;
  v_hash text;
begin
  for e in select * from ops.ledger_entries where chain_id = ops.ledger_registry_chain() order by seq loop
    select coalesce((select ops.ledger_content_hash(to_jsonb(t)) from ops.ledger_fact_tables t
                     where e.fact_table = 'ledger_fact_tables'
                       and ops.ledger_registry_row_id('ledger_fact_tables', to_jsonb(t)) = e.row_id),
                    (select ops.ledger_content_hash(to_jsonb(a)) from ops.ledger_release_scope_arms a
                     where e.fact_table = 'ledger_release_scope_arms'
                       and ops.ledger_registry_row_id('ledger_release_scope_arms', to_jsonb(a)) = e.row_id),
                    e.content_hash)
      into v_content;
    v_hash := ops.ledger_entry_hash(e.chain_id, e.seq, e.fact_table, e.row_id, e.operation, v_content, v_prev);
    update ops.ledger_entries set content_hash = v_content, prev_hash = v_prev, entry_hash = v_hash
    where chain_id = e.chain_id and seq = e.seq;
    v_prev := v_hash;
  end loop;
  update ops.ledger_chains set head_hash = v_prev where chain_id = ops.ledger_registry_chain();
end
$$`;

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  work = mkdtempSync(path.join(tmpdir(), 'ops-bundle-crafted-'));
  release = await createRelease(db, { project: 'bundle-crafted', name: 'r-1' });
  await passAll(db, release);
  const keys = await fetch(`${server.url}/.well-known/ops-attestation-keys.json`);
  expect(keys.status).toBe(200);
  writeFileSync(path.join(work, 'keys.json'), await keys.text());
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('bundle --verify --checkpoint: the registry chain’s head', () => {
  it('a bundle signed after the registry chain was rewritten fails against a checkpoint kept from before', async () => {
    const exported = await cli(['ledger', 'checkpoint', '-o', 'cp.json'], await as('auditor'));
    expect(exported.code, exported.stderr).toBe(0);
    await signBundle('before.json');
    const kept = JSON.parse(readFileSync(path.join(work, 'cp.json'), 'utf8'));
    const keptRegistry = kept.heads.find((h: { chain_id: string }) => h.chain_id === REGISTRY);
    expect(keptRegistry).toEqual(statementOf('before.json').predicate.registry);

    // Signed before the rewrite: the checkpoint's registry head is the bundle's, and says so.
    const clean = await cli(
      ['bundle', '--verify', 'before.json', '--key', 'keys.json', '--checkpoint', 'cp.json', '--json'],
      offline(),
    );
    expect(clean.code, clean.stdout).toBe(0);
    expect(check(clean, 'checkpoint')?.detail).toContain(
      `the registry chain's entry ${keptRegistry.seq} matches the checkpoint's head`,
    );

    // The owner narrows a table's release scope and its arms, and rewrites the registry chain so
    // that both verifications pass; no entry is added, so the head keeps its seq.
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await behindAllGuards(c, [
        `update ops.ledger_fact_tables set release_scope = '${NARROW.replaceAll("'", "''")}' where table_name = 'gate_checks'`,
        `update ops.ledger_release_scope_arms set arm = '${NARROW.replaceAll("'", "''")}' where table_name = 'gate_checks'`,
        REWRITE_REGISTRY_CHAIN,
      ]);
      await c.query('commit');
    } finally {
      c.release();
    }
    const { rows } = await db.admin.query(
      `select (ops.verify_ledger($1::uuid)->>'ok')::boolean and (ops.verify_ledger()->>'ok')::boolean as ok`,
      [release.release_id],
    );
    expect(rows[0].ok).toBe(true);

    await signBundle('after.json');
    const after = statementOf('after.json').predicate.registry;
    expect(after.seq).toBe(keptRegistry.seq);
    expect(after.hash).not.toBe(keptRegistry.hash);
    // The release's own chain is untouched, so only the registry head can tell.
    for (const cp of ['cp.json', 'cp.json.dsse.json']) {
      const r = await cli(
        ['bundle', '--verify', 'after.json', '--key', 'keys.json', '--checkpoint', cp, '--json'],
        offline(),
      );
      expect(r.code, `${cp}: ${r.stdout}`).toBe(1);
      expect(check(r, 'checkpoint'), cp).toMatchObject({
        ok: false,
        detail: `the registry chain's entry ${after.seq} differs from the checkpoint's head: the registry chain was rewritten`,
      });
    }
  });
});

describe('bundle --verify: crafted bundles and checkpoints get a named fault, not an internal error', () => {
  const signer = createAttestationSigner(
    generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  );

  /** The signed bundle's statement with `change` applied, signed with the test's own key, as file. */
  function crafted(file: string, change: (s: Crafted) => void): void {
    const statement = statementOf('before.json');
    change(statement);
    const envelope = signer.sign('application/vnd.in-toto+json', Buffer.from(JSON.stringify(statement)));
    writeFileSync(path.join(work, file), JSON.stringify(envelope));
  }

  beforeAll(() => {
    writeFileSync(path.join(work, 'own-key.json'), JSON.stringify({ keys: [signer.publicJwk] }));
  });

  it('refuses a subject digest that is not strings, a ledger entry or anchor that is not an object', async () => {
    for (const [name, change, failing, fault] of [
      [
        'digest-number',
        (s: Crafted) => {
          s.subject[0].digest.extra = 5;
        },
        'subject',
        /digest is not an object of strings/,
      ],
      [
        'entry-null',
        (s: Crafted) => {
          s.predicate.ledger.entries[0] = null;
        },
        'ledger',
        /entry 1 is not an object/,
      ],
      [
        'ledger-null',
        (s: Crafted) => {
          s.predicate.ledger = null;
        },
        'ledger',
        /no ledger anchor/,
      ],
    ] as const) {
      crafted(`${name}.json`, change);
      for (const extra of [[], ['--checkpoint', 'cp.json']]) {
        const out = await cli(
          ['bundle', '--verify', `${name}.json`, '--key', 'own-key.json', ...extra, '--json'],
          offline(),
        );
        expect(out.code, `${name} ${extra.join(' ')}: ${out.stdout}${out.stderr}`).toBe(1);
        expect(check(out, 'signature')?.ok).toBe(true);
        expect(check(out, failing), name).toMatchObject({ ok: false, detail: expect.stringMatching(fault) });
      }
    }
  });

  it('refuses a checkpoint whose heads are not objects', async () => {
    writeFileSync(
      path.join(work, 'cp-null.json'),
      JSON.stringify({ format: 'ops.ledger-checkpoint/v1', heads: [null], root: '0'.repeat(64) }),
    );
    const out = await cli(
      ['bundle', '--verify', 'before.json', '--key', 'keys.json', '--checkpoint', 'cp-null.json', '--json'],
      offline(),
    );
    expect(out.code, out.stdout + out.stderr).toBe(1);
    expect(check(out, 'checkpoint')).toMatchObject({ ok: false, detail: 'not a ledger checkpoint' });
  });
});
