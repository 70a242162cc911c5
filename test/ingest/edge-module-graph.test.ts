// The Edge Function's module graph is one Deno resolves as Supabase deploys it: no sloppy imports
// (every relative import names its .ts file), npm packages through the function's own deno.json
// import map, and the one ingest handler of src/ shared, not copied. `deno check` accepts it and
// `deno bundle` bundles it (the same graph `supabase functions deploy` resolves). Deno fetches the
// npm packages into its own cache on the first run.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { runProcess } from '../../src/process.js';
import { denoBinary, FUNCTION_DIR } from './support.js';

const work = mkdtempSync(path.join(tmpdir(), 'ops-edge-graph-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const env = { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
const config = path.join(FUNCTION_DIR, 'deno.json');
const entry = path.join(FUNCTION_DIR, 'index.ts');
const deno = (args: string[]) => runProcess(denoBinary(), args, { cwd: projectRoot, env });

describe('supabase/functions/ops-event-ingest as Deno resolves it', () => {
  it('needs no unstable resolution and imports the shared handler from src/', async () => {
    const json = JSON.parse(readFileSync(config, 'utf8')) as { unstable?: string[]; imports: object };
    expect(json.unstable ?? []).toEqual([]);
    const info = await deno(['info', '--json', '--node-modules-dir=none', '--config', config, entry]);
    expect(info.code, info.stderr).toBe(0);
    const modules = (JSON.parse(info.stdout) as { modules: { specifier: string; error?: string }[] }).modules;
    expect(modules.filter((m) => m.error)).toEqual([]);
    const local = modules.map((m) => m.specifier).filter((s) => s.startsWith('file://'));
    expect(local).toContain(`file://${path.join(projectRoot, 'src/ingest/handler.ts')}`);
  }, 300_000);

  it('deno check accepts it', async () => {
    const r = await deno(['check', '--node-modules-dir=none', '--config', config, entry]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
  }, 300_000);

  it('deno bundle bundles it', async () => {
    const out = path.join(work, 'ops-event-ingest.js');
    const r = await deno([
      'bundle',
      '--node-modules-dir=none',
      '--platform',
      'deno',
      '--config',
      config,
      entry,
      '-o',
      out,
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const bundle = readFileSync(out, 'utf8');
    expect(bundle).toContain('createIngestHandler');
    expect(bundle).toContain('Deno.serve');
  }, 300_000);
});
