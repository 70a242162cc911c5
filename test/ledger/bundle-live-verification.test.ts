// `ops-gates bundle --verify --live` through the real server, after the database owner changed,
// behind the guards, what a signed bundle pins without rewriting a chain: the heads the bundle
// names still match the live chains, so comparing heads alone reported the bundle clean, while
// the release's own live verification finds the change. --live now asks both: a fact of the
// release changed since signing fails live-ledger; a registry row registered before signing and
// replaced with a narrower release scope (its new registration appended, the registry chain grown
// as by a legitimate registration) fails live-registry.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type LiveServer, type Person, startServer, token } from '../cli/support.js';
import { createRelease, passAll, type Release } from '../governance/scenario.js';
import { inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { behindTriggers } from './support.js';

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
let work: string;
let tampered: Release;
let other: Release;

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) }, cwd: work };
}
const check = (out: { json: { checks: CheckOut[] } }, name: string) =>
  out.json.checks.find((c) => c.name === name);

async function signBundle(r: Release, file: string): Promise<void> {
  const out = await cli(['bundle', r.release_id, '--signed', '-o', file], await as('auditor'));
  expect(out.code, out.stderr).toBe(0);
}

async function verifyLive(file: string, who: Person = 'auditor') {
  return cli(['bundle', '--verify', file, '--key', 'keys.json', '--live', '--json'], await as(who));
}

async function registryHead(): Promise<{ seq: number; hash: string }> {
  const { rows } = await db.admin.query(
    'select head_seq::int as seq, head_hash as hash from ops.ledger_chains where chain_id = $1',
    [REGISTRY],
  );
  return rows[0];
}

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  work = mkdtempSync(path.join(tmpdir(), 'ops-bundle-live-'));
  tampered = await createRelease(db, { project: 'bundle-live', name: 'r-tampered' });
  other = await createRelease(db, { project: 'bundle-live', name: 'r-other' });
  await passAll(db, tampered);
  await passAll(db, other);
  const keys = await fetch(`${server.url}/.well-known/ops-attestation-keys.json`);
  expect(keys.status).toBe(200);
  writeFileSync(path.join(work, 'keys.json'), await keys.text());
  await signBundle(tampered, 'tampered.json');
  await signBundle(other, 'other.json');
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('bundle --verify --live asks the release’s live verification too', () => {
  it('fails live-ledger when a fact of the release was changed behind the triggers after signing', async () => {
    expect((await verifyLive('tampered.json')).code).toBe(0);
    const changed = await behindTriggers(db, async (c) => {
      const { rows } = await c.query(
        `update ops.gate_checks k set metadata = '{"note": "edited"}'::jsonb
         from ops.release_gates g
         where g.gate_id = k.gate_id and g.release_id = $1
           and k.check_id = (select k2.check_id from ops.gate_checks k2 join ops.release_gates g2 using (gate_id)
                             where g2.release_id = $1 order by k2.check_id limit 1)
         returning k.check_id`,
        [tampered.release_id],
      );
      return rows[0].check_id as string;
    });
    // The release's chain is as it was: its head still holds the bundle's entry.
    const r = await verifyLive('tampered.json');
    expect(r.code, r.stdout).toBe(1);
    expect(r.json.live).toMatchObject({ ok: true, verifies: false });
    expect(check(r, 'live-ledger')).toMatchObject({
      ok: false,
      detail: expect.stringMatching(
        new RegExp(
          `^the release's chain \\(${tampered.release_id}\\) no longer verifies against the live rows \\(entry \\d+\\): content_changed: `,
        ),
      ),
    });
    expect(check(r, 'live-registry')).toMatchObject({ ok: true });
    const verify = await cli(['verify', '--release', tampered.release_id, '--json'], await as('auditor'));
    expect(verify.code).toBe(1);
    expect(JSON.stringify(verify.json)).toContain(changed);
    // Another release's bundle is untouched by it.
    const untouched = await verifyLive('other.json');
    expect(untouched.code, untouched.stdout).toBe(0);
    expect(untouched.json.live).toMatchObject({ ok: true, verifies: true });
  });

  it('fails live-registry when a registry row registered before signing was replaced, the registry chain only grown', async () => {
    const signedAt = JSON.parse(
      Buffer.from(JSON.parse(readFileSync(path.join(work, 'other.json'), 'utf8')).payload, 'base64').toString(
        'utf8',
      ),
    ).predicate.registry.seq as number;
    expect((await registryHead()).seq).toBe(signedAt);
    // The registration of gate_checks and its arm, taken out behind their guards and inserted again
    // with a narrower scope: the registry's own trigger records the new rows on the registry chain,
    // as a migration's registration would, so the chain is appended to and never rewritten.
    await inTransaction(db.admin, async (c) => {
      const guards = [
        ['ops.ledger_fact_tables', 'ledger_fact_tables_fixed'],
        ['ops.ledger_release_scope_arms', 'ledger_release_scope_arms_fixed'],
        ['ops.ledger_fact_tables', 'ledger_release_scope_arms_match'],
        ['ops.ledger_release_scope_arms', 'ledger_release_scope_arms_match'],
      ];
      for (const [rel, name] of guards) await c.query(`alter table ${rel} disable trigger ${name}`);
      await c.query(`delete from ops.ledger_release_scope_arms where table_name = 'gate_checks'`);
      await c.query(`delete from ops.ledger_fact_tables where table_name = 'gate_checks'`);
      await c.query(
        `insert into ops.ledger_fact_tables (table_name, pk_column, release_scope) values ('gate_checks', 'check_id', $1)`,
        [NARROW],
      );
      await c.query(
        `insert into ops.ledger_release_scope_arms (table_name, arm_no, arm) values ('gate_checks', 1, $1)`,
        [NARROW],
      );
      for (const [rel, name] of guards) await c.query(`alter table ${rel} enable always trigger ${name}`);
    });
    expect((await registryHead()).seq).toBe(signedAt + 2);

    for (const who of ['auditor', 'rm'] as const) {
      const r = await verifyLive('other.json', who);
      expect(r.code, `${who}: ${r.stdout}`).toBe(1);
      // The head comparison alone is clean: the registry chain still holds the bundle's entry.
      expect(r.json.live, who).toMatchObject({ ok: true, verifies: false });
      expect(check(r, 'live-registry'), who).toMatchObject({
        ok: false,
        detail: expect.stringMatching(
          new RegExp(
            `^the registry chain \\(${REGISTRY}\\) no longer verifies against the live rows \\(entry \\d+\\): content_changed: the registration of gate_checks differs`,
          ),
        ),
      });
    }
    const text = await cli(
      ['bundle', '--verify', 'other.json', '--key', 'keys.json', '--live'],
      await as('rm'),
    );
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/✗ live-registry +the registry chain .* no longer verifies/);
    expect(text.stdout).toContain('other.json does not verify');
  });
});
