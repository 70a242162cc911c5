// Commands that send events through the ingest: emit (any envelope), build-complete, check,
// evidence add, signoff, deploy update/record and health-check; each concern in events/.
import type { Command } from '../command.js';
import { deployRecord, deployUpdate, healthCheck } from './events/deployments.js';
import { emit } from './events/emit.js';
import { buildComplete, check, evidenceAdd, signoff } from './events/gates.js';

export const eventCommands: Command[] = [
  emit,
  buildComplete,
  check,
  evidenceAdd,
  signoff,
  deployUpdate,
  deployRecord,
  healthCheck,
];
