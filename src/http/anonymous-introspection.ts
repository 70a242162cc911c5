// Which anonymous request may still be answered: a document that only introspects the schema,
// sent with no Authorization header at all, while GraphiQL and introspection are both on. The
// schema is public (schema/schema.graphql is in the repository); GraphiQL fetches it when the page
// opens, before anyone could have pasted a token. Any other anonymous request stays a 401.
import { type DocumentNode, Kind, parse, type SelectionSetNode } from 'graphql';

const INTROSPECTION_ROOTS = new Set(['__schema', '__type', '__typename']);

/** Every root selection of every operation is `__schema`, `__type` or `__typename`. */
function rootsAreIntrospection(
  selectionSet: SelectionSetNode,
  fragments: Map<string, SelectionSetNode>,
  seen: Set<string>,
): boolean {
  return selectionSet.selections.every((selection) => {
    if (selection.kind === Kind.FIELD) return INTROSPECTION_ROOTS.has(selection.name.value);
    if (selection.kind === Kind.INLINE_FRAGMENT)
      return rootsAreIntrospection(selection.selectionSet, fragments, seen);
    const name = selection.name.value;
    if (seen.has(name)) return true; // a cycle is the validator's to refuse
    const fragment = fragments.get(name);
    return !!fragment && rootsAreIntrospection(fragment, fragments, new Set([...seen, name]));
  });
}

/** True when the document holds query operations only, each selecting introspection fields only. */
export function isIntrospectionOnly(document: DocumentNode): boolean {
  const fragments = new Map<string, SelectionSetNode>();
  const operations = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION)
      fragments.set(definition.name.value, definition.selectionSet);
    else if (definition.kind === Kind.OPERATION_DEFINITION) operations.push(definition);
    else return false;
  }
  return (
    operations.length > 0 &&
    operations.every(
      (op) => op.operation === 'query' && rootsAreIntrospection(op.selectionSet, fragments, new Set()),
    )
  );
}

/**
 * Parses the request's query text (bounded by the same token limit the armor applies later) and
 * says whether it only introspects; anything that does not parse is not.
 */
export function isIntrospectionOnlyQuery(query: unknown, maxTokens: number): boolean {
  if (typeof query !== 'string') return false;
  try {
    return isIntrospectionOnly(parse(query, { noLocation: true, maxTokens }));
  } catch {
    return false;
  }
}
