// `npm run dry-run`: one release from creation to production through the control plane, every
// step an `ops-gates` command run as a child process by the person who owns it, with their own
// token, exactly as they would type it. After each step it shows whether the release may go to
// staging and to production. It also shows the refusals (a promotion before G3; an exception that
// expired) and a revision (a hotfix commit after approval: the approvals go stale, the new
// revision is approved again and promoted), then rebuilds the decision chain from
// `releaseTimeline` alone and checks that every step is there with its actor. Exit 0 when
// everything held, 1 otherwise.
//
// With OPS_API_URL set it drives that server (tokens minted with SUPABASE_JWT_SECRET, or the
// development secret of `npm start`); otherwise it starts one on a throwaway embedded PostgreSQL
// under .data/, on free ports, and removes it afterwards (dry-run-support.ts).
//
// The story is told in chapters, one function each, in the order they run (see dryRun at the
// end); it stays long because every command is spelled out as a person would type it.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  approval,
  type Blocker,
  bold,
  CAST,
  Driver,
  deploymentSucceeded,
  evidence,
  grey,
  heading,
  type Json,
  runDryRun,
  StepFailed,
  say,
  showEligibility,
  type Target,
  type Verdicts,
} from './dry-run-support.js';

const PROJECT = 'odoo-dryrun';
/** The revision the release is created for, and the hotfix commit it is revised to. */
const FIRST_REF = 'refs/tags/v2026.11.0';
const HOTFIX_REF = 'refs/tags/v2026.11.1';

const PEOPLE = CAST;
type Who = keyof typeof PEOPLE;

/** What every chapter works on: the people, the release, the CI run and the files they attach. */
interface Story {
  d: Driver<Who>;
  v: Verdicts;
  release: string;
  releaseName: string;
  /** The release's UUID, by which SRE tooling names it (an SRE may not read releases). */
  releaseId: string;
  runId: string;
  runUrl: string;
  junit: string;
  rollback: string;
  work: string;
}

/** May it go to staging and production now; with reasons, what blocks production and why. */
const eligibility = (s: Story, options: { reasons?: boolean } = {}) =>
  showEligibility(s.d, 'auditor', s.release, {
    gatesBlocking: true,
    ...(options.reasons ? { reasonsFor: 'production' as const } : {}),
  });

/** `ops-gates health-check … --status pass`: an SRE confirms the environment is healthy. */
const healthy = (s: Story, env: 'staging' | 'production', dashboard: string) =>
  s.d.must(
    'sre',
    ['health-check', '--release', s.releaseId, '--env', env, '--status', 'pass', '--artifact-url', dashboard],
    (j) => `${env} health check pass; its G4 is ${j.detail.g4_status}`,
  );

/** Rita promotes `ref` to `env`; the pipeline then reports that the deployment succeeded. */
async function deploy(s: Story, env: 'staging' | 'production', ref: string, started: (j: Json) => string) {
  const promoted = await s.d.must('rm', ['promote', s.release, '--env', env, '--source-ref', ref], started);
  await s.d.must(
    'ci',
    deploymentSucceeded(s.release, promoted.deployment.id),
    () => `the pipeline reports the ${env} deployment succeeded`,
  );
}

/** `ops-gates build-complete --status pass` as the CI run sends it, keyed by the run; `suffix` marks a rebuild. */
const buildReport = (s: Story, suffix = '') => [
  'build-complete',
  '--release',
  s.release,
  '--status',
  'pass',
  '--source',
  'github_actions',
  '--artifact-ref',
  `${s.runUrl}${suffix}`,
  '--idempotency-key',
  `github_actions/${s.runId}${suffix}/build_complete`,
];

