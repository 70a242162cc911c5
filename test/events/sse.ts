// A GraphQL subscription over Server-Sent Events through the real server's fetch: collects each
// `next` event's data until closed.

import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { print } from 'graphql';
import { mintToken } from '../../src/auth/dev-tokens.js';
import type { Persona } from '../../src/auth/personas.js';
import { GateChangesDocument, ReleaseEventsDocument } from '../../src/gql/graphql.js';
import type { OpsServer } from '../../src/server.js';
import { TEST_SECRET } from '../graphql/client.js';

export interface SseSubscription<T> {
  status: number;
  /** Each `next` payload's data, in order. */
  events: T[];
  /** Errors the stream reported (a `next` with errors). */
  errors: unknown[];
  /** Whether the server ended the stream (its body is done). */
  readonly ended: boolean;
  close(): void;
}

export async function subscribeSse<TData, TVariables>(
  server: Pick<OpsServer, 'fetch'>,
  operation: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  persona: Persona,
  sub: string,
  opts: { ttlSeconds?: number } = {},
): Promise<SseSubscription<TData>> {
  const token = await mintToken({ secret: TEST_SECRET, persona, sub, ttlSeconds: opts.ttlSeconds });
  let ended = false;
  const abort = new AbortController();
  const response = await server.fetch(
    new Request('http://ops.test/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ query: print(operation), variables }),
      signal: abort.signal,
    }),
  );
  const events: TData[] = [];
  const errors: unknown[] = [];
  const reader = response.body?.getReader();
  if (reader) {
    void (async () => {
      const decoder = new TextDecoder();
      let buffer = '';
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) {
            ended = true;
            return;
          }
          buffer += decoder.decode(value, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const data = block
              .split('\n')
              .filter((l) => l.startsWith('data:'))
              .map((l) => l.slice(5).trim())
              .join('\n');
            if (data) {
              const parsed = JSON.parse(data) as { data?: TData; errors?: unknown[] };
              if (parsed.errors) errors.push(...parsed.errors);
              if (parsed.data) events.push(parsed.data);
            }
            end = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // Closed.
      }
    })();
  }
  return {
    status: response.status,
    events,
    errors,
    get ended() {
      return ended;
    },
    close: () => {
      abort.abort();
      reader?.cancel().catch(() => {});
    },
  };
}

/**
 * Two streams as one subscriber: the release's events (releaseEvents) and the gate changes of its
 * project (gateChanges), each opened as `persona`/`sub` with subscribeSse (token lifetime `opts`).
 */
export async function subscribeReleaseAndGateChanges(
  server: Pick<OpsServer, 'fetch'>,
  scope: { releaseId: string; project: string },
  persona: Persona,
  sub: string,
  opts: { ttlSeconds?: number } = {},
) {
  const events = await subscribeSse(
    server,
    ReleaseEventsDocument,
    { releaseId: scope.releaseId },
    persona,
    sub,
    opts,
  );
  const changes = await subscribeSse(
    server,
    GateChangesDocument,
    { project: scope.project },
    persona,
    sub,
    opts,
  );
  return { events, changes };
}
