// `ops-gates`: finds the command, parses its flags (node:util parseArgs, strict), builds the API
// configuration from flags and environment, runs it, prints the result (text or --json) and
// answers the exit code. Injectable Io so tests run it in-process against a real server.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  type Command,
  type Context,
  durationMs,
  type OptionSpec,
  type Output,
  type Values,
} from './command.js';
import { eventCommands } from './commands/events.js';
import { exceptionCommands } from './commands/exceptions.js';
import { freezeCommands } from './commands/freeze.js';
import { ledgerCommands } from './commands/ledger.js';
import { odooCommands } from './commands/odoo.js';
import { releaseCommands } from './commands/releases.js';
import { reportCommands } from './commands/reports.js';
import { tokenCommands } from './commands/token.js';
import { webhookCommands } from './commands/webhooks.js';
import { CliError, EXIT, usageError } from './errors.js';
import type { ApiConfig } from './graphql.js';
import { colourEnabled, type Io, painter, processIo } from './output.js';

export const COMMANDS: Command[] = [
  ...releaseCommands.filter((c) => c.path[0] === 'release'),
  ...eventCommands,
  ...exceptionCommands,
  ...freezeCommands,
  ...releaseCommands.filter((c) => c.path[0] !== 'release'),
  ...reportCommands,
  ...odooCommands,
  ...ledgerCommands,
  ...webhookCommands,
  ...tokenCommands,
];

export const DEFAULT_API_URL = 'http://localhost:4000';
const DEFAULT_TIMEOUT = '10s';
const DEFAULT_RETRIES = 4;

const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: '<url>',
    description: `the control plane, or a Supabase project for events (env OPS_API_URL; default ${DEFAULT_API_URL})`,
  },
  token: { type: 'string', value: '<jwt>', description: 'bearer token (env OPS_TOKEN)' },
  json: { type: 'boolean', description: 'print one JSON document on stdout, for machines' },
  timeout: {
    type: 'string',
    value: '<duration>',
    description: `per-request timeout, e.g. 10s, 500ms (env OPS_TIMEOUT; default ${DEFAULT_TIMEOUT})`,
  },
  retries: {
    type: 'string',
    value: '<n>',
    description: `retries after network errors, timeouts, 429 and 5xx (env OPS_RETRIES; default ${DEFAULT_RETRIES})`,
  },
  help: { type: 'boolean', short: 'h', description: 'show help' },
};

const EXIT_CODES_HELP = [
  'Exit codes:',
  '  0  ok (for events: accepted, or already recorded)',
  '  1  not eligible, or refused by the server (conflict, validation, not found)',
  '  2  usage: unknown command or option, missing or malformed value',
  '  3  auth: no token, a bad or expired token, or a persona that may not do this',
  '  4  server or network: unreachable, timed out, 5xx, or an unexpected answer',
];

const ENVIRONMENT_HELP = [
  'Environment:',
  `  OPS_API_URL        base URL (default ${DEFAULT_API_URL}); events go to <url>/functions/v1/ops-event-ingest`,
  '  OPS_TOKEN          bearer token (a persona JWT)',
  '  OPS_GRAPHQL_URL    GraphQL endpoint when not <url>/graphql (e.g. events to Supabase, GraphQL elsewhere)',
  "  OPS_ANON_KEY       a Supabase project's anon key, sent as apikey to a hosted Edge Function",
  '  OPS_SOURCE_SYSTEM  default source_system of events',
  '  NO_COLOR           no colour even on a terminal',
];

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

function optionLines(options: Record<string, OptionSpec>): string[] {
  const entries = Object.entries(options).map(([name, o]) => {
    const left = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [left, o.description] as const;
  });
  const w = Math.min(34, Math.max(...entries.map(([l]) => l.length)));
  return entries.map(([l, d]) =>
    l.length > w ? `  ${l}\n  ${' '.repeat(w)}  ${d}` : `  ${l.padEnd(w)}  ${d}`,
  );
}

