// Whether the text of a JSON value can go to PostgreSQL as it is, in place of the parsed value
// serialised again (src/ingest/handler.ts submitEnvelope). No imports: the Edge Function loads it.

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

/** The characters a JSON number token is made of after its first: digits, `.`, `e`, `E`, `+`, `-`. */
function inNumber(c: number): boolean {
  return (
    (c >= DIGIT_0 && c <= DIGIT_9) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS
  );
}

/**
 * True when every number in `text` (valid JSON, as JSON.parse has accepted it) is written exactly
 * as JSON.stringify writes the double it parses to: `1`, `0.5`, `-3`, `1e+21`, but not `1.0`,
 * `1.50`, `1e2`, `-0`, `0.10` or a literal beyond a double's precision. Numbers are the one part of
 * a JSON text that jsonb keeps as written while JSON.parse normalises them; whitespace, key order,
 * escapes and duplicate keys (the last one wins in both) come out the same either way. So when this
 * holds, `text::jsonb` is the very value `JSON.stringify(JSON.parse(text))::jsonb` is. Strings are
 * skipped; no allocation but each number's own slice.
 */
export function numbersAsWritten(text: string): boolean {
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      let end = i + 1;
      while (end < n && inNumber(text.charCodeAt(end))) end++;
      const token = text.slice(i, end);
      if (String(Number(token)) !== token) return false;
      i = end - 1;
    }
  }
  return true;
}

/** A number literal of a JSON text whose value differs from the double JSON.parse reads it as. */
export interface LossyNumber {
  /** Where it is: the keys and array indexes from the top, as JSON.parse reads them. */
  path: string[];
  literal: string;
  parsed: string;
}

const DECIMAL = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/**
 * A decimal's value written one way only: `0` for any zero (-0 is 0, as jsonb compares), otherwise
 * sign, significant digits without leading or trailing zeros, and the exponent of the last digit.
 */
function decimalValue(token: string): string {
  const m = DECIMAL.exec(token);
  if (!m) return token;
  const fraction = m[3] ?? '';
  let digits = `${m[2]}${fraction}`.replace(/^0+/, '');
  if (digits === '') return '0';
  // An exponent beyond 2^53 is not exact here, but such a literal is outside a double's range, so
  // JSON.parse read it as 0 or Infinity: it differs from the parsed value either way.
  let exponent = Number(m[4] ?? '0') - fraction.length;
  const kept = digits.replace(/0+$/, '');
  exponent += digits.length - kept.length;
  digits = kept;
  return `${m[1]}${digits}e${exponent}`;
}

/**
 * The number literals in `text` (valid JSON, as JSON.parse has accepted it) whose value differs
 * from the double JSON.parse reads: more digits than a double keeps (9007199254740993,
 * 0.1000000000000000055511151231257827) or beyond its range (1e-400 reads as 0, 1e400 as
 * Infinity). A literal merely spelt otherwise (1.50, 15e-1, -0, 1e2) is not one. Up to `max`, each
 * with its path. For the rare text numbersAsWritten refuses: it walks the structure to name paths.
 */
export function lossyNumbers(text: string, max = 10): LossyNumber[] {
  const found: LossyNumber[] = [];
  // One level per open object or array: the current key (objects) or index (arrays).
  const levels: { array: boolean; at: string | number }[] = [];
  let expectKey = false;
  const n = text.length;
  for (let i = 0; i < n && found.length < max; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const start = i;
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === BACKSLASH) i++;
        else if (d === QUOTE) break;
      }
      const top = levels[levels.length - 1];
      if (expectKey && top && !top.array) {
        top.at = JSON.parse(text.slice(start, i + 1)) as string;
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      levels.push({ array: false, at: '' });
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      levels.push({ array: true, at: 0 });
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      levels.pop();
    } else if (c === 0x2c /* , */) {
      const top = levels[levels.length - 1];
      if (top?.array) top.at = (top.at as number) + 1;
      else expectKey = true;
    } else if (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9)) {
      let end = i + 1;
      while (end < n && inNumber(text.charCodeAt(end))) end++;
      const literal = text.slice(i, end);
      const parsed = String(Number(literal));
      if (decimalValue(parsed) !== decimalValue(literal)) {
        found.push({ path: levels.map((l) => String(l.at)), literal, parsed });
      }
      i = end - 1;
    }
  }
  return found;
}
