// `npm run bench:profile-reads [-- --requests N] [-- --query release|minimal|typename|baseline]`: where the
// server's CPU goes for one GraphQL request. Seeds a small database (bench/reads.ts), starts the
// server on loopback as bench/reads.ts does, sends N one-release requests one at a time, and profiles
// only that loop with the V8 sampling profiler (node:inspector). Prints the time per request, then
// the self time per request grouped by package (node_modules/<name>, node: internals, src/...) and
// the heaviest functions. The client (fetch) runs in the same process, as in bench:reads, and shows
// as undici. Repeat it before and after a change to the request pipeline (docs/profiling.md).
// `--write FILE` also saves the .cpuprofile (open it in Chrome DevTools or speedscope).
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { mintToken } from '../src/auth/dev-tokens.js';
import { openDatabase } from '../src/db/database.js';
import { resolveDataRoot } from '../src/db/embedded.js';
import { projectRoot } from '../src/db/migrate.js';
import { benchPool, machine, type CpuProfile as Profile } from './lib.js';
import { ONE_RELEASE, readsServer, seed } from './reads.js';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
};
const REQUESTS = Number(arg('--requests', '1500'));
const QUERY = arg('--query', 'release') as 'release' | 'minimal' | 'typename' | 'baseline';
// The release by id with no field under it: the read's whole path (transaction, persona switch, one
// statement) through the GraphQL pipeline, without the nested fields' execution.
const MINIMAL = 'query MinimalRelease($id: ID!) { release(id: $id) { id } }';
const WRITE = arg('--write', '');
// --compare: no profiler; the four kinds of request alternate, and their median wall times print.
const COMPARE = process.argv.includes('--compare');
const SECRET = randomBytes(32).toString('hex');
const log = (line: string) => process.stdout.write(`${line}\n`);

/** node_modules/<package>, node:<internal>, or the project's file. */
function groupOf(url: string): string {
  if (!url) return '(native / gc / idle)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  if (url.startsWith('node:')) return url;
  const src = url.indexOf(`${projectRoot}/`);
  return src >= 0 ? url.slice(src + projectRoot.length + 1) : url;
}

function summarise(profile: Profile, requests: number): void {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const groups = new Map<string, number>();
  const functions = new Map<string, number>();
  let idle = 0;
  let total = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    total += us;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const group = groupOf(frame.url);
    groups.set(group, (groups.get(group) ?? 0) + us);
    const fn = `${frame.functionName || '(anonymous)'} ${group}:${frame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const perRequest = (us: number) => (us / 1000 / requests).toFixed(3).padStart(7);
  log(
    `profiled ${(total / 1000).toFixed(0)} ms, of which idle (waiting on PostgreSQL) ${(idle / 1000).toFixed(0)} ms`,
  );
  log(`busy per request: ${perRequest(total - idle)} ms`);
  log('');
  log('self time per request (ms), by package or file');
  for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 30)) log(`${perRequest(us)}  ${g}`);
  log('');
  log('heaviest functions (self ms per request)');
  for (const [f, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 40))
    log(`${perRequest(us)}  ${f}`);
}

async function main(): Promise<void> {
  const dataDir = path.join(projectRoot, '.data', `bench-profile-reads-${process.pid}`);
  const remove = () => {
    rmSync(resolveDataRoot(dataDir), { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  };
  const db = await openDatabase({
    dataDir,
    embeddedPort: 30000 + Math.floor(Math.random() * 20000),
    databaseName: 'ops_profile',
  }).catch((err: unknown) => {
    remove(); // a cluster that did not start leaves nothing behind either
    throw err;
  });
  const pool = benchPool(db.apiUrl, 4);
  const server = readsServer(pool, SECRET);
  const http = server.http;
  const session = new Session();
  try {
    await seed(db.adminUrl, 200);
    const admin = new pg.Client({ connectionString: db.adminUrl });
    await admin.connect();
    const ids = (
      await admin.query<{ release_id: string }>(
        `select release_id from ops.releases where status = 'promoted' order by random() limit 20`,
      )
    ).rows.map((r) => r.release_id);
    await admin.end();
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    const token = await mintToken({ secret: SECRET, persona: 'release_manager', sub: 'rm-profile' });
    const one = async (i: number, query = QUERY) => {
      const id = ids[i % ids.length];
      const [url, body] =
        query === 'baseline'
          ? [`${base}/bench/baseline`, { kind: 'release', arg: id }]
          : [
              `${base}/graphql`,
              query === 'typename'
                ? { query: '{ __typename }' }
                : { query: query === 'minimal' ? MINIMAL : ONE_RELEASE, variables: { id } },
            ];
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(body),
      });
      const answer = (await response.json()) as { errors?: unknown[] };
      if (response.status !== 200 || answer.errors) throw new Error(JSON.stringify(answer));
    };
    for (let i = 0; i < 200; i++) await one(i);
    if (COMPARE) {
      const kinds = ['release', 'baseline', 'minimal', 'typename'] as const;
      const times = new Map<string, number[]>(kinds.map((k) => [k, []]));
      // This process's CPU (server and client, user and system) per request: one request runs at a
      // time, so it is the request's own; steadier than wall time on a machine others load.
      const cpu = new Map<string, number[]>(kinds.map((k) => [k, []]));
      for (let i = 0; i < REQUESTS; i++) {
        for (let k = 0; k < kinds.length; k++) {
          const kind = kinds[(i + k) % kinds.length]!;
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          await one(i, kind);
          times.get(kind)!.push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu.get(kind)!.push((c.user + c.system) / 1000);
        }
      }
      const median = (t: number[]) => [...t].sort((a, b) => a - b)[Math.floor(t.length / 2)]!;
      log(`${REQUESTS} requests of each kind, alternating; machine: ${machine()}`);
      for (const [kind, t] of times)
        log(
          `  ${kind.padEnd(10)} p50 ${median(t).toFixed(3)} ms, CPU p50 ${median(cpu.get(kind)!).toFixed(3)} ms`,
        );
      log(
        `  baseline/release ${(median(times.get('baseline')!) / median(times.get('release')!)).toFixed(2)}`,
      );
      return;
    }
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    const t0 = performance.now();
    for (let i = 0; i < REQUESTS; i++) await one(i);
    const elapsed = performance.now() - t0;
    const { profile } = (await session.post('Profiler.stop')) as unknown as { profile: Profile };
    log(`profile of ${REQUESTS} '${QUERY}' requests, one at a time; machine: ${machine()}`);
    log(`wall time per request: ${(elapsed / REQUESTS).toFixed(3)} ms (profiler on)`);
    if (WRITE) writeFileSync(WRITE, JSON.stringify(profile));
    summarise(profile, REQUESTS);
  } finally {
    session.disconnect();
    await server.close();
    await pool.end();
    await db.stop();
    remove();
  }
}

await main();
