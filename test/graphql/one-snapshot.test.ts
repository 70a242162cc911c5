// A GraphQL query's reads share one transaction and one snapshot (src/db/request-transaction.ts),
// also when one of them fails: a refused field between two reads must not let the second read a
// newer snapshot than the first (a response built from two snapshots, e.g. a release counted
// before a concurrent commit and its gates after it). Real PostgreSQL, the request role's pool.
import { beforeAll, describe, expect, it } from 'vitest';
import { createRequestTransaction } from '../../src/db/request-transaction.js';
import { createRelease, who } from '../governance/scenario.js';
import { identity, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
  await createRelease(db);
});

const count = 'select count(*)::int as n from ops.releases';

describe('a query’s reads after a failed read', () => {
  it('see the snapshot the first read saw, as the same persona, and the transaction is finished once', async () => {
    const tx = createRequestTransaction(db.api, identity('audit_reader', who.auditor), {
      snapshot: () => true,
    });
    try {
      const before = await tx.run(async (c) => (await c.query(count)).rows[0].n as number);
      // A refused read (an unknown release: OPS04) between two reads of the same request.
      await expect(
        tx.run((c) => c.query(`select ops.is_eligible_for_promotion(gen_random_uuid(), 'staging')`)),
      ).rejects.toMatchObject({ code: 'OPS04' });
      // Committed by someone else after the first read.
      await createRelease(db);
      const after = await tx.run(async (c) => {
        const { rows } = await c.query(
          'select count(*)::int as n, current_user::text as u from ops.releases',
        );
        return rows[0] as { n: number; u: string };
      });
      expect(after).toEqual({ n: before, u: 'audit_reader' });
    } finally {
      await tx.finish('commit');
    }
    // A new request sees the release committed meanwhile.
    const fresh = createRequestTransaction(db.api, identity('audit_reader', who.auditor), {
      snapshot: () => true,
    });
    try {
      const n = await fresh.run(async (c) => (await c.query(count)).rows[0].n as number);
      expect(n).toBeGreaterThan(1);
    } finally {
      await fresh.finish('commit');
    }
    expect(db.api.waitingCount).toBe(0);
  });
});
