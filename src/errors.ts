// The API's error family, and the one place Postgres errors are mapped onto it. Mutations expose
// these as union members, so a client sees __typename, a message and a field path, never a stack;
// anything else stays masked by Yoga.
import type { z } from 'zod';

export class BaseError extends Error {
  override name = 'BaseError';
  readonly code: string = 'BASE';
}

export interface FieldIssue {
  path: string;
  message: string;
}

export class ValidationError extends BaseError {
  override name = 'ValidationError';
  override readonly code = 'VALIDATION';
  constructor(
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
  }

  static fromZod(error: z.ZodError): ValidationError {
    const issues = error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(input)',
      message: i.message,
    }));
    return new ValidationError(issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues);
  }
}

export class ForbiddenError extends BaseError {
  override name = 'ForbiddenError';
  override readonly code = 'FORBIDDEN';
  constructor(
    message: string,
    readonly requiredPersonas: string[] = [],
  ) {
    super(message);
  }
}

export class NotFoundError extends BaseError {
  override name = 'NotFoundError';
  override readonly code = 'NOT_FOUND';
}

export class ConflictError extends BaseError {
  override name = 'ConflictError';
  override readonly code = 'CONFLICT';
}

export class UnsupportedSchemaVersionError extends BaseError {
  override name = 'UnsupportedSchemaVersionError';
  override readonly code = 'UNSUPPORTED_SCHEMA_VERSION';
}

interface PgError {
  code?: string;
  message: string;
  constraint?: string;
}

function isPgError(err: unknown): err is PgError {
  return (
    typeof err === 'object' && err !== null && typeof (err as PgError).code === 'string' && 'severity' in err
  );
}

/**
 * Maps an error raised by the SQL core onto the API's errors; returns the error unchanged when it
 * is not one the caller caused (it is then masked). SQLSTATEs: OPS03 forbidden, OPS04 not found,
 * OPS09 conflict, OPS22 invalid input (see the governance migrations), plus Postgres' own.
 */
export function fromDatabaseError(err: unknown): unknown {
  if (!isPgError(err)) return err;
  const code = err.code ?? '';
  switch (true) {
    case code === 'OPS03' || code === '42501':
      return new ForbiddenError(err.message);
    case code === 'OPS04':
      return new NotFoundError(err.message);
    case code === 'OPS09' || code === '23505' || code === '40001' || code === '40P01':
      return new ConflictError(
        code === '23505' ? `already exists (${err.constraint ?? 'unique'})` : err.message,
      );
    case code === '23503':
      return new NotFoundError(`a referenced row does not exist (${err.constraint ?? 'foreign key'})`);
    case code === 'OPS22' ||
      code.startsWith('22') ||
      code === '23514' ||
      code === '23502' ||
      code === 'P0001':
      return new ValidationError(err.message);
    default:
      return err;
  }
}
