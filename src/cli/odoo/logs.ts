// Reading what odoo-bin wrote: the log of a test run (`--test-enable --stop-after-init`) and of a
// module upgrade (`-u <modules> --stop-after-init`). This is input shaping for the `odoo` commands:
// it turns a log into a check status with counts and reasons; whether a gate passes stays the
// gate rule's, in SQL.
//
// Odoo 16-18 log lines read `<date> <time>,<ms> <pid> <LEVEL> <db> <logger>: <message>`, a
// traceback continuing on the lines after its message. A test run ends with one summary per
// database, logged by odoo.tests.result (`OdooTestResult.__str__` through odoo/service/server.py):
//   `<F> failed, <E> error(s) of <T> tests when loading database '<db>'`
// optionally with ` (<N> skipped because ...)` or `, run aborted before it finished: <why>` before
// ` when loading`. Each failing test is logged at ERROR by its own module's logger as
// `FAIL: <Class>.<method>` or `ERROR: <Class>.<method>` followed by its traceback.

// biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
const ANSI = /\u001b\[[0-9;]*m/g;
const LINE =
  /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3}) +(\d+) +(DEBUG|INFO|WARNING|ERROR|CRITICAL|TEST|\?) +(\S+) +([^\s:]+): ?(.*)$/;
const SUMMARY =
  /(\d+) failed, (\d+) error\(s\) of (\d+) tests?((?: \([^)]*\))?)(, run aborted before it finished: .*?)? when loading database (.+)$/;
const TEST_FAILURE = /^(FAIL|ERROR): (\S.*)$/;
const TRACEBACK = /Traceback \(most recent call last\):/;

export interface LogLine {
  level: string;
  logger: string;
  message: string;
}

function splitLines(text: string): string[] {
  return text.replace(ANSI, '').split(/\r?\n/);
}

/** The structured lines of an Odoo log (continuation lines, e.g. tracebacks, are left out). */
export function logLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const line of splitLines(text)) {
    const m = LINE.exec(line);
    if (m) out.push({ level: m[3]!, logger: m[5]!, message: m[6]! });
  }
  return out;
}

export type CheckVerdict = 'pass' | 'fail' | 'warning';

export interface TestSummary {
  database: string;
  failed: number;
  errors: number;
  tests: number;
  aborted?: string;
}

export interface TestFailure {
  kind: 'FAIL' | 'ERROR';
  test: string;
  /** The addon whose test it is, from the logger name (odoo.addons.<module>.tests...). */
  module?: string;
}

export interface TestLogReport {
  status: CheckVerdict;
  /** Why the status is not pass (empty on pass). */
  reasons: string[];
  summaries: TestSummary[];
  failed: number;
  errors: number;
  tests: number;
  failures: TestFailure[];
}

const MAX_LISTED = 50;

/**
 * A test log's verdict: pass only when the log carries the summary Odoo prints at the end of a
 * run and every summary reports no failure, no error and no abort. A log without a summary (the
 * run crashed or was killed) fails; a run of zero tests is a warning (nothing was tested). A
 * non-zero exit code, when given, fails.
 */
