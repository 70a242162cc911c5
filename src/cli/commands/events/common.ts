// What every event command shares: the release and event options, the notes on retries and
// idempotency, and one way to build, check, send and report an event.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import {
  type Context,
  flag,
  isoInstant,
  jsonObject,
  type Output,
  type ReleaseRef,
  sourceSystem,
} from '../../command.js';
import {
  buildEnvelope,
  type EnvelopeFields,
  type IngestReply,
  sendEvent,
  validateEnvelope,
} from '../../events.js';
import { tick } from '../../output.js';

export const RELEASE_OPTION = {
  release: { type: 'string', value: '<release>', description: 'the release: a UUID or project/name' },
} as const;

export const EVENT_OPTIONS = {
  ...RELEASE_OPTION,
  source: {
    type: 'string',
    value: '<system>',
    description:
      'source_system of the event (default: OPS_SOURCE_SYSTEM, github_actions inside GitHub Actions, else manual)',
  },
  'idempotency-key': {
    type: 'string',
    value: '<key>',
    description:
      'the key retries and re-runs reuse (default: <source>/<release_id>/<event_type>/<sha256 of the content>)',
  },
  'emitted-at': {
    type: 'string',
    value: '<iso>',
    description:
      "emitted_at (default: now); it is not part of the event's identity, so a re-run is still a duplicate",
  },
} as const;

export const METADATA_OPTION = {
  metadata: { type: 'string', value: '<json>', description: 'a JSON object stored with the record' },
} as const;

export const EVENT_NOTES = [
  'The event is sent to <url>/functions/v1/ops-event-ingest. Network errors, timeouts, 429 and 5xx are retried with backoff and jitter, resending the same envelope under the same idempotency key, so the event is recorded once; the answer is `accepted`, or `duplicate` with the original result when it was already recorded.',
  'Running the same command again sends the same content under the same key: the server answers it as a duplicate with the original result. Give a new --idempotency-key to record the event again; the same key with different content is refused as a key conflict (exit 1).',
];

export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export function optionalMetadata(ctx: Context): Record<string, unknown> | undefined {
  const text = flag(ctx, 'metadata');
  return text === undefined ? undefined : jsonObject(text, '--metadata');
}

/** Drops undefined members so the envelope (and its derived key) holds only what was given. */
export function defined(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).filter(([, v]) => v !== undefined));
}

export interface Summary {
  /** One line saying what the event did. */
  what: string;
}

/** Builds, checks and sends one event; the same output shape for every event command. */
export async function emitEvent(
  ctx: Context,
  release: ReleaseRef,
  event: { eventType: string; gateCode?: string; payload: Record<string, unknown> },
  summarise: (detail: Record<string, unknown>) => Summary,
): Promise<Output> {
  const key = flag(ctx, 'idempotency-key');
  const emittedAt = flag(ctx, 'emitted-at');
  const envelope = buildEnvelope({
    eventType: event.eventType,
    releaseId: release.id,
    gateCode: event.gateCode,
    sourceSystem: sourceSystem(ctx),
    payload: event.payload,
    idempotencyKey: key,
    emittedAt: emittedAt === undefined ? undefined : isoInstant(emittedAt, '--emitted-at'),
  });
  validateEnvelope(envelope);
  return reply(
    ctx,
    release.label,
    envelope,
    await sendEvent(ctx.api, envelope, { derivedKey: !key }),
    summarise,
  );
}

export function reply(
  ctx: Context,
  label: string,
  envelope: EnvelopeFields,
  r: IngestReply,
  summarise: (detail: Record<string, unknown>) => Summary,
): Output {
  const type = String(envelope.event_type);
  const { what } = summarise(r.detail);
  const headline =
    r.status === 'accepted'
      ? `${tick(ctx.paint)} ${type} accepted: ${what}`
      : `${tick(ctx.paint)} ${type} was already recorded (duplicate of ingest ${r.ingestId}): ${what}`;
  return {
    data: {
      status: r.status,
      eventType: type,
      releaseId: envelope.release_id,
      gateCode: envelope.gate_code ?? null,
      idempotencyKey: r.idempotencyKey,
      ingestId: r.ingestId,
      attemptId: r.attemptId,
      attempts: r.attempts,
      detail: r.detail,
    },
    lines: [
      headline,
      ctx.paint('grey', `  release ${label} · key ${r.idempotencyKey} · ingest ${r.ingestId}`),
    ],
  };
}

export const gateNow = (gate: string, detail: Record<string, unknown>) =>
  detail.gate_status ? `; ${gate} is now ${detail.gate_status}` : '';
