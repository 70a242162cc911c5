// The n8n QA agent (examples/n8n/qa-signoff.json) as n8n would run it: the workflow is importable
// (nodes wired trigger → verdict → HTTP Request → check), its GraphQL document is valid against
// the schema, and its request, with the node's expressions evaluated the way n8n evaluates them
// (JavaScript with $json, $env, $workflow, $execution), is sent to a real server: G2 gets the QA
// approval and the gate passes, with the transition recorded under the QA person; another persona
// is refused and the workflow's check routes to its stop node.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema, parse, validate } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { cli, type LiveServer, PEOPLE, type Person, startServer, token } from '../cli/support.js';
import { useTestDatabase } from '../support/db.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers and node parameters, read field by field
type Json = any;

interface N8nNode {
  id: string;
  name: string;
  type: string;
  typeVersion: number;
  position: [number, number];
  parameters: Record<string, Json>;
}

const workflow = JSON.parse(readFileSync(path.join(projectRoot, 'examples/n8n/qa-signoff.json'), 'utf8')) as {
  name: string;
  nodes: N8nNode[];
  connections: Record<string, { main: { node: string }[][] }>;
};
const byType = (type: string) => workflow.nodes.filter((n) => n.type === `n8n-nodes-base.${type}`);
const http = byType('httpRequest')[0]!;
const verdict = byType('set')[0]!;
const check = byType('if')[0]!;

type Scope = { $json: unknown; $env: Record<string, string | undefined> };

/**
 * An n8n parameter value: a string starting with `=` is an expression whose `{{ … }}` parts are
 * JavaScript; a value that is one `{{ … }}` keeps its type, otherwise the parts are joined as text.
 */
function resolve(value: unknown, scope: Scope): unknown {
  if (typeof value !== 'string' || !value.startsWith('=')) return value;
  const template = value.slice(1);
  const run = (expr: string) =>
    new Function('$json', '$env', '$workflow', '$execution', `return (${expr});`)(
      scope.$json,
      scope.$env,
      { name: workflow.name, id: 'wf-1' },
      { id: 'exec-1' },
    );
  const whole = /^\{\{([\s\S]*)\}\}$/.exec(template.trim());
  if (whole && !whole[1]!.includes('{{')) return run(whole[1]!);
  return template.replace(/\{\{([\s\S]*?)\}\}/g, (_m, expr: string) => String(run(expr)));
}

let server: LiveServer;
beforeAll(async () => {
  server = await startServer(await useTestDatabase());
});
afterAll(async () => {
  await server?.close();
});

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) } };
}

/** A release waiting for QA: G1 passed and a test result attached to G2. */
async function releaseAwaitingQa() {
  const r = await cli(
    ['release', 'create', '--project', 'odoo-n8n', '--name', `qa-${Date.now()}`, '--json'],
    await as('developer'),
  );
  const id = r.json.release.id as string;
  expect((await cli(['build-complete', '--release', id, '--status', 'pass'], await as('ci'))).code).toBe(0);
  const e = await cli(
    [
      'evidence',
      'add',
      'https://ci.example/junit.xml',
      '--release',
      id,
      '--type',
      'test_result',
      '--gate',
      'G2',
    ],
    await as('qa'),
  );
  expect(e.code, e.stderr).toBe(0);
  return id;
}

