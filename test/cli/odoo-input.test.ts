// What the `odoo` commands read before anything is sent: Odoo's test and upgrade logs (the log
// fixtures in examples/odoo/logs, written in the format Odoo 16-18 log), manifests in two addons
// trees, and /web/health answers from a stand-in on loopback.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeHealth, serverBase } from '../../src/cli/odoo/health.js';
import { type OdooHealthStandIn, startOdooHealthStandIn } from '../../src/cli/odoo/health-stand-in.js';
import { readTestLog, readUpgradeLog } from '../../src/cli/odoo/logs.js';
import { changedModules, manifestVersion, scanAddons } from '../../src/cli/odoo/manifest.js';
import { projectRoot } from '../../src/db/migrate.js';
import { freePort } from '../../src/process.js';

const examples = path.join(projectRoot, 'examples/odoo');
const log = (name: string) => readFileSync(path.join(examples, 'logs', name), 'utf8');

describe('an Odoo test log', () => {
  it('a green run passes with its counts', () => {
    const r = readTestLog(log('tests-pass.log'));
    expect(r).toMatchObject({ status: 'pass', reasons: [], failed: 0, errors: 0, tests: 42, failures: [] });
    expect(r.summaries).toEqual([{ database: 'ci_shop', failed: 0, errors: 0, tests: 42 }]);
  });

  it('a run with a failure and an error fails and names both tests', () => {
    const r = readTestLog(log('tests-fail.log'));
    expect(r.status).toBe('fail');
    expect(r).toMatchObject({ failed: 1, errors: 1, tests: 42 });
    expect(r.failures).toEqual([
      { kind: 'FAIL', test: 'TestPricing.test_rounding_per_currency', module: 'sale_custom' },
      { kind: 'ERROR', test: 'TestPicking.test_backorder', module: 'stock_custom' },
    ]);
    expect(r.reasons).toEqual(['1 failed, 1 error(s) of 42 tests']);
  });

  it('a crashed run (no summary) fails, never passes', () => {
    const r = readTestLog(log('tests-crashed.log'));
    expect(r.status).toBe('fail');
    expect(r.summaries).toEqual([]);
    expect(r.reasons[0]).toMatch(/^the log has no test summary .*: the run did not finish$/);
    expect(readTestLog('').status).toBe('fail');
    // Cut just before the summary: the same green run without its last lines fails.
    const cut = log('tests-pass.log').split('\n').slice(0, -4).join('\n');
    expect(readTestLog(cut).status).toBe('fail');
  });

  it('zero tests is a warning; an aborted run, a non-zero exit code or one bad database fail', () => {
    const line = (s: string) => `2026-11-28 09:14:31,910 4121 INFO ? odoo.tests.result: ${s}`;
    expect(readTestLog(line("0 failed, 0 error(s) of 0 tests when loading database 'x'")).status).toBe(
      'warning',
    );
    const aborted = readTestLog(
      line(
        "0 failed, 1 error(s) of 7 tests, run aborted before it finished: timeout when loading database 'x'",
      ),
    );
    expect(aborted.status).toBe('fail');
    expect(aborted.reasons).toContain('the run on x was aborted: timeout');
    expect(readTestLog(log('tests-pass.log'), 1).reasons).toContain('odoo-bin exited with code 1');
    const two = [
      line("0 failed, 0 error(s) of 10 tests when loading database 'a'"),
      line("0 failed, 2 error(s) of 5 tests when loading database 'b'"),
    ].join('\n');
    expect(readTestLog(two)).toMatchObject({ status: 'fail', tests: 15, errors: 2 });
    // Colour codes (a terminal's log) do not hide the summary.
    expect(
      readTestLog(`\u001b[1;32m${line("0 failed, 0 error(s) of 3 tests when loading database 'x'")}\u001b[0m`)
        .status,
    ).toBe('pass');
  });
});

describe('an Odoo upgrade log', () => {
  it('exit 0 and a clean log pass', () => {
    expect(readUpgradeLog(log('upgrade-ok.log'), 0)).toMatchObject({
      status: 'pass',
      reasons: [],
      tracebacks: 0,
      modulesLoaded: true,
    });
  });

  it('a traceback fails even with exit code 0', () => {
    const r = readUpgradeLog(log('upgrade-traceback.log'), 0);
    expect(r.status).toBe('fail');
    expect(r.reasons).toEqual(['the log shows 1 traceback', '2 ERROR lines']);
    expect(r.firstErrors[1]).toBe('odoo.modules.registry: Failed to load registry');
  });

  it('a non-zero exit code fails a clean log; an empty log fails', () => {
    expect(readUpgradeLog(log('upgrade-ok.log'), 255).reasons).toEqual(['odoo-bin exited with code 255']);
    expect(readUpgradeLog('\n', 0).reasons).toEqual(['the upgrade log is empty']);
  });
});

