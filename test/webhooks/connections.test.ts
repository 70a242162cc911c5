// Deliveries reuse their connections (keep-alive, one pool per target policy), and a reused
// connection never lets a policy's check be skipped: a stricter policy opens its own connections,
// each checked, even while a lenient one holds an open connection to the same address.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { post } from '../../src/webhooks/deliver.js';
import { RefusedTargetError } from '../../src/webhooks/ssrf.js';

describe('webhook connections', () => {
  let server: Server;
  let port: number;
  let connections = 0;
  let requests = 0;

  beforeAll(async () => {
    server = createServer((req, res) => {
      requests++;
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('are reused for one policy, and a stricter policy is checked on its own connection', async () => {
    const lenient = { timeoutMs: 5_000, maxBytes: 1024, allowLoopback: true, allowPrivate: false };
    for (let i = 0; i < 3; i++) {
      expect(await post(new URL(`http://localhost:${port}/hook`), '{}', {}, lenient)).toBe(204);
    }
    expect(requests).toBe(3);
    expect(connections).toBe(1);

    const strict = { ...lenient, allowLoopback: false };
    await expect(post(new URL(`http://localhost:${port}/hook`), '{}', {}, strict)).rejects.toBeInstanceOf(
      RefusedTargetError,
    );
    expect(requests).toBe(3);

    // Another policy object with the same settings (the worker makes one per delivery): the same
    // pool, so the same connection.
    expect(await post(new URL(`http://localhost:${port}/hook`), '{}', {}, { ...lenient })).toBe(204);
    expect(connections).toBe(1);
  });

  it('are closed by the sender once idle, even when the receiver would keep them', async () => {
    const held = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    held.keepAliveTimeout = 0; // the receiver never closes an idle connection
    let open = 0;
    held.on('connection', (socket) => {
      open++;
      socket.on('close', () => open--);
    });
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    try {
      const url = new URL(`http://localhost:${(held.address() as AddressInfo).port}/hook`);
      const policy = { timeoutMs: 5_000, maxBytes: 1024, allowLoopback: true, allowPrivate: false };
      expect(await post(url, '{}', {}, policy)).toBe(204);
      expect(open).toBe(1);
      // Polled, not timed: closed some seconds later by the sender's idle timeout.
      const until = Date.now() + 60_000;
      while (open > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
      expect(open).toBe(0);
    } finally {
      held.closeAllConnections();
      await new Promise((resolve) => held.close(resolve));
    }
  });
});
