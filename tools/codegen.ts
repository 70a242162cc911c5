// Typed documents for the tests and the CLI, generated from schema/operations/*.graphql against
// the printed schema (npm run codegen) by the codegen client preset into src/gql/. The preset
// writes one consistent module set, so enums are defined once. Driven through @graphql-codegen/core
// directly: the codegen CLI's loaders (URLs, GitHub, Apollo) are not needed for local files, and
// their dependencies do not support the Node version this project supports.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { preset } from '@graphql-codegen/client-preset';
import { codegen } from '@graphql-codegen/core';
import type { Types } from '@graphql-codegen/plugin-helpers';
import { buildSchema, parse, print } from 'graphql';
import { projectRoot } from '../src/db/migrate.js';

const SCHEMA = path.join(projectRoot, 'schema', 'schema.graphql');
const OPERATIONS = path.join(projectRoot, 'schema', 'operations');
const OUTPUT = 'src/gql/';

const CONFIG = {
  useTypeImports: true,
  enumsAsTypes: true,
  scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' },
  documentMode: 'documentNode',
  emitLegacyCommonJSImports: false,
};

/** The files codegen writes: path relative to the project, and content. */
export async function generateTypedDocuments(): Promise<{ filename: string; content: string }[]> {
  const sdl = readFileSync(SCHEMA, 'utf8');
  const documents: Types.DocumentFile[] = readdirSync(OPERATIONS)
    .filter((f) => f.endsWith('.graphql'))
    .sort()
    .map((f) => {
      const location = path.join(OPERATIONS, f);
      const document = parse(readFileSync(location, 'utf8'));
      // As the codegen file loader hands them over: the printed document, without comments.
      return { location, document, rawSDL: print(document) };
    });
  const outputs = await preset.buildGeneratesSection({
    baseOutputDir: OUTPUT,
    presetConfig: { fragmentMasking: false },
    plugins: [],
    schema: parse(sdl),
    schemaAst: buildSchema(sdl),
    documents,
    config: CONFIG,
    pluginMap: {},
  });
  return Promise.all(
    outputs.map(async (output) => ({
      filename: output.filename,
      content: await codegen({ ...output, emitLegacyCommonJSImports: false }),
    })),
  );
}

// npm run codegen
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const file of await generateTypedDocuments()) {
    const target = path.join(projectRoot, file.filename);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, file.content);
    process.stdout.write(`generated ${file.filename}\n`);
  }
}
