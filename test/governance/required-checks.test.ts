// G1 and required checks: the latest result per check name counts, and a project's required
// checks (ops.check_requirements, like required status checks) must all report pass.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { blockers, createRelease, recordCheck, storedGates, uniqueName } from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** A project of its own, so its requirements touch no other test's releases. */
async function projectRequiring(...checks: string[]): Promise<string> {
  const project = uniqueName('proj');
  for (const name of checks) {
    await db.admin.query(
      `insert into ops.check_requirements (project, gate_code, check_name) values ($1, 'G1', $2)`,
      [project, name],
    );
  }
  return project;
}

describe('the latest result per check name counts', () => {
  it('a failed required check followed by a passing re-run of the same name passes G1', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G1', 'build', 'fail');
    expect((await storedGates(db, r.release_id)).G1).toBe('failed');
    expect(await blockers(db, r.release_id, 'staging')).toContainEqual({
      gate_code: 'G1',
      status: 'failed',
      reason: 'G1: check "build" is failing',
    });
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
    expect((await blockers(db, r.release_id, 'staging')).filter((b) => b.gate_code === 'G1')).toEqual([]);
  });

  it('a pass followed by a failing re-run fails G1 again', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, r.release_id, 'G1', 'build', 'fail');
    expect((await storedGates(db, r.release_id)).G1).toBe('failed');
  });

  it('a required check that is only a warning holds G1 in progress', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, r.release_id, 'G1', 'sbom', 'warning');
    expect((await storedGates(db, r.release_id)).G1).toBe('in_progress');
    expect((await blockers(db, r.release_id, 'staging')).map((b) => b.reason)).toContain(
      'G1: required check "sbom" is warning, not pass',
    );
  });
});

describe('checks reported as not required', () => {
  it('a failing advisory check does not hold G1', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, r.release_id, 'G1', 'lint-advisory', 'fail', { required: false });
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
  });

  it('advisory checks alone do not pass G1: it needs at least one required check', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G1', 'lint-advisory', 'pass', { required: false });
    expect((await storedGates(db, r.release_id)).G1).not.toBe('passed');
    expect((await blockers(db, r.release_id, 'staging')).map((b) => b.reason)).toContain(
      'G1: no build checks reported yet',
    );
  });

  it('on G2 any failing check fails the gate, required or not', async () => {
    const r = await createRelease(db);
    await recordCheck(db, r.release_id, 'G2', 'perf-advisory', 'fail', { required: false });
    expect((await storedGates(db, r.release_id)).G2).toBe('failed');
  });
});

describe('ops.check_requirements', () => {
  it('a listed check that never reported keeps G1 unmet, with a blocker naming it', async () => {
    const project = await projectRequiring('build', 'unit-tests');
    const r = await createRelease(db, { project });
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    expect((await storedGates(db, r.release_id)).G1).toBe('in_progress');
    expect(await blockers(db, r.release_id, 'staging')).toContainEqual({
      gate_code: 'G1',
      status: 'in_progress',
      reason: 'G1: required check "unit-tests" has not reported',
    });

    await recordCheck(db, r.release_id, 'G1', 'unit-tests', 'pass');
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
  });

  it('a release with nothing reported names every listed check', async () => {
    const project = await projectRequiring('build', 'unit-tests');
    const r = await createRelease(db, { project });
    expect((await blockers(db, r.release_id, 'staging')).filter((b) => b.gate_code === 'G1')).toEqual([
      { gate_code: 'G1', status: 'pending', reason: 'G1: required check "build" has not reported' },
      { gate_code: 'G1', status: 'pending', reason: 'G1: required check "unit-tests" has not reported' },
    ]);
  });

  it('a check the project does not list is not required: its failure does not hold G1', async () => {
    const project = await projectRequiring('build');
    const r = await createRelease(db, { project });
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    await recordCheck(db, r.release_id, 'G1', 'experimental-fuzz', 'fail');
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
  });

  it("another project's requirements do not apply", async () => {
    await projectRequiring('build', 'unit-tests', 'e2e');
    const r = await createRelease(db, { project: uniqueName('other') });
    await recordCheck(db, r.release_id, 'G1', 'build', 'pass');
    expect((await storedGates(db, r.release_id)).G1).toBe('passed');
  });
});
