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

/** How long a client is asked to wait (Retry-After, seconds) when the database is unreachable. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The database cannot be reached right now (restarting, down, out of connections): not the
 * caller's fault and not a bug; HTTP 503 with Retry-After, and the same request may be retried.
 */
export class ServiceUnavailableError extends BaseError {
  override name = 'ServiceUnavailableError';
  override readonly code = 'SERVICE_UNAVAILABLE';
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
}

// Errors of node-postgres and of the socket underneath that mean "no usable connection".
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const CONNECTION_ERROR_MESSAGES = [
  /^Connection terminated/i,
  /^timeout exceeded when trying to connect/i,
  /^Client has encountered a connection error and is not queryable/i,
  /^Client was closed and is not queryable/i,
  /^Query read timeout/i,
];

/**
 * True for errors that say the database is unreachable rather than that a statement failed:
 * SQLSTATE class 08 (connection exception), 57P01-57P03 (admin/crash shutdown, cannot connect
 * now), 53300 (too many connections), socket errors and node-postgres' own connection messages.
 */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (code.startsWith('08') || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true;
    if (CONNECTION_ERROR_CODES.has(code)) return true;
  }
  return typeof message === 'string' && CONNECTION_ERROR_MESSAGES.some((re) => re.test(message));
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
 * OPS09 conflict, OPS22 invalid input (see the governance migrations), plus Postgres' own; a lost
 * or refused connection becomes ServiceUnavailableError (503).
 */
export function fromDatabaseError(err: unknown): unknown {
  if (err instanceof BaseError) return err;
  if (isConnectionError(err))
    return new ServiceUnavailableError('the database is unavailable; retry shortly');
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
