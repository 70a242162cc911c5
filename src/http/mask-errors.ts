// Plugin (4): masked errors. Errors that are the caller's (AuthError; the BaseError family from
// src/errors.ts when a query field, not a mutation union, raises one) become coded GraphQL errors;
// a database that cannot be reached is a 503 with Retry-After; everything else is masked.
import type { GraphQLError } from 'graphql';
import { createGraphQLError, maskError } from 'graphql-yoga';
import { AuthError } from '../auth/jwt.js';
import {
  BaseError,
  ForbiddenError,
  fromDatabaseError,
  isConnectionError,
  RETRY_AFTER_SECONDS,
  ServiceUnavailableError,
  ValidationError,
} from '../errors.js';

/**
 * Whether a resolver's error is the caller's (a refused token or persona, a forbidden field, an
 * invalid or conflicting input, something not found) rather than the server's: it is answered with
 * its code and worth a line in the log, not an error with a stack. A database that cannot be reached
 * is the server's.
 */
export function isCallersError(error: unknown): boolean {
  const raw = (error as { originalError?: unknown } | null)?.originalError ?? error;
  if (raw instanceof AuthError) return true;
  return raw instanceof BaseError && !(raw instanceof ServiceUnavailableError);
}

/**
 * Errors are made with Yoga's createGraphQLError and recognised by shape, never with graphql's
 * instanceof, so they stay GraphQL errors whichever copy of graphql a caller loaded.
 */
export function maskErrors(isDev: boolean) {
  return (error: unknown, message: string): Error => {
    const located = error as {
      originalError?: unknown;
      nodes?: GraphQLError['nodes'];
      path?: GraphQLError['path'];
    };
    const raw = located?.originalError ?? error;
    const original = isConnectionError(raw) ? fromDatabaseError(raw) : raw;
    const at = { nodes: located?.nodes ?? undefined, path: located?.path ?? undefined };
    if (original instanceof ServiceUnavailableError) {
      return createGraphQLError(original.message, {
        ...at,
        extensions: {
          code: original.code,
          http: { status: 503, headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
        },
      });
    }
    if (original instanceof AuthError) {
      return createGraphQLError(original.message, {
        ...at,
        extensions: {
          code: original.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN',
          reason: original.code,
        },
      });
    }
    if (original instanceof BaseError) {
      const extensions: Record<string, unknown> = { code: original.code };
      if (original instanceof ForbiddenError && original.requiredPersonas.length) {
        extensions.requiredPersonas = original.requiredPersonas;
      }
      if (original instanceof ValidationError && original.issues.length) extensions.issues = original.issues;
      return createGraphQLError(original.message, { ...at, extensions });
    }
    return maskError(error, message, isDev);
  };
}
