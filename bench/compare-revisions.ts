// `npm run bench:compare -- --base <rev> [--short] [--rounds N] [--only ingest|reads]`: whether this
// checkout is slower than an earlier revision, measured in one run on one machine. It checks the
// base revision out into a git worktree in a temporary folder (dependencies by `npm ci`, or this
// checkout's node_modules when package-lock.json is identical), then runs both revisions'
// `bench:ingest` and `bench:reads` in interleaved rounds, the order flipping each round (base, head,
// head, base, base, head, ...) so that a machine whose load drifts during the run weighs on both
// sides alike. Per measure it prints each side's median over the rounds (with min-max), HEAD/base,
// which way is better, and "slower"/"faster" only when the two sides' ranges do not overlap.
//
// Measures come from what each revision prints: bench:ingest's `BENCH_RESULT {json}` line and
// bench:reads' p50/p99 table; a measure only one revision prints is listed apart. The tool never
// fails for slowness: it exits 1 only when a benchmark run fails (or cannot be set up), after
// removing the worktree and stopping every process it started (also on Ctrl-C / SIGTERM).
// Each run's output goes to stderr as it comes; the comparison goes to stdout, followed by a
// `COMPARE_RESULT {json}` line. 3 rounds by default (1 with --short, which passes --short on).
// DATABASE_URL and OPS_API_DATABASE_URL are not passed on: each run gets its own embedded PostgreSQL.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export type Better = 'higher' | 'lower' | 'neither';
export interface Figure {
  value: number;
  better: Better;
}
/** One run's figures by measure name. */
export type Figures = Map<string, Figure>;

/** The middle value (the mean of the two middle ones for an even count); NaN for none. */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const INGEST_PHASES: [key: string, label: string][] = [
  ['a', 'ingest (a) ops.ingest_event'],
  ['b', 'ingest (b) HTTP no-op route'],
  ['c', 'ingest (c) ingest route'],
];

/** The figures of bench:ingest's `BENCH_RESULT {json}` line; throws when the line is missing. */
export function parseIngest(output: string): Figures {
  const line = output.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
  if (!line) throw new Error('bench:ingest printed no BENCH_RESULT line');
  const r = JSON.parse(line.slice('BENCH_RESULT '.length)) as Record<string, unknown>;
  const figures: Figures = new Map();
  const put = (name: string, value: unknown, better: Better) => {
    if (typeof value === 'number' && Number.isFinite(value)) figures.set(name, { value, better });
  };
  const at = (...keys: string[]): unknown =>
    keys.reduce<unknown>(
      (o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined),
      r,
    );
  for (const [key, label] of [
    ...INGEST_PHASES,
    ['r', 'ingest (r) minimal RPC baseline'] as [string, string],
    ['k', 'ingest (k) minimal RPC with the rule and the ledger'] as [string, string],
  ]) {
    put(`${label}, ev/s`, at(key, 'rate'), 'higher');
    put(`${label}, p50 ms`, at(key, 'p50'), 'lower');
    put(`${label}, p99 ms`, at(key, 'p99'), 'lower');
  }
  put('ingest (d) ledger on, ev/s', at('d', 'with', 'rate'), 'higher');
  put('ingest (d) ledger off, ev/s', at('d', 'without', 'rate'), 'higher');
  put('ingest ratio c/a', at('ratios', 'ca'), 'higher');
  put('ingest ratio c/b', at('ratios', 'cb'), 'higher');
  put('ingest ratio a/r', at('ratios', 'ar'), 'higher');
  put('ingest ratio a/k', at('ratios', 'ak'), 'higher');
  put('ingest ratio ledger on/off', at('ratios', 'ledger'), 'higher');
  put('verify_ledger(release), ms', at('verifyMs', 'release'), 'lower');
  put('verify_ledger(release), entries', at('verifyMs', 'releaseEntries'), 'neither');
  put('verify_ledger(), ms', at('verifyMs', 'all'), 'lower');
  put('verify_ledger(), entries', at('verifyMs', 'allEntries'), 'neither');
  // The whole-ledger check grows with what the run wrote, which differs between revisions (a faster
  // revision writes more in the same seconds): per 1,000 entries compares the work, not the amount.
  const all = at('verifyMs', 'all');
  const entries = at('verifyMs', 'allEntries');
  if (typeof all === 'number' && typeof entries === 'number' && entries > 0)
    put('verify_ledger(), ms per 1,000 entries', (all / entries) * 1000, 'lower');
  return figures;
}

