#!/usr/bin/env node
// A producer on supabase-js: one check result for a release through the ops-event-ingest function,
// at this project's server or at a hosted Supabase project alike (only SUPABASE_URL differs).
//
//   SUPABASE_URL=http://127.0.0.1:4000 OPS_TOKEN=<ci_service_role token> \
//     node examples/supabase-js/emit-event.mjs <release-uuid> [check-name] [pass|fail]
//
// SUPABASE_ANON_KEY: the project's anon key on Supabase (any string for this server). On Node 20,
// supabase-js needs a WebSocket implementation for its realtime client even when no channel is
// opened: the `ws` package, passed as realtime.transport. Node 22 and later have one built in.
import { createHash } from 'node:crypto';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

const [releaseId, checkName = 'unit-tests', status = 'pass'] = process.argv.slice(2);
const url = process.env.SUPABASE_URL;
const token = process.env.OPS_TOKEN;
if (!releaseId || !url || !token) {
  process.stderr.write(
    'usage: SUPABASE_URL=… OPS_TOKEN=… node emit-event.mjs <release-uuid> [check] [pass|fail]\n',
  );
  process.exit(2);
}

const supabase = createClient(url, process.env.SUPABASE_ANON_KEY ?? 'anon', {
  auth: { persistSession: false, autoRefreshToken: false },
  realtime: { transport: WebSocket },
});

const payload = { check_name: checkName, status };
const envelope = {
  schema_version: 'v1.0',
  // The same event sent again (a retry) must carry the same key: derive it from the content.
  idempotency_key: `example/${releaseId}/${checkName}/${createHash('sha256').update(JSON.stringify(payload)).digest('hex').slice(0, 16)}`,
  event_type: 'check_result',
  source_system: 'example',
  release_id: releaseId,
  gate_code: 'G1',
  payload,
  emitted_at: new Date().toISOString(),
};

const { data, error } = await supabase.functions.invoke('ops-event-ingest', {
  body: envelope,
  headers: { Authorization: `Bearer ${token}` },
});
if (error) {
  const response = error.context;
  const detail = response instanceof Response ? await response.text() : String(error);
  process.stderr.write(`refused: ${response?.status ?? ''} ${detail}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(data)}\n`);
