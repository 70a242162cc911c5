// An Odoo project through the real server: the odoo policy pack installed by a release manager,
// then `ops-gates odoo tests|upgrade|health|modules` run as the pipeline runs them, each read back
// from the database: the check and its metadata, the evidence and its digest, and the gate it
// moved (or held). The health route is a stand-in on loopback; the logs are examples/odoo/logs.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OdooHealthStandIn, startOdooHealthStandIn } from '../../src/cli/odoo/health-stand-in.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { cli, type LiveServer, type Person, startServer, token } from './support.js';

let db: TestDatabase;
let server: LiveServer;
let standIn: OdooHealthStandIn;
beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
  standIn = await startOdooHealthStandIn();
});
afterAll(async () => {
  await standIn?.close();
  await server?.close();
});

const logs = path.join(projectRoot, 'examples/odoo/logs');
const logFile = (name: string) => path.join(logs, name);
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

async function as(who: Person) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who) } };
}

async function run(who: Person, args: string[]) {
  const r = await cli([...args, '--json'], await as(who));
  return r;
}

async function must(who: Person, args: string[]) {
  const r = await run(who, args);
  expect(r.code, `${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r.json;
}

let seq = 0;
/** A project of its own with the odoo pack installed, and a release of it by the developer. */
async function odooRelease(install = true) {
  const project = `odoo-shop-${Date.now()}-${++seq}`;
  if (install) await must('rm', ['policy', 'install', 'odoo', '--project', project]);
  const name = `17.0.${seq}`;
  const created = await must('developer', ['release', 'create', '--project', project, '--name', name]);
  return { project, id: created.release.id as string, ref: `${project}/${name}` };
}

async function gates(releaseId: string): Promise<Record<string, string>> {
  const { rows } = await db.admin.query(
    'select gate_code::text, status::text from ops.release_gates where release_id = $1',
    [releaseId],
  );
  return Object.fromEntries(rows.map((r) => [r.gate_code, r.status]));
}

async function checks(releaseId: string, name: string) {
  const { rows } = await db.admin.query(
    `select c.check_id, g.gate_code::text, c.status::text, c.metadata, c.artifact_ref, c.created_by
     from ops.gate_checks c join ops.release_gates g using (gate_id)
     where g.release_id = $1 and c.check_name = $2 order by c.created_at`,
    [releaseId, name],
  );
  return rows;
}

async function evidence(releaseId: string, type: string) {
  const { rows } = await db.admin.query(
    `select a.check_id, a.deployment_id, g.gate_code::text, a.artifact_url, a.sha256, a.metadata
     from ops.evidence_artifacts a left join ops.release_gates g using (gate_id)
     where a.release_id = $1 and a.artifact_type = $2 order by a.created_at`,
    [releaseId, type],
  );
  return rows;
}

async function blockers(ref: string, env: 'staging' | 'production') {
  const r = await run('rm', ['eligible', ref, '--env', env]);
  return { code: r.code, reasons: ((r.json?.blockers ?? []) as { reason: string }[]).map((b) => b.reason) };
}

describe('the odoo policy pack', () => {
  it('a release manager installs it once; installing again adds nothing; others may not', async () => {
    const project = `odoo-pack-${Date.now()}`;
    const first = await must('rm', ['policy', 'install', 'odoo', '--project', project]);
    expect(first.installation.requirements).toEqual([
      { gateCode: 'G1', checkName: 'build', added: true },
      { gateCode: 'G2', checkName: 'odoo-tests', added: true },
      { gateCode: 'G2', checkName: 'odoo-upgrade-on-production-copy', added: true },
      { gateCode: 'G4', checkName: 'odoo-health', added: true },
    ]);
    const again = await must('rm', ['policy', 'install', 'odoo', '--project', project]);
    expect(again.installation.requirements.every((q: { added: boolean }) => !q.added)).toBe(true);
    const { rows } = await db.admin.query(
      'select platform, policy_pack, installed_by from ops.project_profiles where project = $1',
      [project],
    );
    expect(rows).toEqual([{ platform: 'odoo', policy_pack: 'odoo', installed_by: 'rm-rita' }]);

    const dev = await run('developer', ['policy', 'install', 'odoo', '--project', `${project}-x`]);
    expect(dev.code).toBe(3);
    expect(dev.stderr).toMatch(/installPolicyPack requires one of the personas: release_manager/);
    const unknown = await run('rm', ['policy', 'install', 'sap', '--project', project]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no policy pack named sap \(known: odoo\)/);
  });

  it('an Odoo release without the upgrade check is blocked, the check named in the reason', async () => {
    const r = await odooRelease();
    await must('ci', ['build-complete', '--release', r.ref, '--status', 'pass']);
    await must('ci', ['odoo', 'tests', r.ref, '--log', logFile('tests-pass.log')]);
    await must('qa', [
      'signoff',
      '--release',
      r.ref,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    expect(await gates(r.id)).toMatchObject({ G1: 'passed', G2: 'in_progress' });
    const b = await blockers(r.ref, 'staging');
    expect(b.code).toBe(1);
    expect(b.reasons).toEqual(['G2: required check "odoo-upgrade-on-production-copy" has not reported']);
    // The same steps in a project without the pack pass G2.
    const plain = await odooRelease(false);
    await must('ci', ['build-complete', '--release', plain.ref, '--status', 'pass']);
    await must('ci', ['odoo', 'tests', plain.ref, '--log', logFile('tests-pass.log')]);
    await must('qa', [
      'signoff',
      '--release',
      plain.ref,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    expect((await gates(plain.id)).G2).toBe('passed');
  });

  it('installing the pack re-evaluates the releases under way: a passed G1 without the pack’s G2 checks stays, G2 names them', async () => {
    const r = await odooRelease(false);
    await must('ci', ['build-complete', '--release', r.ref, '--status', 'pass']);
    await must('qa', [
      'evidence',
      'add',
      'https://ci.example/junit.xml',
      '--release',
      r.ref,
      '--type',
      'test_result',
      '--gate',
      'G2',
    ]);
    await must('qa', [
      'signoff',
      '--release',
      r.ref,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    expect((await gates(r.id)).G2).toBe('passed');
    await must('rm', ['policy', 'install', 'odoo', '--project', r.project]);
    expect(await gates(r.id)).toMatchObject({ G1: 'passed', G2: 'in_progress' });
    expect((await blockers(r.ref, 'staging')).reasons).toEqual([
      'G2: required check "odoo-tests" has not reported',
      'G2: required check "odoo-upgrade-on-production-copy" has not reported',
    ]);
  });
});

describe('ops-gates odoo tests', () => {
  it('a passing log: odoo-tests pass with its counts, the log as test_result evidence with its sha256', async () => {
    const r = await odooRelease();
    const file = logFile('tests-pass.log');
    const out = await must('ci', ['odoo', 'tests', r.ref, '--log', file, '--exit-code', '0']);
    expect(out.check).toMatchObject({
      name: 'odoo-tests',
      gateCode: 'G2',
      status: 'pass',
      tests: 42,
      failed: 0,
    });
    const [check] = await checks(r.id, 'odoo-tests');
    expect(check).toMatchObject({ gate_code: 'G2', status: 'pass', created_by: 'ci-github-actions' });
    expect(check.metadata).toMatchObject({
      tests: 42,
      failed: 0,
      errors: 0,
      summary_found: true,
      databases: ['ci_shop'],
      log: { file_name: 'tests-pass.log', sha256: sha256(file) },
    });
    expect(await evidence(r.id, 'test_result')).toEqual([
      expect.objectContaining({ check_id: check.check_id, gate_code: 'G2', sha256: sha256(file) }),
    ]);
    // The same log again is recorded once.
    const again = await must('ci', ['odoo', 'tests', r.ref, '--log', file, '--exit-code', '0']);
    expect(again.events.map((e: { status: string }) => e.status)).toEqual(['duplicate', 'duplicate']);
    expect(await checks(r.id, 'odoo-tests')).toHaveLength(1);
  });

  it('a failing log: odoo-tests fail naming the failing tests, and G2 fails', async () => {
    const r = await odooRelease();
    const text = await run('ci', ['odoo', 'tests', r.ref, '--log', logFile('tests-fail.log')]);
    expect(text.code).toBe(0);
    const [check] = await checks(r.id, 'odoo-tests');
    expect(check.status).toBe('fail');
    expect(check.metadata).toMatchObject({ tests: 42, failed: 1, errors: 1 });
    expect(check.metadata.failures.map((f: { test: string }) => f.test)).toEqual([
      'TestPricing.test_rounding_per_currency',
      'TestPicking.test_backorder',
    ]);
    expect((await gates(r.id)).G2).toBe('failed');
    expect((await blockers(r.ref, 'staging')).reasons).toContain('G2: check "odoo-tests" is failing');
    expect(await evidence(r.id, 'test_result')).toHaveLength(1);
  });

  it('a crashed run without a summary is recorded as a failure, never a pass', async () => {
    const r = await odooRelease();
    const out = await cli(['odoo', 'tests', r.ref, '--log', logFile('tests-crashed.log')], await as('ci'));
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/✗ G2 check odoo-tests fail recorded: the log has no test summary/);
    const [check] = await checks(r.id, 'odoo-tests');
    expect(check.status).toBe('fail');
    expect(check.metadata.summary_found).toBe(false);
    expect((await gates(r.id)).G2).toBe('failed');
  });

  it('refusals: no log file (exit 2), a persona that may not record checks (exit 3)', async () => {
    const r = await odooRelease();
    const missing = await run('ci', ['odoo', 'tests', r.ref, '--log', logFile('nope.log')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/cannot read --log/);
    const qa = await run('qa', ['odoo', 'tests', r.ref, '--log', logFile('tests-pass.log')]);
    expect(qa.code).toBe(3);
    expect(await checks(r.id, 'odoo-tests')).toEqual([]);
  });
});

describe('ops-gates odoo upgrade', () => {
  it('a traceback with exit code 0 is recorded as a failure with the reasons, and G2 fails', async () => {
    const r = await odooRelease();
    const file = logFile('upgrade-traceback.log');
    const out = await must('ci', [
      'odoo',
      'upgrade',
      r.ref,
      '--log',
      file,
      '--exit-code',
      '0',
      '--modules',
      'sale_custom,stock_custom',
      '--database',
      'prod_copy',
    ]);
    expect(out.check.status).toBe('fail');
    const [check] = await checks(r.id, 'odoo-upgrade-on-production-copy');
    expect(check).toMatchObject({ gate_code: 'G2', status: 'fail' });
    expect(check.metadata).toMatchObject({
      modules: ['sale_custom', 'stock_custom'],
      exit_code: 0,
      database: 'prod_copy',
      tracebacks: 1,
      reasons: ['the log shows 1 traceback', '2 ERROR lines'],
      log: { sha256: sha256(file) },
    });
    expect(await evidence(r.id, 'test_result')).toEqual([
      expect.objectContaining({ check_id: check.check_id, sha256: sha256(file) }),
    ]);
    expect((await gates(r.id)).G2).toBe('failed');
  });

  it('a clean upgrade with the tests and a QA approval passes G2', async () => {
    const r = await odooRelease();
    await must('ci', ['build-complete', '--release', r.ref, '--status', 'pass']);
    await must('ci', ['odoo', 'tests', r.ref, '--log', logFile('tests-pass.log')]);
    const ok = await must('ci', [
      'odoo',
      'upgrade',
      r.ref,
      '--log',
      logFile('upgrade-ok.log'),
      '--exit-code',
      '0',
      '--modules',
      'sale_custom',
    ]);
    expect(ok.check.status).toBe('pass');
    await must('qa', [
      'signoff',
      '--release',
      r.ref,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    expect(await gates(r.id)).toMatchObject({ G1: 'passed', G2: 'passed' });
    expect((await blockers(r.ref, 'staging')).code).toBe(0);
  });

  it('a non-zero exit code fails a clean log; --exit-code and --modules are required and checked', async () => {
    const r = await odooRelease();
    await must('ci', [
      'odoo',
      'upgrade',
      r.ref,
      '--log',
      logFile('upgrade-ok.log'),
      '--exit-code',
      '1',
      '--modules',
      'sale_custom',
    ]);
    expect((await checks(r.id, 'odoo-upgrade-on-production-copy'))[0].status).toBe('fail');
    for (const [args, message] of [
      [['--modules', 'sale_custom'], /--exit-code is required/],
      [['--exit-code', '0'], /--modules is required/],
      [['--exit-code', '0', '--modules', 'Sale Custom!'], /is not an Odoo module name/],
    ] as const) {
      const bad = await run('ci', ['odoo', 'upgrade', r.ref, '--log', logFile('upgrade-ok.log'), ...args]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(message);
    }
  });
});

describe('ops-gates odoo health', () => {
  /** An Odoo release through G1-G3, deployed to staging and reported succeeded. */
  async function deployedToStaging() {
    const r = await odooRelease();
    await must('ci', ['build-complete', '--release', r.ref, '--status', 'pass']);
    await must('ci', ['odoo', 'tests', r.ref, '--log', logFile('tests-pass.log')]);
    await must('ci', [
      'odoo',
      'upgrade',
      r.ref,
      '--log',
      logFile('upgrade-ok.log'),
      '--exit-code',
      '0',
      '--modules',
      'sale_custom',
    ]);
    await must('qa', [
      'signoff',
      '--release',
      r.ref,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    await must('rm', [
      'evidence',
      'add',
      'https://wiki.example/rollback',
      '--release',
      r.ref,
      '--type',
      'rollback_plan',
      '--gate',
      'G3',
    ]);
    await must('rm', [
      'signoff',
      '--release',
      r.ref,
      '--gate',
      'G3',
      '--decision',
      'approved',
      '--rationale',
      'ok',
    ]);
    const promoted = await must('rm', ['promote', r.ref, '--env', 'staging']);
    const deployment = promoted.deployment.id as string;
    await must('ci', [
      'deploy',
      'update',
      '--release',
      r.ref,
      '--deployment',
      deployment,
      '--status',
      'succeeded',
    ]);
    expect(await gates(r.id)).toMatchObject({ G1: 'passed', G2: 'passed', G3: 'passed', G4: 'in_progress' });
    return { ...r, deployment };
  }

  async function g4Of(deployment: string) {
    const { rows } = await db.admin.query(
      'select g4_status::text from ops.deployments where deployment_id = $1',
      [deployment],
    );
    return rows[0].g4_status;
  }

  const probe = ['--samples', '2', '--interval', '20ms', '--probe-timeout', '10s'];

  it('healthy: odoo-health pass with the samples as health_check evidence, and G4 passes', async () => {
    const r = await deployedToStaging();
    standIn.setMode('healthy');
    const out = await must('sre', [
      'odoo',
      'health',
      r.id,
      '--odoo-url',
      standIn.url,
      '--deployment',
      r.deployment,
      ...probe,
    ]);
    expect(out).toMatchObject({ deploymentId: r.deployment, g4Status: 'passed', check: { status: 'pass' } });
    expect(await g4Of(r.deployment)).toBe('passed');
    expect((await gates(r.id)).G4).toBe('passed');
    const [check] = await checks(r.id, 'odoo-health');
    expect(check).toMatchObject({
      gate_code: 'G4',
      status: 'pass',
      artifact_ref: `${standIn.url}/web/health`,
    });
    const [artifact] = await evidence(r.id, 'health_check');
    expect(artifact).toMatchObject({ deployment_id: r.deployment, sha256: out.evidence.sha256 });
    expect(artifact.metadata.probe).toMatchObject({
      status: 'pass',
      passed: 2,
      db_server_status_supported: true,
    });
    expect(artifact.metadata.probe.samples).toEqual([
      expect.objectContaining({ http_status: 200, status: 'pass', db_server_status: true }),
      expect.objectContaining({ http_status: 200, status: 'pass', db_server_status: true }),
    ]);
    expect(typeof artifact.metadata.probe.samples[0].latency_ms).toBe('number');
    expect((await blockers(r.ref, 'production')).reasons).toEqual([]);
  });

  it('unhealthy (500, status fail): odoo-health fail, the deployment’s G4 fails', async () => {
    const r = await deployedToStaging();
    standIn.setMode('database_down');
    const out = await cli(
      ['odoo', 'health', r.id, '--odoo-url', standIn.url, '--env', 'staging', ...probe],
      await as('ci'),
    );
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(
      /✗ http:\/\/127\.0\.0\.1:\d+\/web\/health: 0 of 2 samples pass .*the server cannot reach its database server/,
    );
    expect(await g4Of(r.deployment)).toBe('failed');
    expect((await gates(r.id)).G4).toBe('failed');
    expect((await checks(r.id, 'odoo-health'))[0].status).toBe('fail');
    expect((await blockers(r.ref, 'production')).reasons).toContain('G4: check "odoo-health" is failing');
    standIn.setMode('healthy');
  });

  it('unreachable: odoo-health fail with the reason in the evidence, the deployment’s G4 fails', async () => {
    const r = await deployedToStaging();
    const port = await freePort();
    const out = await must('ci', [
      'odoo',
      'health',
      r.id,
      '--odoo-url',
      `http://127.0.0.1:${port}`,
      '--deployment',
      r.deployment,
      ...probe,
    ]);
    expect(out.g4Status).toBe('failed');
    expect((await gates(r.id)).G4).toBe('failed');
    const [artifact] = await evidence(r.id, 'health_check');
    expect(artifact.metadata.probe.samples[0]).toMatchObject({ http_status: null, ok: false });
    expect(artifact.metadata.probe.reasons[0]).toMatch(/^unreachable: ECONNREFUSED/);
  });

  it('usage: --odoo-url and a deployment or environment are required', async () => {
    const id = '00000000-0000-4000-8000-000000000000';
    const a = await run('ci', ['odoo', 'health', id, '--env', 'staging']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--odoo-url is required/);
    const b = await run('ci', ['odoo', 'health', id, '--odoo-url', standIn.url]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/give --deployment <uuid> or --env/);
  });
});