/**
 * The figures of bench:reads: each row of its table (`name  p50  p99  statements`, after the
 * `query ... p50 ms` header) and, when printed, its GraphQL/baseline ratios. Throws without a table.
 */
export function parseReads(output: string): Figures {
  const lines = output.split('\n');
  const header = lines.findIndex((l) => /^query\s+p50 ms\s+p99 ms/.test(l));
  if (header < 0) throw new Error('bench:reads printed no p50/p99 table');
  const figures: Figures = new Map();
  for (const line of lines.slice(header + 1)) {
    const row = /^(\S.*?)\s{2,}(\d+(?:\.\d+)?|NaN)\s+(\d+(?:\.\d+)?|NaN)\s+(\d+)(?:-(\d+))?\s*$/.exec(line);
    if (!row) break;
    const [, name, p50, p99, statements] = row;
    const label = `reads ${name!.trim()}`;
    if (p50 !== 'NaN') figures.set(`${label}, p50 ms`, { value: Number(p50), better: 'lower' });
    if (p99 !== 'NaN') figures.set(`${label}, p99 ms`, { value: Number(p99), better: 'lower' });
    figures.set(`${label}, statements`, { value: Number(statements), better: 'neither' });
  }
  if (figures.size === 0) throw new Error('bench:reads printed an empty p50/p99 table');
  const ratios =
    /GraphQL\/baseline \(throughput, from p50\): dashboard page ([\d.]+), one release ([\d.]+)/.exec(output);
  if (ratios) {
    figures.set('reads GraphQL/baseline, dashboard page', { value: Number(ratios[1]), better: 'higher' });
    figures.set('reads GraphQL/baseline, one release', { value: Number(ratios[2]), better: 'higher' });
  }
  return figures;
}

export interface Row {
  measure: string;
  better: Better;
  base: number[];
  head: number[];
  baseMedian: number;
  headMedian: number;
  /** HEAD median / base median. */
  ratio: number;
  /**
   * 'slower'/'faster' only when the sides' ranges do not overlap; otherwise 'within noise'; with a
   * single round on a side there is no range, so 'one round' (no verdict).
   */
  verdict: 'slower' | 'faster' | 'within noise' | 'one round' | 'differs' | 'same';
}

/** Per measure both revisions printed: medians, HEAD/base and a verdict; and what only one printed. */
export function compare(
  base: Figures[],
  head: Figures[],
): { rows: Row[]; baseOnly: string[]; headOnly: string[] } {
  const names = (runs: Figures[]) => [...new Set(runs.flatMap((f) => [...f.keys()]))];
  const values = (runs: Figures[], name: string) =>
    runs.map((f) => f.get(name)?.value).filter((v): v is number => v !== undefined);
  const baseNames = names(base);
  const headNames = new Set(names(head));
  const rows: Row[] = [];
  for (const measure of baseNames.filter((n) => headNames.has(n))) {
    const better = (base.find((f) => f.has(measure)) ?? head.find((f) => f.has(measure)))!.get(
      measure,
    )!.better;
    const b = values(base, measure);
    const h = values(head, measure);
    const baseMedian = median(b);
    const headMedian = median(h);
    const apart = Math.max(...h) < Math.min(...b) || Math.min(...h) > Math.max(...b);
    let verdict: Row['verdict'];
    if (better === 'neither') verdict = apart || baseMedian !== headMedian ? 'differs' : 'same';
    else if (b.length < 2 || h.length < 2) verdict = 'one round';
    else if (!apart) verdict = 'within noise';
    else verdict = headMedian > baseMedian === (better === 'higher') ? 'faster' : 'slower';
    rows.push({
      measure,
      better,
      base: b,
      head: h,
      baseMedian,
      headMedian,
      ratio: headMedian / baseMedian,
      verdict,
    });
  }
  return {
    rows,
    baseOnly: baseNames.filter((n) => !headNames.has(n)),
    headOnly: [...headNames].filter((n) => !baseNames.includes(n)),
  };
}

const fmt = (n: number) =>
  !Number.isFinite(n) ? 'n/a' : n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);