async function buildAndValidate(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Step 2. G1 Build Integrity: the CI pipeline reports the build');
  const buildArgs = [...buildReport(s), '--emitted-at', new Date().toISOString()];
  await d.must(
    'ci',
    buildArgs,
    (j) => `build_complete ${j.status}: G1 check "build" pass, G1 is ${j.detail.gate_status}`,
  );
  say(
    grey(
      '  The pipeline posts again after a network blip (a retried job step): same event, same key, same emitted_at.',
    ),
  );
  await d.must('ci', buildArgs, (j) =>
    j.status === 'duplicate'
      ? `recorded once: the retry was answered as a duplicate of ingest ${j.ingestId}`
      : `unexpected: the retry was ${j.status}`,
  );
  await eligibility(s);

  heading('Step 3. G2 Validation Readiness: Quinn (QA) attaches the test results and signs off');
  writeFileSync(s.junit, '<testsuite name="odoo-regression" tests="812" failures="0" errors="0"/>\n');
  await d.must(
    'qa',
    evidence(s.junit, release, 'test_result', 'G2', `${s.runUrl}/artifacts/junit.xml`),
    (j) => `test_result attached to G2 (sha256 of the file recorded, artifact ${j.detail.artifact_id})`,
  );
  await d.must(
    'qa',
    approval(release, 'G2', '812 regression tests green; UAT checklist signed'),
    (j) => `G2 approved by ${PEOPLE.qa.sub}; G2 is ${j.detail.gate_status}`,
  );
  const afterG2 = await eligibility(s);
  v.check(afterG2.staging.eligible, 'the release may now go to staging, not yet to production');
}

async function refusals(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Refusal 1. Rita (release manager) tries to promote to production before G3');
  const early = await d.run('rm', ['promote', release, '--env', 'production']);
  if (early.code === 1 && early.json?.error?.code === 'not_eligible') {
    v.check(true, 'promotion to production refused, as it must be; the control plane says why:');
    for (const b of early.json.error.blockers as Blocker[]) say(`      - ${b.reason}`);
  } else {
    v.check(
      false,
      `expected a refusal (exit 1, not_eligible), got exit ${early.code}: ${early.stdout}${early.stderr}`,
    );
  }

  heading('Refusal 2. An exception that has expired does not help');
  say('  Dana asks to bypass G3 for a hotfix; the window is deliberately short (15 s).');
  const requested = await d.must(
    'developer',
    [
      'exception',
      'request',
      '--release',
      release,
      '--gates',
      'G3',
      '--type',
      'gate_bypass',
      '--reason',
      'hotfix for a checkout outage',
      '--risk',
      'rollback plan not yet rehearsed',
      '--expires-in',
      '15s',
      '--controls',
      '{"on_call":"sam.sre","extra_monitoring":true}',
    ],
    (j) =>
      `exception ${j.exception.id} requested by ${j.exception.requestedBy}, expires ${j.exception.expiresAt}`,
  );
  const exceptionId: string = requested.exception.id;
  const expiresAt = Date.parse(requested.exception.expiresAt);
  say('  It authorises nothing until a release manager other than the requester approves it:');
  await d.must(
    'rm',
    ['exception', 'approve', exceptionId, '--rationale', 'revenue impact; on-call SRE watching'],
    (j) => `approved by ${j.exception.approverId} (requested by ${j.exception.requestedBy})`,
  );
  const during = await eligibility(s);
  v.check(
    !during.production.blockers.some((b) => b.gateCode === 'G3') || Date.now() >= expiresAt,
    'while the exception is in force G3 no longer blocks (bypassed); production still waits for G4',
  );
  const wait = Math.max(0, expiresAt - Date.now()) + 500;
  say(grey(`  … waiting ${(wait / 1000).toFixed(1)} s for the exception to expire`));
  await new Promise((r) => setTimeout(r, wait));
  const expired = await d.run('auditor', ['eligible', release, '--env', 'production']);
  const expiredBlocker = (expired.json?.blockers as Blocker[] | undefined)?.find((b) =>
    b.reason.includes(`bypass exception ${exceptionId} expired at`),
  );
  v.check(
    expired.code === 1 && expired.json?.eligible === false && Boolean(expiredBlocker),
    `eligible for production: false; the control plane names the expired exception:\n      - ${expiredBlocker?.reason ?? '(missing)'}`,
  );
  say('  Rita records the post-review of the exception (no chat thread: it is on the record):');
  await d.must(
    'rm',
    ['exception', 'review', exceptionId, '--status', 'complete'],
    (j) => `post-review ${j.exception.postReviewStatus}`,
  );
}

