// A ledger checkpoint whose head's seq is a JSON number but not a whole number (1.5, 1e30), with a
// root that matches its heads (anyone can compute one), is refused as not a checkpoint (OPS22,
// 20261207700000), through the SQL door and through the real server (`ledger checkpoint
// --compare`), rather than failing on a cast deep inside the comparison.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type LiveServer, startServer, token } from '../cli/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const REGISTRY = '00000000-0000-0000-0000-000000000001';
const HASH = 'a'.repeat(64);

let db: TestDatabase;
let server: LiveServer;
let work: string;

/** A checkpoint with one head written as `seqText` (raw JSON), its root computed as the server does. */
function checkpointText(seqText: string): string {
  const root = createHash('sha256').update(`${REGISTRY}:${seqText}:${HASH}`, 'utf8').digest('hex');
  return `{"format":"ops.ledger-checkpoint/v1","heads":[{"chain_id":"${REGISTRY}","seq":${seqText},"hash":"${HASH}"}],"root":"${root}"}`;
}

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  work = mkdtempSync(path.join(tmpdir(), 'ops-checkpoint-seq-'));
});

afterAll(async () => {
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('a checkpoint head whose seq is not a whole number', () => {
  it('is refused with OPS22 through the SQL door, for both personas that may compare', async () => {
    for (const persona of ['audit_reader', 'release_manager'] as const) {
      for (const seq of ['1.5', '100000000000000000000000000000', '-1']) {
        const out = await db
          .as(persona, `cp-${persona}`, (c) =>
            c.query('select ops.compare_ledger_checkpoint($1::jsonb) as v', [checkpointText(seq)]),
          )
          .then(
            () => ({ code: 'none', message: '' }),
            (err: { code: string; message: string }) => err,
          );
        expect(out, `${persona} seq ${seq}`).toMatchObject({
          code: 'OPS22',
          message: expect.stringContaining('seq (a whole number, 0 or more)'),
        });
      }
    }
    // A whole number still compares: the registry chain has no entry at that seq with that hash.
    const { rows } = await db.as('audit_reader', 'cp-ok', (c) =>
      c.query('select ops.compare_ledger_checkpoint($1::jsonb) as v', [checkpointText('3')]),
    );
    expect(rows[0].v).toMatchObject({ ok: false, compared: 1, findings: [{ kind: 'rewritten', seq: 3 }] });
  });

  it('is refused by name through the server (ledger checkpoint --compare)', async () => {
    writeFileSync(path.join(work, 'cp.json'), checkpointText('1.5'));
    const r = await cli(['ledger', 'checkpoint', '--compare', 'cp.json', '--json'], {
      env: { OPS_API_URL: server.url, OPS_TOKEN: await token('auditor') },
      cwd: work,
    });
    expect(r.code, r.stdout + r.stderr).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('not a ledger checkpoint');
  });
});
