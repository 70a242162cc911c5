// The HTTP shell, composed: Yoga with its plugins (src/http/yoga.ts), the router in front of it
// (src/http/router.ts) and the Node adapter (src/http/node-adapter.ts). No business logic lives
// here: resolvers and route handlers bring it. A plugin or a route is added through ServerDeps.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type pg from 'pg';
import { createAttestationSigner } from './attestation/dsse.js';
import { createVerifier } from './auth/jwt.js';
import type { Config } from './config.js';
import type { Context } from './context.js';
import { closeOutboxListener, outboxListener } from './events/listener.js';
import { createNodeAdapter } from './http/node-adapter.js';
import { createRouter, type Route } from './http/router.js';
import { rememberVerified } from './http/verified-tokens.js';
import { createOpsYoga, type OpsYoga } from './http/yoga.js';
import type { Logger } from './logger.js';
import { watchNotificationQueue } from './metrics.js';
import { schema } from './schema.js';

export { GRAPHQL_LIMITS } from './http/limits.js';
export { createNodeServer, isLoopbackAddress } from './http/node-adapter.js';
export { INGEST_PATH, type Route, type RouteContext } from './http/router.js';
export { METRICS_PATH } from './http/yoga.js';

export interface ServerDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  /** Extra HTTP routes, matched before GraphQL (e.g. POST /functions/v1/ops-event-ingest). */
  routes?: Route[];
  /** Extra Yoga plugins, run after the built-in ones (src/http/yoga.ts). */
  plugins?: Plugin<Partial<Context>>[];
  /** Defaults to src/schema.ts; tests pass one with extra fields. */
  schema?: GraphQLSchema;
}

export interface OpsServer {
  yoga: OpsYoga;
  /** The whole server (routes, then Yoga) at the Fetch level, without the HTTP body limit. */
  fetch: (request: Request) => Promise<Response>;
  /** Node HTTP handler: body limit, routes, Yoga. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  /** Answers new requests with `Connection: close`, waits for in-flight ones, disposes Yoga. */
  close: (options?: { timeoutMs?: number }) => Promise<void>;
}

export function createServer(deps: ServerDeps): OpsServer {
  const { config, pool, logger } = deps;
  // One token check for every route and GraphQL, remembering verified tokens for a short while
  // (exact header, until exp, 30 s at most): verification was the largest share of a request's own CPU.
  const verify = rememberVerified(createVerifier(config.auth));
  const attestation = config.attestationKeyPem
    ? createAttestationSigner(config.attestationKeyPem)
    : undefined;
  const yoga = createOpsYoga({
    config,
    pool,
    logger,
    verify,
    attestation,
    schema: deps.schema ?? schema,
    plugins: deps.plugins,
  });
  const router = createRouter({ config, pool, logger, verify, yoga, attestation, routes: deps.routes });
  const adapter = createNodeAdapter({ config, logger, router });
  // The process's outbox listener logs its announcing failures (a full notification queue) here,
  // and /metrics reports the database's notification queue.
  outboxListener(pool, logger);
  const unwatchQueue = watchNotificationQueue(pool);
  return {
    yoga,
    fetch: router.fetch,
    handle: adapter.handle,
    close: async (options) => {
      // Live event streams end first, so their requests are not waited for.
      unwatchQueue();
      await closeOutboxListener(pool);
      await adapter.drain(options);
      await yoga.dispose();
    },
  };
}
