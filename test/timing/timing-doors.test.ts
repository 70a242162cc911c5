// Timing governance through the doors people use: the CLI (freeze list|add|end, status with
// freezes and soak time left) and GraphQL (what is frozen now, policies, approval requests), as
// the personas that may and may not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, type LiveServer, type Person, startServer, token } from '../cli/support.js';
import {
  createRelease,
  deployStagingWithHealth,
  passG1,
  passG2,
  passG3,
  uniqueName,
} from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let server: LiveServer;

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
});
afterAll(async () => {
  await server?.close();
});

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) } };
}

// biome-ignore lint/suspicious/noExplicitAny: each test reads the fields it checks
async function graphql(who: Person, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${await token(who)}` },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

describe('ops-gates freeze', () => {
  it('add, list --now, status and end, by a release manager; a developer may not add one', async () => {
    const project = uniqueName('cli-freeze');
    const r = await createRelease(db, { project });
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    await deployStagingWithHealth(db, r);

    const denied = await cli(
      [
        'freeze',
        'add',
        '--name',
        'x',
        '--env',
        'production',
        '--reason',
        'y',
        '--for',
        '1h',
        '--project',
        project,
      ],
      await as('developer'),
    );
    expect(denied.code).toBe(3);

    const added = await cli(
      [
        'freeze',
        'add',
        '--name',
        'quarter-end',
        '--env',
        'production',
        '--reason',
        'books closing',
        '--for',
        '2h',
        '--project',
        project,
        '--json',
      ],
      await as('rm'),
    );
    expect(added.code, added.stderr).toBe(0);
    const windowId = added.json.window.id as string;
    expect(added.json.window.state).toBe('ACTIVE');

    const now = await cli(['freeze', 'list', '--now'], await as('developer'));
    expect(now.code, now.stderr).toBe(0);
    expect(now.stdout).toContain('quarter-end');
    expect(now.stdout).toContain(project);

    const status = await cli(['status', `${project}/${r.release_name}`], await as('rm'));
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/production\s+✗ not eligible \(1 blocker\)/);
    expect(status.stdout).toMatch(/freeze freeze "quarter-end" .* is active for production/);

    const endByDev = await cli(['freeze', 'end', windowId, '--reason', 'done'], await as('developer'));
    expect(endByDev.code).toBe(3);
    const ended = await cli(
      ['freeze', 'end', windowId, '--reason', 'books closed', '--json'],
      await as('rm'),
    );
    expect(ended.code, ended.stderr).toBe(0);
    expect(ended.json.window.state).toBe('ENDED');
    const after = await cli(['status', `${project}/${r.release_name}`], await as('rm'));
    expect(after.stdout).toMatch(/production\s+✓ eligible/);
  });

  it('adds a weekly window in an IANA zone; an unknown zone is refused with the reason', async () => {
    const ok = await cli(
      [
        'freeze',
        'add',
        '--name',
        'weekend',
        '--env',
        'production',
        '--reason',
        'no weekend changes',
        '--weekly-from',
        'fri 16:00',
        '--weekly-until',
        'mon 06:00',
        '--tz',
        'Europe/Brussels',
        '--project',
        uniqueName('weekly'),
        '--json',
      ],
      await as('sre'),
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json.window.occurrenceStartsAt).toBeTruthy();
    const list = await cli(['freeze', 'list', '--json'], await as('auditor'));
    expect(list.json.windows.map((w: { id: string }) => w.id)).toContain(ok.json.window.id);
    const bad = await cli(
      [
        'freeze',
        'add',
        '--name',
        'weekend',
        '--env',
        'production',
        '--reason',
        'x',
        '--weekly-from',
        'fri 16:00',
        '--weekly-until',
        'mon 06:00',
        '--tz',
        'Mars/Olympus',
      ],
      await as('rm'),
    );
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/not an IANA zone/);
  });
});

describe('GraphQL', () => {
  it('soak policy, release timing and approval requests, each for the personas that may', async () => {
    const project = uniqueName('gql-timing');
    const set = await graphql(
      'rm',
      `mutation($p: String) { setSoakPolicy(input: { fromEnvironment: staging, toEnvironment: production, minSoakSeconds: 3600, project: $p }) {
         __typename ... on SetSoakPolicySuccess { data { minSoakSeconds project } } } }`,
      { p: project },
    );
    expect(set.data.setSoakPolicy).toEqual({
      __typename: 'SetSoakPolicySuccess',
      data: { minSoakSeconds: 3600, project },
    });
    const denied = await graphql(
      'sre',
      `mutation { setSoakPolicy(input: { fromEnvironment: staging, toEnvironment: production, minSoakSeconds: 0 }) { __typename } }`,
    );
    expect(denied.data.setSoakPolicy).toEqual({ __typename: 'ForbiddenError' });

    const r = await createRelease(db, { project });
    await passG1(db, r);
    await passG2(db, r);
    await passG3(db, r);
    await deployStagingWithHealth(db, r);
    const timing = await graphql(
      'developer',
      `query($id: ID!) { releaseTiming(releaseId: $id) { __typename ... on ReleaseTimingSuccess { data { environment kind reason until } } } }`,
      { id: r.release_id },
    );
    expect(timing.data.releaseTiming.data).toEqual([
      {
        environment: 'production',
        kind: 'SOAK',
        reason: expect.stringMatching(/left \(until/),
        until: expect.any(String),
      },
    ]);
    const eligibility = await graphql(
      'developer',
      `query($id: ID!) { promotionEligibility(releaseId: $id, environment: production) { eligible blockers { gateCode reason } } }`,
      { id: r.release_id },
    );
    expect(eligibility.data.promotionEligibility).toEqual({
      eligible: false,
      blockers: [{ gateCode: null, reason: expect.stringMatching(/^soak: /) }],
    });

    const requested = await graphql(
      'developer',
      `mutation($id: ID!) { requestApproval(input: { releaseId: $id, gateCode: G2 }) { __typename ... on RequestApprovalSuccess { data { gateCode state } } ... on Error { message } } }`,
      { id: r.release_id },
    );
    expect(requested.data.requestApproval).toEqual({
      __typename: 'RequestApprovalSuccess',
      data: { gateCode: 'G2', state: 'REQUESTED' },
    });
    const invalid = await graphql(
      'developer',
      `mutation($id: ID!) { requestApproval(input: { releaseId: $id, gateCode: G4 }) { __typename ... on Error { message } } }`,
      { id: r.release_id },
    );
    expect(invalid.data.requestApproval.__typename).toBe('ValidationError');

    const frozen = await graphql('qa', '{ activeFreezes { name } freezeWindows { id } }');
    expect(frozen.errors).toBeUndefined();
    expect(Array.isArray(frozen.data.activeFreezes)).toBe(true);
  });
});
