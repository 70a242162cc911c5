// The event envelope, v1.0: one definition shared by the HTTP route, the Edge Function and the
// GraphQL ingestEvent mutation, and exported as JSON Schema for producers in other languages.
// It checks shapes only; what an event may do is decided by ops.ingest_event in SQL.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { instantProblem } from '../time.ts';
import {
  APPROVAL_DECISIONS,
  ARTIFACT_TYPES,
  CHECK_STATUSES,
  DEPLOY_ENVIRONMENTS,
  DEPLOYMENT_STATUSES,
  EVENT_TYPES,
  GATE_CODES,
} from '../vocabulary.ts';

export const SCHEMA_VERSION = 'v1.0';

const sha256Hex = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal characters (a sha256 digest)');
const metadata = z.record(z.string(), z.unknown());
/** An instant with Z or an offset; a local time is refused saying so (src/time.ts). */
const instant = z.iso.datetime({
  offset: true,
  error: (issue) =>
    typeof issue.input === 'string' ? (instantProblem(issue.input) ?? undefined) : undefined,
});
const url = z.string().min(1).max(2048);

export const payloadSchemas = {
  build_complete: z.object({
    status: z.enum(CHECK_STATUSES),
    check_name: z.string().min(1).max(200).optional(),
    artifact_ref: url.optional(),
    log_url: url.optional(),
    sha256: sha256Hex.optional(),
    metadata: metadata.optional(),
  }),
  check_result: z.object({
    check_name: z.string().min(1).max(200),
    status: z.enum(CHECK_STATUSES),
    required: z.boolean().optional(),
    artifact_ref: url.optional(),
    metadata: metadata.optional(),
  }),
  gate_signoff: z.object({
    decision: z.enum(APPROVAL_DECISIONS),
    rationale_text: z.string().max(10_000).optional(),
    rationale_structured: metadata.optional(),
  }),
  evidence_attached: z.object({
    artifact_type: z.enum(ARTIFACT_TYPES),
    artifact_url: url,
    sha256: sha256Hex.optional(),
    check_id: z.uuid().optional(),
    deployment_id: z.uuid().optional(),
    metadata: metadata.optional(),
  }),
  deployment_event: z
    .object({
      deployment_id: z.uuid().optional(),
      environment: z.enum(DEPLOY_ENVIRONMENTS).optional(),
      status: z.enum(DEPLOYMENT_STATUSES),
      source_ref: z.string().max(500).optional(),
      rollback_of: z.uuid().optional(),
      deployed_at: instant.optional(),
    })
    .refine((p) => p.deployment_id !== undefined || p.environment !== undefined, {
      message: 'give deployment_id (to update a deployment) or environment (to record a new one)',
      path: ['environment'],
    }),
  health_check: z
    .object({
      deployment_id: z.uuid().optional(),
      environment: z.enum(DEPLOY_ENVIRONMENTS).optional(),
      status: z.enum(CHECK_STATUSES),
      check_name: z.string().min(1).max(200).optional(),
      artifact_url: url.optional(),
      sha256: sha256Hex.optional(),
      metadata: metadata.optional(),
    })
    .refine((p) => p.deployment_id !== undefined || p.environment !== undefined, {
      message: 'give deployment_id or environment (its latest deployment is checked)',
      path: ['deployment_id'],
    }),
  environment_event: z.looseObject({
    environment: z.string().min(1).max(100),
    kind: z.string().min(1).max(100),
  }),
} satisfies Record<(typeof EVENT_TYPES)[number], z.ZodType>;

const common = {
  schema_version: z.literal(SCHEMA_VERSION),
  idempotency_key: z.string().min(1).max(500),
  source_system: z.string().min(1).max(100),
  release_id: z.uuid(),
  gate_code: z.enum(GATE_CODES).optional(),
  emitted_at: instant,
};

const variant = <T extends (typeof EVENT_TYPES)[number]>(type: T) =>
  z.object({ ...common, event_type: z.literal(type), payload: payloadSchemas[type] });

export const envelopeSchema = z
  .discriminatedUnion('event_type', [
    variant('build_complete'),
    variant('check_result').extend({ gate_code: z.enum(GATE_CODES) }),
    variant('gate_signoff').extend({ gate_code: z.enum(['G2', 'G3']) }),
    variant('evidence_attached'),
    variant('deployment_event'),
    variant('health_check'),
    variant('environment_event'),
  ])
  .meta({ title: 'ops event envelope', description: 'Event ingest contract v1.0' });

export type Envelope = z.infer<typeof envelopeSchema>;

export interface EnvelopeIssue {
  path: string;
  message: string;
}

export type EnvelopeCheck =
  | { ok: true; envelope: Envelope }
  | {
      ok: false;
      status: 400 | 422;
      error: 'invalid_envelope' | 'unsupported_schema_version';
      issues: EnvelopeIssue[];
    };

/** Validates a parsed body, listing every missing or malformed field at once. */
export function checkEnvelope(body: unknown): EnvelopeCheck {
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const version = (body as Record<string, unknown>).schema_version;
    if (version !== undefined && version !== SCHEMA_VERSION) {
      return {
        ok: false,
        status: 422,
        error: 'unsupported_schema_version',
        issues: [
          { path: 'schema_version', message: `${JSON.stringify(version)} is not supported; use "v1.0"` },
        ],
      };
    }
  }
  const parsed = envelopeSchema.safeParse(body);
  if (parsed.success) return { ok: true, envelope: parsed.data };
  const issues = parsed.error.issues.flatMap((issue) => flattenIssue(issue));
  // An envelope with a missing or unknown event_type is also checked against the common fields,
  // so the producer learns about every problem in one answer.
  if (!EVENT_TYPES.includes((body as { event_type?: never })?.event_type as never)) {
    const rest = z.object(common).safeParse(body);
    if (!rest.success) issues.push(...rest.error.issues.flatMap((i) => flattenIssue(i)));
  }
  const unique = new Map(issues.map((i) => [`${i.path}:${i.message}`, i]));
  return { ok: false, status: 400, error: 'invalid_envelope', issues: [...unique.values()] };
}

function flattenIssue(issue: z.core.$ZodIssue): EnvelopeIssue[] {
  const path = issue.path.map(String).join('.') || '(body)';
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    return issue.errors.flat().map((i) => ({ path, message: i.message }));
  }
  return [{ path, message: issue.message }];
}

// What jsonb cannot store is checked in one module shared by every JSON door.
export { MAX_JSON_DEPTH, type StorableJson, storableJson } from './storable-json.ts';

/**
 * The hash that tells a retry from a different event under the same key: sha256 of the envelope
 * in canonical JSON (RFC 8785) without `emitted_at`. A retry that re-serialises the event (another
 * client, another door) or stamps a new emission time is the same event; any change of content is
 * not.
 */
export function payloadHash(body: unknown): string {
  const content =
    body && typeof body === 'object' && !Array.isArray(body)
      ? Object.fromEntries(Object.entries(body).filter(([k]) => k !== 'emitted_at'))
      : body;
  return createHash('sha256')
    .update(canonicalize(content) ?? 'null')
    .digest('hex');
}

/** The envelope as JSON Schema, for producers in other languages. */
export function envelopeJsonSchema(): unknown {
  return z.toJSONSchema(envelopeSchema, { target: 'draft-2020-12', io: 'input' });
}
