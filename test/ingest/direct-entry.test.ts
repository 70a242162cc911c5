// The ingest's two entries over one core: the Node server answers POST /functions/v1/ops-event-ingest
// directly (the body the adapter read, no Fetch objects), the in-process fetch and the Edge Function
// through the Fetch API. Both send the body text to ops.ingest_event as it came when it reads as the
// re-serialised value would: the log row and content hash are then exactly what the re-serialised
// value gives, for any spelling of the same JSON; a body with what PostgreSQL cannot store still
// has its rewritten copy logged. Headers are read the same way by both entries.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawHeader } from '../../src/http/node-adapter.js';
import { lossyNumbers, numbersAsWritten } from '../../src/ingest/json-text.js';
import { createRelease, type Release } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  bearer,
  httpServerTarget,
  INGEST_PATH,
  type IngestTarget,
  inProcessTarget,
  logCount,
  logRow,
  type Reply,
} from './support.js';

describe('numbersAsWritten', () => {
  it('holds when every number is written as JSON.stringify writes it, whatever the strings hold', () => {
    for (const text of [
      '{}',
      '[1, 0.5, -3, 1e+21, 123456789, -0.25, 5e-7]',
      '{"a": "1.0", "b": "x\\"1.50\\"", "c": "\\\\", "d": true, "e": null}',
      '  {"n" : 42 , "s":"-0"}\n',
      '"1.0"',
      '7',
    ]) {
      expect(numbersAsWritten(text), text).toBe(true);
      expect(JSON.stringify(JSON.parse(text)).length).toBeGreaterThan(0);
    }
  });

  it('fails for any number JSON.parse would rewrite', () => {
    for (const text of [
      '{"a": 1.0}',
      '{"a": 1.50}',
      '{"a": 1e2}',
      '{"a": 1E+21}',
      '{"a": -0}',
      '{"a": 0.10}',
      '{"a": 12345678901234567890}',
      '{"a": 1e-400}',
      '[1, "x", 2.00]',
      '{"s": "a\\"", "n": 3.0}',
    ]) {
      expect(numbersAsWritten(text), text).toBe(false);
    }
  });
});

describe('lossyNumbers', () => {
  it('names nothing a double holds by value, however it is spelt, and skips strings and keys', () => {
    for (const text of [
      '{"a": 1.0, "b": 1.50, "c": 1e2, "d": 1E+21, "e": -0, "f": 0.10, "g": 15e-1, "h": -0.0}',
      '[2.5e-5, 0.000025, 1.7976931348623157e308, 5e-324, 123456789012345680000, 0.30000000000000004]',
      '{"9007199254740993": "9007199254740993", "s": "1e-400 \\\\", "t": "\\"1e-400\\""}',
    ]) {
      expect(JSON.parse(text), text).toBeTruthy();
      expect(lossyNumbers(text), text).toEqual([]);
    }
  });

  it('names each number a double cannot hold, with its path and what it reads as', () => {
    expect(
      lossyNumbers(
        '{"a": 9007199254740993, "b": {"c": [1, 1e-400, {"d\\"e": 0.1000000000000000055511151231257827}]}, "f": 4.9e-324, "g": 1e400}',
      ),
    ).toEqual([
      { path: ['a'], literal: '9007199254740993', parsed: '9007199254740992' },
      { path: ['b', 'c', '1'], literal: '1e-400', parsed: '0' },
      { path: ['b', 'c', '2', 'd"e'], literal: '0.1000000000000000055511151231257827', parsed: '0.1' },
      { path: ['f'], literal: '4.9e-324', parsed: '5e-324' },
      { path: ['g'], literal: '1e400', parsed: 'Infinity' },
    ]);
  });
});

