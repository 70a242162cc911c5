// GraphQL over plain fetch with the typed documents from codegen (src/gql): the document is
// printed, sent as any client would, and the answer narrowed to the operation's type.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { getOperationAST, print } from 'graphql';
import { CliError, EXIT, type Issue } from './errors.js';
import {
  type Attempt,
  type Delivery,
  networkAttempt,
  retryAfterMs,
  retryableStatus,
  type TransportOptions,
  withRetries,
} from './transport.js';

export interface ApiConfig {
  /** Base URL of the control plane (or of the Supabase project for events). */
  apiUrl: string;
  graphqlUrl: string;
  token: string | undefined;
  /** Supabase's anon/publishable key, sent as `apikey` to a hosted Edge Function. */
  anonKey: string | undefined;
  transport: TransportOptions;
}

export function requireToken(api: ApiConfig): string {
  if (!api.token) {
    throw new CliError('no token: set OPS_TOKEN or pass --token', EXIT.auth, 'no_token', {
      hint: 'in development: ops-gates token mint --persona <persona>',
    });
  }
  return api.token;
}

interface GraphQLErrorBody {
  message?: string;
  extensions?: { code?: string; requiredPersonas?: string[]; issues?: Issue[] };
}

/** Top-level GraphQL errors as one CliError with the exit code of the most telling one. */
function errorsToCliError(errors: GraphQLErrorBody[], httpStatus: number): CliError {
  const codes = errors.map((e) => e.extensions?.code ?? '');
  const message = errors.map((e) => e.message ?? 'unknown error').join('; ');
  if (httpStatus === 401 || codes.includes('UNAUTHENTICATED')) {
    return new CliError(message, EXIT.auth, 'unauthenticated', { httpStatus });
  }
  if (codes.includes('FORBIDDEN')) return new CliError(message, EXIT.auth, 'forbidden', { httpStatus });
  if (codes.includes('NOT_FOUND')) return new CliError(message, EXIT.rejected, 'not_found', { httpStatus });
  if (codes.includes('VALIDATION')) {
    const issues = errors.flatMap((e) => e.extensions?.issues ?? []);
    return new CliError(message, EXIT.rejected, 'invalid', { httpStatus, issues });
  }
  // A document the server does not accept (an older or newer server), limits, masked errors.
  return new CliError(`the server refused the request: ${message}`, EXIT.unavailable, 'server_error', {
    httpStatus,
  });
}

export async function graphqlRequest<TData, TVariables>(
  api: ApiConfig,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<TData> {
  const token = requireToken(api);
  const operation = getOperationAST(document);
  const name = operation?.name?.value ?? 'operation';
  // A mutation without an idempotency key may have been applied when the answer is lost.
  const delivery: Delivery = operation?.operation === 'mutation' ? 'once' : 'idempotent';
  const body = JSON.stringify({ query: print(document), variables, operationName: name });
  const url = api.graphqlUrl;
  const { timeoutMs } = api.transport;

  const attempt = async (): Promise<Attempt<TData>> => {
    let status: number;
    let text: string;
    let retryAfter: string | null;
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          authorization: `Bearer ${token}`,
        },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = response.status;
      retryAfter = response.headers.get('retry-after');
      text = await response.text();
    } catch (err) {
      return networkAttempt(err, url, timeoutMs, delivery);
    }
    if (retryableStatus(status, delivery)) {
      return {
        kind: 'retry',
        error: new CliError(`${url} answered HTTP ${status}`, EXIT.unavailable, 'server_error', {
          httpStatus: status,
        }),
        retryAfterMs: retryAfterMs(retryAfter),
      };
    }
    let parsed: { data?: TData | null; errors?: GraphQLErrorBody[] };
    try {
      parsed = JSON.parse(text);
    } catch {
      const error =
        status === 401
          ? new CliError('the token was refused', EXIT.auth, 'unauthenticated', { httpStatus: status })
          : new CliError(
              `unexpected answer from ${url} (HTTP ${status}); is OPS_API_URL the control plane?`,
              EXIT.unavailable,
              'unexpected_response',
              { httpStatus: status },
            );
      return { kind: 'fail', error };
    }
    if (parsed.errors?.length) return { kind: 'fail', error: errorsToCliError(parsed.errors, status) };
    if (status >= 400 || !parsed.data) {
      return {
        kind: 'fail',
        error: new CliError(
          `unexpected answer from ${url} (HTTP ${status})`,
          EXIT.unavailable,
          'server_error',
          {
            httpStatus: status,
          },
        ),
      };
    }
    return { kind: 'done', value: parsed.data };
  };

  return (await withRetries(name, api.transport, attempt)).value;
}

// ---- Mutation result unions ------------------------------------------------------------------

interface ErrorMember {
  __typename: string;
  message?: string | null;
  code?: string | null;
  issues?: { path?: string | null; message?: string | null }[] | null;
  requiredPersonas?: string[] | null;
}

type SuccessData<T> = Extract<T, { __typename: `${string}Success` }> extends { data: infer D } ? D : never;

/** The `data` of a mutation's Success member; any error member becomes a CliError. */
export function unwrap<T extends { __typename: string }>(
  result: T | null | undefined,
  what: string,
): SuccessData<T> {
  if (result?.__typename.endsWith('Success')) return (result as unknown as { data: SuccessData<T> }).data;
  const e = (result ?? { __typename: 'NoResult' }) as ErrorMember;
  const message = `${what}: ${e.message ?? 'no result'}`;
  switch (e.__typename) {
    case 'ForbiddenError': {
      const listed = e.requiredPersonas?.every((r) => message.includes(r));
      const required =
        e.requiredPersonas?.length && !listed ? ` (allowed: ${e.requiredPersonas.join(', ')})` : '';
      return fail(new CliError(`${message}${required}`, EXIT.auth, 'forbidden'));
    }
    case 'ValidationError':
      return fail(
        new CliError(message, EXIT.rejected, 'invalid', {
          issues: (e.issues ?? []).map((i) => ({ path: i.path ?? '', message: i.message ?? '' })),
        }),
      );
    case 'NotFoundError':
      return fail(new CliError(message, EXIT.rejected, 'not_found'));
    case 'ConflictError':
      return fail(new CliError(message, EXIT.rejected, 'conflict'));
    default:
      return fail(new CliError(message, EXIT.rejected, (e.code ?? 'refused').toLowerCase()));
  }
}

function fail(error: CliError): never {
  throw error;
}
