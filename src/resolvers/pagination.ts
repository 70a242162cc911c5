// Relay connections with keyset cursors (timestamp, id): stable under inserts, cheap at any depth,
// and capped at MAX_PAGE rows per page.
import { z } from 'zod';
import { builder } from '../builder.js';
import { ValidationError } from '../errors.js';

export const MAX_PAGE = 100;

export const uuid = z.uuid({ message: 'must be a UUID' });

export function encodeCursor(at: Date, id: string): string {
  return Buffer.from(JSON.stringify([at.toISOString(), id])).toString('base64url');
}

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

interface Page<T> {
  nodes: T[];
  hasNextPage: boolean;
  cursorOf: (row: T) => string;
}

/** Rows fetched with limit size + 1: the extra row only says there is a next page. */
export function toPage<T>(rows: T[], size: number, cursorOf: (row: T) => string): Page<T> {
  return { nodes: rows.slice(0, size), hasNextPage: rows.length > size, cursorOf };
}

const PageInfo = builder.objectRef<{ hasNextPage: boolean; endCursor: string | null }>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
  }),
});

// Pothos cannot check a resolver against a generic node type, so results are passed through as is.
export function connectionType<T>(name: string, nodeRef: ReturnType<typeof builder.objectRef<T>>) {
  const Edge = builder.objectRef<{ node: T; cursor: string }>(`${name}Edge`).implement({
    fields: (t) => ({
      cursor: t.exposeString('cursor'),
      node: t.field({ type: nodeRef, resolve: (e) => e.node as never }),
    }),
  });
  return builder.objectRef<Page<T>>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({
        type: [Edge],
        resolve: (p) => p.nodes.map((node) => ({ node, cursor: p.cursorOf(node) })),
      }),
      nodes: t.field({ type: [nodeRef], resolve: (p) => p.nodes as never }),
      pageInfo: t.field({
        type: PageInfo,
        resolve: (p) => ({
          hasNextPage: p.hasNextPage,
          endCursor: p.nodes.length ? p.cursorOf(p.nodes[p.nodes.length - 1]!) : null,
        }),
      }),
    }),
  });
}