describe('ops-gates odoo modules', () => {
  it('the modules changed between two addons trees go into the release scope, each change kept', async () => {
    const r = await odooRelease();
    const addons = path.join(projectRoot, 'examples/odoo/addons');
    const out = await must('ci', [
      'odoo',
      'modules',
      r.ref,
      '--from',
      path.join(addons, '17.0.1'),
      '--to',
      path.join(addons, '17.0.2'),
    ]);
    expect(out.odooModules.modules).toEqual(['legacy_report', 'sale_custom', 'website_custom']);
    const { rows } = await db.admin.query('select scope_metadata from ops.releases where release_id = $1', [
      r.id,
    ]);
    expect(rows[0].scope_metadata.odoo_modules).toMatchObject({
      source: 'manifests',
      changes: expect.arrayContaining([
        { module: 'sale_custom', change: 'upgraded', from_version: '17.0.1.4', to_version: '17.0.1.10' },
      ]),
    });
    // Listed by hand instead: the value is replaced, and both changes are on record.
    await must('developer', ['odoo', 'modules', r.ref, '--modules', 'sale_custom']);
    const history = await db.admin.query(
      'select created_by, old_value is null as first from ops.release_scope_changes where release_id = $1 order by created_at',
      [r.id],
    );
    expect(history.rows).toEqual([
      { created_by: 'ci-github-actions', first: true },
      { created_by: 'dev-dana', first: false },
    ]);
    const sre = await run('sre', ['odoo', 'modules', r.id, '--modules', 'sale_custom']);
    expect(sre.code).toBe(3);
  });
});
