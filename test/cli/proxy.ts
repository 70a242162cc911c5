// A tiny TCP proxy in front of the real server that misbehaves on purpose, one connection at a
// time: drops a connection after the server answered (the request was processed, the client
// never learns the outcome), answers for the server (503, 429) without forwarding, delays an
// answer, or just forwards. Each connection gets the next behaviour from the script; the rest
// forward. It records the first line of each request it saw.
import { once } from 'node:events';
import net from 'node:net';

export type Behaviour =
  | 'forward'
  /** Forward the request, pass a few bytes of the answer, then cut both sides. */
  | 'drop-response'
  | { status: number; retryAfter?: string }
  | { delayMs: number };

export interface Proxy {
  url: string;
  /** The request line of every request that reached the proxy, e.g. `POST /graphql HTTP/1.1`. */
  seen: string[];
  /** Request lines forwarded to the server. */
  forwarded: string[];
  close(): Promise<void>;
}

/** `script` is consumed by requests whose request line matches `only` (default: all). */
export async function startProxy(targetPort: number, script: Behaviour[], only?: RegExp): Promise<Proxy> {
  const seen: string[] = [];
  const forwarded: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    client.once('data', (first: Buffer) => {
      const line = first.toString('latin1').split('\r\n')[0] ?? '';
      seen.push(line);
      const behaviour = !only || only.test(line) ? (script.shift() ?? 'forward') : 'forward';
      if (typeof behaviour === 'object' && 'status' in behaviour) {
        const headers = [
          `HTTP/1.1 ${behaviour.status} Refused by the test proxy`,
          'content-type: application/json',
          'content-length: 2',
          'connection: close',
          ...(behaviour.retryAfter === undefined ? [] : [`retry-after: ${behaviour.retryAfter}`]),
        ];
        client.end(`${headers.join('\r\n')}\r\n\r\n{}`);
        return;
      }
      const upstream = net.connect(targetPort, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      forwarded.push(line);
      upstream.write(first);
      client.pipe(upstream);
      if (behaviour === 'drop-response') {
        upstream.once('data', (answer: Buffer) => {
          client.write(answer.subarray(0, Math.min(12, answer.length)));
          client.destroy();
          upstream.destroy();
        });
      } else if (typeof behaviour === 'object' && 'delayMs' in behaviour) {
        upstream.once('data', (answer: Buffer) => {
          setTimeout(() => {
            client.write(answer);
            upstream.pipe(client);
          }, behaviour.delayMs);
        });
      } else {
        upstream.pipe(client);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    forwarded,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port that accepts connections and never answers. */
export async function startSilentServer(): Promise<{
  url: string;
  connections: () => number;
  /** How long each connection stayed open until the client closed it (ms), in order of arrival. */
  heldMs: () => (number | null)[];
  close(): Promise<void>;
}> {
  const sockets = new Set<net.Socket>();
  const held: (number | null)[] = [];
  const server = net.createServer((s) => {
    const i = held.push(null) - 1;
    const opened = Date.now();
    sockets.add(s);
    s.on('error', () => {});
    // Read (and drop) what arrives, or the client's end of the connection is never seen.
    s.resume();
    s.once('close', () => {
      held[i] = Date.now() - opened;
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => held.length,
    heldMs: () => [...held],
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const probe = net.createServer();
  probe.listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
