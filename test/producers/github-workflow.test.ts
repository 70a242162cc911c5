// The GitHub Actions producers, run the way a runner runs them. build.yml: valid YAML with the
// trigger, the steps and the secrets it needs; its G1 report step's script, with its env
// substituted as Actions would and the runner's GITHUB_* variables set, executed by bash against a
// real server: the G1 check and the accepted log row are then read back over GraphQL as
// audit_reader. The composite action: its inputs, and its script posting an event through a proxy
// that drops the first answer (recorded once) and refusing for good on a 4xx.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { projectRoot } from '../../src/db/migrate.js';
import { IngestLogDocument, ReleasesDocument } from '../../src/gql/graphql.js';
import { startProxy } from '../cli/proxy.js';
import { cli, type LiveServer, logRows, startServer, token } from '../cli/support.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { graphql, runBash, substitute } from './support.js';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  shell?: string;
  env?: Record<string, string>;
}

/** `${{ e }}`, an Actions expression as written in YAML. */
const expression = (e: string) => `\${{ ${e} }}`;

const workflow = parse(readFileSync(path.join(projectRoot, '.github/workflows/build.yml'), 'utf8'));
const actionDir = path.join(projectRoot, '.github/actions/ops-event');
const action = parse(readFileSync(path.join(actionDir, 'action.yml'), 'utf8'));

let db: TestDatabase;
let server: LiveServer;
beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
});
// Each step's GITHUB_OUTPUT folder lives here, removed with the run.
const scratch = mkdtempSync(path.join(tmpdir(), 'gha-'));

afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await server?.close();
});

async function newRelease(project: string) {
  const name = `2026.11.${Date.now() % 100000}`;
  const r = await cli(['release', 'create', '--project', project, '--name', name, '--json'], {
    env: { OPS_API_URL: server.url, OPS_TOKEN: await token('developer') },
  });
  expect(r.code, r.stderr).toBe(0);
  return { id: r.json.release.id as string, ref: `${project}/${name}` };
}

/** The variables every Actions job has. */
function runnerEnv(runId: string, attempt = '1') {
  const outputs = mkdtempSync(path.join(scratch, 'step-'));
  return {
    CI: 'true',
    GITHUB_ACTIONS: 'true',
    GITHUB_RUN_ID: runId,
    GITHUB_RUN_ATTEMPT: attempt,
    GITHUB_SERVER_URL: 'https://github.com',
    GITHUB_REPOSITORY: 'acme/odoo-addons',
    GITHUB_SHA: 'a'.repeat(40),
    GITHUB_REF: 'refs/heads/main',
    GITHUB_WORKFLOW: 'build',
    GITHUB_OUTPUT: path.join(outputs, 'output'),
  };
}

