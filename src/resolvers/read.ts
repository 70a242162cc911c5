// The read side's one way of doing things (with the UUID argument rule of ids.ts): a WHERE clause from the filters
// that are set, statements run as the caller's persona with database errors mapped once, and the
// keyset page every connection is built with.
import type { Context } from '../context.js';
import { fromDatabaseError } from '../errors.js';
import { cursorAt, decodeCursor, encodeCursor, type Page, pageSize, toPage } from './pagination.js';

/** Rows of one statement, as the caller's persona; a database error becomes the API's error. */
export async function readRows<T extends object>(ctx: Context, sql: string, params: unknown[]): Promise<T[]> {
  try {
    return await ctx.read(async (c) => (await c.query<T>(sql, params)).rows);
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

/** A WHERE clause from the filters that are set: absent ones add nothing, so indexes stay usable. */
export class Conditions {
  readonly params: unknown[] = [];
  private readonly parts: string[] = [];

  param(value: unknown): string {
    this.params.push(value);
    return `$${this.params.length}`;
  }

  /** Adds `condition($n)`, $n holding value, when value is set. */
  when(value: unknown, condition: (p: string) => string): this {
    if (value !== null && value !== undefined) this.parts.push(condition(this.param(value)));
    return this;
  }

  add(condition: string): this {
    this.parts.push(condition);
    return this;
  }

  get sql(): string {
    return this.parts.length ? `where ${this.parts.join(' and ')}` : '';
  }
}

export interface KeysetQuery<T> {
  /** The select list (the cursor column is added). */
  columns: string;
  /** The relation with its alias, e.g. 'ops.releases r'. */
  from: string;
  where: Conditions;
  /** The keyset: a timestamptz expression and a uuid expression, both in the order below. */
  at: string;
  id: string;
  direction: 'asc' | 'desc';
  /** When rows are ordered by more than (at, id), e.g. gates within a release. */
  orderBy?: string;
  /** When the cursor's place needs more than (at, id) < (cursor). */
  afterCondition?: (where: Conditions, after: [string, string]) => void;
  /** The id the cursor names. */
  idOf: (row: T) => string;
  /**
   * When `from` computes its rows at a cost (a view evaluating a rule per row) and a cheaper
   * relation holds the keyset and every filter: the page's keys are read from `keys`, and `from`
   * only for the page's own keys, not for the one beyond them that only says there is a next page.
   * `where`, `at` and `id` then name the columns of `keys` (by its alias); `join` ties `from` to the
   * key, named `k.id`, e.g. 'v.release_id = k.id'. `from` must hold exactly one row per key.
   * (`offset 0` keeps the key's position test a one-time filter of the lateral read: flattened into
   * the join, it would be tested only after `from` was read.)
   */
  keys?: string;
  join?: string;
}

/**
 * One page of a connection in one statement: `first` rows (1..100) after the cursor, plus one
 * that only says there is a next page. Cursors carry the timestamp to the microsecond.
 */
export async function keysetPage<T extends object>(
  ctx: Context,
  args: { first?: number | null; after?: string | null },
  q: KeysetQuery<T>,
): Promise<Page<T>> {
  const size = pageSize(args.first);
  const after = decodeCursor(args.after);
  const w = q.where;
  if (after) {
    if (q.afterCondition) q.afterCondition(w, after);
    else {
      const op = q.direction === 'desc' ? '<' : '>';
      w.add(`(${q.at}, ${q.id}) ${op} (${w.param(after[0])}::timestamptz, ${w.param(after[1])}::uuid)`);
    }
  }
  const orderBy = q.orderBy ?? `${q.at} ${q.direction}, ${q.id} ${q.direction}`;
  const limit = w.param(size + 1);
  const sql =
    q.keys && q.join
      ? `select p.*, ${cursorAt('k.at')} from (
           select ${q.at} as at, ${q.id} as id, pg_catalog.row_number() over (order by ${orderBy}) as n
           from ${q.keys} ${w.sql} order by ${orderBy} limit ${limit}) k
         left join lateral (select ${q.columns} from ${q.from} where ${q.join} and k.n < ${limit} offset 0) p on true
         order by k.n`
      : `select ${q.columns}, ${cursorAt(q.at)} from ${q.from} ${w.sql} order by ${orderBy} limit ${limit}`;
  const rows = await readRows<T & { cursor_at: string }>(ctx, sql, w.params);
  return toPage(rows, size, (r) => encodeCursor(r.cursor_at, q.idOf(r)));
}
