// One PostgreSQL server for the whole run: TEST_DATABASE_URL when given (CI's PostgreSQL 15),
// otherwise a throwaway embedded PostgreSQL 17. A migrated template database is built once; each
// test file clones it (see ./db.ts), so files run in parallel and leave nothing behind.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { prepareDatabase, withCredentials } from '../../src/db/database.js';
import { resolveDataRoot, startEmbedded } from '../../src/db/embedded.js';
import { listMigrations, projectRoot, sha256 } from '../../src/db/migrate.js';

declare module 'vitest' {
  export interface ProvidedContext {
    serverUrl: string;
    templateDb: string;
    authenticatorPassword: string;
  }
}

export default async function setup(project: TestProject) {
  let serverUrl = process.env.TEST_DATABASE_URL;
  let stop = async () => {};
  let dataRoot: string | null = null;
  if (!serverUrl) {
    dataRoot = path.join(projectRoot, '.data', `test-${process.pid}`);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const cluster = await startEmbedded({ dataRoot, port });
    serverUrl = cluster.adminUrl;
    stop = () => cluster.stop();
  }
  const authenticatorPassword = randomBytes(12).toString('hex');
  const digest = sha256(
    listMigrations()
      .map((m) => m.file + m.sql)
      .join('\n'),
  ).slice(0, 10);
  const templateDb = `ops_template_${digest}_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`create database "${templateDb}"`);
  await admin.end();
  const pw = new URL(serverUrl).password;
  await prepareDatabase(
    withCredentials(serverUrl, new URL(serverUrl).username, pw, templateDb),
    authenticatorPassword,
  );

  project.provide('serverUrl', serverUrl);
  project.provide('templateDb', templateDb);
  project.provide('authenticatorPassword', authenticatorPassword);

  return async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    await c.query(`drop database if exists "${templateDb}" with (force)`);
    await c.end();
    await stop();
    if (dataRoot) {
      // As root the cluster may live under the system temp folder instead (see resolveDataRoot).
      rmSync(resolveDataRoot(dataRoot), { recursive: true, force: true });
      rmSync(dataRoot, { recursive: true, force: true });
    }
  };
}