export function globalHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.path.join(' ').length));
  return [
    'ops-gates: the command line of the release-governance control plane',
    '',
    'Usage: ops-gates <command> [options]        ops-gates <command> --help',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.path.join(' ').padEnd(w)}  ${c.summary}`),
    '',
    '<release> is a release UUID or project/name (e.g. odoo-core/2026.11.1).',
    '',
    'Options for every command:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    ...ENVIRONMENT_HELP,
    '',
    ...EXIT_CODES_HELP,
    '',
  ].join('\n');
}

export function commandHelp(c: Command): string {
  return [
    `ops-gates ${c.path.join(' ')}: ${c.summary}`,
    '',
    `Usage: ops-gates ${c.path.join(' ')} ${c.usage}`.trimEnd(),
    '',
    ...(Object.keys(c.options).length ? ['Options:', ...optionLines(c.options), ''] : []),
    'Options for every command:',
    ...optionLines(GLOBAL_OPTIONS),
    '',
    ...(c.notes?.length ? [...c.notes, ''] : []),
    ...EXIT_CODES_HELP,
    '',
  ].join('\n');
}

function groupHelp(words: string[], group: Command[]): string {
  const w = Math.max(...group.map((c) => c.path.join(' ').length));
  return [
    `Usage: ops-gates ${words.join(' ')} <${group.map((c) => c.path.slice(words.length).join(' ')).join('|')}> [options]`,
    '',
    ...group.map((c) => `  ${c.path.join(' ').padEnd(w)}  ${c.summary}`),
    '',
    `ops-gates ${words.join(' ')} <subcommand> --help for its options.`,
    '',
  ].join('\n');
}

/** Splits the command words (which may follow global options) from the rest. */
function findCommand(argv: string[]): { command?: Command; rest: string[]; words: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let command: Command | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') break;
    if (token.startsWith('-')) {
      rest.push(token);
      const name = token.replace(/^--?/, '');
      if (!token.includes('=') && GLOBAL_OPTIONS[name]?.type === 'string' && i + 1 < argv.length) {
        rest.push(argv[++i]!);
      }
      continue;
    }
    const candidate = [...words, token];
    if (COMMANDS.some((c) => candidate.every((w, k) => c.path[k] === w))) {
      words.push(token);
      command = COMMANDS.find(
        (c) => c.path.length === words.length && c.path.every((w, k) => w === words[k]),
      );
      if (command) {
        i++;
        break;
      }
      continue;
    }
    break;
  }
  return { command, rest: [...rest, ...argv.slice(i)], words };
}

function apiConfig(values: Values, io: Io): ApiConfig {
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  const apiUrl = (str('url') ?? io.env.OPS_API_URL ?? DEFAULT_API_URL).replace(/\/+$/, '');
  try {
    const u = new URL(apiUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw usageError(`the API URL must be an http(s) URL, not ${JSON.stringify(apiUrl)}`);
  }
  const retriesText = str('retries') ?? io.env.OPS_RETRIES ?? String(DEFAULT_RETRIES);
  if (!/^\d+$/.test(retriesText) || Number(retriesText) > 10) throw usageError('--retries must be 0 to 10');
  return {
    apiUrl,
    graphqlUrl: io.env.OPS_GRAPHQL_URL || `${apiUrl}/graphql`,
    token: str('token') ?? (io.env.OPS_TOKEN || undefined),
    anonKey: io.env.OPS_ANON_KEY || undefined,
    transport: {
      timeoutMs: durationMs(str('timeout') ?? io.env.OPS_TIMEOUT ?? DEFAULT_TIMEOUT, '--timeout'),
      retries: Number(retriesText),
      io,
    },
  };
}

function printError(io: Io, err: CliError, json: boolean): void {
  const p = painter(colourEnabled(io, 'stderr'));
  const lines = [`${p('red', 'error:')} ${err.message}`];
  for (const i of err.extra.issues ?? []) lines.push(`  - ${i.path}: ${i.message}`);
  const blockers = (err.extra.blockers ?? []) as { reason?: string | null }[];
  if (blockers.length) lines.push('blockers:', ...blockers.map((b) => `  - ${b.reason}`));
  if (err.extra.hint) lines.push(`hint: ${err.extra.hint}`);
  io.stderr(`${lines.join('\n')}\n`);
  if (json) {
    const error = { code: err.code, message: err.message, exitCode: err.exitCode, ...err.extra };
    io.stdout(`${JSON.stringify({ error }, null, 2)}\n`);
  }
}

function print(io: Io, out: Output, json: boolean): void {
  if (json) io.stdout(`${JSON.stringify(out.data, null, 2)}\n`);
  else if (out.lines.length) io.stdout(`${out.lines.join('\n')}\n`);
  if (out.stderr?.length) io.stderr(`${out.stderr.join('\n')}\n`);
}

export async function run(argv: string[], io: Io = processIo()): Promise<number> {
  const json = argv.includes('--json');
  try {
    if (argv.length === 0 || (argv.length === 1 && ['-h', '--help', 'help'].includes(argv[0]!))) {
      io.stdout(globalHelp());
      return argv.length === 0 ? EXIT.usage : EXIT.ok;
    }
    if (argv[0] === '--version' || argv[0] === '-v') {
      io.stdout(`${version()}\n`);
      return EXIT.ok;
    }
    if (argv[0] === 'help') {
      const { command } = findCommand(argv.slice(1));
      io.stdout(command ? commandHelp(command) : globalHelp());
      return command ? EXIT.ok : EXIT.usage;
    }
    const { command, rest, words } = findCommand(argv);
    if (!command) {
      const group = COMMANDS.filter((c) => words.length > 0 && words.every((w, k) => c.path[k] === w));
      if (rest.includes('--help') || rest.includes('-h')) {
        io.stdout(group.length ? groupHelp(words, group) : globalHelp());
        return EXIT.ok;
      }
      if (group.length) {
        throw usageError(
          `${words.join(' ')} needs a subcommand: ${group.map((c) => c.path.slice(words.length).join(' ')).join(', ')}`,
        );
      }
      const unknown = rest.find((t) => !t.startsWith('-'));
      throw usageError(
        unknown ? `unknown command ${JSON.stringify(unknown)}` : 'no command given',
        'ops-gates --help',
      );
    }

    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({
        args: rest,
        options: { ...GLOBAL_OPTIONS, ...command.options } as never,
        allowPositionals: true,
        strict: true,
      }) as { values: Values; positionals: string[] };
    } catch (err) {
      throw usageError((err as Error).message, `ops-gates ${command.path.join(' ')} --help`);
    }
    if (parsed.values.help) {
      io.stdout(commandHelp(command));
      return EXIT.ok;
    }
    if (parsed.positionals.length > command.maxPositionals) {
      throw usageError(
        `unexpected argument ${JSON.stringify(parsed.positionals[command.maxPositionals])}`,
        `ops-gates ${command.path.join(' ')} --help`,
      );
    }
    const ctx: Context = {
      io,
      api: apiConfig(parsed.values, io),
      json,
      paint: painter(!json && colourEnabled(io, 'stdout')),
      values: parsed.values,
      positionals: parsed.positionals,
    };
    const out = await command.run(ctx);
    print(io, out, json);
    return out.exitCode ?? EXIT.ok;
  } catch (err) {
    if (err instanceof CliError) {
      printError(io, err, json);
      return err.exitCode;
    }
    const wrapped = new CliError(
      `unexpected error: ${(err as Error)?.stack ?? String(err)}`,
      EXIT.unavailable,
      'internal',
    );
    printError(io, wrapped, json);
    return wrapped.exitCode;
  }
}
