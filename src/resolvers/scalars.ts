// Scalars shared by every domain: timestamps as ISO-8601 strings and jsonb columns as JSON.
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { builder } from '../builder.js';
import { parseInstant } from '../time.js';

export const DateTime = builder.scalarType('DateTime', {
  description:
    'An ISO-8601 instant with its offset, e.g. 2026-11-26T10:00:00Z or 2026-11-26T11:00:00+01:00. A local time without Z or an offset is refused: it names a different instant in every time zone.',
  serialize: (value) => (value instanceof Date ? value.toISOString() : new Date(String(value)).toISOString()),
  parseValue: (value) => {
    const parsed = parseInstant(value);
    if (!parsed.ok) throw new GraphQLError(`DateTime ${parsed.message}`);
    return parsed.date;
  },
});

function literalToJson(node: ValueNode): unknown {
  switch (node.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return node.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(node.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return node.values.map(literalToJson);
    case Kind.OBJECT:
      return Object.fromEntries(node.fields.map((f) => [f.name.value, literalToJson(f.value)]));
    default:
      throw new GraphQLError('JSON literals cannot contain variables');
  }
}

export const JSONScalar = builder.scalarType('JSON', {
  description: 'Any JSON value (jsonb columns such as metadata and rationale).',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (node) => literalToJson(node),
});
