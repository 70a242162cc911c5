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