describe('rawHeader reads a header as Fetch Headers does', () => {
  it('any case, trimmed, repeated values joined', () => {
    const raw = [
      'Authorization',
      ' Bearer a ',
      'content-type',
      'application/json',
      'AUTHORIZATION',
      'Bearer b',
    ];
    const headers = new Headers();
    for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
    for (const name of ['authorization', 'content-type', 'content-length']) {
      expect(rawHeader(raw, name), name).toBe(headers.get(name));
    }
    expect(rawHeader(raw, 'authorization')).toBe('Bearer a, Bearer b');
  });
});

let db: TestDatabase;
let release: Release;
let node: IngestTarget;
let fetchDoor: IngestTarget;
beforeAll(async () => {
  db = await useTestDatabase();
  release = await createRelease(db);
  node = await httpServerTarget(db);
  fetchDoor = inProcessTarget(db);
});
afterAll(async () => {
  await node?.close();
  await fetchDoor?.close();
});

/** One environment_event body, written by hand: `payload` is spliced in as given. */
function bodyText(key: string, payload: string, spacing = ''): string {
  return (
    `{${spacing}"payload":${spacing}${payload},"event_type":"environment_event","schema_version":"v1.0",` +
    `"idempotency_key":"${key}",${spacing}"source_system":"direct-entry-test","release_id":"${release.release_id}",` +
    `"emitted_at":"2026-01-02T03:04:05Z"}`
  );
}

async function storedAs(ingestId: string): Promise<{ envelope: string; hash: string }> {
  const { rows } = await db.admin.query<{ envelope: string; hash: string }>(
    'select envelope::text as envelope, payload_hash as hash from ops.event_ingest_log where ingest_id = $1',
    [ingestId],
  );
  return rows[0]!;
}

/** What the log row and content hash are for the parsed value serialised again (the path before). */
async function expectedFor(text: string): Promise<{ envelope: string; hash: string }> {
  const again = JSON.stringify(JSON.parse(text));
  const { rows } = await db.admin.query<{ envelope: string; hash: string }>(
    'select $1::jsonb::text as envelope, ops.envelope_hash($1::jsonb) as hash',
    [again],
  );
  return rows[0]!;
}

const payloads: [string, string][] = [
  ['plain numbers', '{"environment":"staging","kind":"config_change","change":7,"ratio":0.5,"big":1e+21}'],
  ['whitespace and key order', '{ "kind" : "config_change" ,\n "environment" : "staging", "n" : -3 }'],
  [
    'numbers JSON.parse rewrites',
    '{"environment":"staging","kind":"k","a":1.0,"b":1.50,"c":1e2,"d":-0,"e":0.10}',
  ],
  ['duplicate keys (the last wins)', '{"environment":"prod","kind":"k","environment":"staging","x":1,"x":2}'],
  [
    'escapes in keys and values',
    '{"environment":"st\\u0061ging","kind":"a\\/b \\ud83d\\ude00","k\\u00e9y":"q\\"1.0\\"","t":"\\t"}',
  ],
];

