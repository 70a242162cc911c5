// The report queries over the real server: who may call each one (refused calls never reach the
// database), keyset pages that neither skip nor repeat rows (releases created in one statement
// share milliseconds), filters, and a dashboard page whose SQL statement count does not grow with
// the page.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPORT_FUNCTION_CALLERS, VIEW_READERS } from '../../src/auth/access.js';
import { PERSONAS, type Persona } from '../../src/auth/personas.js';
import {
  DeploymentHistoryDocument,
  EvidenceCompletenessDocument,
  ExceptionStatusDocument,
  PromotionEligibilitiesDocument,
  type PromotionEligibilitiesQuery,
  ReleaseDashboardDocument,
  ReleaseEvidenceBundleDocument,
  ReleaseGateSummaryDocument,
  ReleaseTimelineDocument,
} from '../../src/gql/graphql.js';
import { createTestApi, expectData, type TestApi } from '../graphql/client.js';
import { actAs, inTransaction, type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
let api: TestApi;
let someRelease: string;

/**
 * n releases of a project in one transaction, as the superuser with each step's claims (as
 * test/graphql/n-plus-one.test.ts does): every release has G1 passed; every second one G2 too and
 * a staging deployment; every third an exception.
 */
async function seed(project: string, n: number, developer = 'dev-seed'): Promise<void> {
  await inTransaction(db.admin, async (c) => {
    await actAs(c, 'developer', developer);
    await c.query(`select ops.create_release($1, 'rel-' || i) from generate_series(1, $2::int) i`, [
      project,
      n,
    ]);
    await actAs(c, 'ci_service_role', 'ci-seed');
    await c.query(
      `select ops.record_check(r.release_id, 'G1', 'build', 'pass') from ops.releases r where project = $1`,
      [project],
    );
    const even = `from ops.releases r where r.project = $1 and substring(r.release_name from 5)::int % 2 = 0`;
    await actAs(c, 'qa_tester', 'qa-seed');
    await c.query(
      `select ops.attach_evidence(r.release_id, 'test_result', 'https://ci.example/t', 'G2') ${even}`,
      [project],
    );
    await c.query(`select ops.submit_approval(r.release_id, 'approved', 'G2') ${even}`, [project]);
    // An sre reads no releases: the ids are read first (as qa_tester), then promoted as sre.
    const { rows: evenIds } = await c.query(`select r.release_id ${even}`, [project]);
    await actAs(c, 'sre', 'sre-seed');
    await c.query(`select ops.promote_release(id, 'staging') from unnest($1::uuid[]) id`, [
      evenIds.map((r) => r.release_id),
    ]);
    await actAs(c, 'release_manager', 'rm-seed');
    await c.query(
      `select ops.request_exception(r.release_id, 'timing_override', '{G4}', 'freeze', 'low',
         now() + (substring(r.release_name from 5)::int || ' hours')::interval)
       from ops.releases r where r.project = $1 and substring(r.release_name from 5)::int % 3 = 0`,
      [project],
    );
  });
}

beforeAll(async () => {
  db = await useTestDatabase();
  api = createTestApi(db);
  await seed('rpt-gql-small', 5);
  await seed('rpt-gql-large', 50);
  // Groups of three releases within one millisecond, a microsecond apart: what a millisecond
  // cursor would get wrong, however fast or busy the machine is.
  await db.admin.query(
    `update ops.releases t set created_at = timestamptz '2026-11-01T00:00:00Z'
       + (x.n / 3) * interval '1 millisecond' + (x.n % 3) * interval '1 microsecond'
     from (select release_id, row_number() over (order by created_at, release_id) as n from ops.releases where project = 'rpt-gql-large') x
     where t.release_id = x.release_id`,
  );
  await seed('rpt-gql-other-dev', 3, 'dev-other');
  const { rows } = await db.admin.query(
    `select release_id from ops.releases where project = 'rpt-gql-small' limit 1`,
  );
  someRelease = rows[0].release_id;
});

afterAll(async () => {
  await api?.close();
});

const as = (persona: Persona, sub = `rpt-${persona}`) => ({ persona, sub });

// ---- Who may call what -------------------------------------------------------------------------

const CALLS: Record<
  string,
  { allowed: readonly Persona[]; run: (p: Persona) => ReturnType<TestApi['executeOperation']> }
> = {
  releaseGateSummary: {
    allowed: VIEW_READERS.v_release_gate_summary,
    run: (p) =>
      api.executeOperation({ operation: ReleaseGateSummaryDocument, variables: { first: 2 }, ...as(p) }),
  },
  promotionEligibilities: {
    allowed: VIEW_READERS.v_promotion_eligibility,
    run: (p) =>
      api.executeOperation({ operation: PromotionEligibilitiesDocument, variables: { first: 2 }, ...as(p) }),
  },
  evidenceCompleteness: {
    allowed: VIEW_READERS.v_evidence_completeness,
    run: (p) =>
      api.executeOperation({ operation: EvidenceCompletenessDocument, variables: { first: 2 }, ...as(p) }),
  },
  exceptionStatus: {
    allowed: VIEW_READERS.v_exception_status,
    run: (p) =>
      api.executeOperation({ operation: ExceptionStatusDocument, variables: { first: 2 }, ...as(p) }),
  },
  deploymentHistory: {
    allowed: VIEW_READERS.v_deployment_history,
    run: (p) =>
      api.executeOperation({ operation: DeploymentHistoryDocument, variables: { first: 2 }, ...as(p) }),
  },
  releaseTimeline: {
    allowed: REPORT_FUNCTION_CALLERS.release_timeline,
    run: (p) =>
      api.executeOperation({
        operation: ReleaseTimelineDocument,
        variables: { releaseId: someRelease },
        ...as(p),
      }),
  },
  releaseEvidenceBundle: {
    allowed: REPORT_FUNCTION_CALLERS.release_evidence_bundle,
    run: (p) =>
      api.executeOperation({
        operation: ReleaseEvidenceBundleDocument,
        variables: { releaseId: someRelease },
        ...as(p),
      }),
  },
};

describe('report fields × personas', () => {
  for (const [field, { allowed, run }] of Object.entries(CALLS)) {
    for (const persona of PERSONAS) {
      if (allowed.includes(persona)) {
        it(`${field}: ${persona} may read it`, async () => {
          const result = await run(persona);
          expect(result.errors).toBeUndefined();
          expect((result.data as Record<string, unknown>)[field]).toBeTruthy();
        });
      } else {
        it(`${field}: ${persona} is refused (FORBIDDEN) without a statement`, async () => {
          api.statements.reset();
          const result = await run(persona);
          expect(api.statements.count).toBe(0);
          expect(result.data).toEqual({ [field]: null });
          const names = PERSONAS.filter((p) => allowed.includes(p));
          expect(result.errors?.[0]).toMatchObject({
            message: `Query.${field} requires one of the personas: ${names.join(', ')}`,
            extensions: { code: 'FORBIDDEN', requiredPersonas: names },
          });
        });
      }
    }
  }

  it('ReleaseEligibility.gates is refused to a persona that reads eligibility but not gates', async () => {
    const result = await api.executeOperation({
      operation: ReleaseDashboardDocument,
      variables: { first: 1 },
      ...as('qa_tester'),
    });
    expect(result.errors?.[0]).toMatchObject({
      path: ['promotionEligibilities', 'nodes', 0, 'gates'],
      extensions: { code: 'FORBIDDEN' },
    });
  });

  it('a developer pages through their own releases only', async () => {
    const seen: string[] = [];
    let after: string | null | undefined = null;
    do {
      const page: PromotionEligibilitiesQuery['promotionEligibilities'] = expectData(
        await api.executeOperation({
          operation: PromotionEligibilitiesDocument,
          variables: { first: 2, after },
          persona: 'developer',
          sub: 'dev-other',
        }),
      ).promotionEligibilities;
      seen.push(...page!.nodes!.map((n) => n.releaseName!));
      after = page!.pageInfo!.hasNextPage ? page!.pageInfo!.endCursor : null;
    } while (after);
    expect(seen.sort()).toEqual(['rel-1', 'rel-2', 'rel-3']);
  });
});

// ---- Keyset pages ------------------------------------------------------------------------------

interface Page<N> {
  nodes: N[];
  hasNextPage: boolean;
  endCursor: string | null;
}

/** A connection's page in the shape walk() reads. */
function pageOf<N>(
  nodes: N[] | null | undefined,
  info: { hasNextPage?: boolean | null; endCursor?: string | null } | null | undefined,
): Page<N> {
  return { nodes: nodes ?? [], hasNextPage: info?.hasNextPage ?? false, endCursor: info?.endCursor ?? null };
}

/** Every page of a connection, concatenated. */
async function walk<N>(fetch: (after: string | null) => Promise<Page<N>>): Promise<N[]> {
  const all: N[] = [];
  let after: string | null = null;
  for (let guard = 0; guard < 200; guard++) {
    const page = await fetch(after);
    all.push(...page.nodes);
    if (!page.hasNextPage) return all;
    after = page.endCursor;
  }
  throw new Error('too many pages');
}

const RM = as('release_manager');

describe('keyset pages neither skip nor repeat rows', () => {
  it('shares milliseconds between releases (what a millisecond cursor would get wrong)', async () => {
    const { rows } = await db.admin.query(
      `select count(*)::int as n from (
         select date_trunc('milliseconds', created_at) from ops.releases where project = 'rpt-gql-large'
         group by 1 having count(*) > 1) x`,
    );
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it('promotionEligibilities: newest release first', async () => {
    const paged = await walk(async (after) => {
      const c = expectData(
        await api.executeOperation({
          operation: PromotionEligibilitiesDocument,
          variables: { first: 7, after, filter: { project: 'rpt-gql-large' } },
          ...RM,
        }),
      ).promotionEligibilities!;
      return pageOf(c.nodes, c.pageInfo);
    });
    const { rows } = await db.admin.query(
      `select release_id from ops.releases where project = 'rpt-gql-large' order by created_at desc, release_id desc`,
    );
    expect(paged.map((n) => n.releaseId)).toEqual(rows.map((r) => r.release_id));
  });

  it('releaseGateSummary and evidenceCompleteness: newest release first, G1-G4 within it, pages cutting releases', async () => {
    const { rows } = await db.admin.query(
      `select g.gate_id from ops.release_gates g join ops.releases r using (release_id)
       where r.project = 'rpt-gql-large' order by r.created_at desc, r.release_id desc, g.gate_code`,
    );
    const summary = await walk(async (after) => {
      const c = expectData(
        await api.executeOperation({
          operation: ReleaseGateSummaryDocument,
          variables: { first: 7, after, filter: { project: 'rpt-gql-large' } },
          ...RM,
        }),
      ).releaseGateSummary!;
      return pageOf(
        c.edges?.map((e) => e.node!),
        c.pageInfo,
      );
    });
    expect(summary.map((n) => n.gateId)).toEqual(rows.map((r) => r.gate_id));

    const completeness = await walk(async (after) => {
      const c = expectData(
        await api.executeOperation({
          operation: EvidenceCompletenessDocument,
          variables: { first: 9, after, filter: { project: 'rpt-gql-large' } },
          ...RM,
        }),
      ).evidenceCompleteness!;
      return pageOf(c.nodes, c.pageInfo);
    });
    expect(completeness).toHaveLength(rows.length);
  });

  it('exceptionStatus: soonest expiry first', async () => {
    const paged = await walk(async (after) => {
      const c = expectData(
        await api.executeOperation({
          operation: ExceptionStatusDocument,
          variables: { first: 4, after },
          ...RM,
        }),
      ).exceptionStatus!;
      return pageOf(c.nodes, c.pageInfo);
    });
    const { rows } = await db.admin.query(
      'select exception_id from ops.exceptions order by expires_at, exception_id',
    );
    expect(paged.map((n) => n.exceptionId)).toEqual(rows.map((r) => r.exception_id));
    expect(rows.length).toBeGreaterThan(8);
  });

  it('deploymentHistory: newest deployment first', async () => {
    const paged = await walk(async (after) => {
      const c = expectData(
        await api.executeOperation({
          operation: DeploymentHistoryDocument,
          variables: { first: 4, after },
          ...as('sre'),
        }),
      ).deploymentHistory!;
      return pageOf(c.nodes, c.pageInfo);
    });
    const { rows } = await db.admin.query(
      'select deployment_id from ops.deployments order by deployed_at desc, deployment_id desc',
    );
    expect(paged.map((n) => n.deploymentId)).toEqual(rows.map((r) => r.deployment_id));
    expect(rows.length).toBeGreaterThan(8);
  });

  it('refuses a cursor it did not issue', async () => {
    const result = await api.executeOperation({
      operation: DeploymentHistoryDocument,
      variables: { first: 4, after: 'bm90LWEtY3Vyc29y' },
      ...as('sre'),
    });
    expect(result.errors?.[0]?.extensions?.code).toBe('VALIDATION');
  });
});

// ---- Filters -----------------------------------------------------------------------------------

describe('filters', () => {
  it('promotionEligibilities by eligibility: the even releases passed G2', async () => {
    const c = expectData(
      await api.executeOperation({
        operation: PromotionEligibilitiesDocument,
        variables: { first: 100, filter: { project: 'rpt-gql-small', eligibleForStaging: true } },
        ...RM,
      }),
    ).promotionEligibilities!;
    expect(c.nodes!.map((n) => n.releaseName).sort()).toEqual(['rel-2', 'rel-4']);
    expect(c.nodes!.every((n) => n.eligibleForStaging && n.stagingBlockers === 0)).toBe(true);
  });

  it('releaseGateSummary by gate and status', async () => {
    const c = expectData(
      await api.executeOperation({
        operation: ReleaseGateSummaryDocument,
        variables: { first: 100, filter: { project: 'rpt-gql-small', gateCode: 'G2', status: 'passed' } },
        ...RM,
      }),
    ).releaseGateSummary!;
    expect(c.edges!.map((e) => [e.node!.releaseName, e.node!.gateCode, e.node!.approvals])).toEqual([
      ['rel-4', 'G2', 1],
      ['rel-2', 'G2', 1],
    ]);
  });

  it('evidenceCompleteness by completeness', async () => {
    const c = expectData(
      await api.executeOperation({
        operation: EvidenceCompletenessDocument,
        variables: { first: 100, filter: { project: 'rpt-gql-small', gateCode: 'G2', complete: false } },
        ...RM,
      }),
    ).evidenceCompleteness!;
    expect(c.nodes!.map((n) => [n.releaseName, n.missing])).toEqual([
      ['rel-5', ['test_result or uat_summary']],
      ['rel-3', ['test_result or uat_summary']],
      ['rel-1', ['test_result or uat_summary']],
    ]);
  });

  it('exceptionStatus by state', async () => {
    const c = expectData(
      await api.executeOperation({
        operation: ExceptionStatusDocument,
        variables: { first: 100, filter: { state: 'pending_approval' } },
        ...RM,
      }),
    ).exceptionStatus!;
    const { rows } = await db.admin.query(
      'select count(*)::int as n from ops.exceptions where approver_id is null',
    );
    expect(c.nodes).toHaveLength(rows[0].n);
    expect(c.nodes!.every((n) => n.state === 'pending_approval' && n.timeLeftSeconds === null)).toBe(true);
  });

  it('deploymentHistory by environment and kind', async () => {
    const c = expectData(
      await api.executeOperation({
        operation: DeploymentHistoryDocument,
        variables: { first: 100, filter: { environment: 'production' } },
        ...as('sre'),
      }),
    ).deploymentHistory!;
    expect(c.nodes).toEqual([]);
    const staging = expectData(
      await api.executeOperation({
        operation: DeploymentHistoryDocument,
        variables: { first: 100, filter: { environment: 'staging', kind: 'deployment' } },
        ...as('sre'),
      }),
    ).deploymentHistory!;
    expect(staging.nodes!.length).toBe(2 + 25 + 1);
  });
});

// ---- The dashboard page ------------------------------------------------------------------------

describe('the dashboard page', () => {
  async function dashboard(project: string) {
    api.statements.reset();
    const result = await api.executeOperation({
      operation: ReleaseDashboardDocument,
      variables: { first: 50, filter: { project } },
      ...RM,
    });
    return {
      page: expectData(result).promotionEligibilities!.nodes!,
      statements: [...api.statements.statements],
    };
  }

  it('costs as many SQL statements for 50 releases with their gates as for 5', async () => {
    const small = await dashboard('rpt-gql-small');
    const large = await dashboard('rpt-gql-large');
    expect(small.page).toHaveLength(5);
    expect(large.page).toHaveLength(50);
    for (const r of large.page) expect(r.gates!.map((g) => g.gateCode)).toEqual(['G1', 'G2', 'G3', 'G4']);
    expect(large.statements.length).toBe(small.statements.length);
    // One transaction and one persona switch: the page with its eligibility and every gate of the
    // page: begin with the persona (one round trip), one select, commit.
    expect(large.statements.filter((s) => s.startsWith('begin'))).toHaveLength(1);
    expect(large.statements.filter((s) => s.includes("set_config('role'"))).toHaveLength(1);
    expect(large.statements.length).toBe(3);
  });
});
