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
// under .data/, on free ports, and removes it afterwards.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveDataRoot } from '../db/embedded.js';
import { projectRoot } from '../db/migrate.js';
import { freePort, runProcess } from '../process.js';

const BIN = path.join(projectRoot, 'bin/ops-gates.mjs');
const PROJECT = 'odoo-dryrun';
/** The revision the release is created for, and the hotfix commit it is revised to. */
const FIRST_REF = 'refs/tags/v2026.11.0';
const HOTFIX_REF = 'refs/tags/v2026.11.1';

// ---- Output ------------------------------------------------------------------------------------

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
const bold = paint(1);
const grey = paint(90);
const OK = paint(32)('✓');
const NO = paint(31)('✗');
const say = (line = '') => process.stdout.write(`${line}\n`);
const heading = (text: string) => {
  say();
  say(bold(`── ${text} ${'─'.repeat(Math.max(3, 78 - text.length))}`));
};

let failures = 0;
function verdict(ok: boolean, text: string): boolean {
  say(`  ${ok ? OK : NO} ${text}`);
  if (!ok) failures++;
  return ok;
}

class StepFailed extends Error {}

// ---- The people --------------------------------------------------------------------------------

const PEOPLE = {
  developer: { persona: 'developer', sub: 'dana.dev', name: 'Dana (developer)' },
  ci: { persona: 'ci_service_role', sub: 'github-actions', name: 'the CI pipeline (ci_service_role)' },
  qa: { persona: 'qa_tester', sub: 'quinn.qa', name: 'Quinn (QA tester)' },
  rm: { persona: 'release_manager', sub: 'rita.rm', name: 'Rita (release manager)' },
  sre: { persona: 'sre', sub: 'sam.sre', name: 'Sam (SRE)' },
  auditor: { persona: 'audit_reader', sub: 'ada.audit', name: 'Ada (auditor)' },
} as const;
type Who = keyof typeof PEOPLE;

// ---- The server ----------------------------------------------------------------------------------

interface Target {
  url: string;
  /** How tokens are signed: this secret, or (undefined) the CLI's own rules. */
  secret?: string;
  description: string;
  stop(): Promise<void>;
}

/** Only what the server needs: nothing of the caller's database or API settings leaks in. */
function baseEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'TZ', 'SystemRoot']) {
    if (process.env[name]) env[name] = process.env[name];
  }
  return env;
}

