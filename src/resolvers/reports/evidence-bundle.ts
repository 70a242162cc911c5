// ops.release_evidence_bundle: everything an auditor archives about a release, with a digest an
// auditor can recompute.
import { anyOf, REPORT_FUNCTION_CALLERS } from '../../auth/access.js';
import { builder } from '../../builder.js';
import { payloadHash } from '../../ingest/envelope.js';
import { uuidArg } from '../ids.js';
import { readRows } from '../read.js';
import { JSONScalar } from '../scalars.js';

export interface EvidenceBundle {
  releaseId: string;
  bundle: unknown;
  bundleSha256: string;
}

/** sha256 (hex) of the bundle in canonical JSON (RFC 8785), as ingest payloads are hashed. */
export function bundleDigest(bundle: unknown): string {
  return payloadHash(bundle);
}

export const EvidenceBundleRef = builder.objectRef<EvidenceBundle>('EvidenceBundle').implement({
  description:
    'Everything an auditor archives about a release: the release, its gates, every evidence artifact reference with its sha256, and the timeline (ops.release_evidence_bundle).',
  fields: (t) => ({
    releaseId: t.exposeID('releaseId'),
    bundle: t.field({ type: JSONScalar, resolve: (b) => b.bundle }),
    bundleSha256: t.exposeString('bundleSha256', {
      description:
        'sha256 (hex) of `bundle` in canonical JSON (RFC 8785, JSON Canonicalization Scheme): canonicalise the archived bundle and hash it to verify it.',
    }),
  }),
});

builder.queryField('releaseEvidenceBundle', (t) =>
  t.withAuth(anyOf(REPORT_FUNCTION_CALLERS.release_evidence_bundle)).field({
    type: EvidenceBundleRef,
    args: { releaseId: t.arg.id({ required: true }) },
    resolve: async (_r, args, ctx) => {
      const releaseId = uuidArg(args.releaseId, 'releaseId');
      const [row] = await readRows<{ bundle: unknown }>(
        ctx,
        'select ops.release_evidence_bundle($1) as bundle',
        [releaseId],
      );
      return { releaseId, bundle: row!.bundle, bundleSha256: bundleDigest(row!.bundle) };
    },
  }),
);
