// When the embedded PostgreSQL counts as started: the supervisor reads the server's log in chunks
// as the pipe delivers them, and the start waits for "ready to accept connections". A client that
// connects a moment too early makes the server log a refusal right after that line, often in the
// same chunk; a start that looked only at the chunk's last characters never saw "ready" and
// waited forever (seen as a PostgreSQL restart under load that never came back).
import { describe, expect, it } from 'vitest';
import { readyScanner } from '../../src/db/embedded.js';

const READY = '2026-12-01 05:40:00.001 UTC [123] LOG:  database system is ready to accept connections\n';
const REFUSED = '2026-12-01 05:40:00.003 UTC [130] FATAL:  the database system is starting up\n';

describe('the embedded server is ready once its log says so', () => {
  it('sees the ready line followed in the same chunk by a refused early client', () => {
    const scan = readyScanner();
    expect(scan('2026-12-01 05:39:59.900 UTC [123] LOG:  starting PostgreSQL 17.10\n')).toBe(false);
    expect(scan(READY + REFUSED)).toBe(true);
  });

  it('sees it followed by several long lines in one chunk', () => {
    const scan = readyScanner();
    expect(scan(`${READY + REFUSED.repeat(20)}${'x'.repeat(5000)}\n`)).toBe(true);
  });

  it('sees it split across chunks at every position', () => {
    // Every cut before the message's last character (a cut after it leaves the whole message in
    // the first chunk).
    const end = READY.indexOf('connections') + 'connections'.length;
    for (let cut = 1; cut < end; cut++) {
      const scan = readyScanner();
      expect(scan(READY.slice(0, cut)), `cut at ${cut}`).toBe(false);
      expect(scan(READY.slice(cut) + REFUSED), `cut at ${cut}`).toBe(true);
    }
  });

  it('sees it split over many one-character chunks, and stays ready after it', () => {
    const scan = readyScanner();
    const seen = [...READY].map((ch) => scan(ch));
    expect(seen.indexOf(true)).toBe(READY.indexOf('connections') + 'connections'.length - 1);
    expect(scan(REFUSED)).toBe(true);
  });

  it('does not take a line that only resembles it, nor the message cut short', () => {
    const scan = readyScanner();
    expect(scan('LOG:  database system is ready to accept\n')).toBe(false);
    expect(scan(' connections\n')).toBe(false);
    expect(scan('LOG:  database system is ready to accept read-only connections\n')).toBe(false);
  });
});
