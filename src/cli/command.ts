// What a command is (its options, its help, its run function) and the helpers commands share:
// reading flags, durations and JSON, resolving `<release>` and choosing a source system.

import { ReleaseByNameDocument } from '../gql/graphql.js';
import { lossyNumbers, numbersAsWritten } from '../ingest/json-text.js';
import { parseInstant } from '../time.js';
import { CliError, EXIT, type ExitCode, usageError } from './errors.js';
import { type ApiConfig, graphqlRequest } from './graphql.js';
import type { Io, Paint } from './output.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in help after the flag, e.g. `<url>`. */
  value?: string;
  description: string;
}

export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Context {
  io: Io;
  api: ApiConfig;
  json: boolean;
  /** Colours for stdout. */
  paint: Paint;
  values: Values;
  positionals: string[];
}

/** What a command produced: `data` for --json, `lines` for people; `stderr` lines either way. */
export interface Output {
  data: unknown;
  lines: string[];
  stderr?: string[];
  exitCode?: ExitCode;
}

export interface Command {
  /** e.g. ['release', 'create']. */
  path: string[];
  summary: string;
  /** Arguments after the command words, e.g. '<release> --env <staging|production>'. */
  usage: string;
  options: Record<string, OptionSpec>;
  /** Most positionals the command takes. */
  maxPositionals: number;
  /** Paragraphs after the option list: examples, exit codes specific to the command. */
  notes?: string[];
  run(ctx: Context): Promise<Output>;
}

// ---- Flags -----------------------------------------------------------------------------------

export function flag(ctx: Context, name: string): string | undefined {
  const v = ctx.values[name];
  if (Array.isArray(v)) return v[v.length - 1];
  return typeof v === 'string' ? v : undefined;
}

export function flags(ctx: Context, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function bool(ctx: Context, name: string): boolean {
  return ctx.values[name] === true;
}

export function requiredFlag(ctx: Context, name: string, what?: string): string {
  const v = flag(ctx, name);
  if (v === undefined || v.trim() === '')
    throw usageError(`--${name} is required${what ? ` (${what})` : ''}`);
  return v;
}

export function choice<T extends string>(ctx: Context, name: string, choices: readonly T[], fallback?: T): T {
  const v = flag(ctx, name) ?? fallback;
  if (v === undefined) throw usageError(`--${name} is required (one of ${choices.join(', ')})`);
  if (!(choices as readonly string[]).includes(v)) {
    throw usageError(`--${name} must be one of ${choices.join(', ')}, not ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** A JSON object from a flag value. */
export function jsonObject(text: string, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw usageError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw usageError(`${what} must be a JSON object`);
  requireExactNumbers(text, what);
  return parsed as Record<string, unknown>;
}

/**
 * A usage error when `text` (JSON that JSON.parse accepted) has a number a double cannot hold
 * (9007199254740993, 1e-400, 1e400): parsed here it would be sent as another number, which the
 * server could not tell from one the user meant (its own doors refuse such numbers for the same
 * reason). Names each with its path; a number merely spelt otherwise (1.50) passes.
 */
function requireExactNumbers(text: string, what: string): void {
  if (numbersAsWritten(text)) return;
  const lossy = lossyNumbers(text);
  if (lossy.length === 0) return;
  const list = lossy
    .map(
      (n) => `${n.path.length > 0 ? `${n.path.join('.')} ` : ''}${n.literal} (would be sent as ${n.parsed})`,
    )
    .join('; ');
  throw usageError(`${what} has numbers that cannot be sent exactly: ${list}; quote them to send strings`);
}

/** `key=value` pairs into an object; values that parse as JSON (numbers, true, {...}) are typed. */
export function keyValues(pairs: string[], what: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw usageError(`${what} expects key=value, not ${JSON.stringify(pair)}`);
    const raw = pair.slice(at + 1);
    let value: unknown = raw;
    let typed = false;
    try {
      value = JSON.parse(raw);
      typed = true;
    } catch {
      // a plain string
    }
    if (typed) requireExactNumbers(raw, `${what} ${pair}`);
    out[pair.slice(0, at)] = value;
  }
  return out;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `10s`, `15m`, `2h`, `7d`; a bare number is seconds. */
export function durationMs(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m)
    throw usageError(
      `${what} must be a duration such as 10s, 500ms, 15m, 2h or 7d, not ${JSON.stringify(text)}`,
    );
  const ms = Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (ms <= 0) throw usageError(`${what} must be more than zero`);
  return ms;
}

/** An instant with its offset, as UTC ISO text; a local time is refused, whatever TZ the CLI runs in. */
export function isoInstant(text: string, what: string): string {
  const parsed = parseInstant(text);
  if (!parsed.ok) throw usageError(`${what}: ${parsed.message}`);
  return parsed.date.toISOString();
}

// ---- Releases --------------------------------------------------------------------------------

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ReleaseRef {
  id: string;
  /** project/name when known, else the id. */
  label: string;
}

/** The release a command is about: `--release` or the first positional, a UUID or project/name. */
export async function releaseRef(ctx: Context): Promise<ReleaseRef> {
  const given = flag(ctx, 'release') ?? ctx.positionals[0];
  if (!given) throw usageError('which release? give <release> or --release (a UUID or project/name)');
  return resolveRelease(ctx, given);
}

export async function resolveRelease(ctx: Context, given: string): Promise<ReleaseRef> {
  if (UUID.test(given)) return { id: given.toLowerCase(), label: given.toLowerCase() };
  // The last slash separates the name, so projects named like org/repo work.
  const at = given.lastIndexOf('/');
  if (at <= 0 || at === given.length - 1) {
    throw usageError(`${JSON.stringify(given)} is neither a release UUID nor project/name`);
  }
  const project = given.slice(0, at);
  const name = given.slice(at + 1);
  let release: { id?: string | null } | null | undefined;
  try {
    release = (await graphqlRequest(ctx.api, ReleaseByNameDocument, { project, name })).releaseByName;
  } catch (err) {
    if (err instanceof CliError && err.code === 'forbidden') {
      throw new CliError(`${err.message}`, EXIT.auth, 'forbidden', {
        hint: `your persona cannot look releases up by name: give the release UUID instead of ${given}`,
      });
    }
    throw err;
  }
  if (!release?.id) {
    throw new CliError(
      `no release ${project}/${name} (or your persona may not read it)`,
      EXIT.rejected,
      'not_found',
    );
  }
  return { id: release.id, label: `${project}/${name}` };
}

/**
 * Where an event comes from: --source, then OPS_SOURCE_SYSTEM, then github_actions inside a
 * GitHub Actions job, else manual.
 */
export function sourceSystem(ctx: Context): string {
  return (
    flag(ctx, 'source') ??
    ctx.io.env.OPS_SOURCE_SYSTEM ??
    (ctx.io.env.GITHUB_ACTIONS === 'true' ? 'github_actions' : 'manual')
  );
}
