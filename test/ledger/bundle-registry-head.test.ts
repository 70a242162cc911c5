// The signed evidence bundle names the registry chain's head (20261207600000): inside the signed
// payload, checked for its shape offline, and compared with the live ledger by
// `ops-gates bundle --verify --live`, through the real server. The database owner who, after a
// bundle was signed, narrows a release scope and its arms and rewrites the registry chain
// consistently (every verification clean), or truncates it, is reported on the registry chain;
// an unchanged ledger, or one grown by a registration, compares clean; a bundle signed before
// bundles named the head verifies and says the registry is not covered. No persona calls the
// helper that reads the head.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttestationSigner } from '../../src/attestation/dsse.js';
import { PERSONAS } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { cli, type LiveServer, type Person, startServer, token } from '../cli/support.js';
import { createRelease, passAll, type Release } from '../governance/scenario.js';
import { tryAsRole } from '../security/sql-door.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';

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

/** The statement inside a signed bundle file. */
function statementOf(file: string) {
  const envelope = JSON.parse(readFileSync(path.join(work, file), 'utf8'));
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
}

async function registryHead(): Promise<{ seq: number; hash: string }> {
  const { rows } = await db.admin.query(
    'select head_seq::int as seq, head_hash as hash from ops.ledger_chains where chain_id = $1',
    [REGISTRY],
  );
  return rows[0];
}

async function signBundle(file: string): Promise<void> {
  const r = await cli(['bundle', release.release_id, '--signed', '-o', file], await as('auditor'));
  expect(r.code, r.stderr).toBe(0);
}

async function verifyLive(file: string, who: Person = 'auditor') {
  return cli(['bundle', '--verify', file, '--key', 'keys.json', '--live', '--json'], await as(who));
}

const check = (out: { json: { checks: CheckOut[] } }, name: string) =>
  out.json.checks.find((c) => c.name === name);

