// supabase/schema.sql is what the migrations build: the description of a freshly migrated
// database equals the checked-in file. And the description is the same text on every supported
// PostgreSQL (this file runs on the embedded 17 and, in CI, on Debian's 15).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import {
  describeSchema,
  schemaFileDescription,
  unqualifySingleRelationView,
} from '../../tools/db/describe.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function describeDb(schema?: string): Promise<string> {
  const client = await db.admin.connect();
  try {
    return await describeSchema(client, schema);
  } finally {
    client.release();
  }
}

describe('supabase/schema.sql', () => {
  it('matches what the migrations build', async () => {
    const checkedIn = schemaFileDescription(
      readFileSync(path.join(projectRoot, 'supabase/schema.sql'), 'utf8'),
    );
    const actual = await describeDb();
    expect(actual, 'supabase/schema.sql is out of date: run npm run db:schema and commit the result').toBe(
      checkedIn,
    );
  });

  it('is deterministic and leaves the session search_path as it was', async () => {
    const client = await db.admin.connect();
    try {
      await client.query(`set search_path = public, ops`);
      const a = await describeSchema(client);
      const b = await describeSchema(client);
      expect(a).toBe(b);
      expect((await client.query('show search_path')).rows[0].search_path).toBe('public, ops');
    } finally {
      await client.query('reset search_path');
      client.release();
    }
  });
});

describe('describeSchema', () => {
  // Catalog text that differs between PostgreSQL 15 and 17 unless normalised: view definitions
  // over one relation, NOT NULL on domains, the owner's MAINTAIN privilege (17 only).
  const fixture = `
    create schema fx;
    create type public.fx_color as enum ('red', 'green');
    create domain fx.positive as integer not null check (value > 0);
    create table fx.items (
      id bigint generated always as identity primary key,
      n fx.positive,
      name text not null check (name <> ''),
      color public.fx_color default 'red',
      made_at timestamptz default now()
    );
    create index items_color on fx.items (color) where n > 1;
    create function fx.touch() returns trigger language plpgsql set search_path = '' as $$ begin return new; end $$;
    create trigger items_touch before update on fx.items for each row execute function fx.touch();
    alter table fx.items enable row level security;
    create policy items_read on fx.items for select to audit_reader using (color = 'red');
    revoke all on function fx.touch() from public;
    grant select on fx.items to audit_reader;
    grant update (name) on fx.items to audit_reader;
    create view fx.red_items with (security_invoker = true) as
      select i.id, i.name from fx.items i where i.color = 'red' order by i.id;
    create view fx.counts as
      select color, count(*) as n, (select max(x.id) from fx.items x where x.color = items.color) as top
      from fx.items group by color;
    create view fx.pairs as select a.id, b.name from fx.items a join fx.items b on b.id = a.id;
  `;

  it('gives the same text on every PostgreSQL version', async () => {
    await db.admin.query(fixture);
    expect(await describeDb('fx')).toBe(FIXTURE_DESCRIPTION);
  });

  it("rewrites PostgreSQL 15's qualified single-relation view text into the later form", () => {
    expect(unqualifySingleRelationView(' SELECT t.a,\n    t.b\n   FROM v.t\n  WHERE t.c > 1;')).toBe(
      ' SELECT a,\n    b\n   FROM v.t\n  WHERE c > 1;',
    );
    // Not inside sublinks, not in string literals, not function names, not with joins.
    expect(
      unqualifySingleRelationView(
        " SELECT x.a, ( SELECT max(y.d) FROM v.u y WHERE y.a = x.a) AS m, x.f(1), 'x.a'\n   FROM v.t x",
      ),
    ).toBe(" SELECT a, ( SELECT max(y.d) FROM v.u y WHERE y.a = x.a) AS m, x.f(1), 'x.a'\n   FROM v.t x");
    const join = ' SELECT t.a,\n    u.d\n   FROM v.t\n     JOIN v.u USING (a);';
    expect(unqualifySingleRelationView(join)).toBe(join);
  });
});

const FIXTURE_DESCRIPTION = `-- ==============================================================================================
-- schema fx

create schema fx;

create extension plpgsql with schema pg_catalog;

-- ==============================================================================================
-- types

create domain fx.positive as integer not null
  constraint positive_check CHECK ((VALUE > 0));
create type public.fx_color as enum ('red', 'green');

-- ==============================================================================================
-- tables

create table fx.items (
  id bigint generated always as identity not null,
  n fx.positive,
  name text not null,
  color public.fx_color default 'red'::public.fx_color,
  made_at timestamp with time zone default now(),
  constraint items_name_check CHECK ((name <> ''::text)),
  constraint items_pkey PRIMARY KEY (id)
);
CREATE INDEX items_color ON fx.items USING btree (color) WHERE ((n)::integer > 1);
CREATE TRIGGER items_touch BEFORE UPDATE ON fx.items FOR EACH ROW EXECUTE FUNCTION fx.touch();
alter table fx.items enable row level security;
create policy items_read on fx.items for select to audit_reader using ((color = 'red'::public.fx_color));
grant select on table fx.items to audit_reader;
grant update (name) on fx.items to audit_reader;

-- ==============================================================================================
-- views

create view fx.counts as
 SELECT color,
    count(*) AS n,
    ( SELECT max(x.id) AS max
           FROM fx.items x
          WHERE x.color = items.color) AS top
   FROM fx.items
  GROUP BY color;

create view fx.pairs as
 SELECT a.id,
    b.name
   FROM fx.items a
     JOIN fx.items b ON b.id = a.id;

create view fx.red_items with (security_invoker=true) as
 SELECT id,
    name
   FROM fx.items i
  WHERE color = 'red'::public.fx_color
  ORDER BY id;

-- ==============================================================================================
-- functions

CREATE OR REPLACE FUNCTION fx.touch()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO ''
AS $function$ begin return new; end $function$;
`;
