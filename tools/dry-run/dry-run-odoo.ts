// `npm run dry-run:odoo`: one Odoo release from creation to production through the control plane,
// the way an Odoo team's pipeline records it: the odoo policy pack installed for the project, the
// changed modules from two addons trees, a failing and then a passing test run, an upgrade of the
// changed modules on a production copy, and the server's own /web/health after each deployment,
// here a stand-in on loopback started for the run. The logs and trees are examples/odoo. Every
// step is an `ops-gates` command run as a child process by the person who owns it. Exit 0 when
// everything held, 1 otherwise.
//
// With OPS_API_URL set it drives that server (tokens minted with SUPABASE_JWT_SECRET, or the
// development secret of `npm start`); otherwise it starts one on a throwaway embedded PostgreSQL.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startOdooHealthStandIn } from '../../src/cli/odoo/health-stand-in.js';
import { projectRoot } from '../../src/db/migrate.js';
import {
  approval,
  bold,
  CAST,
  Driver,
  deploymentSucceeded,
  evidence,
  heading,
  type Json,
  runDryRun,
  StepFailed,
  say,
  showEligibility,
  type Target,
  type Verdicts,
} from './dry-run-support.js';

const PROJECT = 'odoo-dryrun-shop';
const EXAMPLES = path.join(projectRoot, 'examples/odoo');
const LOG = (name: string) => path.join(EXAMPLES, 'logs', name);

const { developer, ci, qa, rm, auditor } = CAST;
const PEOPLE = { developer, ci, qa, rm, auditor };
type Who = keyof typeof PEOPLE;

