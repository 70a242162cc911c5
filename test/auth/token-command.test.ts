// `npm run token` (ops-gates token mint): mints a development token that the server's verifier accepts, and refuses in
// production and on bad usage.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { createVerifier } from '../../src/auth/jwt.js';
import { projectRoot } from '../../src/db/migrate.js';

const SECRET = 'mint-cli-test-secret-0123456789abcdef';

function mint(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['bin/ops-gates.mjs', 'token', 'mint', ...args], {
    cwd: projectRoot,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, SUPABASE_JWT_SECRET: SECRET, ...env },
    encoding: 'utf8',
  });
}

describe('token mint', () => {
  it('prints a token for the persona and subject that the server accepts', async () => {
    const run = mint(['--persona', 'qa_tester', '--sub', 'alice', '--ttl', '600']);
    expect(run.status, run.stderr).toBe(0);
    const identity = await createVerifier({ jwtSecret: SECRET })(`Bearer ${run.stdout.trim()}`);
    expect(identity).toMatchObject({ subject: 'alice', persona: 'qa_tester' });
    expect((identity.claims.exp as number) - (identity.claims.iat as number)).toBe(600);
  });

  it('refuses in production', () => {
    const run = mint(['--persona', 'qa_tester'], { NODE_ENV: 'production' });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/production/);
    expect(run.stdout).toBe('');
  });

  it('refuses an unknown persona with the usage line', () => {
    const run = mint(['--persona', 'superuser']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/--persona must be one of ci_service_role/);
  });
});
