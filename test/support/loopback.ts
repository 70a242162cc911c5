// A Node HTTP server on a free loopback port for a test file, and its shutdown; the API served so.
import { createServer as createHttpServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type OpsServer } from '../../src/server.js';
import type { TestDatabase } from './db.js';

/** Listens on 127.0.0.1 at a port the kernel picks; resolves to its base URL (`http://127.0.0.1:<port>`). */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes the server and every connection it still holds (keep-alive ones included). */
export async function closeLoopback(server: Server | undefined): Promise<void> {
  if (!server) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** The real server (createServer) behind a Node HTTP server on loopback, for a test file. */
export interface ServedApi {
  app: OpsServer;
  /** `http://127.0.0.1:<port>` */
  base: string;
  close(): Promise<void>;
}

/**
 * Serves the API on the request role's pool of `db` with a test configuration (NODE_ENV=test, the
 * JWT secret given, `env` on top) and silent logs; resolves once it listens.
 */
export async function serveApi(
  db: TestDatabase,
  secret: string,
  env: Record<string, string> = {},
): Promise<ServedApi> {
  const app = createServer({
    config: loadConfig({ NODE_ENV: 'test', SUPABASE_JWT_SECRET: secret, ...env }),
    pool: db.api,
    logger: createLogger({ level: 'silent' }),
  });
  const http = createHttpServer(app.handle);
  const base = await listenOnLoopback(http);
  return {
    app,
    base,
    close: async () => {
      await app.close();
      await closeLoopback(http);
    },
  };
}

/**
 * POSTs a GraphQL document to the served API as `persona` (a token minted with `secret`, subject
 * `sub`); resolves with the parsed JSON answer, whatever its status.
 */
export async function graphqlAs(
  api: ServedApi,
  secret: string,
  persona: Persona,
  sub: string,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data?: Record<string, unknown> | null; errors?: { message: string }[] }> {
  const res = await fetch(`${api.base}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await mintToken({ secret, persona, sub })}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: Record<string, unknown> | null; errors?: { message: string }[] };
}

/** An answer as it came over the wire: status, headers, and the body's bytes undecoded. */
export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * One request through node:http with exactly the headers given (nothing adds an Accept-Encoding or
 * decodes the body on the way); resolves to the raw answer.
 */
export function rawRequest(
  url: string,
  headers: Record<string, string>,
  method = 'GET',
  body?: string,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