async function dryRun(
  server: Target,
  work: string,
  v: Verdicts,
  defer: (cleanup: () => Promise<void>) => void,
): Promise<void> {
  const odoo = await startOdooHealthStandIn('healthy');
  defer(() => odoo.close());
  const d = new Driver<Who>(server, PEOPLE, v);
  const eligibility = (release: string) => showEligibility(d, 'auditor', release, { reasonsFor: 'staging' });
  await d.mintTokens();
  const releaseName = `17.0.2-dry-${randomBytes(3).toString('hex')}`;
  const release = `${PROJECT}/${releaseName}`;

  say(bold('Odoo dry run: one Odoo release to production, with the checks an Odoo release needs'));
  say();
  say(`  Control plane  ${server.description}`);
  say(`  Odoo server    ${odoo.url} (a stand-in for /web/health, started for this run)`);
  say(`  Release        ${release}`);

  heading('Step 1. Rita (release manager) installs the odoo policy pack for the project');
  await d.must(
    'rm',
    ['policy', 'install', 'odoo', '--project', PROJECT],
    (j) =>
      `required: ${(j.installation.requirements as { gateCode: string; checkName: string }[]).map((q) => `${q.gateCode} ${q.checkName}`).join(', ')}`,
  );

  heading('Step 2. Dana (developer) creates the release; CI records the build and the changed modules');
  await d.must(
    'developer',
    ['release', 'create', '--project', PROJECT, '--name', releaseName, '--source-ref', 'refs/tags/17.0.2'],
    (j) => `release ${release} created (${j.release.status})`,
  );
  await d.must(
    'ci',
    ['build-complete', '--release', release, '--status', 'pass'],
    (j) => `G1 is ${j.detail.gate_status}`,
  );
  await d.must(
    'ci',
    [
      'odoo',
      'modules',
      release,
      '--from',
      path.join(EXAMPLES, 'addons/17.0.1'),
      '--to',
      path.join(EXAMPLES, 'addons/17.0.2'),
    ],
    (j) =>
      `scope: ${(j.odooModules.changes as { module: string; change: string }[]).map((c) => `${c.module} ${c.change}`).join(', ')}`,
  );
  const before = await eligibility(release);
  v.check(
    before.staging.blockers.some(
      (b) => b.reason === 'G2: required check "odoo-upgrade-on-production-copy" has not reported',
    ),
    'staging is blocked by name until the upgrade on a production copy has reported',
  );

  heading('Step 3. G2: the Odoo test suite fails, is fixed, and passes');
  const failing = await d.must(
    'ci',
    ['odoo', 'tests', release, '--log', LOG('tests-fail.log'), '--exit-code', '1'],
    (j) =>
      `odoo-tests ${j.check.status}: ${j.check.failed} failed, ${j.check.errors} error(s) of ${j.check.tests}; G2 is ${j.gateStatus}`,
  );
  v.check(failing.gateStatus === 'failed', 'a failing test run fails G2');
  await d.must(
    'ci',
    ['odoo', 'tests', release, '--log', LOG('tests-pass.log'), '--exit-code', '0'],
    (j) =>
      `odoo-tests ${j.check.status}: ${j.check.tests} tests, log sha256 ${String(j.evidence.sha256).slice(0, 12)}…; G2 is ${j.gateStatus}`,
  );

  heading('Step 4. G2: the changed modules upgrade cleanly on a neutralized production copy');
  await d.must(
    'ci',
    [
      'odoo',
      'upgrade',
      release,
      '--log',
      LOG('upgrade-ok.log'),
      '--exit-code',
      '0',
      '--modules',
      'sale_custom,website_custom',
      '--database',
      'prod_copy',
    ],
    (j) => `odoo-upgrade-on-production-copy ${j.check.status}; G2 is ${j.gateStatus}`,
  );
  await d.must(
    'qa',
    approval(release, 'G2', '42 tests green; upgrade rehearsed on a production copy'),
    (j) => `G2 approved by ${PEOPLE.qa.sub}; G2 is ${j.detail.gate_status}`,
  );

  heading('Step 5. G3: Rita attaches the rollback plan and approves; staging');
  const rollback = path.join(work, 'rollback-plan.md');
  writeFileSync(rollback, '# Rollback\n1. Redeploy 17.0.1.\n2. Restore the pre-upgrade snapshot.\n');
  await d.must('rm', evidence(rollback, release, 'rollback_plan', 'G3'), () => 'rollback plan attached');
  await d.must(
    'rm',
    approval(release, 'G3', 'rollback plan reviewed'),
    (j) => `G3 is ${j.detail.gate_status}`,
  );
  for (const env of ['staging', 'production'] as const) {
    heading(`Step ${env === 'staging' ? 6 : 7}. Promote to ${env}; CI probes Odoo's /web/health for G4`);
    const promoted = await d.must(
      'rm',
      ['promote', release, '--env', env],
      (j) => `deployment ${j.deployment.id} to ${env}`,
    );
    await d.must(
      'ci',
      deploymentSucceeded(release, promoted.deployment.id),
      () => `the ${env} deployment succeeded`,
    );
    const health: Json = await d.must(
      'ci',
      [
        'odoo',
        'health',
        release,
        '--odoo-url',
        odoo.url,
        '--deployment',
        promoted.deployment.id,
        '--samples',
        '3',
        '--interval',
        '200ms',
      ],
      (j) =>
        `${j.report.passed} of ${j.report.samples.length} samples pass (median ${j.report.latency_ms?.median} ms, database server checked: ${j.report.db_server_status_supported}); G4 of the deployment ${j.g4Status}`,
    );
    v.check(health.g4Status === 'passed', `G4 passed on ${env}`);
  }
  const final = await eligibility(release);
  v.check(final.status === 'promoted', `the release is ${final.status}`);

  heading('Step 8. Ada (auditor) finds every Odoo check in the decision chain');
  const t = await d.run('auditor', ['timeline', release]);
  if (t.code !== 0) throw new StepFailed(`timeline failed: ${t.stderr}`);
  const summaries = (t.json.entries as { kind: string; summary: string }[]).map((e) => e.summary).join('\n');
  for (const [what, match] of [
    ['the failing test run', /"odoo-tests" reported fail/],
    ['the passing test run', /"odoo-tests" reported pass/],
    ['the upgrade on a production copy', /"odoo-upgrade-on-production-copy" reported pass/],
    ['each health check', /odoo-health/],
  ] as const) {
    v.check(match.test(summaries), `${what} is on the record`);
  }
}

process.exitCode = await runDryRun('Odoo dry run', dryRun, [
  'Tests, upgrade and health were recorded with their evidence, and gated the release.',
]);
