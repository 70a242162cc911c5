// N-of-M sign-off: G3 needs min_approvals distinct release_manager approvals, each approver's
// latest decision counts, and any standing rejection fails the gate. The policy is global data,
// so this file (with its own database) is the only one that changes it.
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  attachEvidence,
  blockers,
  createRelease,
  isEligible,
  passG1,
  passG2,
  type Release,
  storedGates,
  submitApproval,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
  await db.admin.query(`update ops.gate_policies set min_approvals = 2 where gate_code = 'G3'`);
});

/** G1 and G2 passed and the rollback plan attached: only G3's sign-offs are missing. */
async function awaitingG3(): Promise<Release> {
  const r = await createRelease(db);
  await passG1(db, r);
  await passG2(db, r);
  await attachEvidence(db, 'release_manager', 'rm-planner', r.release_id, 'rollback_plan', 'G3');
  return r;
}

const g3 = async (r: Release) => (await storedGates(db, r.release_id)).G3;
const g3Reasons = async (r: Release) =>
  (await blockers(db, r.release_id, 'production')).filter((b) => b.gate_code === 'G3').map((b) => b.reason);
const approveG3 = (
  r: Release,
  sub: string,
  decision: 'approved' | 'rejected' | 'request_changes' = 'approved',
) => submitApproval(db, 'release_manager', sub, r.release_id, 'G3', decision);

describe('G3 with min_approvals = 2', () => {
  it('one approval leaves G3 unmet; a second by another release manager passes it', async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a');
    expect(await g3(r)).toBe('in_progress');
    expect(await g3Reasons(r)).toEqual(['G3: 1 of 2 required release_manager approvals']);
    await approveG3(r, 'rm-b');
    expect(await g3(r)).toBe('passed');
    expect(await g3Reasons(r)).toEqual([]);
  });

  it('the same person approving twice counts once', async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a');
    await approveG3(r, 'rm-a');
    expect(await g3(r)).toBe('in_progress');
    expect(await g3Reasons(r)).toEqual(['G3: 1 of 2 required release_manager approvals']);
  });

  it("each approver's latest decision counts: reject then approve counts as an approval", async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a', 'rejected');
    expect(await g3(r)).toBe('failed');
    await approveG3(r, 'rm-a');
    await approveG3(r, 'rm-b');
    expect(await g3(r)).toBe('passed');
  });

  it('approve then reject counts as a rejection', async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a');
    await approveG3(r, 'rm-b');
    expect(await g3(r)).toBe('passed');
    await approveG3(r, 'rm-b', 'rejected');
    expect(await g3(r)).toBe('failed');
  });

  it('any standing rejection fails the gate whatever the count of approvals', async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a');
    await approveG3(r, 'rm-b');
    await approveG3(r, 'rm-c');
    await approveG3(r, 'rm-d', 'rejected');
    expect(await g3(r)).toBe('failed');
    expect(await g3Reasons(r)).toEqual(['G3: a release_manager rejected it']);
    expect(await isEligible(db, r.release_id, 'production')).toBe(false);
  });

  it('a standing request for changes holds the gate in progress, whatever the count', async () => {
    const r = await awaitingG3();
    await approveG3(r, 'rm-a');
    await approveG3(r, 'rm-b');
    await approveG3(r, 'rm-c', 'request_changes');
    expect(await g3(r)).toBe('in_progress');
    expect(await g3Reasons(r)).toContain('G3: a release_manager requested changes');
  });

  it('G2 keeps its own policy (1 approval)', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    expect((await storedGates(db, r.release_id)).G2).toBe('passed');
  });
});