/** The comparison as a Markdown table (readable in a terminal and pasteable into docs). */
export function formatTable(rows: Row[]): string {
  const cells = rows.map((r) => [
    r.measure,
    r.better === 'neither' ? 'count' : `${r.better} is better`,
    `${fmt(r.baseMedian)} (${fmt(Math.min(...r.base))}–${fmt(Math.max(...r.base))})`,
    `${fmt(r.headMedian)} (${fmt(Math.min(...r.head))}–${fmt(Math.max(...r.head))})`,
    fmt(r.ratio),
    r.verdict,
  ]);
  const head = [
    'measure',
    'better',
    'base median (min–max)',
    'HEAD median (min–max)',
    'HEAD/base',
    'verdict',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((s, i) => s.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

// ---- running the two revisions ---------------------------------------------------------------

const BENCHES = { ingest: parseIngest, reads: parseReads } as const;
type Bench = keyof typeof BENCHES;

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const err = (line: string) => process.stderr.write(`${line}\n`);
const git = (...args: string[]) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();

let current: ChildProcess | undefined;
let interrupted: NodeJS.Signals | undefined;

/** Ends the running child's whole process group (npm, tsx, the benchmark, its server and PostgreSQL). */
async function stopCurrent(): Promise<void> {
  const child = current;
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const killer = setTimeout(() => signal('SIGKILL'), 20_000);
  await exited;
  clearTimeout(killer);
  // Stragglers of the group (PostgreSQL shutting down) get the same time, then SIGKILL.
  for (let waited = 0; waited < 20_000; waited += 250) {
    try {
      process.kill(-child.pid, 0);
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  signal('SIGKILL');
}

/** The benchmark data folders (and their fallback under the temporary folder) a tree's runs make. */
function benchDataDirs(tree: string): string[] {
  const data = path.join(tree, '.data');
  if (!existsSync(data)) return [];
  return readdirSync(data)
    .filter((n) => n.startsWith('bench-'))
    .map((n) => path.join(data, n));
}
function fallbackOf(dataDir: string): string {
  // The same key as src/db/embedded.ts resolveDataRoot, for a data folder PostgreSQL cannot reach.
  const key = createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `ops-release-gates-${key}`);
}

/** Runs `npm run bench:<bench>` in `tree` in a process group of its own; its stdout, or throws. */
async function runBench(tree: string, label: string, bench: Bench, short: boolean): Promise<string> {
  if (interrupted) throw new Error(`interrupted (${interrupted})`);
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.OPS_API_DATABASE_URL;
  delete env.BENCH_SHORT;
  const before = new Set(benchDataDirs(tree));
  const args = ['run', '--silent', `bench:${bench}`, ...(short ? ['--', '--short'] : [])];
  const child = spawn('npm', args, { cwd: tree, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  current = child;
  let out = '';
  const relay = (chunk: Buffer, keep: boolean) => {
    const text = chunk.toString('utf8');
    if (keep) out += text;
    for (const l of text.split('\n')) if (l) err(`[${label}] ${l}`);
  };
  child.stdout!.on('data', (c: Buffer) => relay(c, true));
  child.stderr!.on('data', (c: Buffer) => relay(c, false));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  current = undefined;
  if (code !== 0) {
    // A run that did not end by itself leaves its data folder behind: remove the ones it made.
    for (const dir of benchDataDirs(tree).filter((d) => !before.has(d))) {
      rmSync(dir, { recursive: true, force: true });
      rmSync(fallbackOf(dir), { recursive: true, force: true });
    }
    throw new Error(
      interrupted ? `interrupted (${interrupted})` : `${label}: npm run bench:${bench} exited with ${code}`,
    );
  }
  return out;
}

/** A worktree of `rev` in a temporary folder with its dependencies; remove() undoes everything. */
function checkoutBase(rev: string): { dir: string; remove: () => void } {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'ops-compare-'));
  const dir = path.join(tmp, 'base');
  const remove = () => {
    const modules = path.join(dir, 'node_modules');
    try {
      // A link to this checkout's node_modules goes first, so nothing below follows it.
      unlinkSync(modules);
    } catch {
      // a real folder or none
    }
    try {
      git('worktree', 'remove', '--force', dir);
    } catch {
      // not (or no longer) registered
    }
    rmSync(tmp, { recursive: true, force: true });
    git('worktree', 'prune');
  };
  try {
    git('worktree', 'add', '--detach', dir, rev);
    const lock = (d: string) => readFileSync(path.join(d, 'package-lock.json'), 'utf8');
    if (lock(dir) === lock(root) && existsSync(path.join(root, 'node_modules'))) {
      symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      err(`base ${rev}: package-lock.json identical, using this checkout's node_modules`);
    } else {
      err(`base ${rev}: npm ci`);
      execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: dir, stdio: ['ignore', 2, 2] });
    }
  } catch (e) {
    remove();
    throw e;
  }
  return { dir, remove };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      base: { type: 'string' },
      short: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      only: { type: 'string' },
    },
  });
  if (!values.base) {
    err('usage: npm run bench:compare -- --base <revision> [--short] [--rounds N] [--only ingest|reads]');
    return 2;
  }
  const short = values.short!;
  const rounds = Number(values.rounds ?? (short ? 1 : 3));
  if (!Number.isInteger(rounds) || rounds < 1) {
    err(`--rounds must be a whole number >= 1, not ${values.rounds}`);
    return 2;
  }
  const benches = (values.only ? values.only.split(',') : Object.keys(BENCHES)) as Bench[];
  const unknown = benches.filter((b) => !(b in BENCHES));
  if (unknown.length) {
    err(`--only takes ingest and/or reads, not ${unknown.join(', ')}`);
    return 2;
  }
  const baseRev = git('rev-parse', '--short', `${values.base}^{commit}`);
  const headRev = git('rev-parse', '--short', 'HEAD');
  const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
  const started = new Date();

  const onSignal = (s: NodeJS.Signals) => {
    interrupted = s;
    err(`${s}: stopping the running benchmark and removing the base worktree`);
    void stopCurrent();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const base = checkoutBase(baseRev);
  try {
    if (interrupted) throw new Error(`interrupted (${interrupted})`);
    const sides = { base: base.dir, head: root } as const;
    const figures: Record<Bench, { base: Figures[]; head: Figures[] }> = {
      ingest: { base: [], head: [] },
      reads: { base: [], head: [] },
    };
    for (let round = 1; round <= rounds; round++) {
      const order: ('base' | 'head')[] = round % 2 === 1 ? ['base', 'head'] : ['head', 'base'];
      for (const bench of benches) {
        for (const side of order) {
          const label = `${side} ${side === 'base' ? baseRev : headRev} ${bench} round ${round}/${rounds}`;
          err(`---- ${label}`);
          figures[bench][side].push(BENCHES[bench](await runBench(sides[side], label, bench, short)));
        }
      }
    }
    const result = benches.map((bench) => ({ bench, ...compare(figures[bench].base, figures[bench].head) }));
    const out: string[] = [
      `HEAD ${headRev}${dirty ? ' (with uncommitted changes)' : ''} against base ${baseRev}, ${rounds} interleaved round${
        rounds === 1 ? '' : 's'
      } each${short ? ' (--short)' : ''}, ${started.toISOString()} to ${new Date().toISOString()}`,
      `machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown cpu'}), ${Math.round(
        os.totalmem() / 2 ** 30,
      )} GiB, Node ${process.version}; load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
      'HEAD/base is the ratio of the medians: above 1 is better where higher is better (throughput, ev/s and',
      'ratios), below 1 is better where lower is better (latency, ms). "slower"/"faster" only where the',
      'two sides\' ranges over the rounds do not overlap; otherwise "within noise".',
      '',
    ];
    for (const r of result) {
      out.push(formatTable(r.rows));
      if (r.headOnly.length) out.push(`only HEAD prints: ${r.headOnly.join('; ')}`);
      if (r.baseOnly.length) out.push(`only base prints: ${r.baseOnly.join('; ')}`);
      out.push('');
    }
    out.push(
      `COMPARE_RESULT ${JSON.stringify({
        base: baseRev,
        head: headRev,
        dirty,
        rounds,
        short,
        results: result.map((r) => ({
          bench: r.bench,
          rows: r.rows,
          headOnly: r.headOnly,
          baseOnly: r.baseOnly,
        })),
      })}`,
    );
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await stopCurrent();
    base.remove();
  }
}

// Run when executed (npm run bench:compare), not when imported by the tests.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const code = await main().catch((e: unknown) => {
    err(`bench:compare failed: ${e instanceof Error ? e.message : String(e)}`);
    return interrupted ? 130 : 1;
  });
  process.exit(code);
}
