// GraphQL Yoga with the security plugins in a fixed, deliberate order. A new plugin is added in
// the list below (or passed as ServerDeps.plugins, which run after these).

import { usePrometheus } from '@graphql-yoga/plugin-prometheus';
import type { GraphQLSchema } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type pg from 'pg';
import type { AttestationSigner } from '../attestation/dsse.js';
import type { Config } from '../config.js';
import { type Context, useRequestAuth, type Verifier } from '../context.js';
import type { Logger } from '../logger.js';
import { registry } from '../metrics.js';
import { useBodyLimit } from './body-limit.js';
import { useExactNumbers } from './exact-numbers.js';
import { graphiqlServing } from './graphiql.js';
import { useIntrospectionPolicy } from './introspection-policy.js';
import { GRAPHQL_LIMITS, useDocumentLimits } from './limits.js';
import { isCallersError, maskErrors } from './mask-errors.js';
import { useRequestLog } from './request-log.js';
import { useRequestTransaction } from './request-transaction.js';

export const GRAPHQL_PATH = '/graphql';
export const METRICS_PATH = '/metrics';

export type OpsYoga = YogaServerInstance<Record<string, unknown>, Partial<Context>>;

export interface YogaDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  schema: GraphQLSchema;
  verify: Verifier;
  attestation?: AttestationSigner;
  /** Run after the built-in plugins (e.g. subscriptions). */
  plugins?: Plugin<Partial<Context>>[];
}

export function createOpsYoga(deps: YogaDeps): OpsYoga {
  const { config, pool, logger, verify, attestation } = deps;
  const isDev = config.env === 'development';
  const graphiql = graphiqlServing(config.graphiql);
  return createYoga<Record<string, unknown>, Partial<Context>>({
    schema: deps.schema,
    graphqlEndpoint: GRAPHQL_PATH,
    landingPage: false,
    // Same-origin only: GraphiQL is served from here; agents and the CLI are not browsers.
    cors: false,
    // The body limit is useBodyLimit below (body-limit.ts): once, not again for a body already read.
    maxRequestBodySize: false,
    // No field takes a file; a multipart body's operations would reach the resolvers JSON.parsed
    // without the exact-numbers check (exact-numbers.ts).
    multipart: false,
    maskedErrors: { maskError: maskErrors(isDev), isDev },
    // Rejected documents are not remembered, so every rejection is counted and logged.
    parserAndValidationCache: { errorCache: { get: () => undefined, set: () => {} } },
    ...graphiql.options,
    logging: {
      debug: (...args) => logger.debug({ detail: args.map(String) }, 'yoga'),
      info: (...args) => logger.info({ detail: args.map(String) }, 'yoga'),
      warn: (...args) => logger.warn({ detail: args.map(String) }, 'yoga'),
      error: (...args) => {
        const err = args.find((a) => a instanceof Error);
        // Yoga logs every error it masks, the caller's own too (a persona refused a field): those
        // are answered with their code, and the request log counts them; no stack, no error level.
        if (err && isCallersError(err)) {
          const { code } = ((err as { originalError?: unknown }).originalError ?? err) as { code?: string };
          logger.info({ code, message: err.message }, 'graphql error answered to the caller');
          return;
        }
        logger.error(err ? { err } : { detail: args.map(String) }, 'yoga error');
      },
    },
    plugins: [
      // (1) Identity first: the token is verified once, before parsing; a bad one ends the
      //     request with 401, so nothing below runs for an anonymous caller. With GraphiQL and
      //     introspection on, an anonymous introspection-only document is the one request
      //     answered without a token (GraphiQL's schema fetch on first open).
      useRequestAuth({
        verify,
        pool,
        anonymousIntrospection:
          config.graphiql && config.introspection ? { maxTokens: GRAPHQL_LIMITS.maxTokens } : undefined,
      }),
      // (1b) The attestation signer, for the signed evidence bundle.
      {
        onContextBuilding({ extendContext }) {
          if (attestation) extendContext({ attestation });
        },
      } satisfies Plugin<Partial<Context>>,
      // (1c) One read transaction per request, finished when execution is done.
      useRequestTransaction(),
      // (2) Size limits on the document, each rejection counted by limit.
      useDocumentLimits({ production: config.env === 'production' }),
      // (3) Introspection: only when OPS_INTROSPECTION is on, for authenticated callers (and the
      //     anonymous schema fetch above).
      useIntrospectionPolicy(config.introspection),
      // (4) Masked errors: configured above (maskedErrors).
      // (5) Prometheus metrics at /metrics, in the registry the control plane's counters share.
      //     The plugin serves the registry and records none of its per-request metrics: each
      //     hooks Envelop's phases, and together they cost about 0.2 ms of CPU a request
      //     (docs/profiling.md). The request count, the HTTP duration histogram (same names and
      //     labels as the plugin's) and the errors by code are recorded by (6) from the fields it
      //     already gathers; the per-phase histograms (parse, validate, context, execute,
      //     subscribe), the parse-to-execute duration (the HTTP one covers it) and the error count
      //     by phase and path (now by code) are gone. The URL would carry GET query strings into
      //     label values.
      usePrometheus({
        endpoint: METRICS_PATH,
        registry,
        labels: { url: false },
        metrics: {
          graphql_envelop_deprecated_field: false,
          graphql_envelop_request: false,
          graphql_envelop_request_duration: false,
          graphql_envelop_request_time_summary: false,
          graphql_envelop_phase_parse: false,
          graphql_envelop_phase_validate: false,
          graphql_envelop_phase_context: false,
          graphql_envelop_error_result: false,
          graphql_envelop_phase_execute: false,
          graphql_envelop_phase_subscribe: false,
          graphql_yoga_http_duration: false,
        },
      }),
      // (6) One log line per request, and the request's metrics.
      useRequestLog(logger),
      // (6a) The GraphiQL page compressed and revalidated (graphiql.ts), when GraphiQL is on.
      ...(graphiql.plugin ? [graphiql.plugin] : []),
      ...(deps.plugins ?? []),
      // (6b) Numbers in variables and extensions held exactly, or a 400 naming them (the JSON
      //      parser for POST bodies).
      useExactNumbers(),
      // (7) The body limit, after every request parser (Yoga's and any plugin's) so it wraps the
      //     one chosen.
      useBodyLimit(config.maxBodyBytes),
    ],
  });
}
