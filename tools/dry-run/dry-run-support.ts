// What a dry run needs around its story: a control plane to drive (the one at OPS_API_URL, or
// one started on a throwaway embedded PostgreSQL under .data/ and removed afterwards), people with
// their own tokens, `ops-gates` run as a child process by each of them, the commands they type
// most, the release's eligibility after a step, readable output, and the run itself (a scratch
// folder, cleanup on exit or interruption, the closing verdict and exit code).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { resolveDataRoot } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort, runProcess } from '../../src/process.js';

const BIN = path.join(projectRoot, 'bin/ops-gates.mjs');

// ---- Output ------------------------------------------------------------------------------------

const colour = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (colour ? `\u001b[${code}m${text}\u001b[0m` : text);
export const bold = paint(1);
export const grey = paint(90);
export const OK = paint(32)('✓');
export const NO = paint(31)('✗');
export const say = (line = '') => process.stdout.write(`${line}\n`);
export const heading = (text: string) => {
  say();
  say(bold(`── ${text} ${'─'.repeat(Math.max(3, 78 - text.length))}`));
};

export class StepFailed extends Error {}

/** Counts what did not hold; the dry run exits 1 when any did not. */
export class Verdicts {
  failures = 0;
  check(ok: boolean, text: string): boolean {
    say(`  ${ok ? OK : NO} ${text}`);
    if (!ok) this.failures++;
    return ok;
  }
}

// ---- The server ----------------------------------------------------------------------------------

export interface Target {
  url: string;
  /** How tokens are signed: this secret, or (undefined) the CLI's own rules. */
  secret?: string;
  description: string;
  stop(): Promise<void>;
}

