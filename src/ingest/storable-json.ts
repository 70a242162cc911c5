// What PostgreSQL's jsonb (and text) cannot store, found in a parsed JSON value before it reaches
// the database: the one check behind every JSON door (the HTTP ingest route, the Edge Function,
// GraphQL's ingestEvent and every other mutation input, see src/resolvers/errors.ts runMutation).
// Found problems are the producer's mistake like any malformed field: a 400 naming the path,
// never a failed statement (a 500).

/** How deep a value may nest; real envelopes and metadata need a handful of levels. */
export const MAX_JSON_DEPTH = 64;

/** At most this many problems are listed (the rest of a hostile body is not worth naming). */
const MAX_ISSUES = 20;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const PLAIN_SEGMENT = /^[A-Za-z0-9_$-]+$/;

export interface JsonIssue {
  /** Where, e.g. `payload.metadata.note`, `payload["k\ud800x"]`, `items.0` (always storable itself). */
  path: string;
  message: string;
}

export interface StorableJson {
  /**
   * The value as a log can keep it: offending strings and keys with U+FFFD in place of the bad
   * characters, non-finite numbers and levels past the limit replaced by a note. The value itself
   * when nothing was found.
   */
  value: unknown;
  /** What PostgreSQL cannot take as it is, by path; empty when the value is storable. */
  issues: JsonIssue[];
}

/**
 * A path from its segments: plain keys joined by dots, any other key as an escaped JSON string
 * in brackets (JSON.stringify escapes NUL and unpaired surrogates, so the path is storable).
 */
export function jsonPath(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (PLAIN_SEGMENT.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out || '(body)';
}

/**
 * Finds what a parsed value holds that PostgreSQL refuses or that JSON.parse already lost: the NUL
 * character and unpaired UTF-16 surrogates (in keys and values, at any depth), numbers outside the
 * range of a double (JSON.parse turns `1e400` into Infinity, which JSON.stringify writes as null),
 * and nesting deeper than maxDepth. Recursion stops at the limit, so any depth is safe to check.
 */
export function storableJson(body: unknown, maxDepth = MAX_JSON_DEPTH): StorableJson {
  const issues: JsonIssue[] = [];
  const note = (path: readonly string[], message: string) => {
    if (issues.length < MAX_ISSUES) issues.push({ path: jsonPath(path), message });
  };
  const text = (s: string, path: readonly string[], what: string): string => {
    let out = s;
    if (out.includes('\u0000')) {
      note(path, `${what} contains the NUL character (\\u0000), which PostgreSQL cannot store`);
      out = out.replaceAll('\u0000', '\uFFFD');
    }
    LONE_SURROGATE.lastIndex = 0;
    if (LONE_SURROGATE.test(out)) {
      note(path, `${what} contains an unpaired UTF-16 surrogate (not valid Unicode)`);
      out = out.replace(LONE_SURROGATE, '\uFFFD');
    }
    return out;
  };
  const walk = (value: unknown, path: string[], depth: number): unknown => {
    if (typeof value === 'string') return text(value, path, 'the value');
    if (typeof value === 'number') {
      if (Number.isFinite(value)) return value;
      note(path, 'a number outside the range of a double (about ±1.8e308) cannot be stored exactly');
      return '(number out of range)';
    }
    if (value === null || typeof value !== 'object' || value instanceof Date) return value;
    if (depth >= maxDepth) {
      note(path, `nested deeper than ${maxDepth} levels`);
      return `(nested deeper than ${maxDepth} levels)`;
    }
    if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)], depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const key = text(k, [...path, k], 'the key');
      // defineProperty: a key named __proto__ stays a key.
      Object.defineProperty(out, key, {
        value: walk(v, [...path, key], depth + 1),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  };
  const value = walk(body, [], 0);
  return { value: issues.length > 0 ? value : body, issues };
}
