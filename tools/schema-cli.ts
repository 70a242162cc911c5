// Prints the GraphQL schema, sorted, to schema/schema.graphql (npm run schema:print); a test
// fails when the checked-in file is stale.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { projectRoot } from '../src/db/migrate.js';
import { schema } from '../src/schema.js';

export const schemaFile = path.join(projectRoot, 'schema/schema.graphql');

export function renderSchema(): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  writeFileSync(schemaFile, renderSchema());
  console.log(`wrote ${path.relative(projectRoot, schemaFile)}`);
}
