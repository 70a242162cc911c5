// releaseEvidenceBundle: one JSON document with the release, its gates, every evidence artifact
// with its sha256, and the timeline; bundleSha256 is the sha256 of its canonical JSON (RFC 8785),
// verified here with an implementation of the canonical form written from the RFC, not the
// project's library.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReleaseEvidenceBundleDocument, ReleaseTimelineDocument } from '../../src/gql/graphql.js';
import {
  attachEvidence,
  passAll,
  promote,
  type Release,
  recordHealthCheck,
  updateDeployment,
  who,
} from '../governance/scenario.js';
import { createTestApi, expectData, type TestApi } from '../graphql/client.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { one } from './fixtures.js';

/**
 * RFC 8785 (JSON Canonicalization Scheme) for the values JSON.parse returns: object members sorted
 * by their names as UTF-16 code units (section 3.2.3), no whitespace, strings and numbers
 * serialised as ECMAScript's JSON.stringify does (sections 3.2.2.2 and 3.2.2.3).
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const members = Object.entries(value as Record<string, unknown>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  return `{${members.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

let db: TestDatabase;
let api: TestApi;
let release: Release;

/** Metadata that tells canonical JSON from any other serialisation: key order, escapes, numbers. */
const scopeMetadata = {
  zeta: 'last by name, first written',
  '😀': 'sorts before ﬁ as UTF-16 code units (not as code points)',
  ﬁ: 'ligature',
  é: 'e with acute',
  '10': 'string keys sort as text: "10" before "9"',
  '9': 'nine',
  nested: { b: [1, 2.5, -0.125, 1e21, true, false, null], a: 'tab\tquote"backslash\\ control\u0001' },
};

async function bundle() {
  const result = await api.executeOperation({
    operation: ReleaseEvidenceBundleDocument,
    variables: { releaseId: release.release_id },
    persona: 'audit_reader',
    sub: who.auditor,
  });
  return expectData(result).releaseEvidenceBundle!;
}

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  release = await db.as('developer', who.dev, (c) =>
    one<Release>(
      c,
      `select release_id, project, release_name, initiating_actor, status::text
       from ops.create_release(p_project => 'rpt-bundle', p_release_name => 'bundle-1', p_source_ref => 'refs/tags/b1',
                               p_scope_metadata => $1)`,
      [JSON.stringify(scopeMetadata)],
    ),
  );
  await db.as('qa_tester', who.qa, (c) =>
    c.query(
      `select ops.attach_evidence(p_release_id => $1, p_artifact_type => 'uat_summary',
         p_artifact_url => 'https://qa.example/uat.pdf', p_gate_code => 'G2', p_sha256 => $2)`,
      [release.release_id, 'c'.repeat(64)],
    ),
  );
  await passAll(db, release);
  const production = await promote(db, release.release_id, 'production');
  await updateDeployment(db, production.deployment_id, 'succeeded');
  await recordHealthCheck(db, production.deployment_id, 'pass');
});

afterAll(async () => {
  await api?.close();
});

describe('releaseEvidenceBundle', () => {
  it('bundleSha256 is the sha256 of the canonical JSON of the bundle, recomputed independently', async () => {
    const { bundle: doc, bundleSha256 } = await bundle();
    expect(bundleSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(sha256(canonicalJson(doc))).toBe(bundleSha256);
    // Canonical, not as delivered: the document's own member order hashes differently.
    expect(sha256(JSON.stringify(doc))).not.toBe(bundleSha256);
    // The metadata went through unchanged, its tricky members included.
    expect((doc as { release: { scope_metadata: unknown } }).release.scope_metadata).toEqual(scopeMetadata);
    expect(canonicalJson(scopeMetadata)).toContain('{"10":"string keys sort as text');
    expect(canonicalJson(scopeMetadata).indexOf('"😀"')).toBeLessThan(
      canonicalJson(scopeMetadata).indexOf('"ﬁ"'),
    );
  });

  it('holds the release, its gates as stored, every evidence artifact with its sha256, and the timeline', async () => {
    const { bundle: doc } = await bundle();
    const b = doc as {
      format: string;
      release: Record<string, unknown>;
      gates: Record<string, unknown>[];
      evidence: Record<string, unknown>[];
      timeline: Record<string, unknown>[];
    };
    expect(Object.keys(b).sort()).toEqual(['evidence', 'format', 'gates', 'release', 'timeline']);
    expect(b.format).toBe('ops.release-evidence-bundle/v1');
    expect(b.release).toMatchObject({
      release_id: release.release_id,
      project: 'rpt-bundle',
      release_name: 'bundle-1',
      status: 'promoted',
      initiating_actor: who.dev,
      source_ref: 'refs/tags/b1',
    });
    expect(b.release.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    const { rows: gates } = await db.admin.query(
      `select gate_id, gate_code::text, status::text, resolved_by from ops.release_gates where release_id = $1
       order by gate_code`,
      [release.release_id],
    );
    expect(
      b.gates.map((g) => ({
        gate_id: g.gate_id,
        gate_code: g.gate_code,
        status: g.status,
        resolved_by: g.resolved_by,
      })),
    ).toEqual(gates);

    const { rows: evidence } = await db.admin.query(
      `select artifact_id, artifact_type::text, artifact_url, sha256 from ops.evidence_artifacts
       where release_id = $1 order by created_at, artifact_id`,
      [release.release_id],
    );
    expect(evidence.map((e) => e.artifact_type).sort()).toEqual([
      'health_check',
      'health_check',
      'rollback_plan',
      'test_result',
      'uat_summary',
    ]);
    expect(
      b.evidence.map((e) => ({
        artifact_id: e.artifact_id,
        artifact_type: e.artifact_type,
        artifact_url: e.artifact_url,
        sha256: e.sha256,
      })),
    ).toEqual(evidence);
    expect(b.evidence.find((e) => e.artifact_type === 'uat_summary')!.sha256).toBe('c'.repeat(64));

    const timeline = expectData(
      await api.executeOperation({
        operation: ReleaseTimelineDocument,
        variables: { releaseId: release.release_id },
        persona: 'audit_reader',
        sub: who.auditor,
      }),
    ).releaseTimeline!;
    expect(b.timeline.map((t) => [t.seq, t.kind, t.actor, t.summary, t.entity_id])).toEqual(
      timeline.map((t) => [t.seq, t.kind, t.actor, t.summary, t.entityId]),
    );
  });

  it('is the same document, with the same digest, while nothing happens to the release', async () => {
    const first = await bundle();
    const second = await bundle();
    expect(second.bundleSha256).toBe(first.bundleSha256);
    expect(canonicalJson(second.bundle)).toBe(canonicalJson(first.bundle));
  });

  it('changes with any new fact, and an archived copy shows any edit', async () => {
    const archived = await bundle();
    await attachEvidence(db, 'release_manager', who.rm, release.release_id, 'incident_report', null);
    const now = await bundle();
    expect(now.bundleSha256).not.toBe(archived.bundleSha256);
    // The archived copy still verifies against its own digest; an edited one does not.
    expect(sha256(canonicalJson(archived.bundle))).toBe(archived.bundleSha256);
    const edited = structuredClone(archived.bundle) as { evidence: { sha256: string | null }[] };
    edited.evidence[0]!.sha256 = 'f'.repeat(64);
    expect(sha256(canonicalJson(edited))).not.toBe(archived.bundleSha256);
  });
});