describe('the body text sent as it came, or the parsed value serialised again', () => {
  for (const [what, payload] of payloads) {
    it(`${what}: the same log row and content hash through both entries as the re-serialised value`, async () => {
      for (const [door, spacing] of [
        [node, ' '],
        [fetchDoor, ''],
      ] as const) {
        const text = bodyText(`direct/${what}/${door.name}`, payload, spacing);
        const res = await door.post(text, { authorization: await bearer('sre') });
        expect(res.status, `${door.name}: ${res.text}`).toBe(200);
        expect(res.body.status).toBe('accepted');
        expect(await storedAs(res.body.ingest_id)).toEqual(await expectedFor(text));
      }
    });
  }

  it('a retry spelled differently is the duplicate, not a conflict', async () => {
    const key = 'direct/respelled';
    const first = await node.post(bodyText(key, '{"environment":"staging","kind":"k","n":2}'), {
      authorization: await bearer('sre'),
    });
    expect(first.body.status).toBe('accepted');
    for (const [door, payload] of [
      [node, '{ "n" : 2, "kind":"k", "environment": "staging" }'],
      [fetchDoor, '{"kind":"k","n":2,"environment":"st\\u0061ging"}'],
    ] as const) {
      const again = await door.post(bodyText(key, payload, ' '), { authorization: await bearer('sre') });
      expect(again.status, again.text).toBe(200);
      expect(again.body.status).toBe('duplicate');
    }
  });

  it('a number JSON.parse cannot hold exactly is refused 400 naming it, through both entries', async () => {
    // Stored as the double it reads as, 12345678901234567890 and 12345678901234567000 would be one
    // event: the second a duplicate of the first instead of a conflict.
    for (const door of [node, fetchDoor]) {
      const text = bodyText(
        `direct/past-a-double/${door.name}`,
        '{"environment":"staging","kind":"k","id":12345678901234567890,"ok":[1.50,-0,1e2]}',
      );
      const res = await door.post(text, { authorization: await bearer('sre') });
      expect(res.status, res.text).toBe(400);
      expect(res.body.detail.error).toBe('invalid_envelope');
      expect(res.body.detail.issues).toEqual([
        {
          path: 'payload.id',
          message:
            'the number 12345678901234567890 cannot be held exactly (it reads as 12345678901234567000); send it as a string',
        },
      ]);
      expect((await logRow(db, res.body.ingest_id))?.http_status).toBe(400);
    }
  });

  for (const [what, value, stored] of [
    ['NUL', 'a\\u0000b', 'a\uFFFDb'],
    ['an unpaired surrogate', 'a\\ud800b', 'a\uFFFDb'],
  ] as const) {
    it(`a body with ${what} is refused 400 and its rewritten copy is logged, through both entries`, async () => {
      for (const door of [node, fetchDoor]) {
        const before = await logCount(db);
        const text = bodyText(
          `direct/${what}/${door.name}`,
          `{"environment":"staging","kind":"k","note":"${value}"}`,
        );
        const res = await door.post(text, { authorization: await bearer('sre') });
        expect(res.status, res.text).toBe(400);
        expect(res.body.error).toBe('invalid_envelope');
        expect(await logCount(db)).toBe(before + 1);
        const row = await logRow(db, res.body.ingest_id);
        expect(row?.http_status).toBe(400);
        const { rows } = await db.admin.query<{ note: string }>(
          `select envelope -> 'payload' ->> 'note' as note from ops.event_ingest_log where ingest_id = $1`,
          [res.body.ingest_id],
        );
        expect(rows[0]!.note).toBe(stored);
      }
    });
  }
});

/** node:http with a header sent twice (an array value is one line each). */
function postTwice(base: string, header: string, values: string[], body: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${INGEST_PATH}`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', [header]: values },
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the direct entry answers as the Fetch entry does', () => {
  it('two Authorization headers are one joined value, refused alike by both entries', async () => {
    const token = await bearer('sre');
    const text = bodyText('direct/two-tokens', '{"environment":"staging","kind":"k"}');
    const viaNode = await postTwice(node.base!, 'authorization', [token, token], text);
    // What Fetch's Headers makes of the two (rawHeader above reads them the same way).
    const viaFetch = await fetchDoor.post(text, { authorization: `${token}, ${token}` });
    expect(viaNode.status).toBe(401);
    expect(viaFetch.status).toBe(401);
    expect(viaNode.body.error).toBe(viaFetch.body.error);
  });

  it('request id, CORS and content type on every answer; OPTIONS is the preflight', async () => {
    const ok = await fetch(`${node.base}${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: await bearer('sre') },
      body: bodyText('direct/headers', '{"environment":"staging","kind":"k"}'),
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(ok.headers.get('content-type')).toBe('application/json');
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    expect(Number(ok.headers.get('content-length'))).toBe((await ok.text()).length);

    const preflight = await fetch(`${node.base}${INGEST_PATH}`, { method: 'OPTIONS' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    expect(preflight.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);

    const wrongType = await fetch(`${node.base}${INGEST_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: await bearer('sre') },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    expect(((await wrongType.json()) as { error: string }).error).toBe('unsupported_media_type');
  });
});