async function approveAndStage(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Step 4. G3 Promotion Readiness: Rita (release manager, not the initiator) approves');
  writeFileSync(
    s.rollback,
    '# Rollback\n1. Redeploy the previous image.\n2. Restore the pre-release snapshot.\n',
  );
  await d.must(
    'rm',
    evidence(
      s.rollback,
      release,
      'rollback_plan',
      'G3',
      `https://wiki.example/${PROJECT}/${s.releaseName}/rollback`,
    ),
    () => 'rollback plan attached to G3',
  );
  await d.must(
    'rm',
    approval(release, 'G3', 'rollback plan reviewed; QA evidence complete'),
    (j) => `G3 approved by ${PEOPLE.rm.sub}; G3 is ${j.detail.gate_status}`,
  );
  await eligibility(s, { reasons: true });

  heading('Step 5. Promote to staging');
  await deploy(
    s,
    'staging',
    FIRST_REF,
    (j) => `deployment ${j.deployment.id} to staging started (${j.deployment.status})`,
  );
  await eligibility(s, { reasons: true });

  heading('Step 6. G4 Post-Deploy Operational Confirmation: Sam (SRE) confirms staging is healthy');
  say(grey('  (An SRE may not read releases, so SRE tooling names the release by its UUID.)'));
  await healthy(s, 'staging', `https://grafana.example/d/${PROJECT}?env=staging`);
  const afterG4 = await eligibility(s);
  v.check(afterG4.production.eligible, 'the release may now go to production');
}

async function reviseAfterApproval(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Step 7. A hotfix after approval: Dana (developer) revises the release to a new commit');
  say(
    grey(
      '  A fix for the invoice rounding lands on the release branch. What G2 and G3 approved is no longer what would ship.',
    ),
  );
  await d.must(
    'developer',
    [
      'release',
      'revise',
      release,
      '--source-ref',
      HOTFIX_REF,
      '--reason',
      'hotfix: invoice rounding on multi-currency orders',
    ],
    (j) =>
      `${release} is now at revision ${j.revision.revision}: ${j.revision.sourceRef} (was ${j.revision.previousSourceRef})`,
  );
  const revised = await eligibility(s, { reasons: true });
  const staleG2 = revised.production.blockers.find((b) =>
    b.reason.startsWith(`G2: the qa_tester approval by ${PEOPLE.qa.sub} is stale`),
  );
  v.check(
    !revised.production.eligible && !revised.staging.eligible && Boolean(staleG2),
    `its approvals went stale; the control plane says which and why:\n      - ${staleG2?.reason ?? '(missing)'}`,
  );
  const refused = await d.run('rm', ['promote', release, '--env', 'production', '--source-ref', FIRST_REF]);
  v.check(
    refused.code === 1,
    "promoting the approved revision instead is refused: a deployment carries the release's current revision",
  );

  heading('Step 8. The new revision earns its gates again');
  await d.must(
    'ci',
    buildReport(s, '-hotfix'),
    (j) => `build_complete ${j.status} for ${HOTFIX_REF}: G1 is ${j.detail.gate_status}`,
  );
  await d.must(
    'qa',
    evidence(s.junit, release, 'test_result', 'G2', `${s.runUrl}-hotfix/artifacts/junit.xml`),
    () => `test_result for ${HOTFIX_REF} attached to G2`,
  );
  await d.must(
    'qa',
    approval(release, 'G2', 'hotfix retested'),
    (j) => `G2 approved again by ${PEOPLE.qa.sub}; G2 is ${j.detail.gate_status}`,
  );
  await d.must(
    'rm',
    evidence(
      s.rollback,
      release,
      'rollback_plan',
      'G3',
      `https://wiki.example/${PROJECT}/${s.releaseName}/rollback-hotfix`,
    ),
    () => 'rollback plan confirmed for the hotfix',
  );
  await d.must(
    'rm',
    approval(release, 'G3', 'hotfix reviewed'),
    (j) => `G3 approved again by ${PEOPLE.rm.sub}; G3 is ${j.detail.gate_status}`,
  );
  await deploy(
    s,
    'staging',
    HOTFIX_REF,
    (j) => `deployment ${j.deployment.id} of ${HOTFIX_REF} to staging started`,
  );
  await healthy(s, 'staging', `https://grafana.example/d/${PROJECT}?env=staging&rev=2`);
  const reapproved = await eligibility(s);
  v.check(reapproved.production.eligible, 'the hotfix revision may now go to production');
}

