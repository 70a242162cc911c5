// Typed documents for the tests and the CLI, generated from schema/operations/*.graphql against
// the printed schema (npm run codegen). The client preset writes one consistent module set, so
// enums are defined once.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: 'schema/schema.graphql',
  documents: ['schema/operations/*.graphql'],
  generates: {
    'src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { DateTime: 'string', JSON: 'unknown', ID: 'string' },
        documentMode: 'documentNode',
        emitLegacyCommonJSImports: false,
      },
    },
  },
};

export default config;
