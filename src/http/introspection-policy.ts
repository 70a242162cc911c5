// Plugin (3): introspection only when OPS_INTROSPECTION is on, and only for an authenticated
// caller or the anonymous introspection-only document plugin (1) let through (GraphiQL's first
// schema fetch; see anonymous-introspection.ts).
import type { GraphQLError, ValidationRule } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import { requestInfo } from '../context.js';

/**
 * Refuses `__schema` and `__type`; `__typename` stays allowed. Yoga keys its validation cache by
 * rule names, so a document validated with this rule never shares a cached result with one without.
 */
const NoIntrospectionRule: ValidationRule = (context) => ({
  Field(node) {
    if (node.name.value === '__schema' || node.name.value === '__type') {
      context.reportError(
        createGraphQLError(
          `GraphQL introspection is not allowed here, but the query contained ${node.name.value}.`,
          { nodes: [node], extensions: { code: 'INTROSPECTION_DISABLED' } },
        ) as GraphQLError,
      );
    }
  },
});

export function useIntrospectionPolicy(enabled: boolean): Plugin {
  return {
    onValidate({ addValidationRule, context }) {
      const request = (context as { request?: Request }).request;
      const info = request ? requestInfo(request) : undefined;
      if (!enabled || !(info?.identity || info?.anonymousIntrospection))
        addValidationRule(NoIntrospectionRule);
    },
  };
}
