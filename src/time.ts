// One time: every instant a caller gives carries its offset (Z or ±hh:mm). A local time such as
// 2027-03-28T02:30:00 names a different instant in every time zone (and none at all where the
// clocks skip that hour), so it is refused, never read in the server's or the CLI's zone. The
// GraphQL DateTime scalar, the CLI's time flags and the ingest envelope all check with this.

const INSTANT =
  /^\d{4}-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2}):?(\d{2}))$/;
const LOCAL = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$/;

export const INSTANT_EXAMPLE = '2026-11-26T10:00:00Z';

/** Why `value` is not an instant with an offset; null when it is one. */
export function instantProblem(value: unknown): string | null {
  if (typeof value !== 'string') {
    return `must be an ISO-8601 instant string such as ${INSTANT_EXAMPLE}, got ${JSON.stringify(value) ?? String(value)}`;
  }
  const m = INSTANT.exec(value);
  if (!m) {
    if (LOCAL.test(value)) {
      return `${JSON.stringify(value)} has no time zone offset: add Z (UTC) or an offset such as +01:00; a local time names a different instant in every time zone`;
    }
    return `${JSON.stringify(value)} is not an ISO-8601 instant such as ${INSTANT_EXAMPLE}`;
  }
  const [month, day, hour, minute, second, offsetHours, offsetMinutes] = m
    .slice(1)
    .map((x) => Number(x ?? 0));
  if (
    month! < 1 ||
    month! > 12 ||
    day! < 1 ||
    day! > 31 ||
    hour! > 23 ||
    minute! > 59 ||
    second! > 59 ||
    offsetHours! > 23 ||
    offsetMinutes! > 59 ||
    Number.isNaN(Date.parse(value))
  ) {
    return `${JSON.stringify(value)} is not a valid instant`;
  }
  return null;
}

/** The instant `value` names, or an error saying why it names none. */
export function parseInstant(value: unknown): { ok: true; date: Date } | { ok: false; message: string } {
  const problem = instantProblem(value);
  if (problem) return { ok: false, message: problem };
  return { ok: true, date: new Date(Date.parse(value as string)) };
}
