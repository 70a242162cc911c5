// `npx tsx bench/cpuprofile.ts <file.cpuprofile> [--timeline] [--from S --to S] [--events N]`:
// where a V8 CPU profile (node --cpu-prof) spent its busy time, as text: by part of the stack
// (token check, pg driver, Fetch objects and web streams, envelope check, HTTP server, the route's
// own code), then the heaviest functions by self time. --timeline prints the busy share of each
// second (the profile's own clock, shared by processes on one machine) to find a phase's window;
// --from/--to keep that window; --events turns the busy time into milliseconds per event.
// The recipe for the ingest route is in docs/profiling.md ("The ingest route").
import { readFileSync } from 'node:fs';
import type { CpuProfile as Profile, ProfileNode } from './lib.js';

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const file = args.find((a) => a.endsWith('.cpuprofile'));
if (!file) {
  process.stderr.write(
    'usage: tsx bench/cpuprofile.ts <file.cpuprofile> [--timeline] [--from S --to S] [--events N]\n',
  );
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const from = (flag('--from') ?? Number.NEGATIVE_INFINITY) * 1e6;
const to = (flag('--to') ?? Number.POSITIVE_INFINITY) * 1e6;
const events = flag('--events');

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parentOf = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);

/** The parts of the ingest route's stack, first match wins (the frame's file, then its callers'). */
const PARTS: [string, RegExp][] = [
  ['token check (jose, WebCrypto HMAC, src/auth)', /node_modules\/jose|node:internal\/crypto|src\/auth\//],
  ['pg driver (pg, pg-protocol, pg-pool and its socket writes)', /node_modules\/pg/],
  ['Fetch objects and web streams (undici, AbortSignal)', /undici|webstreams|abort_controller|event_target/],
  ['envelope check (zod, storableJson)', /node_modules\/zod|storable-json|src\/ingest\/envelope|json-text/],
  ['our route code (adapter, router, handler, request log)', /\/src\/(http|ingest|context|db)\//],
];

function partOf(node: ProfileNode): string {
  const name = node.callFrame.functionName;
  if (name === '(garbage collector)') return 'garbage collector';
  const urls: string[] = [];
  for (let id: number | undefined = node.id; id !== undefined; id = parentOf.get(id)) {
    urls.push(byId.get(id)!.callFrame.url);
  }
  for (const [part, pattern] of PARTS) if (urls.some((u) => pattern.test(u))) return part;
  if (name === 'parse' || name === 'stringify') return 'JSON';
  if (/_http_|node:net|streams|stream_base|node:events/.test(urls.join(' ')) || /^write/.test(name)) {
    return 'HTTP server (node:http, sockets)';
  }
  return 'other (program, microtasks, timers, logger)';
}

const parts = new Map<string, number>();
const selfTime = new Map<string, number>();
const perSecond = new Map<number, number>();
let busy = 0;
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i]!;
  const node = byId.get(profile.samples[i]!)!;
  if (node.callFrame.functionName === '(idle)') continue;
  const dt = profile.timeDeltas[i + 1] ?? 0;
  const second = Math.floor(t / 1e6);
  perSecond.set(second, (perSecond.get(second) ?? 0) + dt);
  if (t < from || t > to) continue;
  busy += dt;
  const part = partOf(node);
  parts.set(part, (parts.get(part) ?? 0) + dt);
  const f = node.callFrame;
  const where = f.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
  const key = `${f.functionName || '(anonymous)'} ${where}${where ? `:${f.lineNumber + 1}` : ''}`;
  selfTime.set(key, (selfTime.get(key) ?? 0) + dt);
}

if (args.includes('--timeline')) {
  process.stdout.write('busy share per second (profile clock, s):\n');
  for (const [s, us] of perSecond) process.stdout.write(`${s} ${((100 * us) / 1e6).toFixed(0)}%\n`);
  process.stdout.write('\n');
}
const ms = (us: number) =>
  events ? `${(us / 1000 / events).toFixed(2)} ms/event` : `${(us / 1000).toFixed(0)} ms`;
process.stdout.write(
  `busy ${(busy / 1e6).toFixed(2)} s${events ? ` for ${events} events: ${ms(busy)}` : ''}\n\n`,
);
const table = (rows: Map<string, number>, n: number) => {
  for (const [k, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, n)) {
    process.stdout.write(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${ms(us).padStart(16)}  ${k}\n`);
  }
};
table(parts, PARTS.length + 4);
process.stdout.write('\nheaviest functions (self time):\n');
table(selfTime, 20);
