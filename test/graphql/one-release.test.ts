// One release with its gates, checks, approvals, evidence, transitions and revisions costs one SQL
// statement (inside the request's one transaction), whatever the number of rows and relations;
// it answers exactly what the per-relation loaders answer; RLS still decides what a persona sees;
// and unknown or malformed ids answer as before.
import { randomUUID } from 'node:crypto';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { CreateReleaseDocument } from '../../src/gql/graphql.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';
import { createTestApi, expectData, expectTypename, type TestApi } from './client.js';

let db: TestDatabase;
let api: TestApi;
const project = `one-${randomUUID().slice(0, 8)}`;
const ids: Record<string, string> = {};

type Data = Record<string, unknown>;
const doc = (text: string) => parse(text) as TypedDocumentNode<Data, Record<string, unknown>>;

/** Everything the one-statement path reads, through a fragment (as clients write it). */
const TREE = `
  fragment Tree on Release {
    id project releaseName environmentTarget sourceRef artifactDigest revision scopeMetadata
    initiatingActor status createdAt createdBy
    revisions { id releaseId revision sourceRef previousSourceRef reason revisedBy createdAt }
    approvals { id approverId decision scope revision createdAt gate { gateCode } }
    evidence { id artifactType artifactUrl sha256 metadata createdAt createdBy gateId }
    gates {
      id gateCode gateName status enteredAt resolvedAt resolvedBy
      checks { id checkName sourceSystem status required artifactRef metadata ingestId createdAt createdBy }
      approvals { id approverId personaRole decision rationaleText rationaleStructured createdAt }
      evidence { id artifactType sourceSystem artifactUrl createdAt }
      transitions { id fromStatus toStatus reason actor createdAt }
    }
  }`;

const ONE = doc(`query One($id: ID!) { release(id: $id) { ...Tree } } ${TREE}`);
const BY_NAME = doc(
  `query ByName($project: String!, $name: String!) { releaseByName(project: $project, name: $name) { ...Tree } } ${TREE}`,
);
const LIST = doc(`query List($project: String!) {
  releases(first: 3, filter: { project: $project }) { nodes { ...Tree } } } ${TREE}`);

