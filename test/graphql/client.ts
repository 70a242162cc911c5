// The real server (createServer: armor, auth, masking, scope-auth, resolvers) called through
// yoga.fetch with typed documents from codegen, a token minted per call, and a count of the SQL
// statements its pool ran, so a test can say "this call never reached the database".
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { type GraphQLFormattedError, print } from 'graphql';
import pg from 'pg';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type OpsServer } from '../../src/server.js';
import type { TestDatabase } from '../support/db.js';

export const TEST_SECRET = 'graphql-test-secret-0123456789abcdef0123456789';

/** Statements run on the server's pool (begin, set_config and commit included). */
export interface StatementCounter {
  readonly count: number;
  /** The text of each statement since the last reset, for diagnostics. */
  readonly statements: readonly string[];
  /** Each statement since the last reset with its parameter values (none for a simple query). */
  readonly sent: readonly { text: string; values: unknown[] }[];
  reset(): void;
}

export interface OperationResult<TData> {
  status: number;
  data: TData | null | undefined;
  errors: GraphQLFormattedError[] | undefined;
}

export interface ExecuteOptions<TData, TVariables> {
  operation: TypedDocumentNode<TData, TVariables>;
  variables?: TVariables;
  persona: Persona;
  /** The token subject; `test-<persona>` when omitted. */
  sub?: string;
}

export interface TestApi {
  server: OpsServer;
  pool: pg.Pool;
  statements: StatementCounter;
  executeOperation<TData, TVariables>(
    options: ExecuteOptions<TData, TVariables>,
  ): Promise<OperationResult<TData>>;
  close(): Promise<void>;
}

function sqlText(args: unknown[]): string {
  const first = args[0];
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && 'text' in first) return String((first as { text: unknown }).text);
  return '<unknown>';
}

/**
 * Counts every query a client of the pool runs. node-postgres creates each physical client once
 * and emits 'connect' before handing it out, so wrapping there covers pool.connect() and
 * pool.query() alike, without wrapping a reused client twice.
 */
export function countStatements(pool: pg.Pool): StatementCounter {
  const seen: { text: string; values: unknown[] }[] = [];
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      seen.push({ text: sqlText(args), values: Array.isArray(args[1]) ? args[1] : [] });
      return query(...args);
    };
  });
  return {
    get count() {
      return seen.length;
    },
    get statements() {
      return seen.map((s) => s.text);
    },
    get sent() {
      return seen;
    },
    reset() {
      seen.length = 0;
    },
  };
}

/** The server as production builds it, over the request role's URL of the test database. */
export function createTestApi(db: Pick<TestDatabase, 'apiUrl'>, options: { pool?: pg.Pool } = {}): TestApi {
  const pool = options.pool ?? new pg.Pool({ connectionString: db.apiUrl, max: 4 });
  const statements = countStatements(pool);
  const config = loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: TEST_SECRET, LOG_LEVEL: 'silent' });
  const server = createServer({ config, pool, logger: createLogger({ level: 'silent' }) });

  async function executeOperation<TData, TVariables>({
    operation,
    variables,
    persona,
    sub,
  }: ExecuteOptions<TData, TVariables>): Promise<OperationResult<TData>> {
    const token = await mintToken({ secret: TEST_SECRET, persona, sub: sub ?? `test-${persona}` });
    const response = await server.yoga.fetch('http://ops.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: print(operation), variables: variables ?? {} }),
    });
    const body = (await response.json()) as { data?: TData | null; errors?: GraphQLFormattedError[] };
    return { status: response.status, data: body.data, errors: body.errors };
  }

  return {
    server,
    pool,
    statements,
    executeOperation,
    close: async () => {
      await server.close();
      if (!options.pool) await pool.end();
    },
  };
}

// ---- Narrowing the result unions of mutations ---------------------------------------------------

type Typed = { __typename: string };
type ErrorMember = { __typename: string; message?: string | null };
type Success<T> = Extract<T, { __typename: `${string}Success` }>;

function describeMember(result: unknown): string {
  if (result === null || result === undefined) return String(result);
  const r = result as ErrorMember & { issues?: unknown; requiredPersonas?: unknown };
  const extra = r.issues ?? r.requiredPersonas;
  return `${r.__typename}: ${r.message ?? ''}${extra ? ` ${JSON.stringify(extra)}` : ''}`;
}

/** The union member of the named type; throws naming what came back instead. */
export function expectTypename<T extends Typed, N extends T['__typename']>(
  result: T | null | undefined,
  typename: N,
): Extract<T, { __typename: N }> {
  if (!result || result.__typename !== typename) {
    throw new Error(`expected ${typename}, got ${describeMember(result)}`);
  }
  return result as Extract<T, { __typename: N }>;
}

/** The `data` of a `…Success` member; throws with the error's message otherwise. */
export function okData<T extends Typed>(
  result: T | null | undefined,
): Success<T> extends { data: infer D } ? D : never {
  if (!result?.__typename.endsWith('Success')) {
    throw new Error(`expected a Success member, got ${describeMember(result)}`);
  }
  return (result as unknown as { data: never }).data;
}

/** `data` of a result without GraphQL errors; throws with the errors otherwise. */
export function expectData<TData>(result: OperationResult<TData>): TData {
  if (result.errors?.length || !result.data) {
    throw new Error(`expected data, got errors: ${JSON.stringify(result.errors)}`);
  }
  return result.data;
}
