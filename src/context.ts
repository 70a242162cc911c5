// What every request carries: the verified identity (checked once, before any parsing), the
// pool, a request id, and withPersona bound to that identity so a resolver cannot pick another.
import { randomUUID } from 'node:crypto';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type pg from 'pg';
import type { AttestationSigner } from './attestation/dsse.js';
import { AuthError, type createVerifier, type Identity } from './auth/jwt.js';
import { createRequestTransaction, type RequestTransaction } from './db/request-transaction.js';
import { withPersona } from './db/with-persona.js';
import { isIntrospectionOnlyQuery } from './http/anonymous-introspection.js';
import { unauthenticatedRequests } from './metrics.js';

export interface Context {
  identity: Identity | null;
  authError: AuthError | null;
  pool: pg.Pool;
  requestId: string;
  /** One transaction as the caller's persona; throws AuthError 401 (no identity) or 403 (no persona). */
  withPersona: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
  /**
   * A read in the request's one transaction as the caller's persona (src/db/request-transaction.ts),
   * opened on first use and finished when execution is done; same errors as withPersona.
   */
  read: <T>(fn: (client: pg.PoolClient) => Promise<T>) => Promise<T>;
  /** Signs evidence attestations; absent when no attestation key is configured. */
  attestation?: AttestationSigner;
}

/** What scope-auth guarantees once `authenticated` (or any persona scope) has passed. */
export type AuthenticatedContext = Context & { identity: Identity };

export type Verifier = ReturnType<typeof createVerifier>;

/** Per-request facts gathered along the way, read by the context factory and the request log. */
export interface RequestInfo {
  requestId: string;
  startedAt: number;
  /** Undefined until the token has been checked (routes that never check it leave it so). */
  identity?: Identity | null;
  authError?: AuthError | null;
  operationName?: string;
  /** extensions.code of each error in the GraphQL result, for the request log. */
  errorCodes?: string[];
  /** No Authorization header, and a document that only introspects (see useRequestAuth). */
  anonymousIntrospection?: boolean;
  /** query, mutation or subscription, once the document is known. */
  operationType?: string;
  /** The request's read transaction, once a resolver has read. */
  readTransaction?: RequestTransaction;
}

const infos = new WeakMap<Request, RequestInfo>();

/** The request's info, created on first sight (the HTTP layer or the first Yoga hook). */
export function requestInfo(request: Request): RequestInfo {
  let info = infos.get(request);
  if (!info) {
    info = { requestId: randomUUID(), startedAt: performance.now() };
    infos.set(request, info);
  }
  return info;
}

export async function authenticate(
  verify: Verifier,
  authorizationHeader: string | null,
): Promise<{ identity: Identity | null; authError: AuthError | null }> {
  try {
    return { identity: await verify(authorizationHeader), authError: null };
  } catch (err) {
    if (err instanceof AuthError) return { identity: null, authError: err };
    // Not the caller's fault (e.g. the JWKS endpoint is down): let it surface as a server error.
    throw err;
  }
}

export function createContext(pool: pg.Pool, info: RequestInfo): Context {
  const identity = info.identity ?? null;
  const authError = info.authError ?? null;
  const anonymous = () =>
    Promise.reject(authError ?? new AuthError(401, 'missing_token', 'authentication required'));
  return {
    identity,
    authError,
    pool,
    requestId: info.requestId,
    withPersona: (fn) => (identity ? withPersona(pool, identity, fn) : anonymous()),
    read: (fn) => {
      if (!identity) return anonymous();
      // Reads after the request's execution is done (a subscription's events) take their own.
      if (info.readTransaction?.finished) return withPersona(pool, identity, fn);
      info.readTransaction ??= createRequestTransaction(pool, identity, {
        snapshot: () => info.operationType === 'query',
      });
      return info.readTransaction.run(fn);
    },
  };
}

/** RFC 6750: name the problem only when a token was presented. */
function wwwAuthenticate(err: AuthError): string {
  return err.code === 'missing_token'
    ? 'Bearer realm="ops"'
    : `Bearer realm="ops", error="invalid_token", error_description="${err.message.replace(/["\\]/g, '')}"`;
}

/**
 * Plugin (1): verifies the bearer token once per GraphQL request, before parsing, and answers
 * HTTP 401 with a GraphQL error when it is missing or bad, so no later phase (parse, validate,
 * execute, the database) ever runs for an anonymous caller. One exception, when
 * `anonymousIntrospection` is given (GraphiQL and introspection both on): a request with no
 * Authorization header whose document only introspects is answered, so GraphiQL's schema fetch on
 * first open succeeds; it reaches no resolver and no database.
 */
export function useRequestAuth(options: {
  verify: Verifier;
  pool: pg.Pool;
  anonymousIntrospection?: { maxTokens: number };
}): Plugin<Partial<Context>> {
  return {
    onRequest({ request }) {
      requestInfo(request);
    },
    async onParams({ request, params, setResult }) {
      const info = requestInfo(request);
      info.operationName = params.operationName ?? undefined;
      const { identity, authError } = await authenticate(
        options.verify,
        request.headers.get('authorization'),
      );
      info.identity = identity;
      info.authError = authError;
      if (
        authError?.code === 'missing_token' &&
        options.anonymousIntrospection &&
        isIntrospectionOnlyQuery(params.query, options.anonymousIntrospection.maxTokens)
      ) {
        info.anonymousIntrospection = true;
        return;
      }
      if (authError) {
        unauthenticatedRequests.inc();
        setResult({
          errors: [
            createGraphQLError(authError.message, {
              extensions: {
                code: 'UNAUTHENTICATED',
                reason: authError.code,
                http: { status: 401, headers: { 'WWW-Authenticate': wwwAuthenticate(authError) } },
              },
            }),
          ],
        });
      }
    },
    onContextBuilding({ context, extendContext }) {
      const request = (context as { request?: Request }).request;
      if (request) extendContext(createContext(options.pool, requestInfo(request)));
    },
  };
}
