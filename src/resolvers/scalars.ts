// Scalars shared by every domain: timestamps as ISO-8601 strings and jsonb columns as JSON.
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { builder } from '../builder.js';
import { lossyNumbers } from '../ingest/json-text.js';
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
    case Kind.FLOAT: {
      // A literal a double cannot hold by value (9007199254740993, 1e-400) would reach the
      // database as another number: refused here, where its text is still known. (Out of range
      // upwards reads as Infinity, which the JSON checks behind every mutation refuse by path.)
      const lossy = lossyNumbers(node.value, 1)[0];
      if (lossy && !lossy.parsed.endsWith('Infinity')) {
        throw new GraphQLError(
          `JSON number ${node.value} cannot be held exactly (it reads as ${lossy.parsed}); send it as a string`,
        );
      }
      return Number(node.value);
    }
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
