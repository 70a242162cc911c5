// A stand-in for a deployed Odoo's health route, for the Odoo dry run and the tests: a real HTTP
// server on loopback answering GET /web/health as Odoo 17+ does: 200 {"status": "pass"}, with
// "db_server_status" when asked with ?db_server_status=1; when its database server is down,
// 500 {"status": "fail", "db_server_status": false}. Its mode can change while it runs.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type StandInMode = 'healthy' | 'database_down' | 'legacy';

export interface OdooHealthStandIn {
  url: string;
  /** Requests seen, e.g. `GET /web/health?db_server_status=1`. */
  requests: string[];
  setMode(mode: StandInMode): void;
  close(): Promise<void>;
}

export async function startOdooHealthStandIn(mode: StandInMode = 'healthy'): Promise<OdooHealthStandIn> {
  let current = mode;
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (req.method !== 'GET' || url.pathname !== '/web/health') {
      res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>');
      return;
    }
    // Odoo 16 and earlier ignore the parameter: {"status": "pass"} only.
    const askedDb = current !== 'legacy' && url.searchParams.has('db_server_status');
    const dbUp = current !== 'database_down';
    const body: Record<string, unknown> = { status: askedDb && !dbUp ? 'fail' : 'pass' };
    if (askedDb) body.db_server_status = dbUp;
    res
      .writeHead(body.status === 'pass' ? 200 : 500, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      })
      .end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setMode: (m) => {
      current = m;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
