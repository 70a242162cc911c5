// Prints a development token: tsx src/auth/mint-cli.ts --persona qa_tester [--sub alice] [--ttl 3600]
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEV_SECRET_FILE } from '../config.js';
import { mintToken } from './dev-tokens.js';
import { isPersona, PERSONAS } from './personas.js';

const USAGE = `usage: tsx src/auth/mint-cli.ts --persona <${PERSONAS.join('|')}> [--sub <subject>] [--ttl <seconds>]`;

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

// The development secret `npm start` writes (resolved from the project, not the cwd).
const SECRET_FILE = DEV_SECRET_FILE;

function readSecret(): string {
  const fromEnv = process.env.SUPABASE_JWT_SECRET;
  if (fromEnv) return fromEnv;
  let fromFile = '';
  try {
    fromFile = readFileSync(SECRET_FILE, 'utf8').trim();
  } catch {
    // fall through to the error below
  }
  if (!fromFile) {
    fail(`no JWT secret: set SUPABASE_JWT_SECRET or run \`npm start\` once to create ${SECRET_FILE}`, 1);
  }
  return fromFile;
}

async function main(): Promise<void> {
  // Minted tokens are real credentials for anything sharing the secret; never in production.
  if (process.env.NODE_ENV === 'production') {
    fail('refusing to mint development tokens with NODE_ENV=production', 2);
  }

  let values: { persona?: string; sub?: string; ttl?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        persona: { type: 'string' },
        sub: { type: 'string' },
        ttl: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (!isPersona(values.persona)) fail(`--persona must be one of ${PERSONAS.join(', ')}\n${USAGE}`, 2);

  let ttlSeconds: number | undefined;
  if (values.ttl !== undefined) {
    ttlSeconds = Number(values.ttl);
    if (!/^\d+$/.test(values.ttl) || ttlSeconds <= 0) fail(`--ttl must be a positive integer\n${USAGE}`, 2);
  }
  if (values.sub !== undefined && values.sub.trim() === '') fail(`--sub must not be empty\n${USAGE}`, 2);

  const token = await mintToken({
    secret: readSecret(),
    persona: values.persona,
    sub: values.sub,
    ttlSeconds,
  });
  process.stdout.write(`${token}\n`);
}

await main();