/** Only what the server needs: nothing of the caller's database or API settings leaks in. */
export function baseEnv(): NodeJS.ProcessEnv {
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

/** The server at OPS_API_URL, else one started for the dry run. */
export async function target(): Promise<Target> {
  const given = process.env.OPS_API_URL;
  return given
    ? { url: given.replace(/\/+$/, ''), description: `${given} (OPS_API_URL)`, stop: async () => {} }
    : startServer();
}

// ---- Running ops-gates as a person --------------------------------------------------------------

export interface Person {
  persona: string;
  sub: string;
  name: string;
}

/** The people of the dry runs, one per role they play; each dry run picks the ones it needs. */
export const CAST = {
  developer: { persona: 'developer', sub: 'dana.dev', name: 'Dana (developer)' },
  ci: { persona: 'ci_service_role', sub: 'github-actions', name: 'the CI pipeline (ci_service_role)' },
  qa: { persona: 'qa_tester', sub: 'quinn.qa', name: 'Quinn (QA tester)' },
  rm: { persona: 'release_manager', sub: 'rita.rm', name: 'Rita (release manager)' },
  rm2: { persona: 'release_manager', sub: 'raj.rm', name: 'Raj (release manager)' },
  sre: { persona: 'sre', sub: 'sam.sre', name: 'Sam (SRE)' },
  auditor: { persona: 'audit_reader', sub: 'ada.audit', name: 'Ada (auditor)' },
} as const satisfies Record<string, Person>;

// biome-ignore lint/suspicious/noExplicitAny: the CLI's --json output, read field by field
export type Json = any;

export interface Run {
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

export class Driver<Who extends string> {
  private readonly tokens = new Map<Who, string>();
  constructor(
    private readonly server: Target,
    private readonly people: Record<Who, Person>,
    private readonly verdicts: Verdicts,
  ) {}

  async mintTokens(): Promise<void> {
    const env: NodeJS.ProcessEnv = {
      ...baseEnv(),
      ...(this.server.secret ? { SUPABASE_JWT_SECRET: this.server.secret } : {}),
    };
    for (const k of ['SUPABASE_JWT_SECRET', 'OPS_JWT_ISSUER', 'OPS_JWT_AUDIENCE'] as const) {
      if (!this.server.secret && process.env[k]) env[k] = process.env[k];
    }
    await Promise.all(
      (Object.keys(this.people) as Who[]).map(async (who) => {
        const p = this.people[who];
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
      say(grey(`      as ${this.people[who].sub} (${this.people[who].persona})`));
    }
    return spawnCli(args, {
      ...baseEnv(),
      OPS_API_URL: this.server.url,
      OPS_TOKEN: this.tokens.get(who),
      NO_COLOR: '1',
    });
  }

  /** A step that must succeed: ✓ with what happened, or ✗ with the CLI's own words, and stop. */
  async must(who: Who, args: string[], describe: (json: Json) => string): Promise<Json> {
    const r = await this.run(who, args);
    if (r.code !== 0) {
      this.verdicts.check(false, `failed (exit ${r.code}): ${(r.json?.error?.message ?? r.stderr).trim()}`);
      throw new StepFailed(`${args.slice(0, 2).join(' ')} failed`);
    }
    this.verdicts.check(true, describe(r.json));
    return r.json;
  }
}

// ---- The commands people type most --------------------------------------------------------------

/** `ops-gates signoff`: `gate` approved, with the approver's rationale. */
export const approval = (release: string, gate: string, rationale: string) => [
  'signoff',
  '--release',
  release,
  '--gate',
  gate,
  '--decision',
  'approved',
  '--rationale',
  rationale,
];

/** `ops-gates evidence add`: `file` attached to `gate` as `type`, where it is kept if said. */
export const evidence = (file: string, release: string, type: string, gate: string, artifactUrl?: string) => [
  'evidence',
  'add',
  file,
  '--release',
  release,
  '--type',
  type,
  '--gate',
  gate,
  ...(artifactUrl ? ['--artifact-url', artifactUrl] : []),
];

/** `ops-gates deploy update`: the pipeline reports that `deployment` succeeded. */
export const deploymentSucceeded = (release: string, deployment: string) => [
  'deploy',
  'update',
  '--release',
  release,
  '--deployment',
  deployment,
  '--status',
  'succeeded',
];

// ---- Eligibility after a step -------------------------------------------------------------------

export interface Blocker {
  gateCode: string;
  reason: string;
}

export interface Eligibility {
  status: string;
  gates: { gateCode: string; status: string }[];
  staging: { eligible: boolean; blockers: Blocker[] };
  production: { eligible: boolean; blockers: Blocker[] };
}

/**
 * Whether the release may go to staging and to production now, read by `reader`. `gatesBlocking`
 * names the gates after "not yet"; `reasonsFor` lists that environment's blockers with their reasons.
 */
export async function showEligibility<Who extends string>(
  d: Driver<Who>,
  reader: Who,
  release: string,
  options: { gatesBlocking?: boolean; reasonsFor?: 'staging' | 'production' } = {},
): Promise<Eligibility> {
  const r = await d.run(reader, ['status', release], { quiet: true });
  if (r.code !== 0) throw new StepFailed(`could not read the release's status: ${r.stderr}`);
  const rel = r.json.release as Eligibility;
  const one = (env: 'staging' | 'production') => {
    if (rel[env].eligible) return `${env} ${OK} yes`;
    if (!options.gatesBlocking) return `${env} ${NO} not yet`;
    const gates = [...new Set(rel[env].blockers.map((b) => b.gateCode))];
    return `${env} ${NO} not yet (${gates.join(', ')})`;
  };
  say(`  ${bold('May it be promoted now?')}  ${one('staging')}   ${one('production')}`);
  say(grey(`  gates: ${rel.gates.map((g) => `${g.gateCode} ${g.status}`).join(' · ')}`));
  if (options.reasonsFor) {
    for (const b of rel[options.reasonsFor].blockers)
      say(grey(`    blocks ${options.reasonsFor}: ${b.reason}`));
  }
  return rel;
}

// ---- The run -------------------------------------------------------------------------------------

/**
 * Runs `story` against a control plane (see target) with a scratch folder under .data/, and
 * returns the exit code: 0 when every check held, 1 when one did not or a step stopped the run.
 * What the story starts it hands to `defer`; that, the control plane and the folder are cleaned
 * up at the end, on a stopped step, and on SIGINT or SIGTERM (exit 128 + the signal's number).
 * `name` opens the closing lines ("Dry run", "Odoo dry run"); `passed` is what a pass proved.
 */
export async function runDryRun(
  name: string,
  story: (
    server: Target,
    work: string,
    verdicts: Verdicts,
    defer: (cleanup: () => Promise<void>) => void,
  ) => Promise<void>,
  passed: string[],
): Promise<number> {
  mkdirSync(path.join(projectRoot, '.data'), { recursive: true });
  const work = mkdtempSync(path.join(projectRoot, '.data', 'dry-run-files-'));
  const verdicts = new Verdicts();
  const cleanups: (() => Promise<void>)[] = [];
  let stopping = false;
  const cleanup = async () => {
    // What was started last stops first, the control plane last of all; each stops only once.
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
    rmSync(work, { recursive: true, force: true });
  };
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      say(`\n${NO} interrupted; cleaning up`);
      void cleanup().then(() => process.exit(code));
    });
  }
  try {
    const server = await target();
    cleanups.push(() => server.stop());
    await story(server, work, verdicts, (c) => cleanups.push(c));
  } catch (err) {
    if (!(err instanceof StepFailed)) throw err;
    say();
    say(`${NO} ${bold(`${name} stopped:`)} ${err.message}`);
    await cleanup();
    return 1;
  }
  await cleanup();
  say();
  const failures = verdicts.failures;
  if (failures === 0) {
    say(`${OK} ${bold(`${name} passed.`)} ${passed[0]}`);
    for (const line of passed.slice(1)) say(`  ${line}`);
    return 0;
  }
  say(`${NO} ${bold(`${name} failed: ${failures} check${failures === 1 ? '' : 's'} did not hold.`)}`);
  return 1;
}
