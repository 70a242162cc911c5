// Supabase Edge Function `ops-event-ingest`: Deno.serve around the same ingest handler as the
// project's server (src/ingest/handler.ts), connected to Postgres through SUPABASE_DB_URL.
//
// Locally, from the project root (after `npm ci`):
//   SUPABASE_DB_URL=postgresql://authenticator:…@localhost/ops SUPABASE_JWT_SECRET=… PORT=8000 \
//     npx deno run --allow-net --allow-env --allow-read --node-modules-dir=manual \
//     --config supabase/functions/ops-event-ingest/deno.json supabase/functions/ops-event-ingest/index.ts
// Deployed: `supabase functions deploy ops-event-ingest` (Supabase sets SUPABASE_DB_URL and the JWT
// secret). Variables: SUPABASE_DB_URL (or OPS_API_DATABASE_URL, which wins: a login that may assume
// the six personas), SUPABASE_JWT_SECRET / SUPABASE_JWKS_URL, OPS_JWT_ISSUER, OPS_JWT_AUDIENCE,
// OPS_MAX_BODY_BYTES (262144), OPS_DB_POOL_MAX (5), PORT (8000), HOST (0.0.0.0).
import { createIngestFunction, FUNCTION_NAME, FunctionConfigError, readFunctionConfig } from './app.ts';

let config: ReturnType<typeof readFunctionConfig>;
try {
  config = readFunctionConfig((name) => Deno.env.get(name));
} catch (err) {
  if (err instanceof FunctionConfigError) {
    console.error(`${FUNCTION_NAME}: ${err.message}`);
    Deno.exit(2);
  }
  throw err;
}

const app = createIngestFunction(config);
const port = Number(Deno.env.get('PORT') ?? 8000);
const hostname = Deno.env.get('HOST') ?? '0.0.0.0';

const server = Deno.serve(
  {
    port,
    hostname,
    onListen: (addr) => console.log(`${FUNCTION_NAME} listening on http://${addr.hostname}:${addr.port}/`),
  },
  app.fetch,
);

// Finish in-flight requests, then close the pool (the Supabase runtime has no signals to offer).
let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.shutdown();
  await app.close();
  Deno.exit(0);
}
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  try {
    Deno.addSignalListener(signal, () => void stop());
  } catch {
    // not offered here
  }
}
