// A webhook receiver for ops-release-gates: verifies each delivery with the off-the-shelf
// Standard Webhooks library, drops repeats of a delivery it has already handled (webhook-id), and
// prints each event as one JSON line. Answers 204 when handled (or a repeat), 401 when the
// signature or timestamp does not verify, 400 when the body is not an event.
//
//   WEBHOOK_SECRET=whsec_... PORT=8787 node examples/webhook-receiver/receiver.mjs
//
// The secret is the one `ops-gates webhook add` (or the addWebhook mutation) printed. A real
// receiver keeps the handled ids in its own database (a unique key), not in memory.
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  process.stderr.write('WEBHOOK_SECRET is not set\n');
  process.exit(2);
}
const webhook = new Webhook(secret);
const handled = new Set();
const MAX_BODY = 1024 * 1024;

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > MAX_BODY) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    let event;
    try {
      // Verifies the signature over id, timestamp and the raw body, and that the timestamp is recent.
      event = webhook.verify(body, req.headers);
    } catch (err) {
      process.stderr.write(`refused: ${err.message}\n`);
      res.writeHead(401).end();
      return;
    }
    if (!event || typeof event.type !== 'string') {
      res.writeHead(400).end();
      return;
    }
    const id = req.headers['webhook-id'];
    if (handled.has(id)) {
      process.stdout.write(`${JSON.stringify({ duplicate: id })}\n`);
      res.writeHead(204).end();
      return;
    }
    handled.add(id);
    process.stdout.write(`${JSON.stringify({ id, type: event.type, data: event.data })}\n`);
    res.writeHead(204).end();
  });
});

server.listen(Number(process.env.PORT ?? 8787), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  process.stderr.write(`listening on http://${address}:${port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
