// The deadline sweep as an earlier migration defined it, for tests that compare the current sweep
// with it on the same subjects.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../src/db/migrate.js';

/**
 * Takes a migration file name (under supabase/migrations) that defines
 * ops.record_deadline_transitions(); returns that definition as a CREATE statement of
 * pg_temp.previous_record_deadline_transitions() (a temporary function of the session that runs it).
 * Throws when the file holds no such definition.
 */
export function previousSweep(migration: string): string {
  const file = readFileSync(path.join(projectRoot, 'supabase/migrations', migration), 'utf8');
  const previous = /create or replace function ops\.record_deadline_transitions\(\)[\s\S]*?\n\$\$;/.exec(
    file,
  )?.[0];
  if (!previous) throw new Error(`${migration} defines no ops.record_deadline_transitions()`);
  return previous.replace(
    'create or replace function ops.record_deadline_transitions()',
    'create function pg_temp.previous_record_deadline_transitions()',
  );
}