/** Both verifications, as the owner: clean when a rewrite was consistent. */
async function ledgerVerifies(): Promise<boolean> {
  const { rows } = await db.admin.query(
    'select (ops.verify_ledger($1::uuid)->>$2)::boolean and (ops.verify_ledger()->>$2)::boolean as ok',
    [release.release_id, 'ok'],
  );
  return rows[0].ok;
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

/**
 * The registry chain re-recorded from the registry as it stands and re-linked from its first
 * entry, the head moved to its last: what an owner does to make a changed registry verify clean.
 */
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

/** The text of ops.release_attestation as a migration defined it, as CREATE OR REPLACE. */
function attestationDefinition(migration: string): string {
  const file = readFileSync(path.join(projectRoot, 'supabase/migrations', migration), 'utf8');
  const m = /create function ops\.release_attestation\([\s\S]*?\n\$\$;/.exec(file);
  if (!m) throw new Error(`ops.release_attestation not found in ${migration}`);
  return m[0].replace(/^create function/, 'create or replace function');
}

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  work = mkdtempSync(path.join(tmpdir(), 'ops-bundle-registry-'));
  release = await createRelease(db, { project: 'bundle-registry', name: 'r-1' });
  await passAll(db, release);
  const keys = await fetch(`${server.url}/.well-known/ops-attestation-keys.json`);
  expect(keys.status).toBe(200);
  writeFileSync(path.join(work, 'keys.json'), await keys.text());
  // A bundle as the statement was built before it named the registry head: the previous
  // definition, installed for one signing, then this migration's again.
  const { rows } = await db.admin.query(
    `select pg_get_functiondef('ops.release_attestation(uuid, text)'::regprocedure) as def`,
  );
  await db.admin.query(attestationDefinition('20261129004100_ops_release_attestation.sql'));
  try {
    await signBundle('old.json');
  } finally {
    await db.admin.query(rows[0].def);
  }
  await signBundle('signed.json');
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the registry head in a signed bundle', () => {
  it('is the registry chain’s head at signing time, inside the signed payload', async () => {
    const statement = statementOf('signed.json');
    expect(statement.predicate.registry).toEqual({ chain_id: REGISTRY, ...(await registryHead()) });
    // The signature covers it: the head's seq changed in the payload fails the signature.
    const envelope = JSON.parse(readFileSync(path.join(work, 'signed.json'), 'utf8'));
    const forged = {
      ...statement,
      predicate: { ...statement.predicate, registry: { ...statement.predicate.registry, seq: 1 } },
    };
    writeFileSync(
      path.join(work, 'forged.json'),
      JSON.stringify({ ...envelope, payload: Buffer.from(JSON.stringify(forged)).toString('base64') }),
    );
    const r = await cli(['bundle', '--verify', 'forged.json', '--key', 'keys.json', '--json'], offline());
    expect(r.code).toBe(1);
    expect(r.json.checks[0]).toMatchObject({ name: 'signature', ok: false });
  });

  it('verifies offline, its shape checked: the registry chain, a seq, a sha256', async () => {
    const r = await cli(['bundle', '--verify', 'signed.json', '--key', 'keys.json', '--json'], offline());
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json).toMatchObject({ ok: true, registryCovered: true, registry: { chainId: REGISTRY } });
    expect(check(r, 'registry')).toMatchObject({ ok: true, detail: expect.stringContaining('seq') });

    // A statement whose registry head is malformed, signed with a key of the test's own.
    const signer = createAttestationSigner(
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    );
    writeFileSync(path.join(work, 'own-key.json'), JSON.stringify({ keys: [signer.publicJwk] }));
    const statement = statementOf('signed.json');
    for (const [registry, fault] of [
      [
        { ...statement.predicate.registry, chain_id: '00000000-0000-0000-0000-000000000000' },
        /not the registry chain/,
      ],
      [{ ...statement.predicate.registry, seq: 0 }, /seq 0 is not a whole number/],
      [{ ...statement.predicate.registry, hash: 'abc' }, /hash is not a sha256/],
      ['head', /not an object/],
    ] as const) {
      const envelope = signer.sign(
        'application/vnd.in-toto+json',
        Buffer.from(JSON.stringify({ ...statement, predicate: { ...statement.predicate, registry } })),
      );
      writeFileSync(path.join(work, 'malformed.json'), JSON.stringify(envelope));
      const out = await cli(
        ['bundle', '--verify', 'malformed.json', '--key', 'own-key.json', '--json'],
        offline(),
      );
      expect(out.code, JSON.stringify(registry)).toBe(1);
      expect(check(out, 'signature')?.ok).toBe(true);
      expect(check(out, 'registry')).toMatchObject({ ok: false, detail: expect.stringMatching(fault) });
    }
  });

  it('is refused (XX001, naming the registry chain) when the registry chain has no head row', async () => {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('alter table ops.ledger_chains disable trigger ledger_chains_no_delete');
      await c.query('delete from ops.ledger_chains where chain_id = $1', [REGISTRY]);
      await expect(
        c.query(`select ops.release_attestation($1, 'urn:x')`, [release.release_id]),
      ).rejects.toMatchObject({
        code: 'XX001',
        message: expect.stringContaining('the registry chain has no head'),
      });
    } finally {
      await c.query('rollback');
      c.release();
    }
    expect((await registryHead()).seq).toBeGreaterThan(0);
  });

  it('no persona calls the helper that reads the head, whatever its claims', async () => {
    for (const persona of PERSONAS) {
      for (const claims of [
        { sub: `atk-${persona}`, role: persona },
        { sub: 'postgres', role: 'postgres' },
      ]) {
        const out = await tryAsRole(db, persona, claims, (c) => c.query('select ops.ledger_registry_head()'));
        expect(out, `${persona} ${JSON.stringify(claims)}`).toMatchObject({ ok: false, code: '42501' });
      }
    }
    // The statement's readers get it only inside the statement, the head read by the owner's function.
    const { rows } = await db.as('release_manager', 'rm-rpc', (c) =>
      c.query(`select ops.release_attestation($1, 'urn:x') -> 'predicate' -> 'registry' as r`, [
        release.release_id,
      ]),
    );
    expect(rows[0].r).toEqual({ chain_id: REGISTRY, ...(await registryHead()) });
  });
});

