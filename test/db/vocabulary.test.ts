// Every TypeScript list that mirrors a Postgres enum (src/vocabulary.ts) holds exactly the type's
// values, in its order; every ops_* enum type in the database has such a list.
import { beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_ENUM_SUBSETS, POSTGRES_ENUMS } from '../../src/vocabulary.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let enums: Map<string, string[]>;

beforeAll(async () => {
  db = await useTestDatabase();
  const { rows } = await db.admin.query<{ name: string; labels: string[] }>(
    `select t.typname as name, array_agg(e.enumlabel order by e.enumsortorder)::text[] as labels
     from pg_type t join pg_enum e on e.enumtypid = t.oid
     join pg_namespace n on n.oid = t.typnamespace
     where n.nspname = 'public' and t.typname like 'ops\\_%'
     group by t.typname`,
  );
  enums = new Map(rows.map((r) => [r.name, r.labels]));
});

describe('one vocabulary', () => {
  it('the database has the enum types this check reads', () => {
    expect(enums.size).toBeGreaterThanOrEqual(20);
  });

  it.each(Object.entries(POSTGRES_ENUMS))('%s: the list equals enum_range(null::%s)', async (type, list) => {
    const { rows } = await db.admin.query<{ values: string[] }>(
      `select enum_range(null::public.${type})::text[] as values`,
    );
    expect([...list]).toEqual(rows[0]!.values);
  });

  it('every ops_* enum type in the database has a list in src/vocabulary.ts', () => {
    const missing = [...enums.keys()].filter((name) => !(name in POSTGRES_ENUMS));
    expect(missing, 'add a list to src/vocabulary.ts (POSTGRES_ENUMS)').toEqual([]);
  });

  it.each(Object.entries(POSTGRES_ENUM_SUBSETS))(
    'lists within %s keep its values and order',
    (type, lists) => {
      const values = enums.get(type)!;
      for (const list of lists) {
        const positions = list.map((v) => values.indexOf(v));
        expect(positions.every((p) => p >= 0)).toBe(true);
        expect(positions).toEqual([...positions].sort((a, b) => a - b));
      }
    },
  );
});