/** Trigger item → the verdict node → the HTTP Request node's request, sent; then the IF node. */
async function runWorkflow(webhookBody: Record<string, unknown>, qaToken: string) {
  const env = { OPS_API_URL: server.url, OPS_QA_TOKEN: qaToken, OPS_RELEASE_ID: undefined };
  const trigger = { body: webhookBody, headers: {}, query: {} };
  const item: Record<string, unknown> = {};
  for (const a of verdict.parameters.assignments.assignments as { name: string; value: string }[]) {
    item[a.name] = resolve(a.value, { $json: trigger, $env: env });
  }
  const scope = { $json: item, $env: env };
  const url = resolve(http.parameters.url, scope) as string;
  const headers = Object.fromEntries(
    (http.parameters.headerParameters.parameters as { name: string; value: string }[]).map((h) => [
      h.name,
      String(resolve(h.value, scope)),
    ]),
  );
  const body = resolve(http.parameters.jsonBody, scope) as string;
  const response = await fetch(url, {
    method: http.parameters.method,
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  const answer = (await response.json()) as Record<string, Json>;
  const condition = check.parameters.conditions.conditions[0];
  const approved = resolve(condition.leftValue, { $json: answer, $env: env }) === condition.rightValue;
  return { url, headers, request: JSON.parse(body), status: response.status, answer, approved };
}

describe('examples/n8n/qa-signoff.json', () => {
  it('is an importable workflow: triggers → QA verdict → HTTP Request (POST $env.OPS_API_URL/graphql) → check', () => {
    expect(workflow.name).toMatch(/QA signoff/);
    for (const n of workflow.nodes) {
      expect(n).toEqual(
        expect.objectContaining({
          id: expect.any(String),
          name: expect.any(String),
          typeVersion: expect.any(Number),
        }),
      );
      expect(n.position).toHaveLength(2);
    }
    expect(byType('manualTrigger')).toHaveLength(1);
    expect(byType('webhook')[0]?.parameters).toMatchObject({ httpMethod: 'POST', path: 'qa-signoff' });
    expect(http.parameters).toMatchObject({
      method: 'POST',
      url: '={{$env.OPS_API_URL}}/graphql',
      sendHeaders: true,
      sendBody: true,
      specifyBody: 'json',
    });
    expect(http.parameters.headerParameters.parameters).toContainEqual({
      name: 'Authorization',
      value: '=Bearer {{ $env.OPS_QA_TOKEN }}',
    });
    const next = (name: string) => workflow.connections[name]?.main[0]?.map((c) => c.node);
    expect(next('Run by hand')).toEqual([verdict.name]);
    expect(next('QA verdict webhook')).toEqual([verdict.name]);
    expect(next(verdict.name)).toEqual([http.name]);
    expect(next(http.name)).toEqual([check.name]);
    expect(workflow.connections[check.name]?.main[1]?.map((c) => c.node)).toEqual([
      byType('stopAndError')[0]!.name,
    ]);
    // Every connection names a node that exists.
    const names = new Set(workflow.nodes.map((n) => n.name));
    for (const [from, { main }] of Object.entries(workflow.connections)) {
      expect(names.has(from), from).toBe(true);
      for (const c of main.flat()) expect(names.has(c.node), c.node).toBe(true);
    }
  });

  it('sends an approveGate mutation that is valid against the schema', async () => {
    const { request } = await runWorkflow({ releaseId: '00000000-0000-4000-8000-000000000000' }, 'unused');
    const schema = buildSchema(readFileSync(path.join(projectRoot, 'schema/schema.graphql'), 'utf8'));
    expect(validate(schema, parse(request.query))).toEqual([]);
    expect(request.query).toMatch(/approveGate\(input: \$input\)/);
    expect(request.variables.input).toMatchObject({ gateCode: 'G2', decision: 'approved' });
  });

  it('run against a real server: the QA approval is recorded, G2 passes, and the transition names the QA person', async () => {
    const releaseId = await releaseAwaitingQa();
    const run = await runWorkflow(
      {
        releaseId,
        decision: 'approved',
        rationale: 'n8n: 812 regression tests green, UAT signed by ops',
        suite: 'odoo-17',
      },
      await token('qa'),
    );
    expect(run.url).toBe(`${server.url}/graphql`);
    expect(run.status).toBe(200);
    expect(run.answer.errors).toBeUndefined();
    expect(run.answer.data.approveGate).toMatchObject({
      __typename: 'ApproveGateSuccess',
      data: { decision: 'approved', approverId: PEOPLE.qa.sub, personaRole: 'qa_tester' },
    });
    expect(run.approved).toBe(true);

    const auditor = await as('auditor');
    const status = await cli(['status', releaseId, '--json'], auditor);
    expect(status.json.release.gates.find((g: { gateCode: string }) => g.gateCode === 'G2').status).toBe(
      'passed',
    );
    const transitions = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auditor.env.OPS_TOKEN}` },
      body: JSON.stringify({
        query: `query ($id: ID!) { release(id: $id) { gates { gateCode approvals { approverId rationaleText rationaleStructured } transitions { fromStatus toStatus actor } } } }`,
        variables: { id: releaseId },
      }),
    }).then((r) => r.json() as Promise<Json>);
    const g2 = transitions.data.release.gates.find((g: { gateCode: string }) => g.gateCode === 'G2');
    expect(g2.transitions.at(-1)).toEqual({
      fromStatus: 'in_progress',
      toStatus: 'passed',
      actor: PEOPLE.qa.sub,
    });
    expect(g2.approvals).toEqual([
      {
        approverId: PEOPLE.qa.sub,
        rationaleText: 'n8n: 812 regression tests green, UAT signed by ops',
        rationaleStructured: {
          source: 'n8n',
          workflow: workflow.name,
          execution: 'exec-1',
          suite: 'odoo-17',
        },
      },
    ]);
  });

  it('with a token of another persona the signoff is refused and the workflow stops on its error branch', async () => {
    const releaseId = await releaseAwaitingQa();
    const run = await runWorkflow({ releaseId }, await token('developer'));
    expect(run.approved).toBe(false);
    const refusal = run.answer.data?.approveGate ?? run.answer.errors?.[0];
    expect(JSON.stringify(refusal)).toMatch(/qa_tester/);
  });
});