describe('build.yml', () => {
  const steps: Step[] = workflow?.jobs?.build?.steps ?? [];
  const report = steps.find((s) => s.id === 'report-g1');

  it('builds and tests on pushes to main, then reports G1 whatever the outcome, with the secrets it needs', () => {
    expect(workflow.name).toBe('build');
    expect(workflow.on.push.branches).toEqual(['main']);
    expect(workflow.on.workflow_dispatch.inputs.release).toMatchObject({ required: false, type: 'string' });
    expect(workflow.permissions).toEqual({ contents: 'read' });
    expect(workflow.jobs.build['runs-on']).toBe('ubuntu-latest');
    expect(steps[0]).toMatchObject({ uses: 'actions/checkout@v4' });
    const ci = steps.find((s) => s.id === 'ci');
    expect(ci?.run).toBe('.ci/run');
    expect(steps.indexOf(report!)).toBeGreaterThan(steps.indexOf(ci!));
    expect(report?.if).toBe('always()');
    expect(report?.env).toEqual({
      OPS_API_URL: expression('secrets.OPS_API_URL'),
      OPS_TOKEN: expression('secrets.OPS_TOKEN'),
      OPS_RELEASE: expression('inputs.release || vars.OPS_RELEASE'),
      CI_OUTCOME: expression('steps.ci.outcome'),
    });
    // Plain bash: values only from env, never an expression inside the script.
    expect(report?.run).not.toContain('${{');
    expect(report?.run).toContain('node bin/ops-gates.mjs build-complete');
    expect(report?.run).toContain('key="github_actions/$GITHUB_RUN_ID/build_complete"');
    expect(report?.run).toContain(
      'run_url="$GITHUB_SERVER_URL/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID"',
    );
  });

  /** The report step as the runner executes it: env substituted, then bash. */
  async function runReport(contexts: Record<string, unknown>, runId: string, attempt = '1') {
    const env = Object.fromEntries(
      Object.entries(report!.env!).map(([k, v]) => [k, substitute(v, contexts)]),
    );
    return runBash(report!.run!, { ...runnerEnv(runId, attempt), ...env });
  }

  it('a passing build: the G1 check passes and the build_complete is accepted under github_actions/<run_id>/build_complete', async () => {
    const project = `odoo-gha-${Date.now()}`;
    const release = await newRelease(project);
    const runId = String(Date.now());
    const r = await runReport(
      {
        secrets: { OPS_API_URL: server.url, OPS_TOKEN: await token('ci') },
        vars: { OPS_RELEASE: release.ref },
        inputs: {},
        steps: { ci: { outcome: 'success' } },
      },
      runId,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/✓ build_complete accepted: G1 check build pass; G1 is now passed/);

    const key = `github_actions/${runId}/build_complete`;
    const log = await graphql(server.url, 'auditor', IngestLogDocument, { filter: { idempotencyKey: key } });
    expect(log.ingestLog?.nodes).toEqual([
      expect.objectContaining({
        idempotencyKey: key,
        eventType: 'build_complete',
        processingStatus: 'accepted',
        httpStatus: 200,
        releaseId: release.id,
      }),
    ]);
    const gates = await graphql(server.url, 'auditor', ReleasesDocument, { filter: { project } });
    const g1 = gates.releases?.nodes?.[0]?.gates?.find((g) => g.gateCode === 'G1');
    expect(g1).toMatchObject({ status: 'passed', checks: [{ checkName: 'build', status: 'pass' }] });
    const { rows } = await db.admin.query(
      `select c.artifact_ref, c.source_system::text, c.metadata, c.created_by from ops.gate_checks c
       join ops.release_gates g using (gate_id) where g.release_id = $1`,
      [release.id],
    );
    expect(rows).toEqual([
      {
        artifact_ref: `https://github.com/acme/odoo-addons/actions/runs/${runId}`,
        source_system: 'github_actions',
        metadata: {
          commit: 'a'.repeat(40),
          ref: 'refs/heads/main',
          workflow: 'build',
          run_attempt: 1,
          build_outcome: 'success',
        },
        created_by: 'ci-github-actions',
      },
    ]);
  });

  it('a failing build fails G1; its re-run (attempt 2) passes under its own key, and the latest result counts', async () => {
    const release = await newRelease(`odoo-gha-fail-${Date.now()}`);
    const runId = String(Date.now() + 1);
    const contexts = (outcome: string) => ({
      secrets: { OPS_API_URL: server.url, OPS_TOKEN: ciToken },
      vars: { OPS_RELEASE: 'ignored/because-the-input-wins' },
      inputs: { release: release.id },
      steps: { ci: { outcome } },
    });
    const ciToken = await token('ci');
    const failed = await runReport(contexts('failure'), runId);
    expect(failed.code, failed.stderr).toBe(0);
    expect(failed.stdout).toMatch(/G1 check build fail; G1 is now failed/);
    const rerun = await runReport(contexts('success'), runId, '2');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toMatch(/G1 is now passed/);
    expect((await logRows(db, `github_actions/${runId}/build_complete`))[0]?.processing_status).toBe(
      'accepted',
    );
    expect(
      (await logRows(db, `github_actions/${runId}/build_complete/attempt-2`))[0]?.processing_status,
    ).toBe('accepted');
  });

  it('without the secrets (a fork) the step says so and succeeds, sending nothing', async () => {
    const before = server.requests.length;
    const r = await runReport(
      { secrets: {}, vars: {}, inputs: {}, steps: { ci: { outcome: 'success' } } },
      '1',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^::notice title=G1 not reported::/);
    expect(server.requests.length).toBe(before);
  });
});

