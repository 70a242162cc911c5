// Keyset pages of releases and of the ingest log neither skip nor repeat rows, even when many rows
// are stamped within one millisecond (the cursor keeps Postgres' microseconds), and the page cap
// holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IngestLogDocument,
  type IngestLogQuery,
  ReleasesDocument,
  type ReleasesQuery,
} from '../../src/gql/graphql.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await db.admin.query(
    `insert into ops.releases (project, release_name) select 'paging', 'r-' || g from generate_series(1, 60) g`,
  );
  await db.admin.query(
    `insert into ops.event_ingest_log (idempotency_key, processing_status, http_status, release_id, received_at)
     select 'k-' || g, 'rejected', 400, gen_random_uuid(),
            timestamptz '2026-11-01T00:00:00Z' + (g / 3) * interval '1 millisecond' + (g % 3) * interval '1 microsecond'
     from generate_series(1, 45) g`,
  );
  // Groups of three within one millisecond, a microsecond apart, whatever the machine's speed (the
  // ingest log is append-only, so its timestamps come from the insert itself).
  await db.admin.query(
    `update ops.releases t set created_at = timestamptz '2026-11-01T00:00:00Z'
       + (x.n / 3) * interval '1 millisecond' + (x.n % 3) * interval '1 microsecond'
     from (select release_id, row_number() over (order by created_at, release_id) as n from ops.releases where project = 'paging') x
     where t.release_id = x.release_id`,
  );
});

afterAll(async () => {
  await api?.close();
});

describe('keyset pagination', () => {
  it('walks every release exactly once, 7 at a time', async () => {
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (let page = 0; page < 20; page++) {
      const data: ReleasesQuery = expectData(
        await api.executeOperation({
          operation: ReleasesDocument,
          variables: { filter: { project: 'paging' }, first: 7, after },
          persona: 'audit_reader',
        }),
      );
      const page = data.releases!;
      seen.push(...page.nodes!.map((n) => n!.releaseName!));
      if (!page.pageInfo!.hasNextPage) break;
      after = page.pageInfo!.endCursor;
    }
    expect(seen).toHaveLength(60);
    expect(new Set(seen).size).toBe(60);
  });

  it('walks every ingest attempt exactly once, 10 at a time', async () => {
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (let page = 0; page < 20; page++) {
      const data: IngestLogQuery = expectData(
        await api.executeOperation({
          operation: IngestLogDocument,
          variables: { filter: { processingStatus: 'rejected' as const }, first: 10, after },
          persona: 'audit_reader',
        }),
      );
      const page = data.ingestLog!;
      seen.push(...page.nodes!.map((n) => n!.id!));
      if (!page.pageInfo!.hasNextPage) break;
      after = page.pageInfo!.endCursor;
    }
    expect(new Set(seen).size).toBe(45);
    expect(seen).toHaveLength(45);
  });

  it('refuses a page larger than the cap', async () => {
    const result = await api.executeOperation({
      operation: ReleasesDocument,
      variables: { first: 101 },
      persona: 'audit_reader',
    });
    expect(result.errors?.[0]?.message).toMatch(/first must be between 1 and 100/);
  });
});
