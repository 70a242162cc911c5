// Commands for Odoo projects: `policy install` (the odoo policy pack: the checks an Odoo release
// needs, per gate), `odoo tests` and `odoo upgrade` (a test run's and a module upgrade's log, read
// into one G2 check with the log as test_result evidence), `odoo health` (the server's
// /web/health, probed, as the G4 health check of a deployment) and `odoo modules` (the modules a
// release changes, into its scope). The logs are read here; what a check result does to a gate is
// decided by the gate rule in SQL.
// Each command in odoo/, what they share in odoo/common.ts.
import type { Command } from '../command.js';
import { odooHealth } from './odoo/health.js';
import { odooTests, odooUpgrade } from './odoo/logs.js';
import { odooModules } from './odoo/modules.js';
import { policyInstall } from './odoo/policy.js';

export const odooCommands: Command[] = [policyInstall, odooTests, odooUpgrade, odooHealth, odooModules];