export function readTestLog(text: string, exitCode?: number): TestLogReport {
  const summaries: TestSummary[] = [];
  const failures: TestFailure[] = [];
  for (const raw of splitLines(text)) {
    const structured = LINE.exec(raw);
    const message = structured ? structured[6]! : raw;
    const s = SUMMARY.exec(message);
    if (s) {
      summaries.push({
        database: s[6]!.replace(/^'(.*)'$/, '$1'),
        failed: Number(s[1]),
        errors: Number(s[2]),
        tests: Number(s[3]),
        ...(s[5] ? { aborted: s[5].replace(/^, run aborted before it finished: /, '') } : {}),
      });
      continue;
    }
    const f = structured && structured[3] === 'ERROR' ? TEST_FAILURE.exec(message) : null;
    if (f && failures.length < MAX_LISTED) {
      const module = /^odoo\.addons\.([^.]+)\./.exec(structured![5]!)?.[1];
      failures.push({ kind: f[1] as 'FAIL' | 'ERROR', test: f[2]!.trim(), ...(module ? { module } : {}) });
    }
  }
  const sum = (k: 'failed' | 'errors' | 'tests') => summaries.reduce((n, s) => n + s[k], 0);
  const failed = sum('failed');
  const errors = sum('errors');
  const tests = sum('tests');
  const reasons: string[] = [];
  let status: CheckVerdict = 'pass';
  if (summaries.length === 0) {
    status = 'fail';
    reasons.push(
      `the log has no test summary ("<n> failed, <n> error(s) of <n> tests when loading database …"): the run did not finish${failures.length ? ` after ${failures.length} failing test(s)` : ''}`,
    );
  } else {
    if (failed + errors > 0) {
      status = 'fail';
      reasons.push(`${failed} failed, ${errors} error(s) of ${tests} tests`);
    }
    for (const s of summaries.filter((x) => x.aborted)) {
      status = 'fail';
      reasons.push(`the run on ${s.database} was aborted: ${s.aborted}`);
    }
    if (status === 'pass' && tests === 0) {
      status = 'warning';
      reasons.push('no test ran (check --test-tags and the modules installed)');
    }
  }
  if (exitCode !== undefined && exitCode !== 0) {
    status = 'fail';
    reasons.push(`odoo-bin exited with code ${exitCode}`);
  }
  return { status, reasons, summaries, failed, errors, tests, failures };
}

export interface UpgradeLogReport {
  status: CheckVerdict;
  reasons: string[];
  tracebacks: number;
  errorLines: number;
  criticalLines: number;
  /** The first ERROR/CRITICAL messages, for the reviewer. */
  firstErrors: string[];
  /** Odoo said "Modules loaded." (the registry finished loading). */
  modulesLoaded: boolean;
}

/**
 * An upgrade log's verdict: a pass needs exit code 0, no traceback and no ERROR or CRITICAL line
 * (an upgrade on a copy of production that logs an error has not shown that the release upgrades
 * cleanly). An empty log fails.
 */
export function readUpgradeLog(text: string, exitCode: number): UpgradeLogReport {
  let tracebacks = 0;
  let errorLines = 0;
  let criticalLines = 0;
  let modulesLoaded = false;
  let any = false;
  const firstErrors: string[] = [];
  for (const raw of splitLines(text)) {
    if (raw.trim() !== '') any = true;
    if (TRACEBACK.test(raw)) tracebacks++;
    const m = LINE.exec(raw);
    if (!m) continue;
    if (m[3] === 'ERROR') errorLines++;
    if (m[3] === 'CRITICAL') criticalLines++;
    if ((m[3] === 'ERROR' || m[3] === 'CRITICAL') && firstErrors.length < 5)
      firstErrors.push(`${m[5]}: ${m[6]}`.slice(0, 300));
    if (/^Modules loaded\.?$/.test(m[6]!.trim())) modulesLoaded = true;
  }
  const reasons: string[] = [];
  if (!any) reasons.push('the upgrade log is empty');
  if (exitCode !== 0) reasons.push(`odoo-bin exited with code ${exitCode}`);
  if (tracebacks > 0) reasons.push(`the log shows ${tracebacks} traceback${tracebacks === 1 ? '' : 's'}`);
  if (criticalLines > 0) reasons.push(`${criticalLines} CRITICAL line${criticalLines === 1 ? '' : 's'}`);
  if (errorLines > 0) reasons.push(`${errorLines} ERROR line${errorLines === 1 ? '' : 's'}`);
  return {
    status: reasons.length ? 'fail' : 'pass',
    reasons,
    tracebacks,
    errorLines,
    criticalLines,
    firstErrors,
    modulesLoaded,
  };
}
