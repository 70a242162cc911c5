// The GraphQL door (ingestEvent) shares submitEnvelope with the HTTP route: text Postgres cannot
// store comes back as a ValidationError naming the field, not as a masked internal error, and the
// attempt is logged once like any other.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IngestEventDocument } from '../../src/gql/graphql.js';
import { createRelease, type Release } from '../governance/scenario.js';
import { createTestApi, expectData, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { logCount } from './support.js';

let db: TestDatabase;
let api: TestApi;
let release: Release;

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  release = await createRelease(db);
});
afterAll(async () => {
  await api?.close();
});

function input(payload: Record<string, unknown>) {
  return {
    schemaVersion: 'v1.0',
    idempotencyKey: `graphql/${randomUUID()}`,
    eventType: 'build_complete' as never,
    sourceSystem: 'github_actions',
    releaseId: release.release_id,
    payload,
    emittedAt: new Date().toISOString(),
  };
}

it('ingestEvent: accepted, and a NUL in the payload is a ValidationError naming the field, logged once', async () => {
  const ok = expectData(
    await api.executeOperation({
      operation: IngestEventDocument,
      variables: { input: input({ status: 'pass' }) },
      persona: 'ci_service_role',
    }),
  );
  expect(ok.ingestEvent).toMatchObject({ __typename: 'IngestEventSuccess', data: { status: 'accepted' } });

  const before = await logCount(db);
  const refused = expectData(
    await api.executeOperation({
      operation: IngestEventDocument,
      variables: { input: input({ status: 'pass', metadata: { note: 'a\u0000b' } }) },
      persona: 'ci_service_role',
    }),
  );
  expect(refused.ingestEvent).toMatchObject({
    __typename: 'ValidationError',
    issues: [{ path: 'payload.metadata.note', message: expect.stringContaining('NUL') }],
  });
  expect(await logCount(db)).toBe(before + 1);
});