async function toProduction(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Step 9. A change freeze: Rita freezes production for the quarter-end close');
  const freeze = await d.must(
    'rm',
    [
      'freeze',
      'add',
      '--name',
      'quarter-end close',
      '--env',
      'production',
      '--project',
      PROJECT,
      '--reason',
      'finance closes the books',
      '--for',
      '2h',
    ],
    (j) =>
      `freeze "${j.window.name}" (${j.window.id}) on production of ${PROJECT}: ${String(j.window.state).toLowerCase()} until ${j.window.occurrenceEndsAt}`,
  );
  const frozen = await d.run('rm', ['promote', release, '--env', 'production', '--source-ref', HOTFIX_REF]);
  if (frozen.code === 1 && frozen.json?.error?.code === 'not_eligible') {
    v.check(true, 'promotion to production refused during the freeze; the control plane says why:');
    for (const b of frozen.json.error.blockers as Blocker[]) say(`      - ${b.reason}`);
  } else {
    v.check(
      false,
      `expected a refusal during the freeze, got exit ${frozen.code}: ${frozen.stdout}${frozen.stderr}`,
    );
  }

  heading('Step 10. A timing_override exception lifts the freeze for this release only');
  say('  Rita asks; it needs another release manager, and it expires like every exception.');
  const requested = await d.must(
    'rm',
    [
      'exception',
      'request',
      '--release',
      release,
      '--type',
      'timing_override',
      '--gates',
      'G4',
      '--reason',
      'the checkout hotfix cannot wait for the close',
      '--risk',
      'a production change during the close; finance informed',
      '--expires-in',
      '1h',
    ],
    (j) =>
      `timing_override ${j.exception.id} requested by ${j.exception.requestedBy}, expires ${j.exception.expiresAt}`,
  );
  await d.must(
    'rm2',
    [
      'exception',
      'approve',
      requested.exception.id,
      '--rationale',
      'the outage costs more than the close risk',
    ],
    (j) => `approved by ${j.exception.approverId} (requested by ${j.exception.requestedBy})`,
  );
  const lifted = await eligibility(s);
  v.check(
    lifted.production.eligible,
    'with the override in force the release may go to production (the freeze holds for every other release)',
  );

  heading('Step 11. Promote to production');
  await deploy(
    s,
    'production',
    HOTFIX_REF,
    (j) => `deployment ${j.deployment.id} to production started (${j.deployment.status})`,
  );

  heading('Step 12. Sam (SRE) confirms production is healthy');
  await healthy(s, 'production', `https://grafana.example/d/${PROJECT}?env=production`);
  const final = await eligibility(s);
  v.check(final.status === 'promoted', `the release is ${final.status}`);
  await d.must(
    'rm',
    ['freeze', 'end', freeze.window.id, '--reason', 'the books are closed'],
    (j) => `freeze "${j.window.name}" ended at ${j.window.endedAt} by ${j.window.endedBy}`,
  );
}