/** As the superuser in one transaction through the governance functions, each step as its persona. */
async function seed(): Promise<void> {
  await inTransaction(db.admin, async (c) => {
    const one = async (sql: string, params: unknown[]) => (await c.query(sql, params)).rows[0] as Data;
    await actAs(c, 'developer', 'dev-ada');
    ids.small = String(
      (await one(`select (ops.create_release($1, 'small')).release_id as id`, [project])).id,
    );
    ids.large = String(
      (await one(`select (ops.create_release($1, 'large')).release_id as id`, [project])).id,
    );
    await c.query(`select ops.revise_release($1, 'refs/tags/large-2', null, 'rebuilt from the fixed tag')`, [
      ids.large,
    ]);
    await actAs(c, 'developer', 'dev-bea');
    ids.hidden = String(
      (await one(`select (ops.create_release($1, 'hidden')).release_id as id`, [project])).id,
    );
    await actAs(c, 'ci_service_role', 'ci-seed');
    await c.query(`select ops.record_check($1, 'G1', 'build', 'pass')`, [ids.small]);
    await c.query(
      `select ops.record_check(r.id, 'G1', 'check-' || i, (case when i % 7 = 0 then 'fail' else 'pass' end)::public.ops_check_status,
                               p_metadata => jsonb_build_object('run', i))
       from (values ($1::uuid), ($2::uuid)) r(id) cross join generate_series(1, 30) i`,
      [ids.large, ids.hidden],
    );
    await actAs(c, 'qa_tester', 'qa-seed');
    for (const id of [ids.large, ids.hidden]) {
      await c.query(
        `select ops.attach_evidence($1::uuid, 'test_result', 'https://ci.example/' || $1::text, 'G2')`,
        [id],
      );
      await c.query(`select ops.submit_approval($1, 'approved', 'G2')`, [id]);
    }
    await actAs(c, 'release_manager', 'rm-seed');
    await c.query(`select ops.submit_approval($1, 'approved', 'G3')`, [ids.large]);
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await seed();
});

afterAll(async () => {
  await api?.close();
});

async function run(
  operation: TypedDocumentNode<Data, Record<string, unknown>>,
  variables: Data,
  persona: Persona,
  sub?: string,
) {
  api.statements.reset();
  const result = await api.executeOperation({ operation, variables, persona, sub });
  return { data: expectData(result), statements: [...api.statements.statements] };
}

describe('one release in one statement', () => {
  it('costs the same statements for 1 check as for 30 with evidence and approvals: begin with the persona, one select, commit', async () => {
    const small = await run(ONE, { id: ids.small }, 'release_manager');
    const large = await run(ONE, { id: ids.large }, 'release_manager');
    const release = large.data.release as { gates: { checks: unknown[] }[]; revisions: unknown[] };
    expect(release.gates[0]!.checks).toHaveLength(30);
    expect(release.revisions).toHaveLength(2);
    expect(large.statements).toHaveLength(small.statements.length);
    expect(large.statements).toHaveLength(3);
    expect(large.statements[0]).toMatch(
      /^begin isolation level repeatable read;\s+select pg_catalog\.set_config\('role', 'release_manager', true\)/,
    );
    expect(large.statements[1]).toMatch(/^select .* from ops\.releases t0 where/s);
    expect(large.statements[2]).toBe('commit');
  });

  it('answers exactly what the per-relation loaders answer for the same selection', async () => {
    const list = await run(LIST, { project }, 'release_manager');
    const nodes = (list.data.releases as { nodes: Data[] }).nodes;
    // The list reads one statement per relation (the loaders); the single release reads one.
    expect(list.statements.length).toBeGreaterThan(4);
    for (const name of ['small', 'large', 'hidden']) {
      const fromList = nodes.find((n) => n.id === ids[name]);
      expect(fromList).toBeDefined();
      expect((await run(ONE, { id: ids[name] }, 'release_manager')).data.release).toEqual(fromList);
      expect((await run(BY_NAME, { project, name }, 'release_manager')).data.releaseByName).toEqual(fromList);
    }
  });

  it('selects only the columns the operation asks for, never select *', async () => {
    const { statements } = await run(
      doc('query Slim($id: ID!) { release(id: $id) { status gates { status checks { checkName } } } }'),
      { id: ids.large },
      'release_manager',
    );
    const select = statements[1]!;
    expect(select).not.toMatch(/\*/);
    expect(select).toContain('t2.check_name');
    expect(select).not.toContain('metadata');
    expect(select).not.toContain('release_name');
  });
});

describe('RLS stays the backstop of the one-statement path', () => {
  const REVISIONS = doc('query Mine($id: ID!) { release(id: $id) { id revisions { revision reason } } }');

  it("a developer reads their own release's revisions, and nothing of another developer's release", async () => {
    const mine = await run(REVISIONS, { id: ids.large }, 'developer', 'dev-ada');
    expect((mine.data.release as { revisions: unknown[] }).revisions).toHaveLength(2);

    const theirs = await run(REVISIONS, { id: ids.hidden }, 'developer', 'dev-ada');
    expect(theirs.data).toEqual({ release: null });
    // The statement ran as the developer, inside the transaction that assumed the persona.
    expect(theirs.statements[1]).toMatch(/from ops\.release_revisions/);
    const byName = await run(
      doc(
        'query N($p: String!) { releaseByName(project: $p, name: "hidden") { id revisions { revision } } }',
      ),
      { p: project },
      'developer',
      'dev-ada',
    );
    expect(byName.data).toEqual({ releaseByName: null });
  });

  it('claims with quotes and backslashes reach the database intact: the one-round-trip persona switch quotes them', async () => {
    const sub = "dev-o'brien\\'; reset role; --";
    const created = await api.executeOperation({
      operation: CreateReleaseDocument,
      variables: { input: { project, releaseName: 'quoted' } },
      persona: 'developer',
      sub,
    });
    const release = expectTypename(created.data?.createRelease, 'CreateReleaseSuccess').data;
    expect(release.initiatingActor).toBe(sub);
    // Read back as the same developer: RLS finds it theirs only if ops.current_actor() is the sub.
    const mine = await run(
      doc('query Q($id: ID!) { release(id: $id) { id createdBy } }'),
      { id: release.id },
      'developer',
      sub,
    );
    expect(mine.data).toEqual({ release: { id: release.id, createdBy: sub } });
    expect(mine.statements[0]).toContain("pg_catalog.set_config('role', 'developer', true)");
  });

  it('the very statement the release manager ran returns nothing of it as another developer', async () => {
    const rm = await run(ONE, { id: ids.hidden }, 'release_manager');
    const statement = rm.statements[1]!;
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(
        `select set_config('role', 'developer', true), set_config('request.jwt.claims', $1, true)`,
        [JSON.stringify({ sub: 'dev-ada', role: 'developer' })],
      );
      // A developer may not read gates at all: the grants refuse the statement outright.
      await expect(c.query(statement, [ids.hidden])).rejects.toMatchObject({ code: '42501' });
      await c.query('rollback');
      await c.query('begin');
      await c.query(
        `select set_config('role', 'qa_tester', true), set_config('request.jwt.claims', $1, true)`,
        [JSON.stringify({ sub: 'qa-seed', role: 'qa_tester' })],
      );
      // qa_tester reads releases but not gates either: scope-auth leaves gates out of its plan.
      await expect(c.query(statement, [ids.hidden])).rejects.toMatchObject({ code: '42501' });
    } finally {
      await c.query('rollback');
      c.release();
    }
  });

  it('a persona is never planned a relation it may not read: its field is refused, the rest answers', async () => {
    const r = await api.executeOperation({
      operation: doc(
        'query Q($id: ID!) { release(id: $id) { id evidence { artifactType } gates { gateCode } } }',
      ),
      variables: { id: ids.large },
      persona: 'qa_tester',
    });
    expect(r.errors?.map((e) => [e.path, e.extensions?.code])).toEqual([[['release', 'gates'], 'FORBIDDEN']]);
    expect(r.data?.release).toMatchObject({ id: ids.large, evidence: [{ artifactType: 'test_result' }] });
  });
});

describe('unknown and malformed ids answer as before', () => {
  it('an unknown id is null, with no error', async () => {
    const r = await run(ONE, { id: randomUUID() }, 'release_manager');
    expect(r.data).toEqual({ release: null });
  });

  it('a malformed id is VALIDATION naming the argument, before any SQL', async () => {
    api.statements.reset();
    const r = await api.executeOperation({
      operation: ONE,
      variables: { id: 'not-a-uuid' },
      persona: 'release_manager',
    });
    expect(r.errors?.[0]).toMatchObject({
      message: 'id must be a UUID',
      path: ['release'],
      extensions: { code: 'VALIDATION' },
    });
    expect(api.statements.count).toBe(0);
  });
});