describe('bundle --verify --live', () => {
  it('is clean against an unchanged ledger, and after a registration (the registry chain grows)', async () => {
    const clean = await verifyLive('signed.json');
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.json.checks.map((c: CheckOut) => [c.name, c.ok])).toEqual([
      ['signature', true],
      ['statement', true],
      ['subject', true],
      ['ledger', true],
      ['registry', true],
      ['live-ledger', true],
      ['live-registry', true],
    ]);
    expect(clean.json.live).toMatchObject({ ok: true, compared: 2 });

    // A fact table registered as a migration does it: two entries appended to the registry chain.
    const before = await registryHead();
    await inTransaction(db.admin, async (c) => {
      await c.query('create table ops.bundle_scratch (fact_id uuid primary key, release_id uuid)');
      await c.query(
        `insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ('bundle_scratch', 'fact_id', 't.release_id = $1')`,
      );
      await c.query(
        `insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ('bundle_scratch', 1, 't.release_id = $1')`,
      );
    });
    expect((await registryHead()).seq).toBe(before.seq + 2);
    const grown = await verifyLive('signed.json');
    expect(grown.code, grown.stdout).toBe(0);
    expect(grown.json.checks.every((c: CheckOut) => c.ok)).toBe(true);
    expect(check(grown, 'live-registry')?.detail).toBe(
      `the live registry chain still holds entry ${before.seq} with the bundle's hash`,
    );
  });

  it('reports a registry chain truncated after signing, on the registry chain; the ledger verifies clean', async () => {
    // Signed with the registration's entries; then the owner takes the registration out again,
    // its rows, its entries and the head.
    await signBundle('with-scratch.json');
    const signedAt = statementOf('with-scratch.json').predicate.registry.seq as number;
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await behindAllGuards(c, [
        `delete from ops.ledger_release_scope_arms where table_name = 'bundle_scratch'`,
        `delete from ops.ledger_fact_tables where table_name = 'bundle_scratch'`,
        `delete from ops.ledger_entries where chain_id = '${REGISTRY}' and seq > ${signedAt - 2}`,
        `update ops.ledger_chains c set head_seq = e.seq, head_hash = e.entry_hash
         from ops.ledger_entries e where c.chain_id = '${REGISTRY}' and e.chain_id = c.chain_id and e.seq = ${signedAt - 2}`,
        'drop table ops.bundle_scratch',
      ]);
      await c.query('commit');
    } finally {
      c.release();
    }
    expect(await ledgerVerifies()).toBe(true);

    const r = await verifyLive('with-scratch.json');
    expect(r.code).toBe(1);
    expect(check(r, 'live-ledger')).toMatchObject({ ok: true });
    expect(check(r, 'live-registry')).toMatchObject({
      ok: false,
      detail: expect.stringContaining(
        `the registry chain (${REGISTRY}) was truncated: it no longer reaches seq ${signedAt}`,
      ),
    });
    const text = await cli(
      ['bundle', '--verify', 'with-scratch.json', '--key', 'keys.json', '--live'],
      await as('rm'),
    );
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/✗ live-registry +the registry chain .* was truncated/);
    expect(text.stdout).toContain('with-scratch.json does not verify');
    // The bundle signed before the registration still holds.
    expect((await verifyLive('signed.json')).code).toBe(0);
  });

  it('reports a registry chain rewritten consistently after signing (a scope narrowed), which every verification passes', async () => {
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
    // Consistent: neither verification finds anything, and the bundle still verifies offline.
    expect(await ledgerVerifies()).toBe(true);
    const off = await cli(['bundle', '--verify', 'signed.json', '--key', 'keys.json'], offline());
    expect(off.code).toBe(0);

    const signedAt = statementOf('signed.json').predicate.registry.seq as number;
    for (const who of ['auditor', 'rm'] as const) {
      const r = await verifyLive('signed.json', who);
      expect(r.code, who).toBe(1);
      expect(r.json.ok).toBe(false);
      expect(check(r, 'live-ledger'), who).toMatchObject({ ok: true });
      expect(check(r, 'live-registry'), who).toMatchObject({
        ok: false,
        detail: `the registry chain (${REGISTRY}) was rewritten after the bundle was signed: its entry ${signedAt} has another hash now`,
      });
    }
    // A developer may not compare (nor read the ledger).
    expect((await verifyLive('signed.json', 'developer')).code).toBe(3);
  });

  it('compares nothing when the bundle does not verify offline, and says so', async () => {
    const r = await verifyLive('forged.json');
    expect(r.code).toBe(1);
    expect(r.json.live).toBeNull();
    expect(r.json.checks.map((c: CheckOut) => c.name)).toEqual(['signature']);
    const text = await cli(
      ['bundle', '--verify', 'forged.json', '--key', 'keys.json', '--live'],
      await as('auditor'),
    );
    expect(text.stdout).toContain('not compared with the live ledger: the bundle does not verify offline');
  });
});

describe('a bundle signed before bundles named the registry head', () => {
  it('verifies offline and live, and says the registry is not covered', async () => {
    expect(statementOf('old.json').predicate).not.toHaveProperty('registry');
    const off = await cli(['bundle', '--verify', 'old.json', '--key', 'keys.json', '--json'], offline());
    expect(off.code, off.stdout + off.stderr).toBe(0);
    expect(off.json).toMatchObject({ ok: true, registryCovered: false, registry: null });
    expect(check(off, 'registry')).toMatchObject({ ok: true, detail: expect.stringMatching(/^not covered/) });
    const text = await cli(['bundle', '--verify', 'old.json', '--key', 'keys.json'], offline());
    expect(text.stdout).toContain(
      'old.json verifies (the registry is not covered: the bundle names no registry chain head)',
    );

    // Against the live ledger, whose registry chain was rewritten above: only the release's chain
    // is compared, and the output says the registry was not.
    const live = await verifyLive('old.json');
    expect(live.code, live.stdout).toBe(0);
    expect(live.json.live).toMatchObject({ ok: true, compared: 1 });
    expect(check(live, 'live-ledger')).toMatchObject({ ok: true });
    expect(check(live, 'live-registry')).toMatchObject({
      ok: true,
      detail: expect.stringMatching(/^not covered: .*; not compared$/),
    });
  });
});
