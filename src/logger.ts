// Structured JSON logs (pino). Credentials never reach a log line: the paths below are redacted
// wherever they appear, and request logs are built from chosen fields, never whole requests.
import pino, { type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

const SENSITIVE_KEYS = [
  'authorization',
  'Authorization',
  'cookie',
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'secret',
  'jwtSecret',
  'password',
  'apiKey',
  'adminUrl',
  'apiUrl',
  'databaseUrl',
  'apiDatabaseUrl',
];

// pino's redaction is path based: each key at the top and up to three levels down
// (e.g. req.headers.authorization, config.auth.jwtSecret).
export const REDACT_PATHS = [...SENSITIVE_KEYS, 'tokens'].flatMap((k) => [
  k,
  `*.${k}`,
  `*.*.${k}`,
  `*.*.*.${k}`,
]);

export interface LoggerOptions {
  level?: string;
  /** Where lines go (stdout by default); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'ops-release-gates' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination,
  );
}