describe('the ops-event composite action', () => {
  const step: Step = action.runs.steps[0];

  it('declares the inputs a repository passes and maps each into the env of a plain bash step', () => {
    expect(action.runs.using).toBe('composite');
    for (const input of [
      'api-url',
      'token',
      'event-type',
      'release-id',
      'gate-code',
      'payload',
      'idempotency-key',
    ]) {
      expect(action.inputs[input], input).toBeDefined();
      expect(Object.values(step.env ?? {})).toContain(expression(`inputs.${input}`));
    }
    expect(action.inputs['api-url'].required).toBe(true);
    expect(action.inputs.token.required).toBe(true);
    expect(step.shell).toBe('bash');
    expect(step.run).toBe('bash "$GITHUB_ACTION_PATH/post-event.sh"');
    expect(Object.keys(action.outputs)).toEqual(['status', 'ingest-id', 'idempotency-key']);
  });

  async function runAction(inputs: Record<string, string>, runId: string, apiUrl = server.url) {
    const withDefaults = {
      ...Object.fromEntries(
        Object.entries(action.inputs).map(([k, v]) => [k, (v as { default?: string }).default ?? '']),
      ),
      'api-url': apiUrl,
      ...inputs,
    };
    const env = Object.fromEntries(
      Object.entries(step.env ?? {}).map(([k, v]) => [k, substitute(v, { inputs: withDefaults })]),
    );
    const runner = runnerEnv(runId);
    const r = await runBash(step.run!, { ...runner, ...env, GITHUB_ACTION_PATH: actionDir });
    let outputs = '';
    try {
      outputs = readFileSync(runner.GITHUB_OUTPUT, 'utf8');
    } catch {
      // no outputs written
    }
    return { ...r, outputs };
  }

  it('an Odoo repository reports a G1 check; the first answer is lost and the retry is recorded as its duplicate', async () => {
    const release = await newRelease(`odoo-addons-${Date.now()}`);
    const proxy = await startProxy(server.port, ['drop-response'], /ops-event-ingest/);
    try {
      const r = await runAction(
        {
          token: await token('ci'),
          'event-type': 'check_result',
          'release-id': release.id,
          'gate-code': 'G1',
          payload: '{"check_name": "odoo-module-tests", "status": "pass", "artifact_ref": "https://ci/1"}',
        },
        '777',
        proxy.url,
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /cannot reach .* \(curl exit \d+\); retrying in \d\.\d{3} s \(attempt 2 of 5\)/,
      );
      expect(r.stdout).toMatch(
        /✓ check_result duplicate \(ingest [0-9a-f-]{36}, key github_actions\/.*\/check_result\/777\.1\.[0-9a-f]{64}\)/,
      );
      const key = /^idempotency-key=(.*)$/m.exec(r.outputs)?.[1] ?? '';
      expect(r.outputs).toMatch(/^status=duplicate$/m);
      const rows = await logRows(db, key);
      expect(rows.map((row) => row.processing_status)).toEqual(['accepted', 'duplicate']);
      expect(r.outputs).toContain(`ingest-id=${rows[0]!.ingest_id}`);
    } finally {
      await proxy.close();
    }
    const { rows } = await db.admin.query(
      `select g.status::text from ops.release_gates g where g.release_id = $1 and g.gate_code = 'G1'`,
      [release.id],
    );
    expect(rows[0].status).toBe('passed');
  });

  it('a refusal (4xx) is final: one attempt, exit 1 with the reason', async () => {
    const before = server.requests.length;
    const r = await runAction(
      {
        token: await token('qa'),
        'event-type': 'build_complete',
        'release-id': (await newRelease(`odoo-addons-qa-${Date.now()}`)).id,
        payload: '{"status": "pass"}',
        'idempotency-key': `qa-tries-build-${Date.now()}`,
      },
      '778',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /::error title=ops-event::event refused \(HTTP 403\): persona qa_tester may not send build_complete/,
    );
    expect(r.stderr).not.toMatch(/retrying/);
    // The release creation above is one request, the refused event the other.
    expect(server.requests.length - before).toBe(2);
  });

  it('bad inputs stop before anything is sent', async () => {
    const r = await runAction(
      { token: 't', 'event-type': 'check_result', 'release-id': 'odoo/2026.11' },
      '779',
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/release-id must be the release's UUID/);
    const p = await runAction(
      {
        token: 't',
        'event-type': 'check_result',
        'release-id': '00000000-0000-4000-8000-000000000000',
        payload: '[1]',
      },
      '779',
    );
    expect(p.stderr).toMatch(/payload must be a JSON object/);
  });
});
