// What the CLI writes and where: results on stdout (JSON with --json), diagnostics and progress
// on stderr. Colour only on a terminal and never with NO_COLOR; progress only on a terminal.

/** The process around a command, injectable so tests run the CLI in-process. */
export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

export function processIo(): Io {
  return {
    stdout: (t) => process.stdout.write(t),
    stderr: (t) => process.stderr.write(t),
    env: process.env,
    cwd: process.cwd(),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off. */
export function colourEnabled(io: Io, stream: 'stdout' | 'stderr' = 'stdout'): boolean {
  if (io.env.NO_COLOR) return false;
  return stream === 'stdout' ? io.stdoutIsTTY : io.stderrIsTTY;
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, cyan: 36, grey: 90, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export interface Paint {
  (colour: Colour, text: string): string;
  enabled: boolean;
}

export function painter(enabled: boolean): Paint {
  const paint = ((colour: Colour, text: string) =>
    enabled ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text) as Paint;
  paint.enabled = enabled;
  return paint;
}

/** Visible width, ignoring colour codes. */
function width(text: string): number {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
  return [...text.replace(/\u001b\[[0-9;]*m/g, '')].length;
}

/** A plain text table; cells may be coloured, columns are padded by visible width. */
export function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export const GATE_STATUS_COLOUR: Record<string, Colour> = {
  passed: 'green',
  bypassed: 'cyan',
  failed: 'red',
  in_progress: 'yellow',
  pending: 'grey',
};

/** ✓ / ✗ marks, coloured when colour is on. */
export const tick = (paint: Paint) => paint('green', '✓');
export const cross = (paint: Paint) => paint('red', '✗');

export interface Progress {
  stop(): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A one-line progress indicator on stderr for anything that takes more than a second; nothing at
 * all when stderr is not a terminal (CI logs, pipes, tests).
 */
export function progress(io: Io, label: string, delayMs = 1000): Progress {
  if (!io.stderrIsTTY) return { stop() {} };
  const started = Date.now();
  let frame = 0;
  let shown = false;
  const draw = () => {
    shown = true;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    io.stderr(`\r\u001b[2K${FRAMES[frame++ % FRAMES.length]} ${label} (${seconds} s)`);
  };
  let ticker: NodeJS.Timeout | undefined;
  const timer = setTimeout(() => {
    draw();
    ticker = setInterval(draw, 120);
    ticker.unref();
  }, delayMs);
  timer.unref();
  return {
    stop() {
      clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      if (shown) io.stderr('\r\u001b[2K');
    },
  };
}
