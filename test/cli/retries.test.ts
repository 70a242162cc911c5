// How ops-gates behaves when the network or the server misbehaves, against the real server behind
// a misbehaving proxy: an event whose answer is lost is resent with the same key and recorded
// once; 503 and 429 are retried (Retry-After honoured); a 4xx never is; a mutation without a key
// is not repeated once it may have been applied; timeouts and dead servers end in exit 4; the
// progress line appears only on a terminal.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deriveIdempotencyKey } from '../../src/cli/events.js';
import { backoffMs } from '../../src/cli/transport.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { closedPort, startProxy, startSilentServer } from './proxy.js';
import { cli, type LiveServer, logRows, type Person, startServer, token } from './support.js';

let db: TestDatabase;
let server: LiveServer;

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
});
afterAll(async () => {
  await server?.close();
});

async function env(who: Person, url = server.url) {
  return { OPS_API_URL: url, OPS_TOKEN: await token(who) };
}

let n = 0;
async function newRelease(): Promise<string> {
  const r = await cli(
    ['release', 'create', '--project', 'odoo-retry', '--name', `r-${Date.now()}-${++n}`, '--json'],
    { env: await env('developer') },
  );
  expect(r.code, r.stderr).toBe(0);
  return r.json.release.id;
}

const ingestRequests = () =>
  server.requests.filter((r) => r.startsWith('POST /functions/v1/ops-event-ingest')).length;