async function startServer(): Promise<Target> {
  const parent = path.join(projectRoot, '.data');
  mkdirSync(parent, { recursive: true });
  const dataDir = mkdtempSync(path.join(parent, 'dry-run-'));
  // As root the cluster runs as the postgres OS user, which must reach this folder.
  chmodSync(dataDir, 0o755);
  const [port, pgPort] = [await freePort(), await freePort()];
  const secret = randomBytes(32).toString('base64url');
  let log = '';
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env: {
      ...baseEnv(),
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      OPS_DATA_DIR: dataDir,
      OPS_EMBEDDED_PG_PORT: String(pgPort),
      SUPABASE_JWT_SECRET: secret,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => {
    log += d;
  });
  child.stderr?.on('data', (d) => {
    log += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    }
    const actual = resolveDataRoot(dataDir);
    rmSync(dataDir, { recursive: true, force: true });
    if (actual !== dataDir) rmSync(actual, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new StepFailed(`the control plane did not start:\n${log}`);
    }
    try {
      if ((await fetch(`${url}/readiness`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new StepFailed(`the control plane was not ready within 180 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return {
    url,
    secret,
    description: `${url} (started for this dry run on a throwaway database, removed afterwards)`,
    stop,
  };
}

// ---- Running ops-gates as a person --------------------------------------------------------------

// biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, read field by field below
type Json = any;

interface Run {
  code: number;
  json: Json;
  stdout: string;
  stderr: string;
}

async function spawnCli(args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const r = await runProcess(process.execPath, [BIN, ...args, '--json'], { cwd: projectRoot, env });
  let json: unknown;
  try {
    json = JSON.parse(r.stdout);
  } catch {
    json = undefined;
  }
  return { ...r, json: json as Json };
}

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`);

class Driver {
  readonly tokens = new Map<Who, string>();
  constructor(private readonly target: Target) {}

  async mintTokens(): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      ...baseEnv(),
      ...(this.target.secret ? { SUPABASE_JWT_SECRET: this.target.secret } : {}),
    };
    for (const k of ['SUPABASE_JWT_SECRET', 'OPS_JWT_ISSUER', 'OPS_JWT_AUDIENCE'] as const) {
      if (!this.target.secret && process.env[k]) env[k] = process.env[k];
    }
    await Promise.all(
      (Object.keys(PEOPLE) as Who[]).map(async (who) => {
        const p = PEOPLE[who];
        const r = await spawnCli(
          ['token', 'mint', '--persona', p.persona, '--sub', p.sub, '--ttl', '7200'],
          env,
        );
        if (r.code !== 0) throw new StepFailed(`could not mint a token for ${p.name}:\n${r.stderr}`);
        this.tokens.set(who, r.json.token);
      }),
    );
  }

  /** ops-gates as `who`; shows the command line unless quiet. */
  async run(who: Who, args: string[], options: { quiet?: boolean } = {}): Promise<Run> {
    if (!options.quiet) {
      say(grey(`  $ ops-gates ${args.map(shellQuote).join(' ')}`));
      say(grey(`      as ${PEOPLE[who].sub} (${PEOPLE[who].persona})`));
    }
    return spawnCli(args, {
      ...baseEnv(),
      OPS_API_URL: this.target.url,
      OPS_TOKEN: this.tokens.get(who),
      NO_COLOR: '1',
    });
  }

  /** A step that must succeed: ✓ with what happened, or ✗ with the CLI's own words, and stop. */
  async must(who: Who, args: string[], describe: (json: Json) => string): Promise<Json> {
    const r = await this.run(who, args);
    if (r.code !== 0) {
      verdict(false, `failed (exit ${r.code}): ${(r.json?.error?.message ?? r.stderr).trim()}`);
      throw new StepFailed(`${args.slice(0, 2).join(' ')} failed`);
    }
    verdict(true, describe(r.json));
    return r.json;
  }
}

// ---- Eligibility after each step -------------------------------------------------------------------

interface Blocker {
  gateCode: string;
  reason: string;
}

async function showEligibility(d: Driver, release: string, options: { reasons?: boolean } = {}) {
  const r = await d.run('auditor', ['status', release], { quiet: true });
  if (r.code !== 0) throw new StepFailed(`could not read the release's status: ${r.stderr}`);
  const rel = r.json.release;
  const one = (env: 'staging' | 'production') => {
    const e = rel[env] as { eligible: boolean; blockers: Blocker[] };
    if (e.eligible) return `${env} ${OK} yes`;
    const gates = [...new Set(e.blockers.map((b) => b.gateCode))];
    return `${env} ${NO} not yet (${gates.join(', ')})`;
  };
  const gates = (rel.gates as { gateCode: string; status: string }[])
    .map((g) => `${g.gateCode} ${g.status}`)
    .join(' · ');
  say(`  ${bold('May it be promoted now?')}  ${one('staging')}   ${one('production')}`);
  say(grey(`  gates: ${gates}`));
  if (options.reasons) {
    for (const b of rel.production.blockers as Blocker[]) say(grey(`    blocks production: ${b.reason}`));
  }
  return rel as {
    status: string;
    staging: { eligible: boolean; blockers: Blocker[] };
    production: { eligible: boolean; blockers: Blocker[] };
  };
}

// ---- The dry run ---------------------------------------------------------------------------------

interface TimelineEntry {
  seq: number;
  at: string;
  kind: string;
  actor: string | null;
  persona: string | null;
  gateCode: string | null;
  summary: string;
}

async function dryRun(target: Target, work: string): Promise<void> {
  const d = new Driver(target);
  await d.mintTokens();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const releaseName = `2026.11-dry-${stamp}-${randomBytes(2).toString('hex')}`;
  const release = `${PROJECT}/${releaseName}`;
  const runId = String(Date.now()).slice(-9);
  const runUrl = `https://github.com/acme/${PROJECT}/actions/runs/${runId}`;

  say(bold('Release dry run: one release from creation to production through the control plane'));
  say();
  say(`  Control plane  ${target.description}`);
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
  const releaseId: string = created.release.id;
  await showEligibility(d, release);

  heading('Step 2. G1 Build Integrity: the CI pipeline reports the build');
  const buildArgs = [
    'build-complete',
    '--release',
    release,
    '--status',
    'pass',
    '--source',
    'github_actions',
    '--artifact-ref',
    runUrl,
    '--idempotency-key',
    `github_actions/${runId}/build_complete`,
    '--emitted-at',
    new Date().toISOString(),
  ];
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
  await showEligibility(d, release);

  heading('Step 3. G2 Validation Readiness: Quinn (QA) attaches the test results and signs off');
  const junit = path.join(work, 'junit.xml');
  writeFileSync(junit, '<testsuite name="odoo-regression" tests="812" failures="0" errors="0"/>\n');
  await d.must(
    'qa',
    [
      'evidence',
      'add',
      junit,
      '--release',
      release,
      '--type',
      'test_result',
      '--gate',
      'G2',
      '--artifact-url',
      `${runUrl}/artifacts/junit.xml`,
    ],
    (j) => `test_result attached to G2 (sha256 of the file recorded, artifact ${j.detail.artifact_id})`,
  );
  await d.must(
    'qa',
    [
      'signoff',
      '--release',
      release,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      '812 regression tests green; UAT checklist signed',
    ],
    (j) => `G2 approved by ${PEOPLE.qa.sub}; G2 is ${j.detail.gate_status}`,
  );
  const afterG2 = await showEligibility(d, release);
  verdict(afterG2.staging.eligible, 'the release may now go to staging, not yet to production');

  heading('Refusal 1. Rita (release manager) tries to promote to production before G3');
  const early = await d.run('rm', ['promote', release, '--env', 'production']);
  if (early.code === 1 && early.json?.error?.code === 'not_eligible') {
    verdict(true, 'promotion to production refused, as it must be; the control plane says why:');
    for (const b of early.json.error.blockers as Blocker[]) say(`      - ${b.reason}`);
  } else {
    verdict(
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
  const during = await showEligibility(d, release);
  verdict(
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
  verdict(
    expired.code === 1 && expired.json?.eligible === false && Boolean(expiredBlocker),
    `eligible for production: false; the control plane names the expired exception:\n      - ${expiredBlocker?.reason ?? '(missing)'}`,
  );
  say('  Rita records the post-review of the exception (no chat thread: it is on the record):');
  await d.must(
    'rm',
    ['exception', 'review', exceptionId, '--status', 'complete'],
    (j) => `post-review ${j.exception.postReviewStatus}`,
  );

  heading('Step 4. G3 Promotion Readiness: Rita (release manager, not the initiator) approves');
  const rollback = path.join(work, 'rollback-plan.md');
  writeFileSync(
    rollback,
    '# Rollback\n1. Redeploy the previous image.\n2. Restore the pre-release snapshot.\n',
  );
  await d.must(
    'rm',
    [
      'evidence',
      'add',
      rollback,
      '--release',
      release,
      '--type',
      'rollback_plan',
      '--gate',
      'G3',
      '--artifact-url',
      `https://wiki.example/${PROJECT}/${releaseName}/rollback`,
    ],
    () => 'rollback plan attached to G3',
  );
  await d.must(
    'rm',
    [
      'signoff',
      '--release',
      release,
      '--gate',
      'G3',
      '--decision',
      'approved',
      '--rationale',
      'rollback plan reviewed; QA evidence complete',
    ],
    (j) => `G3 approved by ${PEOPLE.rm.sub}; G3 is ${j.detail.gate_status}`,
  );
  await showEligibility(d, release, { reasons: true });

  heading('Step 5. Promote to staging');
  const staging = await d.must(
    'rm',
    ['promote', release, '--env', 'staging', '--source-ref', FIRST_REF],
    (j) => `deployment ${j.deployment.id} to staging started (${j.deployment.status})`,
  );
  const stagingId: string = staging.deployment.id;
  await d.must(
    'ci',
    ['deploy', 'update', '--release', release, '--deployment', stagingId, '--status', 'succeeded'],
    () => 'the pipeline reports the staging deployment succeeded',
  );
  await showEligibility(d, release, { reasons: true });

  heading('Step 6. G4 Post-Deploy Operational Confirmation: Sam (SRE) confirms staging is healthy');
  say(grey('  (An SRE may not read releases, so SRE tooling names the release by its UUID.)'));
  await d.must(
    'sre',
    [
      'health-check',
      '--release',
      releaseId,
      '--env',
      'staging',
      '--status',
      'pass',
      '--artifact-url',
      `https://grafana.example/d/${PROJECT}?env=staging`,
    ],
    (j) => `staging health check pass; its G4 is ${j.detail.g4_status}`,
  );
  const afterG4 = await showEligibility(d, release);
  verdict(afterG4.production.eligible, 'the release may now go to production');

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
  const revised = await showEligibility(d, release, { reasons: true });
  const staleG2 = revised.production.blockers.find((b) =>
    b.reason.startsWith(`G2: the qa_tester approval by ${PEOPLE.qa.sub} is stale`),
  );
  verdict(
    !revised.production.eligible && !revised.staging.eligible && Boolean(staleG2),
    `its approvals went stale; the control plane says which and why:\n      - ${staleG2?.reason ?? '(missing)'}`,
  );
  const refused = await d.run('rm', ['promote', release, '--env', 'production', '--source-ref', FIRST_REF]);
  verdict(
    refused.code === 1,
    "promoting the approved revision instead is refused: a deployment carries the release's current revision",
  );

  heading('Step 8. The new revision earns its gates again');
  await d.must(
    'ci',
    [
      'build-complete',
      '--release',
      release,
      '--status',
      'pass',
      '--source',
      'github_actions',
      '--artifact-ref',
      `${runUrl}-hotfix`,
      '--idempotency-key',
      `github_actions/${runId}-hotfix/build_complete`,
    ],
    (j) => `build_complete ${j.status} for ${HOTFIX_REF}: G1 is ${j.detail.gate_status}`,
  );
  await d.must(
    'qa',
    [
      'evidence',
      'add',
      junit,
      '--release',
      release,
      '--type',
      'test_result',
      '--gate',
      'G2',
      '--artifact-url',
      `${runUrl}-hotfix/artifacts/junit.xml`,
    ],
    () => `test_result for ${HOTFIX_REF} attached to G2`,
  );
  await d.must(
    'qa',
    [
      'signoff',
      '--release',
      release,
      '--gate',
      'G2',
      '--decision',
      'approved',
      '--rationale',
      'hotfix retested',
    ],
    (j) => `G2 approved again by ${PEOPLE.qa.sub}; G2 is ${j.detail.gate_status}`,
  );
  await d.must(
    'rm',
    [
      'evidence',
      'add',
      rollback,
      '--release',
      release,
      '--type',
      'rollback_plan',
      '--gate',
      'G3',
      '--artifact-url',
      `https://wiki.example/${PROJECT}/${releaseName}/rollback-hotfix`,
    ],
    () => 'rollback plan confirmed for the hotfix',
  );
  await d.must(
    'rm',
    [
      'signoff',
      '--release',
      release,
      '--gate',
      'G3',
      '--decision',
      'approved',
      '--rationale',
      'hotfix reviewed',
    ],
    (j) => `G3 approved again by ${PEOPLE.rm.sub}; G3 is ${j.detail.gate_status}`,
  );
  const restaging = await d.must(
    'rm',
    ['promote', release, '--env', 'staging', '--source-ref', HOTFIX_REF],
    (j) => `deployment ${j.deployment.id} of ${HOTFIX_REF} to staging started`,
  );
  await d.must(
    'ci',
    [
      'deploy',
      'update',
      '--release',
      release,
      '--deployment',
      restaging.deployment.id,
      '--status',
      'succeeded',
    ],
    () => 'the pipeline reports the staging deployment succeeded',
  );
  await d.must(
    'sre',
    [
      'health-check',
      '--release',
      releaseId,
      '--env',
      'staging',
      '--status',
      'pass',
      '--artifact-url',
      `https://grafana.example/d/${PROJECT}?env=staging&rev=2`,
    ],
    (j) => `staging health check pass; its G4 is ${j.detail.g4_status}`,
  );
  const reapproved = await showEligibility(d, release);
  verdict(reapproved.production.eligible, 'the hotfix revision may now go to production');

  heading('Step 9. Promote to production');
  const production = await d.must(
    'rm',
    ['promote', release, '--env', 'production', '--source-ref', HOTFIX_REF],
    (j) => `deployment ${j.deployment.id} to production started (${j.deployment.status})`,
  );
  const productionId: string = production.deployment.id;
  await d.must(
    'ci',
    ['deploy', 'update', '--release', release, '--deployment', productionId, '--status', 'succeeded'],
    () => 'the pipeline reports the production deployment succeeded',
  );

  heading('Step 10. Sam (SRE) confirms production is healthy');
  await d.must(
    'sre',
    [
      'health-check',
      '--release',
      releaseId,
      '--env',
      'production',
      '--status',
      'pass',
      '--artifact-url',
      `https://grafana.example/d/${PROJECT}?env=production`,
    ],
    (j) => `production health check pass; its G4 is ${j.detail.g4_status}`,
  );
  const final = await showEligibility(d, release);
  verdict(final.status === 'promoted', `the release is ${final.status}`);

  heading('Step 11. Ada (auditor) rebuilds the decision chain from the control plane alone');
  const t = await d.run('auditor', ['timeline', release]);
  if (t.code !== 0) throw new StepFailed(`timeline failed: ${t.stderr}`);
  const entries = t.json.entries as TimelineEntry[];
  say(`  ${entries.length} facts in releaseTimeline; every step of this dry run must be among them:`);
  const expected: { what: string; kind: string; who: Who | null; match: RegExp; gate?: string }[] = [
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
    { what: 'deployed to production', kind: 'deployment', who: 'rm', match: /to production/ },
    {
      what: 'production deployment succeeded',
      kind: 'deployment_transition',
      who: 'ci',
      match: /production deployment .*-> succeeded/,
    },
    { what: 'production health check', kind: 'health_check', who: 'sre', match: /production deployment/ },
  ];
  let last = 0;
  for (const e of expected) {
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
    verdict(
      Boolean(found) && inOrder,
      found
        ? `#${String(found.seq).padEnd(3)} ${e.what.padEnd(32)} by ${who}, ${found.at.replace('T', ' ').slice(0, 19)} UTC`
        : `${e.what}: not found in the timeline`,
    );
  }
  const bundleFile = path.join(work, 'evidence-bundle.json');
  await d.must(
    'auditor',
    ['bundle', release, '-o', bundleFile],
    (j) => `evidence bundle archived (${j.bytes} bytes, sha256 ${j.sha256})`,
  );
}

async function main(): Promise<number> {
  mkdirSync(path.join(projectRoot, '.data'), { recursive: true });
  const work = mkdtempSync(path.join(projectRoot, '.data', 'dry-run-files-'));
  let target: Target | undefined;
  let stopping = false;
  const cleanup = async () => {
    await target?.stop().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      say(`\n${NO} interrupted; cleaning up`);
      void cleanup().then(() => process.exit(130));
    });
  }
  try {
    const given = process.env.OPS_API_URL;
    target = given
      ? { url: given.replace(/\/+$/, ''), description: `${given} (OPS_API_URL)`, stop: async () => {} }
      : await startServer();
    await dryRun(target, work);
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    say();
    say(`${NO} ${bold('Dry run stopped:')} ${err.message}`);
    await cleanup();
    return 1;
  }
  await cleanup();
  say();
  if (failures === 0) {
    say(
      `${OK} ${bold('Dry run passed.')} One release went from creation to production (revised once on the way) with every gate, approval,`,
    );
    say(
      '  exception and deployment recorded by the person who did it, and the chain rebuilt from the control plane alone.',
    );
    return 0;
  }
  say(`${NO} ${bold(`Dry run failed: ${failures} check${failures === 1 ? '' : 's'} did not hold.`)}`);
  return 1;
}

process.exitCode = await main();
