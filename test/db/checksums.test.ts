// Landed migrations are never edited, and every migration is recorded in supabase/migrations.sum.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checksumFile,
  computeChecksums,
  parseChecksumFile,
  planChecksumUpdate,
  readChecksumFile,
  renderChecksumFile,
} from '../../tools/db/checksums.js';

describe('supabase/migrations.sum', () => {
  const recorded = readChecksumFile();
  const current = new Map(computeChecksums().map((c) => [c.file, c.sha256]));

  it('exists and its first line is the sha256 of the rest', () => {
    expect(recorded, `${checksumFile} is missing: run npm run db:sum`).not.toBeNull();
    expect(
      recorded!.totalValid,
      'the first line of supabase/migrations.sum does not match its other lines (edited by hand or merged): ' +
        'run npm run db:sum',
    ).toBe(true);
  });

  it('matches every recorded migration: landed migrations are never edited', () => {
    const problems = (recorded?.entries ?? []).flatMap((r) => {
      if (!current.has(r.file)) return [`${r.file} is recorded but no longer exists`];
      if (current.get(r.file) !== r.sha256) return [`${r.file} was edited after it was recorded`];
      return [];
    });
    expect(
      problems,
      `landed migrations are never edited: restore them and put the change in a new migration\n${problems.join('\n')}`,
    ).toEqual([]);
  });

  it('records every migration file', () => {
    const known = new Set((recorded?.entries ?? []).map((r) => r.file));
    const unrecorded = [...current.keys()].filter((f) => !known.has(f));
    expect(unrecorded, `migrations not in supabase/migrations.sum: run npm run db:sum`).toEqual([]);
  });
});

describe('npm run db:sum', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sum-'));
  const sum = path.join(dir, 'migrations.sum');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (file: string, text: string) => writeFileSync(path.join(dir, file), text);

  it('records new migrations, keeps recorded lines, and is idempotent', () => {
    write('20260101000100_a.sql', 'select 1;');
    write('20260101000300_c.sql', 'select 3;');
    write('notes.txt', 'not a migration');
    const first = planChecksumUpdate(dir, sum);
    expect(first.added).toEqual(['20260101000100_a.sql', '20260101000300_c.sql']);
    writeFileSync(sum, first.text);
    expect(planChecksumUpdate(dir, sum)).toMatchObject({
      added: [],
      changed: [],
      missing: [],
      text: first.text,
    });

    write('20260101000200_b.sql', 'select 2;');
    const second = planChecksumUpdate(dir, sum);
    expect(second).toMatchObject({ added: ['20260101000200_b.sql'], outOfOrder: ['20260101000200_b.sql'] });
    writeFileSync(sum, second.text);
    const parsed = parseChecksumFile(readFileSync(sum, 'utf8'));
    expect(parsed.totalValid).toBe(true);
    expect(parsed.entries.map((e) => e.file)).toEqual([
      '20260101000100_a.sql',
      '20260101000200_b.sql',
      '20260101000300_c.sql',
    ]);
    // The lines are sha256sum's format.
    expect(readFileSync(sum, 'utf8').split('\n')[1]).toMatch(/^[0-9a-f]{64} {2}20260101000100_a\.sql$/);
  });

  it('refuses to rewrite the line of a recorded file whose content changed, or that is gone', () => {
    const before = readFileSync(sum, 'utf8');
    write('20260101000100_a.sql', 'select 1; -- edited');
    rmSync(path.join(dir, '20260101000300_c.sql'));
    const plan = planChecksumUpdate(dir, sum);
    expect(plan.changed).toEqual(['20260101000100_a.sql']);
    expect(plan.missing).toEqual(['20260101000300_c.sql']);
    // The recorded hashes are kept in the text it would write.
    expect(plan.text).toBe(before);
  });

  it('detects a hand edit through the first line', () => {
    const text = renderChecksumFile([{ file: 'x.sql', sha256: 'a'.repeat(64) }]);
    expect(parseChecksumFile(text).totalValid).toBe(true);
    expect(parseChecksumFile(text.replace('a'.repeat(64), 'b'.repeat(64))).totalValid).toBe(false);
  });
});
