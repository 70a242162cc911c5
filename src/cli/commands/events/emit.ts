// `emit`: send any v1.0 event, from flags or an envelope file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPES } from '../../../vocabulary.js';
import {
  bool,
  type Command,
  flag,
  flags,
  isoInstant,
  jsonObject,
  keyValues,
  type ReleaseRef,
  resolveRelease,
  sourceSystem,
} from '../../command.js';
import { usageError } from '../../errors.js';
import { completeEnvelope, type EnvelopeFields, sendEvent, validateEnvelope } from '../../events.js';

import { EVENT_NOTES, EVENT_OPTIONS, reply } from './common.js';

export const emit: Command = {
  path: ['emit'],
  summary: 'Send any v1.0 event, from flags or an envelope file',
  usage:
    '<event_type> --release <release> [--gate <G1-G4>] [--payload <json> | --set k=v ...] | --file <envelope.json>',
  maxPositionals: 1,
  options: {
    ...EVENT_OPTIONS,
    gate: { type: 'string', value: '<G1|G2|G3|G4>', description: 'gate_code' },
    payload: { type: 'string', value: '<json>', description: 'the payload as a JSON object' },
    'payload-file': { type: 'string', value: '<file>', description: 'the payload from a JSON file' },
    set: {
      type: 'string',
      multiple: true,
      value: '<key=value>',
      description: 'a payload member (repeatable; JSON values are typed: count=3, ok=true)',
    },
    file: {
      type: 'string',
      value: '<envelope.json>',
      description:
        'an envelope (whole or partial; flags override its fields, missing key and emitted_at are filled)',
    },
    unchecked: {
      type: 'boolean',
      description: 'send without checking the envelope locally first (the server still checks it)',
    },
  },
  notes: [
    `Event types: ${EVENT_TYPES.join(', ')}.`,
    ...EVENT_NOTES,
    'Example: ops-gates emit environment_event --release odoo-core/2026.11.1 --set environment=staging --set kind=maintenance_window',
  ],
  async run(ctx) {
    const fromFile = flag(ctx, 'file');
    let base: EnvelopeFields = {};
    if (fromFile) {
      let text: string;
      try {
        text = readFileSync(path.resolve(ctx.io.cwd, fromFile), 'utf8');
      } catch (err) {
        throw usageError(`cannot read --file ${fromFile}: ${(err as Error).message}`);
      }
      base = jsonObject(text, `--file ${fromFile}`);
    }
    const eventType = ctx.positionals[0] ?? (base.event_type as string | undefined);
    if (!eventType) throw usageError('which event? give <event_type> or an envelope --file with event_type');
    if (ctx.positionals[0] && base.event_type && base.event_type !== ctx.positionals[0]) {
      throw usageError(
        `<event_type> ${ctx.positionals[0]} contradicts the file's event_type ${base.event_type}`,
      );
    }

    let payload = (base.payload as Record<string, unknown> | undefined) ?? {};
    const payloadText = flag(ctx, 'payload');
    const payloadFile = flag(ctx, 'payload-file');
    if (payloadText !== undefined) payload = jsonObject(payloadText, '--payload');
    if (payloadFile !== undefined) {
      let text: string;
      try {
        text = readFileSync(path.resolve(ctx.io.cwd, payloadFile), 'utf8');
      } catch (err) {
        throw usageError(`cannot read --payload-file ${payloadFile}: ${(err as Error).message}`);
      }
      payload = jsonObject(text, `--payload-file ${payloadFile}`);
    }
    payload = { ...payload, ...keyValues(flags(ctx, 'set'), '--set') };

    const releaseGiven = flag(ctx, 'release');
    let release: ReleaseRef;
    if (releaseGiven) release = await resolveRelease(ctx, releaseGiven);
    else if (typeof base.release_id === 'string') release = { id: base.release_id, label: base.release_id };
    else throw usageError('which release? give --release (a UUID or project/name) or release_id in --file');

    const key = flag(ctx, 'idempotency-key');
    const emittedAt = flag(ctx, 'emitted-at');
    const fields: EnvelopeFields = {
      ...base,
      event_type: eventType,
      source_system: flag(ctx, 'source') ?? base.source_system ?? sourceSystem(ctx),
      release_id: release.id,
      payload,
    };
    const gate = flag(ctx, 'gate');
    if (gate !== undefined) fields.gate_code = gate;
    const envelope = completeEnvelope(
      fields,
      key,
      emittedAt === undefined ? undefined : isoInstant(emittedAt, '--emitted-at'),
    );
    if (!bool(ctx, 'unchecked')) validateEnvelope(envelope);
    const derivedKey = !key && fields.idempotency_key === undefined;
    const r = await sendEvent(ctx.api, envelope, { derivedKey });
    return reply(ctx, release.label, envelope, r, (d) => ({
      what: Object.entries(d)
        .map(([k, v]) => `${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', '),
    }));
  },
};
