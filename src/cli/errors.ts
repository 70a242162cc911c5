// Exit codes and the one error type commands throw: each failure carries the exit code a script
// can act on (documented in `ops-gates --help` and the README).

export const EXIT = {
  /** Done (an event accepted or recognised as a duplicate, a query answered, eligible). */
  ok: 0,
  /** Not eligible, or the server refused the request (conflict, validation, not found). */
  rejected: 1,
  /** Bad command line: unknown command or option, missing or malformed value. */
  usage: 2,
  /** No token, a bad or expired token, or a persona that may not do this. */
  auth: 3,
  /** The server is unreachable, timed out, answered 5xx or something unexpected. */
  unavailable: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface Issue {
  path: string;
  message: string;
}

export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    /** A stable machine-readable code, e.g. `not_eligible`, `idempotency_key_conflict`. */
    readonly code: string,
    readonly extra: { issues?: Issue[]; blockers?: unknown[]; httpStatus?: number; hint?: string } = {},
  ) {
    super(message);
  }
}

export const usageError = (message: string, hint?: string) =>
  new CliError(message, EXIT.usage, 'usage', hint ? { hint } : {});
