// Writes schema/ingest-envelope.v1.json from the zod envelope (npm run schema:ingest).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../src/db/migrate.js';
import { envelopeJsonSchema } from '../src/ingest/envelope.js';

export const ingestJsonSchemaFile = path.join(projectRoot, 'schema/ingest-envelope.v1.json');

export function renderIngestJsonSchema(): string {
  return `${JSON.stringify(envelopeJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  writeFileSync(ingestJsonSchemaFile, renderIngestJsonSchema());
  console.log(`wrote ${path.relative(projectRoot, ingestJsonSchemaFile)}`);
}