// ---- The decision chain ------------------------------------------------------------------------

interface TimelineEntry {
  seq: number;
  at: string;
  kind: string;
  actor: string | null;
  persona: string | null;
  gateCode: string | null;
  summary: string;
}

/** Every step of the dry run, in order, as releaseTimeline must show it; `who: null` is the clock. */
const CHAIN: { what: string; kind: string; who: Who | null; match: RegExp; gate?: string }[] = [
  { what: 'release created', kind: 'release_created', who: 'developer', match: /created/ },
  { what: 'G1 build check reported', kind: 'check', who: 'ci', match: /"build" reported pass/, gate: 'G1' },
  { what: 'G1 passed', kind: 'gate_transition', who: 'ci', match: /-> passed/, gate: 'G1' },
  { what: 'G2 test results attached', kind: 'evidence', who: 'qa', match: /test_result/, gate: 'G2' },
  { what: 'G2 approved', kind: 'approval', who: 'qa', match: /approved G2/, gate: 'G2' },
  { what: 'G2 passed', kind: 'gate_transition', who: 'qa', match: /-> passed/, gate: 'G2' },
  {
    what: 'G3 bypass exception requested',
    kind: 'exception_requested',
    who: 'developer',
    match: /requested/,
  },
  {
    what: 'G3 bypass exception approved',
    kind: 'exception_approval',
    who: 'rm',
    match: /approved exception/,
  },
  { what: 'G3 bypass exception expired', kind: 'exception_expired', who: null, match: /expired/ },
  { what: 'G3 rollback plan attached', kind: 'evidence', who: 'rm', match: /rollback_plan/, gate: 'G3' },
  { what: 'G3 approved', kind: 'approval', who: 'rm', match: /approved G3/, gate: 'G3' },
  { what: 'G3 passed', kind: 'gate_transition', who: 'rm', match: /-> passed/, gate: 'G3' },
  { what: 'deployed to staging', kind: 'deployment', who: 'rm', match: /to staging/ },
  {
    what: 'staging deployment succeeded',
    kind: 'deployment_transition',
    who: 'ci',
    match: /staging deployment .*-> succeeded/,
  },
  { what: 'staging health check', kind: 'health_check', who: 'sre', match: /staging deployment/ },
  {
    what: 'G4 passed on staging',
    kind: 'gate_transition',
    who: 'sre',
    match: /-> passed: staging/,
    gate: 'G4',
  },
  {
    what: 'revised to the hotfix',
    kind: 'revision',
    who: 'developer',
    match: /revision 2: refs\/tags\/v2026\.11\.1 \(was refs\/tags\/v2026\.11\.0\)/,
  },
  { what: 'G2 approved again', kind: 'approval', who: 'qa', match: /approved G2/, gate: 'G2' },
  { what: 'G3 approved again', kind: 'approval', who: 'rm', match: /approved G3/, gate: 'G3' },
  {
    what: 'hotfix deployed to staging',
    kind: 'deployment',
    who: 'rm',
    match: /to staging: .* from refs\/tags\/v2026\.11\.1/,
  },
  {
    what: 'G4 passed on staging again',
    kind: 'gate_transition',
    who: 'sre',
    match: /-> passed: staging/,
    gate: 'G4',
  },
  { what: 'production frozen', kind: 'freeze_started', who: 'rm', match: /freeze "quarter-end close"/ },
  {
    what: 'timing_override requested',
    kind: 'exception_requested',
    who: 'rm',
    match: /^timing_override exception/,
  },
  { what: 'timing_override approved', kind: 'exception_approval', who: 'rm2', match: /approved exception/ },
  { what: 'freeze lifted by the override', kind: 'override_used', who: 'rm', match: /lifted freeze/ },
  { what: 'deployed to production', kind: 'deployment', who: 'rm', match: /to production/ },
  {
    what: 'production deployment succeeded',
    kind: 'deployment_transition',
    who: 'ci',
    match: /production deployment .*-> succeeded/,
  },
  { what: 'production health check', kind: 'health_check', who: 'sre', match: /production deployment/ },
];

