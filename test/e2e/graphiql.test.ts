// GraphiQL for auditors, in a real Chromium with no network beyond localhost: the page renders
// from the project's own bundle, an audit_reader pastes a token, runs a release query and sees
// the data. A screenshot is saved under test/artifacts/ (git-ignored).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintToken } from '../../src/auth/dev-tokens.js';
import { loadConfig } from '../../src/config.js';
import { projectRoot } from '../../src/db/migrate.js';
import { seedDemoData } from '../../src/demo/seed.js';
import { createLogger } from '../../src/logger.js';
import { createServer, type OpsServer } from '../../src/server.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(
    `\nThe GraphiQL browser test did NOT run: ${CHROMIUM} is missing. Install it with ` +
      '`apt-get install -y chromium` (.ci/run does this), then run npm test again.\n',
  );
}

const SECRET = 'e2e-test-secret-0123456789abcdef0123456789abcdef';

describe.skipIf(!hasChromium)('GraphiQL in a browser', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let app: OpsServer;
  let http: Server;
  let baseUrl: string;
  let context: BrowserContext;
  let profile: string;
  const offsite: string[] = [];

  beforeAll(async () => {
    db = await useTestDatabase();
    await seedDemoData({ adminUrl: db.adminUrl });
    pool = new pg.Pool({ connectionString: db.apiUrl });
    const config = loadConfig({
      NODE_ENV: 'test',
      SUPABASE_JWT_SECRET: SECRET,
      OPS_GRAPHIQL: 'true',
      LOG_LEVEL: 'silent',
    });
    app = createServer({ config, pool, logger: createLogger({ level: 'silent' }) });
    http = createHttpServer(app.handle);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

    profile = mkdtempSync(path.join(tmpdir(), 'ops-graphiql-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1400, height: 900 },
    });
    // Nothing but this server: any request elsewhere (a CDN) is refused and recorded.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(baseUrl) || url.startsWith('data:') || url.startsWith('blob:'))
        return route.continue();
      offsite.push(url);
      return route.abort();
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await app?.close();
    await new Promise((resolve) => http?.close(resolve));
    await pool?.end();
  });

  it('first open shows the schema and no error; pasting a token fetches it again without a manual re-fetch', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'audit_reader', sub: 'auditor-alex' });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    const sentAuthorization: (string | undefined)[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && r.method() === 'POST')
        sentAuthorization.push(r.headers().authorization);
    });
    const schemaAnswers: string[] = [];
    page.on('response', async (r) => {
      if (r.url().endsWith('/graphql') && r.request().method() === 'POST')
        schemaAnswers.push(await r.text().catch(() => ''));
    });
    await page.goto(`${baseUrl}/graphql`);
    await page.locator('.graphiql-container').first().waitFor({ timeout: 30_000 });
    // The page's first request (the schema) went out, without any Authorization header, and was
    // answered with the schema: no error reaches the result pane or the Docs pane.
    await expect.poll(() => schemaAnswers.length, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(sentAuthorization[0]).toBeUndefined();
    const firstAnswer = JSON.parse(schemaAnswers[0]!) as { data?: { __schema?: unknown }; errors?: unknown };
    expect(firstAnswer.errors).toBeUndefined();
    expect(firstAnswer.data?.__schema).toBeTruthy();
    const response = page.locator('.graphiql-response');
    // Nothing was run yet: the result pane is empty, neither an error nor an instruction.
    const firstPane = (await response.textContent()) ?? '';
    expect(firstPane.trim()).toBe('');

    // The Docs pane shows the schema before any token is pasted.
    await page.locator('button[aria-label="Show Documentation Explorer"]').click();
    const docs = page.locator('.graphiql-doc-explorer');
    await docs.waitFor({ timeout: 30_000 });
    await expect.poll(() => docs.textContent(), { timeout: 30_000 }).toContain('Query');
    expect((await docs.textContent()) ?? '').not.toContain('Error fetching schema');
    const answersBeforeToken = schemaAnswers.length;

    // A token in the Headers tab: the schema is fetched again with it, on its own.
    await page.getByText('Headers', { exact: true }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor').last();
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
    await expect.poll(() => sentAuthorization.at(-1), { timeout: 30_000 }).toBe(`Bearer ${token}`);
    await expect.poll(() => schemaAnswers.length, { timeout: 30_000 }).toBeGreaterThan(answersBeforeToken);
    expect(schemaAnswers.at(-1)).toContain('__schema');
    const explorer = (await docs.textContent()) ?? '';
    expect(explorer).toContain('Query');
    expect(explorer).not.toContain('Error fetching schema');
    expect(pageErrors).toEqual([]);
  });

  it('renders offline, takes an audit_reader token and shows release data', async () => {
    const token = await mintToken({ secret: SECRET, persona: 'audit_reader', sub: 'auditor-alex' });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${baseUrl}/graphql`);
    await page.locator('.graphiql-container').first().waitFor({ timeout: 30_000 });

    // The Headers tab: the bearer token.
    await page.getByText('Headers', { exact: true }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor').last();
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(JSON.stringify({ Authorization: `Bearer ${token}` }));
    await expect.poll(() => headers.textContent()).toContain(token);

    // The query editor: a release health query.
    const query = page.locator('.graphiql-query-editor .graphiql-editor').first();
    await query.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(
      'query Audit { releases(first: 10, filter: { project: "odoo-demo" }) { nodes { releaseName status } } }',
    );
    // GraphiQL debounces editor changes before it uses them; a run that starts before a busy
    // machine has got through the debounce sends what the editors held before. So the query runs,
    // and runs again while its answer is not the data, as a person at the page would.
    const response = page.locator('.graphiql-response');
    const execute = page.locator('.graphiql-execute-button');
    await expect
      .poll(
        async () => {
          if ((await response.textContent())?.includes('17.0.42')) return true;
          await execute.click();
          return false;
        },
        { timeout: 60_000, interval: 2_000 },
      )
      .toBe(true);
    const text = (await response.textContent()) ?? '';
    expect(text).toContain('promoted');
    expect(text).toContain('17.0.45-hotfix');
    expect(text).not.toContain('"errors"');

    const artifacts = path.join(projectRoot, 'test/artifacts');
    mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'graphiql-audit.png'), fullPage: true });
    expect(offsite).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
