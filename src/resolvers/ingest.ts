// The ingest door over GraphQL (ingestEvent, the same SQL function as the HTTP route) and the
// ingest log for auditors.
import { anyOf, MUTATION_CALLERS, TABLE_READERS } from '../auth/access.js';
import { builder } from '../builder.js';
import type { AuthenticatedContext } from '../context.js';
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  ServiceUnavailableError,
  UnsupportedSchemaVersionError,
  ValidationError,
} from '../errors.js';
import { type IngestResult, submitEnvelope } from '../ingest/handler.js';
import type { ProcessingStatusValue } from '../vocabulary.js';
import { EventType, GateCode, ProcessingStatus } from './enums.js';
import { optionalUuidArg } from './ids.js';
import { connectionArgs, connectionType } from './pagination.js';
import { Conditions, keysetPage } from './read.js';
import { IngestLogEntryRef } from './refs.js';
import { INGEST_LOG, type IngestLogRow } from './rows.js';
import { DateTime, JSONScalar } from './scalars.js';

IngestLogEntryRef.implement({
  description: 'One ingest attempt, whatever its outcome; duplicates point at the accepted original.',
  fields: (t) => ({
    id: t.exposeID('ingest_id'),
    sourceSystem: t.exposeString('source_system', { nullable: true }),
    eventType: t.exposeString('event_type', { nullable: true }),
    idempotencyKey: t.exposeString('idempotency_key', { nullable: true }),
    schemaVersion: t.exposeString('schema_version', { nullable: true }),
    releaseId: t.exposeID('release_id', { nullable: true }),
    gateCode: t.exposeString('gate_code', { nullable: true }),
    payloadHash: t.exposeString('payload_hash', { nullable: true }),
    envelope: t.field({ type: JSONScalar, nullable: true, resolve: (l) => l.envelope }),
    receivedAt: t.field({ type: DateTime, resolve: (l) => l.received_at }),
    processingStatus: t.expose('processing_status', { type: ProcessingStatus }),
    httpStatus: t.exposeInt('http_status', { nullable: true }),
    errorDetail: t.field({ type: JSONScalar, nullable: true, resolve: (l) => l.error_detail }),
    result: t.field({ type: JSONScalar, nullable: true, resolve: (l) => l.result }),
    duplicateOf: t.exposeID('duplicate_of', { nullable: true }),
    createdBy: t.exposeString('created_by'),
    createdPersona: t.exposeString('created_persona', { nullable: true }),
  }),
});

const IngestLogConnection = connectionType<IngestLogRow>('IngestLog', IngestLogEntryRef);

const IngestLogFilter = builder.inputType('IngestLogFilter', {
  fields: (t) => ({
    releaseId: t.id(),
    idempotencyKey: t.string(),
    processingStatus: t.field({ type: ProcessingStatus }),
    eventType: t.field({ type: EventType }),
    receivedAfter: t.field({ type: DateTime }),
  }),
});

builder.queryField('ingestLog', (t) =>
  t.withAuth(anyOf(TABLE_READERS.event_ingest_log)).field({
    type: IngestLogConnection,
    description: 'Every ingest attempt, newest first; at most 100 per page.',
    args: connectionArgs(t.arg, IngestLogFilter),
    resolve: (_r, args, ctx) => {
      const f = args.filter ?? {};
      return keysetPage<IngestLogRow>(ctx, args, {
        columns: INGEST_LOG.list('l'),
        from: 'ops.event_ingest_log l',
        where: new Conditions()
          .when(optionalUuidArg(f.releaseId, 'releaseId'), (p) => `l.release_id = ${p}::uuid`)
          .when(f.idempotencyKey, (p) => `l.idempotency_key = ${p}`)
          .when(f.processingStatus, (p) => `l.processing_status = ${p}::ops_processing_status`)
          .when(f.eventType, (p) => `l.event_type = ${p}`)
          .when(f.receivedAfter, (p) => `l.received_at >= ${p}::timestamptz`),
        at: 'l.received_at',
        id: 'l.ingest_id',
        direction: 'desc',
        idOf: (r) => r.ingest_id,
      });
    },
  }),
);

const IngestEventInput = builder.inputType('IngestEventInput', {
  description: 'The v1.0 event envelope (schema/ingest-envelope.v1.json), with camelCase field names.',
  fields: (t) => ({
    schemaVersion: t.string({ required: true }),
    idempotencyKey: t.string({ required: true }),
    eventType: t.field({ type: EventType, required: true }),
    sourceSystem: t.string({ required: true }),
    releaseId: t.id({ required: true }),
    gateCode: t.field({ type: GateCode }),
    payload: t.field({ type: JSONScalar, required: true }),
    emittedAt: t.field({ type: DateTime, required: true }),
  }),
});

interface IngestOutcomeShape {
  ingestId: string;
  attemptId: string | null;
  status: ProcessingStatusValue;
  detail: unknown;
}

const IngestOutcome = builder.objectRef<IngestOutcomeShape>('IngestOutcome').implement({
  fields: (t) => ({
    ingestId: t.exposeID('ingestId', {
      description: 'The accepted attempt (for a duplicate: the original).',
    }),
    attemptId: t.exposeID('attemptId', { nullable: true, description: "This attempt's own log row." }),
    status: t.expose('status', { type: ProcessingStatus }),
    detail: t.field({ type: JSONScalar, nullable: true, resolve: (o) => o.detail }),
  }),
});

/** The same outcome the HTTP route answers with a status code, as a GraphQL result or error. */
function toGraphQL(result: IngestResult): IngestOutcomeShape {
  const detail = (result.detail ?? {}) as {
    error?: string;
    message?: string;
    issues?: ValidationError['issues'];
  };
  const message = detail.message ?? detail.error ?? 'refused';
  switch (result.http_status) {
    case 200:
      return {
        ingestId: result.ingest_id!,
        attemptId: result.attempt_id ?? null,
        status: result.status,
        detail: result.detail,
      };
    case 400:
    case 413:
      throw new ValidationError(message, detail.issues ?? []);
    case 403:
      throw new ForbiddenError(message);
    case 409:
      throw detail.error === 'unknown_release' ? new NotFoundError(message) : new ConflictError(message);
    case 422:
      throw new UnsupportedSchemaVersionError(message);
    case 503:
      throw new ServiceUnavailableError(message);
    default:
      throw new Error(`ingest failed (${result.http_status})`);
  }
}

builder.mutationField('ingestEvent', (t) =>
  t.withAuth(anyOf(MUTATION_CALLERS.ingestEvent)).field({
    type: IngestOutcome,
    description:
      'Send an event through the idempotent ingest, exactly as POST /functions/v1/ops-event-ingest does.',
    errors: {
      types: [ValidationError, ForbiddenError, NotFoundError, ConflictError, UnsupportedSchemaVersionError],
    },
    args: { input: t.arg({ type: IngestEventInput, required: true }) },
    resolve: async (_r, { input }, ctx: AuthenticatedContext) => {
      const envelope = {
        schema_version: input.schemaVersion,
        idempotency_key: input.idempotencyKey,
        event_type: input.eventType,
        source_system: input.sourceSystem,
        release_id: String(input.releaseId),
        ...(input.gateCode ? { gate_code: input.gateCode } : {}),
        payload: input.payload,
        emitted_at: input.emittedAt instanceof Date ? input.emittedAt.toISOString() : input.emittedAt,
      };
      // The attempt is committed (and logged) before any refusal is raised as a GraphQL error.
      return toGraphQL(await submitEnvelope(ctx.pool, ctx.identity, envelope));
    },
  }),
);
