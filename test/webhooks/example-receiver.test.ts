// examples/webhook-receiver/receiver.mjs, run as a reader of the README would: a delivery signed
// by the delivery path is printed once, a repeat of the same delivery id is recognised, and a
// body changed in transit or signed with another secret is refused (401).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { projectRoot } from '../../src/db/migrate.js';
import { post } from '../../src/webhooks/deliver.js';
import { eventually } from './receiver.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
let child: ChildProcess;
let url = '';
let stdout = '';
const options = { timeoutMs: 10_000, maxBytes: 65_536, allowLoopback: true, allowPrivate: false };

function signed(id: string, body: string, key = secret): Record<string, string> {
  const at = new Date();
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(key).sign(id, at, body),
  };
}

beforeAll(async () => {
  child = spawn(process.execPath, [path.join(projectRoot, 'examples/webhook-receiver/receiver.mjs')], {
    env: { ...process.env, WEBHOOK_SECRET: secret, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  url = await eventually(
    () => stderr.match(/listening on (http:\/\/\S+)/)?.[1],
    'the receiver to listen',
    30_000,
  );
});

afterAll(() => {
  child?.kill('SIGTERM');
});

describe('examples/webhook-receiver', () => {
  it('prints a verified event once, recognises a repeat, refuses a changed body or another secret', async () => {
    const id = randomUUID();
    const body = JSON.stringify({
      type: 'gate.transition',
      timestamp: new Date().toISOString(),
      data: {
        release_id: randomUUID(),
        change: { gate_code: 'G1', from_status: 'pending', to_status: 'passed' },
      },
    });
    expect(await post(new URL(url), body, signed(id, body), options)).toBe(204);
    expect(await post(new URL(url), body, signed(id, body), options)).toBe(204);
    expect(await post(new URL(url), `${body} `, signed(id, body), options)).toBe(401);
    const other = `whsec_${randomBytes(32).toString('base64')}`;
    expect(await post(new URL(url), body, signed(randomUUID(), body, other), options)).toBe(401);
    await eventually(() => stdout.includes('"duplicate"'), 'the output');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([{ id, type: 'gate.transition', data: JSON.parse(body).data }, { duplicate: id }]);
  });
});
