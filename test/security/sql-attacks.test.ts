// The attack suite through the raw SQL door: a login that may SET ROLE to any of the six personas
// and publish claims of its choosing, and the database owner's maintenance session for the
// append-only facts. Each attack is tried for real; none may succeed.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { type AttackContext, attacks } from './attacks.js';

let db: TestDatabase;
let ctx: AttackContext;

beforeAll(async () => {
  db = await useTestDatabase();
  ctx = {
    db,
    doors: {},
    token: () => Promise.reject(new Error('the SQL door takes no token')),
    productionGet: () => Promise.reject(new Error('the SQL door has no HTTP')),
  };
});

const sqlAttacks = attacks.filter((a) => a.door === 'sql' || a.door === 'owner');

describe('raw SQL as any persona, with any claims', () => {
  it.each(sqlAttacks.map((a) => [`kind ${a.kind} · ${a.door} · ${a.persona} · ${a.name}`, a] as const))(
    '%s: refused (or, when open, still succeeding)',
    async (_label, attack) => {
      // An open attack (see its reason) is expected to succeed until it is closed.
      expect(await attack.run(ctx), attack.open ?? 'the attack succeeded').toBe(attack.open !== undefined);
    },
    60_000,
  );

  it('covers every kind of fault with at least one attack per persona where the door is SQL', () => {
    const kinds = new Set(sqlAttacks.map((a) => a.kind));
    for (const k of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) expect(kinds.has(k), `kind ${k}`).toBe(true);
    const personas = new Set(sqlAttacks.filter((a) => a.kind === 1).map((a) => a.persona));
    expect(personas.size).toBe(6);
  });
});
