// supabase/migrations.sum: the sha256 of every landed migration, so that an edit to one is caught
// (test/db/checksums.test.ts). The format follows atlas.sum: a first line holding the sha256 of
// the rest of the file, then one `<sha256>  <file>` line per migration, sorted by name (the lines
// are also `sha256sum -c` input, run from supabase/migrations).
//
// `npm run db:sum` records new migrations. It never rewrites the line of a recorded migration: a
// recorded file whose content changed, or that is gone, is reported and the command exits 1. Run
// twice, it changes nothing the second time.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { migrationsDir, projectRoot } from '../../src/db/migrate.js';

export const checksumFile = path.join(projectRoot, 'supabase/migrations.sum');

const MIGRATION_FILE = /^\d{14}_.+\.sql$/;
const LINE = /^([0-9a-f]{64}) {2}(\S.*)$/;

export interface Checksum {
  file: string;
  sha256: string;
}

export interface ChecksumFile {
  /** The sha256 the first line records for the rest of the file. */
  total: string;
  /** Whether `total` matches the lines that follow it. */
  totalValid: boolean;
  entries: Checksum[];
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The sha256 of each migration file's bytes, sorted by file name. */
export function computeChecksums(dir = migrationsDir): Checksum[] {
  return readdirSync(dir)
    .filter((f) => MIGRATION_FILE.test(f))
    .sort()
    .map((file) => ({ file, sha256: sha256(readFileSync(path.join(dir, file))) }));
}

function body(entries: Checksum[]): string {
  return entries.map((e) => `${e.sha256}  ${e.file}\n`).join('');
}

/** The text of a sum file recording `entries`. */
export function renderChecksumFile(entries: Checksum[]): string {
  const sorted = [...entries].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  const rest = body(sorted);
  return `${sha256(rest)}\n${rest}`;
}

export function parseChecksumFile(text: string): ChecksumFile {
  const newline = text.indexOf('\n');
  const first = (newline === -1 ? text : text.slice(0, newline)).trim();
  const rest = newline === -1 ? '' : text.slice(newline + 1);
  if (!/^[0-9a-f]{64}$/.test(first)) throw new Error('migrations.sum: the first line is not a sha256');
  const entries: Checksum[] = [];
  for (const [i, line] of rest.split('\n').entries()) {
    if (line === '') continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`migrations.sum line ${i + 2} is malformed: ${JSON.stringify(line)}`);
    entries.push({ sha256: m[1]!, file: m[2]! });
  }
  return { total: first, totalValid: sha256(rest) === first, entries };
}

/** The recorded checksums, or null when there is no sum file yet. */
export function readChecksumFile(file = checksumFile): ChecksumFile | null {
  if (!existsSync(file)) return null;
  return parseChecksumFile(readFileSync(file, 'utf8'));
}

export interface SumUpdate {
  /** Files recorded by this run. */
  added: string[];
  /** Recorded files whose content differs from the record. */
  changed: string[];
  /** Recorded files that no longer exist. */
  missing: string[];
  /** New files sorting before the last recorded one (the Supabase CLI refuses these on push). */
  outOfOrder: string[];
  /** The new text of the sum file (only meaningful when nothing changed or went missing). */
  text: string;
}

/** What `npm run db:sum` would do, without writing. */
export function planChecksumUpdate(dir = migrationsDir, file = checksumFile): SumUpdate {
  const recorded = readChecksumFile(file)?.entries ?? [];
  const current = new Map(computeChecksums(dir).map((c) => [c.file, c.sha256]));
  const known = new Set(recorded.map((r) => r.file));
  const changed = recorded
    .filter((r) => current.has(r.file) && current.get(r.file) !== r.sha256)
    .map((r) => r.file);
  const missing = recorded.filter((r) => !current.has(r.file)).map((r) => r.file);
  const lastRecorded =
    recorded
      .map((r) => r.file)
      .sort()
      .at(-1) ?? '';
  const added = [...current.keys()].filter((f) => !known.has(f));
  const outOfOrder = added.filter((f) => f < lastRecorded);
  const entries = [...recorded, ...added.map((f) => ({ file: f, sha256: current.get(f)! }))];
  return { added, changed, missing, outOfOrder, text: renderChecksumFile(entries) };
}

function main(): number {
  const plan = planChecksumUpdate();
  const where = path.relative(process.cwd(), checksumFile);
  if (plan.changed.length > 0 || plan.missing.length > 0) {
    for (const f of plan.changed) {
      console.error(`${f}: changed since it was recorded in ${where}; landed migrations are never edited.`);
    }
    for (const f of plan.missing) console.error(`${f}: recorded in ${where} but missing.`);
    console.error('Restore the recorded content and put the change in a new migration.');
    return 1;
  }
  for (const f of plan.outOfOrder) {
    console.warn(
      `warning: ${f} sorts before the last recorded migration (supabase db push needs --include-all)`,
    );
  }
  const before = existsSync(checksumFile) ? readFileSync(checksumFile, 'utf8') : null;
  if (before === plan.text) {
    console.log(`${where} is up to date (${plan.text.split('\n').length - 2} migrations)`);
    return 0;
  }
  writeFileSync(checksumFile, plan.text);
  for (const f of plan.added) console.log(`recorded ${f}`);
  if (plan.added.length === 0) console.log(`rewrote ${where} (its first line did not match)`);
  return 0;
}

if (process.argv[1] && pathToFileURL(path.resolve(process.argv[1])).href === import.meta.url) {
  process.exitCode = main();
}