describe('events survive a lost answer', () => {
  it('the connection drops after the server accepted the event: the retry resends it and it is recorded once', async () => {
    const releaseId = await newRelease();
    const proxy = await startProxy(server.port, ['drop-response'], /ops-event-ingest/);
    try {
      const key = `github_actions/${Date.now()}/build_complete`;
      const r = await cli(
        ['build-complete', '--release', releaseId, '--status', 'pass', '--idempotency-key', key, '--json'],
        { env: await env('ci', proxy.url) },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        /build_complete event: cannot reach .*; retrying in \d+\.\d s \(attempt 2 of 4\)/,
      );
      // The first attempt was accepted before the answer was lost; the retry is its duplicate.
      expect(r.json).toMatchObject({ status: 'duplicate', attempts: 2, detail: { gate_status: 'passed' } });
      const rows = await logRows(db, key);
      expect(rows.map((row) => row.processing_status)).toEqual(['accepted', 'duplicate']);
      expect(rows[1]!.duplicate_of).toBe(rows[0]!.ingest_id);
      expect(r.json.ingestId).toBe(rows[0]!.ingest_id);
      const { rows: checks } = await db.admin.query(
        `select count(*)::int as n from ops.gate_checks c join ops.release_gates g using (gate_id)
         where g.release_id = $1`,
        [releaseId],
      );
      expect(checks[0].n).toBe(1);
      expect(proxy.forwarded.filter((l) => l.includes('ops-event-ingest'))).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it('503 and 429 (with Retry-After) are retried; the event is accepted once', async () => {
    const releaseId = await newRelease();
    const proxy = await startProxy(
      server.port,
      [
        { status: 503, retryAfter: '0' },
        { status: 429, retryAfter: '1' },
      ],
      /ops-event-ingest/,
    );
    try {
      const started = Date.now();
      const r = await cli(
        ['check', '--release', releaseId, '--gate', 'G1', '--name', 'unit', '--status', 'pass', '--json'],
        {
          env: await env('ci', proxy.url),
        },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.json).toMatchObject({ status: 'accepted', attempts: 3 });
      expect(r.stderr).toMatch(/answered HTTP 503; retrying/);
      expect(r.stderr).toMatch(/answered HTTP 429; retrying in 1\.0 s/);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      expect((await logRows(db, r.json.idempotencyKey)).map((row) => row.processing_status)).toEqual([
        'accepted',
      ]);
    } finally {
      await proxy.close();
    }
  });

  it('a 5xx that persists gives up after the retries with exit 4', async () => {
    const releaseId = await newRelease();
    const proxy = await startProxy(
      server.port,
      [{ status: 502 }, { status: 500 }, { status: 504 }],
      /ops-event-ingest/,
    );
    try {
      const r = await cli(
        [
          'check',
          '--release',
          releaseId,
          '--gate',
          'G1',
          '--name',
          'unit',
          '--status',
          'pass',
          '--retries',
          '2',
        ],
        { env: await env('ci', proxy.url) },
      );
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/error: the ingest answered HTTP 504 \(gave up after 3 attempts\)/);
      expect(proxy.forwarded).toHaveLength(0);
    } finally {
      await proxy.close();
    }
  });

  it('a 4xx is never retried', async () => {
    const before = ingestRequests();
    const r = await cli(
      ['build-complete', '--release', '00000000-0000-4000-8000-0000000000aa', '--status', 'pass'],
      { env: await env('ci') },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).not.toMatch(/retrying/);
    const forbidden = await cli(['build-complete', '--release', await newRelease(), '--status', 'pass'], {
      env: await env('auditor'),
    });
    expect(forbidden.code).toBe(3);
    expect(ingestRequests() - before).toBe(2);
  });
});

describe('GraphQL', () => {
  it('a query whose answer is lost is asked again', async () => {
    const releaseId = await newRelease();
    const proxy = await startProxy(server.port, ['drop-response'], /graphql/);
    try {
      const r = await cli(['eligible', releaseId, '--env', 'staging', '--json'], {
        env: await env('qa', proxy.url),
      });
      expect(r.code).toBe(1);
      expect(r.json).toMatchObject({ eligible: false, environment: 'staging' });
      expect(r.stderr).toMatch(/PromotionEligibility: cannot reach/);
      expect(proxy.forwarded).toHaveLength(2);
    } finally {
      await proxy.close();
    }
  });

  it('a mutation whose answer is lost is not repeated (it was applied): exit 4 with a hint', async () => {
    const releaseId = await newRelease();
    for (const [args, who] of [
      [['build-complete', '--release', releaseId, '--status', 'pass'], 'ci'],
      [
        [
          'evidence',
          'add',
          'https://ci.example/j.xml',
          '--release',
          releaseId,
          '--type',
          'test_result',
          '--gate',
          'G2',
        ],
        'qa',
      ],
      [
        ['signoff', '--release', releaseId, '--gate', 'G2', '--decision', 'approved', '--rationale', 'ok'],
        'qa',
      ],
    ] as const) {
      expect((await cli([...args], { env: await env(who) })).code).toBe(0);
    }
    const proxy = await startProxy(server.port, ['drop-response'], /graphql/);
    try {
      const r = await cli(['promote', releaseId, '--env', 'staging'], { env: await env('rm', proxy.url) });
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/may or may not have been applied, so it was not repeated/);
      expect(r.stderr).toMatch(/hint: check the release with `ops-gates status <release>`/);
      expect(proxy.forwarded).toHaveLength(1);
      const { rows } = await db.admin.query(
        'select environment::text from ops.deployments where release_id = $1',
        [releaseId],
      );
      expect(rows).toEqual([{ environment: 'staging' }]);
    } finally {
      await proxy.close();
    }
  });

  it('a mutation refused unprocessed (503) is retried', async () => {
    const proxy = await startProxy(server.port, [{ status: 503, retryAfter: '0' }], /graphql/);
    try {
      const r = await cli(
        ['release', 'create', '--project', 'odoo-retry', '--name', `r503-${Date.now()}`, '--json'],
        { env: await env('developer', proxy.url) },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.json.release.status).toBe('draft');
    } finally {
      await proxy.close();
    }
  });
});

describe('unreachable and slow servers', () => {
  it('nothing listening: retried, then exit 4', async () => {
    const port = await closedPort();
    const r = await cli(['whoami', '--retries', '2'], { env: await env('rm', `http://127.0.0.1:${port}`) });
    expect(r.code).toBe(4);
    expect(r.stderr.match(/retrying in/g)).toHaveLength(2);
    expect(r.stderr).toMatch(
      /error: cannot reach http:\/\/127\.0\.0\.1:\d+\/graphql \(ECONNREFUSED\) \(gave up after 3 attempts\)/,
    );
    const e = await cli(
      [
        'build-complete',
        '--release',
        '00000000-0000-4000-8000-0000000000ab',
        '--status',
        'pass',
        '--retries',
        '0',
      ],
      {
        env: await env('ci', `http://127.0.0.1:${port}`),
      },
    );
    expect(e.code).toBe(4);
    expect(e.stderr).toMatch(/cannot reach .*ops-event-ingest/);
  });

  it('no answer within --timeout: each attempt is cut off, then exit 4', async () => {
    const silent = await startSilentServer();
    try {
      const r = await cli(
        [
          'build-complete',
          '--release',
          '00000000-0000-4000-8000-0000000000ac',
          '--status',
          'pass',
          '--timeout',
          '300ms',
          '--retries',
          '1',
        ],
        { env: await env('ci', silent.url) },
      );
      expect(r.code).toBe(4);
      expect(r.stderr).toMatch(/no answer from .* within 0\.3 s \(gave up after 2 attempts\)/);
      expect(silent.connections()).toBe(2);
      // Each attempt held its connection for about the 0.3 s given, not the 10 s default. Measured
      // per connection at the server, so what a busy machine adds around the attempts (the backoff
      // between them, a slow start) is not counted against the bound. (Only the two attempts' own
      // connections: the HTTP client may open another once it has given up, which it leaves idle.)
      const held = await vi.waitUntil(
        () => {
          const ms = silent.heldMs().slice(0, 2);
          return ms.every((x) => x !== null) && (ms as number[]);
        },
        { timeout: 30_000, interval: 50 },
      );
      for (const ms of held) expect(ms).toBeLessThan(9_000);
    } finally {
      await silent.close();
    }
  });

  it('a progress line on stderr for a slow request, on a terminal only', async () => {
    const releaseId = await newRelease();
    for (const tty of [true, false]) {
      const proxy = await startProxy(server.port, [{ delayMs: 1600 }], /graphql/);
      try {
        const r = await cli(['eligible', releaseId, '--env', 'staging'], {
          env: await env('qa', proxy.url),
          tty,
        });
        expect(r.code).toBe(1);
        if (tty) {
          // The first frame, drawn once a second has passed (later on a busy machine), never before.
          const frame = '\r\u001b[2K⠋ PromotionEligibility (';
          expect(r.stderr).toContain(frame);
          const seconds = Number.parseFloat(r.stderr.slice(r.stderr.indexOf(frame) + frame.length));
          expect(seconds, r.stderr).toBeGreaterThanOrEqual(1);
        } else expect(r.stderr).not.toMatch(/PromotionEligibility/);
      } finally {
        await proxy.close();
      }
    }
  });
});

describe('keys and backoff', () => {
  it('the derived key depends on the content, never on emitted_at or member order', () => {
    const base = {
      schema_version: 'v1.0',
      event_type: 'build_complete',
      source_system: 'github_actions',
      release_id: '6f1c0a52-5d7e-4c54-9d0c-2a8e7c3f0b11',
      gate_code: 'G1',
      payload: { status: 'pass', artifact_ref: 'https://ci.example/1' },
    };
    const key = deriveIdempotencyKey({ ...base, emitted_at: '2026-11-26T10:00:00Z' });
    expect(key).toMatch(
      /^github_actions\/6f1c0a52-5d7e-4c54-9d0c-2a8e7c3f0b11\/build_complete\/[0-9a-f]{64}$/,
    );
    const reordered = {
      payload: { artifact_ref: 'https://ci.example/1', status: 'pass' },
      gate_code: 'G1',
      release_id: base.release_id,
      source_system: 'github_actions',
      event_type: 'build_complete',
      schema_version: 'v1.0',
      emitted_at: '2027-01-01T00:00:00Z',
      idempotency_key: 'ignored',
    };
    expect(deriveIdempotencyKey(reordered)).toBe(key);
    expect(deriveIdempotencyKey({ ...base, payload: { ...base.payload, status: 'fail' } })).not.toBe(key);
  });

  it('backoff doubles up to the cap, with jitter in its upper half', () => {
    for (const retry of [1, 2, 3, 4, 5, 6]) {
      const ceiling = Math.min(8000, 250 * 2 ** (retry - 1));
      expect(backoffMs(retry, 250, 8000, () => 0)).toBe(ceiling / 2);
      expect(backoffMs(retry, 250, 8000, () => 0.999999)).toBeCloseTo(ceiling, -1);
    }
  });
});
