// The odoo composite action, run the way a runner runs it: its inputs substituted into the step's
// env, its script executed by bash against a real server, what it recorded read back.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { type OdooHealthStandIn, startOdooHealthStandIn } from '../../src/cli/odoo/health-stand-in.js';
import { projectRoot } from '../../src/db/migrate.js';
import { cli, type LiveServer, startServer, token } from '../cli/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { runBash, substitute } from './support.js';

const actionDir = path.join(projectRoot, '.github/actions/odoo');
const action = parse(readFileSync(path.join(actionDir, 'action.yml'), 'utf8'));
const logs = path.join(projectRoot, 'examples/odoo/logs');

let db: TestDatabase;
let server: LiveServer;
let standIn: OdooHealthStandIn;
beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  standIn = await startOdooHealthStandIn();
});
// Each step's GITHUB_OUTPUT folder lives here, removed with the run.
const scratch = mkdtempSync(path.join(tmpdir(), 'gha-odoo-'));

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await standIn?.close();
  await server?.close();
});

async function env(who: 'rm' | 'developer' | 'ci') {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) } };
}

async function odooRelease() {
  const project = `odoo-action-${Date.now()}`;
  expect((await cli(['policy', 'install', 'odoo', '--project', project], await env('rm'))).code).toBe(0);
  const r = await cli(
    ['release', 'create', '--project', project, '--name', '17.0.9', '--json'],
    await env('developer'),
  );
  expect(r.code, r.stderr).toBe(0);
  return { id: r.json.release.id as string, ref: `${project}/17.0.9` };
}

async function runAction(inputs: Record<string, string>) {
  const step = action.runs.steps[0];
  const withDefaults = {
    ...Object.fromEntries(
      Object.entries(action.inputs).map(([k, v]) => [k, (v as { default?: string }).default ?? '']),
    ),
    'api-url': server.url,
    token: await token('ci'),
    ...inputs,
  };
  const stepEnv = Object.fromEntries(
    Object.entries(step.env as Record<string, string>).map(([k, v]) => [
      k,
      substitute(v, { inputs: withDefaults }),
    ]),
  );
  const output = path.join(mkdtempSync(path.join(scratch, 'step-')), 'output');
  const r = await runBash(step.run, {
    ...stepEnv,
    GITHUB_ACTIONS: 'true',
    GITHUB_ACTION_PATH: actionDir,
    GITHUB_OUTPUT: output,
  });
  let outputs = '';
  try {
    outputs = readFileSync(output, 'utf8');
  } catch {
    // nothing written
  }
  return { ...r, outputs };
}

async function check(releaseId: string, name: string) {
  const { rows } = await db.admin.query(
    `select c.status::text, c.source_system::text from ops.gate_checks c join ops.release_gates g using (gate_id)
     where g.release_id = $1 and c.check_name = $2`,
    [releaseId, name],
  );
  return rows;
}

it('declares one step per use, each input mapped into the env of a plain bash script', () => {
  expect(action.runs.using).toBe('composite');
  const step = action.runs.steps[0];
  expect(step.run).toBe('bash "$GITHUB_ACTION_PATH/run.sh"');
  for (const input of Object.keys(action.inputs)) {
    expect(Object.values(step.env), input).toContain(`\${{ inputs.${input} }}`);
  }
  expect(action.inputs.step.required).toBe(true);
});

it('tests: a failing log is recorded as fail (status output), and fail-when-not-pass fails the step', async () => {
  const r = await odooRelease();
  const recorded = await runAction({
    step: 'tests',
    release: r.ref,
    log: path.join(logs, 'tests-fail.log'),
  });
  expect(recorded.code, recorded.stderr).toBe(0);
  expect(recorded.stdout).toContain(`✓ odoo tests recorded for ${r.ref}: fail`);
  expect(recorded.outputs).toMatch(/^status=fail$/m);
  expect(await check(r.id, 'odoo-tests')).toEqual([{ status: 'fail', source_system: 'github_actions' }]);

  const strict = await runAction({
    step: 'upgrade',
    release: r.ref,
    log: path.join(logs, 'upgrade-traceback.log'),
    'exit-code': '0',
    modules: 'sale_custom',
    'fail-when-not-pass': 'true',
  });
  expect(strict.code).toBe(1);
  expect(strict.stderr).toMatch(/::error title=ops-gates odoo::the recorded result is fail/);
  expect(await check(r.id, 'odoo-upgrade-on-production-copy')).toEqual([
    { status: 'fail', source_system: 'github_actions' },
  ]);
});

it('a refusal by the control plane fails the step with its reason', async () => {
  const r = await runAction({
    step: 'health',
    release: '00000000-0000-4000-8000-000000000000',
    'odoo-url': standIn.url,
    environment: 'staging',
    samples: '1',
  });
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/::error title=ops-gates odoo::ops-gates odoo health failed \(exit 1\)/);
});
