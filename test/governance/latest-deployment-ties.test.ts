// "The latest deployment" and "the bypass in force" are decided by the rows, not by the plan
// (20261207800000). Two deployments of a release written in one transaction with the same
// deployed_at tie on (deployed_at, created_at): before, which one a rule took was the order a plan
// happened to return them in. Two active gate bypasses with the same expiry tied the same way for
// the exception a gate is attributed to. Each case is stored both ways round (the row with the
// higher key written first, then last) and read under three plans (the planner's choice, no index
// scans, no sequential scans); every reading must name the row with the higher key, as it does
// when that row is the only one. Stored as the owner behind the triggers, in transactions rolled
// back at the end.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

const LOW = '00000000-0000-4000-8000-000000000001';
const HIGH = 'ffffffff-ffff-4fff-bfff-fffffffffffe';
const AT = '2026-11-30T10:00:00Z';

const PLANS: Record<string, string[]> = {
  "the planner's choice": [],
  'no index scans': ['set local enable_indexscan = off', 'set local enable_bitmapscan = off'],
  'no sequential scans': ['set local enable_seqscan = off'],
};

interface Readings {
  status: string;
  g4: unknown;
  latestDeploymentEvidence: string[];
  bypass: string | null;
}

/** A release at revision 1 with its four gates, stored as the owner with the rule's triggers off. */
async function storeRelease(c: pg.ClientBase): Promise<string> {
  const release = (
    await c.query<{ release_id: string }>(
      `insert into ops.releases (project, release_name, revision, initiating_actor, created_by, status)
       values ('ties', 'r', 1, 'dana', 'dana', 'in_progress') returning release_id`,
    )
  ).rows[0]!.release_id;
  await c.query(
    `insert into ops.release_revisions (release_id, revision, reason, revised_by, created_by)
     values ($1, 1, 'first', 'rita', 'rita')`,
    [release],
  );
  await c.query(
    `insert into ops.release_gates (release_id, gate_code, gate_name, created_by)
     select $1, g, g::text, 'dana' from unnest(enum_range(null::public.ops_gate_code)) g`,
    [release],
  );
  return release;
}

/** A staging deployment at AT, created at AT: HIGH succeeded with G4 passed, LOW failed. */
function storeDeployment(c: pg.ClientBase, release: string, id: string) {
  const passed = id === HIGH;
  return c.query(
    `insert into ops.deployments (deployment_id, release_id, environment, status, g4_status, revision,
                                  deployed_at, created_at, deployed_by, created_by)
     values ($1, $2, 'staging', $3::public.ops_deployment_status, $4::public.ops_g4_status, 1, $5, $5, 'sam', 'sam')`,
    [id, release, passed ? 'succeeded' : 'failed', passed ? 'passed' : 'failed', AT],
  );
}

/** An approved gate_bypass of G1 in force, expiring in a day from the transaction's start. */
function storeBypass(c: pg.ClientBase, release: string, id: string) {
  return c.query(
    `insert into ops.exceptions (exception_id, release_id, exception_type, impacted_gates, reason, risk_statement,
                                 requested_by, approver_id, approved_at, effective_from, expires_at, created_at, created_by)
     values ($1, $2, 'gate_bypass', '{G1}', 'hotfix', 'low', 'rita', 'ray', now() - interval '1 hour', now() - interval '1 hour',
             date_trunc('second', now()) + interval '1 day', now(), 'rita')`,
    [id, release],
  );
}

/** What each rule says of the release now, in this transaction, under its current settings. */
async function read(c: pg.ClientBase, release: string): Promise<Readings> {
  // Plans made under other settings are made again under these.
  await c.query('discard plans');
  const status = (await c.query('select ops.derive_release_status($1)::text as s', [release])).rows[0]!.s;
  const g4 = (
    await c.query(
      `select to_jsonb(g) - 'gate_id' - 'evaluated_at' as g from ops.compute_release_gates($1) g
       where g.gate_code = 'G4'`,
      [release],
    )
  ).rows[0]!.g;
  const latestDeploymentEvidence = (
    await c.query(
      `select e.deployment_id from ops.release_gate_evidence_up_to($1, '{1}', null) e
       where e.attached_to = 'latest_deployment' order by e.requirement_id`,
      [release],
    )
  ).rows.map((r) => r.deployment_id);
  const bypass = (
    await c.query(
      `select f.bypass_exception_id as b from ops.releases r, ops.gate_findings(r, '{1}') f
       where r.release_id = $1 and f.gate_code = 'G1'`,
      [release],
    )
  ).rows[0]!.b;
  return { status, g4, latestDeploymentEvidence, bypass };
}

/**
 * The readings with the rows of `ids` stored in that order, under `plan`; with `only`, just that
 * one row of each pair. Rolled back.
 */
async function readingsFor(ids: string[], settings: string[]): Promise<Readings> {
  const c = await db.admin.connect();
  try {
    await c.query('begin');
    await c.query('set local session_replication_role = replica');
    // One requirement on the latest deployment at least, whatever the project's own.
    await c.query(
      `insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to, blocking, created_by)
       values ('G4', '{restore_drill,incident_report}', 'latest_deployment', true, 'owner')
       on conflict do nothing`,
    );
    const release = await storeRelease(c);
    for (const id of ids) {
      await storeDeployment(c, release, id);
      await storeBypass(c, release, id);
    }
    for (const s of settings) await c.query(s);
    return await read(c, release);
  } finally {
    await c.query('rollback');
    c.release();
  }
}

describe('two deployments tied on (deployed_at, created_at), two bypasses tied on expires_at', () => {
  it('each reading is the one the higher key alone gives, whichever was written first and whatever the plan', async () => {
    const alone = await readingsFor([HIGH], []);
    const lowAlone = await readingsFor([LOW], []);
    // The two rows lead to different answers, so a tie decided the other way would show.
    expect(alone.status).not.toBe(lowAlone.status);
    expect(alone.g4).not.toEqual(lowAlone.g4);
    expect(alone.latestDeploymentEvidence.length).toBeGreaterThan(0);
    expect(new Set(alone.latestDeploymentEvidence)).toEqual(new Set([HIGH]));
    expect(alone.bypass).toBe(HIGH);

    const differences: string[] = [];
    for (const [plan, settings] of Object.entries(PLANS))
      for (const order of [
        [HIGH, LOW],
        [LOW, HIGH],
      ]) {
        const got = await readingsFor(order, settings);
        const where = `${plan}, ${order[0] === HIGH ? 'higher key written first' : 'higher key written last'}`;
        if (got.status !== alone.status) differences.push(`${where}: status ${got.status}`);
        if (JSON.stringify(got.g4) !== JSON.stringify(alone.g4))
          differences.push(`${where}: G4 ${JSON.stringify(got.g4)}`);
        if (got.latestDeploymentEvidence.some((d) => d !== HIGH))
          differences.push(
            `${where}: latest-deployment evidence looked up on ${got.latestDeploymentEvidence}`,
          );
        if (got.bypass !== HIGH) differences.push(`${where}: bypass ${got.bypass}`);
      }
    expect(differences).toEqual([]);
  });
});