async function auditChain(s: Story): Promise<void> {
  const { d, v, release } = s;
  heading('Step 13. Ada (auditor) rebuilds the decision chain from the control plane alone');
  const t = await d.run('auditor', ['timeline', release]);
  if (t.code !== 0) throw new StepFailed(`timeline failed: ${t.stderr}`);
  const entries = t.json.entries as TimelineEntry[];
  say(`  ${entries.length} facts in releaseTimeline; every step of this dry run must be among them:`);
  let last = 0;
  for (const e of CHAIN) {
    const matches = (x: TimelineEntry) =>
      x.kind === e.kind &&
      (e.who === null || x.actor === PEOPLE[e.who].sub) &&
      (!e.gate || x.gateCode === e.gate) &&
      e.match.test(x.summary);
    // The first match after the previous step (a step taken again after the revision is found
    // again), else any, to say it is out of order.
    const found = entries.find((x) => x.seq > last && matches(x)) ?? entries.find(matches);
    const who = found ? (found.actor ? `${found.actor} (${found.persona})` : 'the clock') : '';
    const inOrder = Boolean(found) && found!.seq > last;
    if (found) last = Math.max(last, found.seq);
    v.check(
      Boolean(found) && inOrder,
      found
        ? `#${String(found.seq).padEnd(3)} ${e.what.padEnd(32)} by ${who}, ${found.at.replace('T', ' ').slice(0, 19)} UTC`
        : `${e.what}: not found in the timeline`,
    );
  }
  await d.must(
    'auditor',
    ['bundle', release, '-o', path.join(s.work, 'evidence-bundle.json')],
    (j) => `evidence bundle archived (${j.bytes} bytes, sha256 ${j.sha256})`,
  );
}

// ---- The story -----------------------------------------------------------------------------------

async function dryRun(server: Target, work: string, v: Verdicts): Promise<void> {
  const d = new Driver<Who>(server, PEOPLE, v);
  await d.mintTokens();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const releaseName = `2026.11-dry-${stamp}-${randomBytes(2).toString('hex')}`;
  const release = `${PROJECT}/${releaseName}`;
  const runId = String(Date.now()).slice(-9);

  say(bold('Release dry run: one release from creation to production through the control plane'));
  say();
  say(`  Control plane  ${server.description}`);
  say(`  Release        ${release}`);
  say('  People         every step is run by the person who owns it, with their own token:');
  for (const p of Object.values(PEOPLE))
    say(`                 ${p.name.padEnd(34)} ${grey(`${p.sub} (${p.persona})`)}`);
  say('  After each step the control plane is asked whether the release may go to staging and production.');

  heading('Step 1. Dana (developer) creates the release');
  const created = await d.must(
    'developer',
    ['release', 'create', '--project', PROJECT, '--name', releaseName, '--source-ref', FIRST_REF],
    (j) =>
      `release ${release} created (${j.release.status}), initiated by ${j.release.initiatingActor}; its gates G1-G4 start pending`,
  );
  const s: Story = {
    d,
    v,
    release,
    releaseName,
    releaseId: created.release.id,
    runId,
    runUrl: `https://github.com/acme/${PROJECT}/actions/runs/${runId}`,
    junit: path.join(work, 'junit.xml'),
    rollback: path.join(work, 'rollback-plan.md'),
    work,
  };
  await eligibility(s);

  await buildAndValidate(s);
  await refusals(s);
  await approveAndStage(s);
  await reviseAfterApproval(s);
  await toProduction(s);
  await auditChain(s);
}

process.exitCode = await runDryRun('Dry run', dryRun, [
  'One release went from creation to production (revised once on the way) with every gate, approval,',
  'exception, freeze and deployment recorded by the person who did it, and the chain rebuilt from the control plane alone.',
]);