describe('manifests', () => {
  it("reads the top-level 'version' of a dict literal, not one in a comment, a string or a nested dict", () => {
    expect(manifestVersion("{'name': 'x', 'version': '17.0.1.2'}")).toBe('17.0.1.2');
    expect(
      manifestVersion(
        '# "version": "0"\n{\n  "summary": "\'version\': 1",\n  "external_dependencies": {"version": "no"},\n  "version": "17.0" \'.3.1\',\n}',
      ),
    ).toBe('17.0.3.1');
    expect(manifestVersion(`{'summary': """'version': '9'""", 'name': 'x'}`)).toBeUndefined();
  });

  it('two addons trees give the modules added, removed and upgraded (10 > 4 numerically)', () => {
    const from = scanAddons(path.join(examples, 'addons/17.0.1'));
    const to = scanAddons(path.join(examples, 'addons/17.0.2'));
    expect([...to.keys()]).toEqual(['sale_custom', 'stock_custom', 'website_custom']);
    expect(changedModules(from, to)).toEqual([
      { module: 'legacy_report', change: 'removed', from_version: '17.0.1.0', to_version: null },
      { module: 'sale_custom', change: 'upgraded', from_version: '17.0.1.4', to_version: '17.0.1.10' },
      { module: 'website_custom', change: 'added', from_version: null, to_version: '17.0.1.0' },
    ]);
    expect(changedModules(to, from).find((c) => c.module === 'sale_custom')?.change).toBe('downgraded');
  });
});

describe('probing /web/health', () => {
  let standIn: OdooHealthStandIn;
  beforeAll(async () => {
    standIn = await startOdooHealthStandIn();
  });
  afterAll(async () => {
    await standIn?.close();
  });
  const options = { samples: 3, intervalMs: 10, timeoutMs: 10_000 };

  it('healthy: every sample passes, with the database server checked when the server supports it', async () => {
    standIn.setMode('healthy');
    standIn.requests.length = 0;
    const r = await probeHealth(`${standIn.url}/`, options);
    expect(r).toMatchObject({ status: 'pass', passed: 3, db_server_status_supported: true, reasons: [] });
    expect(r.samples.every((s) => s.http_status === 200 && s.db_server_status === true)).toBe(true);
    expect(r.latency_ms!.min).toBeLessThanOrEqual(r.latency_ms!.max);
    expect(standIn.requests).toEqual(Array(3).fill('GET /web/health?db_server_status=1'));
  });

  it('an older server that ignores db_server_status is asked plainly after the first answer', async () => {
    standIn.setMode('legacy');
    standIn.requests.length = 0;
    const r = await probeHealth(standIn.url, options);
    expect(r).toMatchObject({ status: 'pass', db_server_status_supported: false });
    expect(standIn.requests).toEqual([
      'GET /web/health?db_server_status=1',
      'GET /web/health',
      'GET /web/health',
    ]);
  });

  it('unhealthy (its database server is down): 500 with status fail fails', async () => {
    standIn.setMode('database_down');
    const r = await probeHealth(standIn.url, options);
    expect(r).toMatchObject({ status: 'fail', passed: 0 });
    expect(r.samples[0]).toMatchObject({ http_status: 500, status: 'fail', db_server_status: false });
    expect(r.reasons).toEqual(['the server cannot reach its database server']);
  });

  it('unreachable: no answer fails, and the latency summary says nothing was measured', async () => {
    const port = await freePort();
    const r = await probeHealth(`http://127.0.0.1:${port}`, { ...options, samples: 2 });
    expect(r).toMatchObject({ status: 'fail', passed: 0, latency_ms: null });
    expect(r.reasons[0]).toMatch(/^unreachable: ECONNREFUSED/);
  });

  it('credentials and query never reach the record', () => {
    expect(serverBase('https://ops:secret@odoo.example.com/odoo/?x=1#y')).toBe(
      'https://odoo.example.com/odoo',
    );
  });
});
