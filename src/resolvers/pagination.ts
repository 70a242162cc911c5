// Relay connections with keyset cursors (timestamp, id): stable under inserts, cheap at any depth,
// and capped at MAX_PAGE rows per page.
import type { ArgBuilder, InputObjectRef, ObjectRef, SchemaTypes } from '@pothos/core';
import { builder } from '../builder.js';
import { ValidationError } from '../errors.js';
import { uuid } from './ids.js';

export const MAX_PAGE = 100;

type BuilderTypes = typeof builder extends { $inferSchemaTypes: infer T extends SchemaTypes } ? T : never;

/**
 * A cursor from the row's timestamp as Postgres renders it to the microsecond (a JS Date would
 * drop the microseconds and skip rows stamped within the last row's millisecond) and its id.
 * Queries select it as `cursor_at` (see CURSOR_AT).
 */
export function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}

/** SQL rendering a timestamptz expression as ISO-8601 UTC text to the microsecond. */
const isoMicros = (expr: string) => `to_char(${expr} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The select-list item a keyset query adds for its cursor. */
export const cursorAt = (column: string) => `${isoMicros(column)} as cursor_at`;

export function decodeCursor(cursor: string | null | undefined): [string, string] | null {
  if (!cursor) return null;
  try {
    const [at, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as [string, string];
    if (Number.isNaN(Date.parse(at)) || !uuid.safeParse(id).success) throw new Error('bad cursor');
    return [at, id];
  } catch {
    throw new ValidationError('after is not a cursor this API issued');
  }
}

export function pageSize(first: number | null | undefined): number {
  const n = first ?? 20;
  if (n < 1 || n > MAX_PAGE) throw new ValidationError(`first must be between 1 and ${MAX_PAGE}`);
  return n;
}

export interface Page<T> {
  nodes: T[];
  /** The cursor of each node, by position. */
  cursors: string[];
  hasNextPage: boolean;
}

/** Rows fetched with limit size + 1: the extra row only says there is a next page. */
export function toPage<T>(rows: T[], size: number, cursorOf: (row: T) => string): Page<T> {
  const nodes = rows.slice(0, size);
  return { nodes, cursors: nodes.map(cursorOf), hasNextPage: rows.length > size };
}

const PageInfo = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

/**
 * The arguments every connection takes: its filter, the page size (default 20, at most MAX_PAGE,
 * checked by pageSize) and the cursor to continue after. Usage: `args: connectionArgs(t.arg, Filter)`.
 */
export function connectionArgs<F extends object>(
  arg: ArgBuilder<BuilderTypes>,
  filter: InputObjectRef<BuilderTypes, F>,
) {
  return {
    filter: arg({ type: filter }),
    first: arg.int({ defaultValue: 20 }),
    after: arg.string(),
  };
}

/** The Relay connection (edges, nodes, pageInfo) of a node type, named `${name}Connection`. */
export function connectionType<T>(name: string, nodeRef: ObjectRef<BuilderTypes, T>) {
  const Edge = builder.objectRef<{ node: T; cursor: string }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      // Pothos cannot resolve its result type for a generic T here; nodes (below) needs no cast.
      node: t.field({ type: nodeRef, resolve: (e) => e.node as never }),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({
        type: [Edge],
        resolve: (p) => p.nodes.map((node, i) => ({ node, cursor: p.cursors[i]! })),
      }),
      nodes: t.field({ type: [nodeRef], resolve: (p) => p.nodes }),
      pageInfo: t.field({
        type: PageInfo,
        resolve: (p) => ({
          hasNextPage: p.hasNextPage,
          endCursor: p.cursors.at(-1) ?? null,
        }),
      }),
    }),
  });
}
