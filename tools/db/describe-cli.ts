// `npm run db:schema`: builds the schema from supabase/migrations in a throwaway embedded
// PostgreSQL and writes its description to supabase/schema.sql (checked by test/db/drift.test.ts).
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { prepareDatabase, withCredentials } from '../../src/db/database.js';
import { startEmbedded } from '../../src/db/embedded.js';
import { projectRoot } from '../../src/db/migrate.js';
import { describeSchema, renderSchemaFile } from './describe.js';

export const schemaFile = path.join(projectRoot, 'supabase/schema.sql');

async function main(): Promise<void> {
  const dataRoot = path.join(projectRoot, '.data', `schema-${process.pid}-${randomBytes(3).toString('hex')}`);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const cluster = await startEmbedded({ dataRoot, port });
  try {
    const url = new URL(cluster.adminUrl);
    const adminUrl = withCredentials(
      cluster.adminUrl,
      decodeURIComponent(url.username),
      decodeURIComponent(url.password),
      'ops_schema',
    );
    const server = new pg.Client({ connectionString: cluster.adminUrl });
    await server.connect();
    await server.query('create database ops_schema');
    await server.end();
    await prepareDatabase(adminUrl);
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      writeFileSync(schemaFile, renderSchemaFile(await describeSchema(client)));
    } finally {
      await client.end();
    }
    console.log(`wrote ${path.relative(process.cwd(), schemaFile)}`);
  } finally {
    await cluster.stop();
    // As root the cluster may live in a fallback folder (see resolveDataRoot): remove both.
    rmSync(path.dirname(cluster.dataDir), { recursive: true, force: true });
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
