// Plugin (2): size limits on the GraphQL document (graphql-armor), each rejection counted by
// limit and answered with a code and limit a client can act on.
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLError } from 'graphql';
import { createGraphQLError } from 'graphql-yoga';
import { limitRejections } from '../metrics.js';

export const GRAPHQL_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  maxTokens: 2000,
  maxCost: 5000,
  maxDirectives: 50,
} as const;

export type LimitName = 'depth' | 'aliases' | 'tokens' | 'cost' | 'directives' | 'body_size';

/** The armor's own error, replaced by one a client can act on (code, limit, HTTP 400). */
function rejectWith(limit: LimitName) {
  return [
    (_ctx: unknown, err: GraphQLError): never => {
      limitRejections.inc({ limit });
      throw createGraphQLError(err.message.replace(/^Syntax Error: /, ''), {
        // spec: like any invalid document, 400 for application/graphql-response+json and 200
        // for plain application/json (GraphQL over HTTP), whichever phase caught it.
        extensions: { code: 'QUERY_LIMIT_EXCEEDED', limit, http: { status: 400, spec: true } },
      });
    },
  ];
}

/**
 * The depth and cost rules only skip real `__schema` fields (introspection), never operations or
 * fragments merely named __schema, and reuse fragment depths relative to where they are spread.
 * Field suggestions ("Did you mean ...?") would map the schema for a stranger: off in production.
 */
export function useDocumentLimits(options: { production: boolean }) {
  return EnvelopArmorPlugin({
    maxTokens: { n: GRAPHQL_LIMITS.maxTokens, onReject: rejectWith('tokens') },
    maxDepth: {
      n: GRAPHQL_LIMITS.maxDepth,
      ignoreIntrospection: true,
      flattenFragments: false,
      onReject: rejectWith('depth'),
    },
    maxAliases: { n: GRAPHQL_LIMITS.maxAliases, onReject: rejectWith('aliases') },
    costLimit: { maxCost: GRAPHQL_LIMITS.maxCost, onReject: rejectWith('cost') },
    maxDirectives: { n: GRAPHQL_LIMITS.maxDirectives, onReject: rejectWith('directives') },
    blockFieldSuggestion: { enabled: options.production },
  });
}
