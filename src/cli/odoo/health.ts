// Probing an Odoo server's own health route, GET /web/health, which answers 200
// `{"status": "pass"}`. Recent versions also check the database server when asked with
// `?db_server_status=1` (then `db_server_status` is in the answer, and a server that cannot reach
// PostgreSQL answers 500 with status "fail"); older versions ignore the parameter. Whether it is
// supported is read from the first answer: the later samples ask for it only when it was.

export interface HealthSample {
  /** When the request was sent (ISO-8601, UTC). */
  at: string;
  url: string;
  /** HTTP status, or null when there was no answer. */
  http_status: number | null;
  latency_ms: number;
  /** The answer's `status`, when it was JSON with one. */
  status: string | null;
  db_server_status: boolean | null;
  /** Why the sample failed: no answer, a timeout, a non-JSON body. */
  error: string | null;
  ok: boolean;
}

export interface HealthReport {
  /** The server's base URL (credentials removed). */
  server: string;
  route: '/web/health';
  db_server_status_supported: boolean;
  samples: HealthSample[];
  passed: number;
  latency_ms: { min: number; median: number; max: number } | null;
  status: 'pass' | 'fail';
  reasons: string[];
}

export interface ProbeOptions {
  samples: number;
  intervalMs: number;
  timeoutMs: number;
}

/** The base URL without credentials, query or fragment, and without a trailing slash. */
export function serverBase(url: string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  u.search = '';
  u.hash = '';
  return u.href.replace(/\/+$/, '');
}

async function sample(url: string, timeoutMs: number): Promise<HealthSample> {
  const at = new Date().toISOString();
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await fetch(url, {
      headers: { accept: 'application/json' },
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const latency = elapsed();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const obj =
      body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
    const status = typeof obj.status === 'string' ? obj.status : null;
    const db = typeof obj.db_server_status === 'boolean' ? obj.db_server_status : null;
    const error =
      body === undefined
        ? `the answer is not JSON (HTTP ${response.status})`
        : status === null
          ? `the answer has no "status" (HTTP ${response.status})`
          : null;
    return {
      at,
      url,
      http_status: response.status,
      latency_ms: latency,
      status,
      db_server_status: db,
      error,
      ok: response.status === 200 && status === 'pass' && db !== false,
    };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : `unreachable: ${e.cause?.code ?? e.cause?.message ?? e.message}`;
    return {
      at,
      url,
      http_status: null,
      latency_ms: elapsed(),
      status: null,
      db_server_status: null,
      error: why,
      ok: false,
    };
  }
}

/** A few samples of /web/health; pass only when every one answered 200 with status "pass". */
export async function probeHealth(baseUrl: string, options: ProbeOptions): Promise<HealthReport> {
  const server = serverBase(baseUrl);
  const route = `${server}/web/health`;
  const samples: HealthSample[] = [];
  let supported = false;
  for (let i = 0; i < options.samples; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, options.intervalMs));
    const s = await sample(i === 0 || supported ? `${route}?db_server_status=1` : route, options.timeoutMs);
    if (i === 0) supported = s.db_server_status !== null;
    samples.push(s);
  }
  const answered = samples.filter((s) => s.http_status !== null).map((s) => s.latency_ms);
  const sorted = [...answered].sort((a, b) => a - b);
  const passed = samples.filter((s) => s.ok).length;
  const reasons: string[] = [];
  for (const s of samples) {
    if (s.ok) continue;
    if (s.error) reasons.push(s.error);
    else if (s.db_server_status === false) reasons.push('the server cannot reach its database server');
    else reasons.push(`answered HTTP ${s.http_status} with status ${JSON.stringify(s.status)}`);
  }
  return {
    server,
    route: '/web/health',
    db_server_status_supported: supported,
    samples,
    passed,
    latency_ms: sorted.length
      ? { min: sorted[0]!, median: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted.at(-1)! }
      : null,
    status: passed === samples.length && samples.length > 0 ? 'pass' : 'fail',
    reasons: [...new Set(reasons)],
  };
}
