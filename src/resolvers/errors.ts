// The error union members every mutation can return, and the one helper that runs a mutation:
// validate the input with zod, call the SQL function as the caller's persona, map what the
// database refused onto these errors.
import type pg from 'pg';
import type { z } from 'zod';
import { builder } from '../builder.js';
import type { AuthenticatedContext } from '../context.js';
import {
  BaseError,
  ConflictError,
  ForbiddenError,
  fromDatabaseError,
  NotFoundError,
  UnsupportedSchemaVersionError,
  ValidationError,
} from '../errors.js';
import { storableJson } from '../ingest/storable-json.js';

const ErrorInterface = builder.interfaceRef<BaseError>('Error').implement({
  description: 'A refusal the caller can act on.',
  fields: (t) => ({
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

builder.objectType(BaseError, {
  name: 'BaseError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof BaseError && value.constructor === BaseError,
});

const FieldIssue = builder.objectRef<{ path: string; message: string }>('FieldIssue').implement({
  fields: (t) => ({ path: t.exposeString('path'), message: t.exposeString('message') }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is malformed or breaks a rule; `issues` names each field.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({ issues: t.field({ type: [FieldIssue], resolve: (e) => e.issues }) }),
});

builder.objectType(ForbiddenError, {
  name: 'ForbiddenError',
  description: "The caller's persona may not do this (or a separation-of-duties rule forbids it).",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ForbiddenError,
  fields: (t) => ({ requiredPersonas: t.exposeStringList('requiredPersonas') }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The current state does not allow it (e.g. not eligible, already deployed, key reused).',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
});

builder.objectType(UnsupportedSchemaVersionError, {
  name: 'UnsupportedSchemaVersionError',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnsupportedSchemaVersionError,
});

export const MUTATION_ERRORS = [ValidationError, ForbiddenError, NotFoundError, ConflictError];

/** Validates, then runs `call` in one transaction as the caller; database refusals become errors. */
export async function runMutation<S extends z.ZodType, T>(
  ctx: AuthenticatedContext,
  schema: S,
  input: unknown,
  call: (client: pg.PoolClient, input: z.output<S>) => Promise<T>,
): Promise<T> {
  // JSON inputs (metadata, scopeMetadata, rationaleStructured, timeline, ...) and text alike: what
  // PostgreSQL cannot store is refused here, naming its path, before any statement runs.
  const storable = storableJson(input);
  if (storable.issues.length > 0) {
    throw new ValidationError(
      storable.issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      storable.issues,
    );
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw ValidationError.fromZod(parsed.error);
  try {
    return await ctx.withPersona((client) => call(client, parsed.data));
  } catch (err) {
    throw fromDatabaseError(err);
  }
}

/**
 * Calls a SQL function that returns one row of a table type, with named arguments; undefined ones
 * are left out so the function's defaults apply.
 */
export async function callRow<T>(
  client: pg.PoolClient,
  fn: string,
  args: Record<string, unknown>,
): Promise<T> {
  const given = Object.entries(args).filter(([, v]) => v !== undefined);
  const list = given.map(([name], i) => `${name} => $${i + 1}`).join(', ');
  const values = given.map(([, v]) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date) ? JSON.stringify(v) : v,
  );
  const { rows } = await client.query<T & object>(`select * from ${fn}(${list})`, values);
  return rows[0] as T;
}
