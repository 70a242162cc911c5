// The deadline job with two runners, as two API instances would run it against one database: a
// deadline that passed is recorded exactly once, whichever runner sweeps first and however often
// both are asked to sweep; and concurrent sweeps straight in SQL record it once too.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DeadlineJob, startDeadlineJob } from '../../src/timing/deadline-job.js';
import { createRelease, passG1, passG2, storedGates, uniqueName, who } from '../governance/scenario.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
const runners: DeadlineJob[] = [];

beforeAll(async () => {
  db = await useTestDatabase();
});

afterAll(async () => {
  await Promise.all(runners.map((r) => r.stop()));
});

async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A release deployed to staging 20 minutes ago, never confirmed healthy, under a 10-minute G4 deadline. */
async function overdueDeployment(): Promise<{ releaseId: string; deploymentId: string }> {
  const project = uniqueName('job');
  await db.as('release_manager', who.rm, (c) =>
    c.query(`select ops.set_deadline_policy('G4', '10 minutes', 'staging', $1)`, [project]),
  );
  const r = await createRelease(db, { project });
  await passG1(db, r);
  await passG2(db, r);
  const deploymentId = await db.as('ci_service_role', who.ci, async (c) => {
    const { rows } = await c.query(
      `select deployment_id from ops.record_deployment($1, 'staging', 'succeeded', null, null, now() - interval '20 minutes')`,
      [r.release_id],
    );
    return rows[0].deployment_id as string;
  });
  return { releaseId: r.release_id, deploymentId };
}

async function transitions(subjectId: string): Promise<number> {
  const { rows } = await db.admin.query(
    'select count(*)::int as n from ops.deadline_transitions where subject_id = $1',
    [subjectId],
  );
  return rows[0]!.n;
}

describe('the deadline job', () => {
  it('with two runners records a passed deadline once', async () => {
    // Two instances start together: each runs graphile-worker's migrations and its cron.
    const [a, b] = await Promise.all([
      startDeadlineJob({ adminUrl: db.adminUrl, pollInterval: 200 }),
      startDeadlineJob({ adminUrl: db.adminUrl, pollInterval: 200 }),
    ]);
    runners.push(a, b);
    const { releaseId, deploymentId } = await overdueDeployment();
    // Both ask for a sweep, several times, at once.
    await Promise.all([a.sweepNow(), b.sweepNow(), a.sweepNow(), b.sweepNow()]);
    await waitFor(async () => (await transitions(deploymentId)) > 0, 'a runner to record the G4 deadline');
    await waitFor(async () => {
      const { rows } = await db.admin.query(
        `select count(*)::int as n from graphile_worker.jobs where task_identifier = 'record_deadline_transitions'`,
      );
      return rows[0]!.n === 0;
    }, 'the queued sweeps to finish');
    await Promise.all([a.sweepNow(), b.sweepNow()]);
    await waitFor(async () => {
      const { rows } = await db.admin.query(
        `select count(*)::int as n from graphile_worker.jobs where task_identifier = 'record_deadline_transitions'`,
      );
      return rows[0]!.n === 0;
    }, 'the second sweeps to finish');
    expect(await transitions(deploymentId)).toBe(1);
    expect(await storedGates(db, releaseId)).toMatchObject({ G4: 'failed' });
    const { rows } = await db.admin.query(
      `select count(*)::int as n from ops.gate_transitions t join ops.release_gates g on g.gate_id = t.gate_id
       where g.release_id = $1 and g.gate_code = 'G4' and t.to_status = 'failed'`,
      [releaseId],
    );
    expect(rows[0]!.n).toBe(1);
    // The runners stop here: their cron sweeps every minute, and one that fell between the next
    // test's deployment and its own sweeps would record the transition first.
    await Promise.all(runners.splice(0).map((r) => r.stop()));
  });

  it('concurrent sweeps in SQL record each transition once', async () => {
    const { deploymentId } = await overdueDeployment();
    const counts = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const c = await db.admin.connect();
        try {
          return (await c.query('select ops.record_deadline_transitions() as n')).rows[0]!.n as number;
        } finally {
          c.release();
        }
      }),
    );
    expect(counts.reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(1);
    expect(await transitions(deploymentId)).toBe(1);
  });
});
