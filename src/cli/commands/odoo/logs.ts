// `odoo tests` and `odoo upgrade`: a test run's and a module upgrade's log, read into one G2
// check with the log as test_result evidence.
import { type Command, flag, requiredFlag } from '../../command.js';
import { readTestLog, readUpgradeLog } from '../../odoo/logs.js';
import { defined } from '../events/common.js';
import {
  EVENT_NOTE,
  exitCodeFlag,
  LOG_OPTIONS,
  LOG_PERSONA_NOTE,
  moduleList,
  ODOO_CHECKS,
  RELEASE_OPTION,
  readLog,
  recordLogCheck,
  SOURCE_OPTION,
} from './common.js';

// ---- odoo tests ---------------------------------------------------------------------------------

export const odooTests: Command = {
  path: ['odoo', 'tests'],
  summary: `Read an Odoo test log into the G2 check ${ODOO_CHECKS.tests}, with the log as test_result evidence`,
  usage: '<release> --log <odoo.log> [--exit-code <n>] [--artifact-url <url>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    ...LOG_OPTIONS,
    'exit-code': {
      type: 'string',
      value: '<n>',
      description: "odoo-bin's exit code; non-zero fails the check",
    },
    ...SOURCE_OPTION,
  },
  notes: [
    'The log of `odoo-bin --test-enable --test-tags <tags> --stop-after-init` (Odoo 16-18). The check passes only when the log ends with the summary "0 failed, 0 error(s) of <n> tests when loading database …"; failing tests (FAIL:/ERROR: lines) are listed in its metadata. A log without the summary (the run crashed or was killed) fails; a run of zero tests is a warning.',
    LOG_PERSONA_NOTE,
    EVENT_NOTE,
    'Example: odoo-bin -d ci --test-enable --test-tags /sale_custom --stop-after-init > odoo.log 2>&1; ops-gates odoo tests odoo-shop/2026.11.1 --log odoo.log --exit-code $?',
  ],
  async run(ctx) {
    const log = readLog(ctx);
    const report = readTestLog(log.text, exitCodeFlag(ctx, false));
    const headline =
      report.summaries.length > 0
        ? `${report.failed} failed, ${report.errors} error(s) of ${report.tests} tests${report.status === 'pass' ? '' : ` (${report.reasons.join('; ')})`}`
        : report.reasons.join('; ');
    return recordLogCheck(ctx, log, {
      name: ODOO_CHECKS.tests,
      status: report.status,
      headline,
      metadata: {
        tests: report.tests,
        failed: report.failed,
        errors: report.errors,
        summary_found: report.summaries.length > 0,
        databases: report.summaries.map((s) => s.database),
        failures: report.failures,
        reasons: report.reasons,
      },
    });
  },
};

// ---- odoo upgrade -------------------------------------------------------------------------------

export const odooUpgrade: Command = {
  path: ['odoo', 'upgrade'],
  summary: `Read the log of a module upgrade on a production copy into the G2 check ${ODOO_CHECKS.upgrade}`,
  usage: '<release> --log <upgrade.log> --exit-code <n> --modules <a,b> [--database <name>]',
  maxPositionals: 1,
  options: {
    ...RELEASE_OPTION,
    ...LOG_OPTIONS,
    'exit-code': { type: 'string', value: '<n>', description: "odoo-bin's exit code (required)" },
    modules: { type: 'string', value: '<a,b>', description: 'the modules upgraded (-u)' },
    database: { type: 'string', value: '<name>', description: 'the neutralized production copy it ran on' },
    ...SOURCE_OPTION,
  },
  notes: [
    'The log of `odoo-bin neutralize` on a copy of the production database, then `odoo-bin -d <copy> -u <modules> --stop-after-init`. The check passes only with exit code 0 and a log without traceback and without ERROR or CRITICAL lines; anything else is recorded as a failure with the reasons.',
    LOG_PERSONA_NOTE,
    EVENT_NOTE,
  ],
  async run(ctx) {
    const log = readLog(ctx);
    const exitCode = exitCodeFlag(ctx, true)!;
    const modules = moduleList(
      requiredFlag(ctx, 'modules', 'the modules upgraded, e.g. sale_custom,stock_custom'),
      '--modules',
    );
    const report = readUpgradeLog(log.text, exitCode);
    const database = flag(ctx, 'database');
    return recordLogCheck(ctx, log, {
      name: ODOO_CHECKS.upgrade,
      status: report.status,
      headline: `${modules.join(', ')} upgraded${database ? ` on ${database}` : ''}, exit code ${exitCode}${report.reasons.length ? ` (${report.reasons.join('; ')})` : ''}`,
      metadata: defined({
        modules,
        exit_code: exitCode,
        database,
        tracebacks: report.tracebacks,
        error_lines: report.errorLines,
        critical_lines: report.criticalLines,
        first_errors: report.firstErrors,
        modules_loaded: report.modulesLoaded,
        reasons: report.reasons,
      }),
    });
  },
};
