// The generated artifacts are current: the printed GraphQL schema, the ingest envelope's JSON
// Schema, and the typed documents codegen writes from them. Any of them stale fails here with the
// command that fixes it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { graphiqlExamples } from '../../src/http/graphiql.js';
import { schema } from '../../src/schema.js';
import { generateTypedDocuments } from '../../tools/codegen.js';
import { ingestJsonSchemaFile, renderIngestJsonSchema } from '../../tools/json-schema-cli.js';
import { renderSchema, schemaFile } from '../../tools/schema-cli.js';

const read = (file: string) => readFileSync(file, 'utf8');

describe('generated artifacts', () => {
  it('schema/schema.graphql is the schema the server builds', () => {
    expect(read(schemaFile), 'schema/schema.graphql is stale: run npm run codegen').toBe(renderSchema());
  });

  it('schema/ingest-envelope.v1.json is the zod envelope', () => {
    expect(read(ingestJsonSchemaFile), 'the ingest JSON Schema is stale: run npm run codegen').toBe(
      renderIngestJsonSchema(),
    );
  });

  it('src/gql is what codegen generates from the operations', async () => {
    const files = await generateTypedDocuments();
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const onDisk = read(path.resolve(projectRoot, file.filename));
      expect(onDisk, `${file.filename} is stale: run npm run codegen`).toBe(file.content);
    }
  });

  it('the example operations GraphiQL opens with are valid against the schema', () => {
    const errors = validate(schema, parse(graphiqlExamples())).map((e) => e.message);
    expect(errors).toEqual([]);
  });
});
