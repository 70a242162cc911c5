// `token mint`: a development token for a persona, signed with the secret the server uses
// (SUPABASE_JWT_SECRET, or the development secret file `npm start` creates). Development only.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mintToken } from '../../auth/dev-tokens.js';
import { isPersona, PERSONAS } from '../../auth/personas.js';
import { type Command, flag, requiredFlag } from '../command.js';
import { CliError, EXIT, usageError } from '../errors.js';

const mint: Command = {
  path: ['token', 'mint'],
  summary: 'Mint a development token for a persona (never with NODE_ENV=production)',
  usage: `--persona <${PERSONAS.join('|')}> [--sub <subject>] [--ttl <seconds>]`,
  maxPositionals: 0,
  options: {
    persona: { type: 'string', value: '<persona>', description: 'the persona the token carries' },
    sub: { type: 'string', value: '<subject>', description: 'who the token is (default dev:<persona>)' },
    ttl: { type: 'string', value: '<seconds>', description: 'lifetime (default 3600)' },
    'secret-file': {
      type: 'string',
      value: '<file>',
      description: 'the development secret (default: SUPABASE_JWT_SECRET, else .data/dev-secret)',
    },
  },
  notes: [
    'The token is printed on stdout: OPS_TOKEN=$(ops-gates token mint --persona qa_tester --sub quinn)',
  ],
  async run(ctx) {
    const { env } = ctx.io;
    if (env.NODE_ENV === 'production') {
      throw new CliError(
        'refusing to mint development tokens with NODE_ENV=production',
        EXIT.usage,
        'production',
      );
    }
    const persona = requiredFlag(ctx, 'persona');
    if (!isPersona(persona)) throw usageError(`--persona must be one of ${PERSONAS.join(', ')}`);
    const ttlText = flag(ctx, 'ttl');
    if (ttlText !== undefined && !/^[1-9]\d*$/.test(ttlText))
      throw usageError('--ttl must be a positive integer');
    const sub = flag(ctx, 'sub');
    if (sub !== undefined && sub.trim() === '') throw usageError('--sub must not be empty');

    // The same secret, file and reading rules as the server's own configuration (src/config.ts).
    const { DEV_SECRET_FILE, loadConfig } = await import('../../config.js');
    const fileFlag = flag(ctx, 'secret-file');
    let secret = fileFlag ? undefined : env.SUPABASE_JWT_SECRET;
    if (!secret) {
      const file = fileFlag ? path.resolve(ctx.io.cwd, fileFlag) : DEV_SECRET_FILE;
      // loadConfig would create a missing file: a secret no server uses would sign useless tokens.
      if (!existsSync(file)) {
        throw new CliError(
          `no JWT secret: set SUPABASE_JWT_SECRET or run \`npm start\` once to create ${file}`,
          EXIT.auth,
          'no_secret',
        );
      }
      secret = loadConfig({ NODE_ENV: 'development' }, { devSecretFile: file }).auth.jwtSecret!;
    }
    const ttlSeconds = ttlText === undefined ? 3600 : Number(ttlText);
    const token = await mintToken({
      secret,
      persona,
      sub,
      ttlSeconds,
      issuer: env.OPS_JWT_ISSUER || undefined,
      audience: env.OPS_JWT_AUDIENCE || undefined,
    });
    const subject = sub ?? `dev:${persona}`;
    const expiresAt = new Date(Date.now() + ttlSeconds * 1000).toISOString();
    return {
      data: { token, persona, sub: subject, expiresAt },
      lines: [token],
      stderr:
        ctx.json || !ctx.io.stderrIsTTY
          ? []
          : [`token for ${subject} (${persona}), valid until ${expiresAt}`],
    };
  },
};

export const tokenCommands: Command[] = [mint];
