// Separation of duties, the sequential-gate rule and persona checks, each refused with its own
// SQLSTATE and message, through the write functions AND through a direct INSERT/UPDATE by a
// persona whose grants and RLS let it write the table: the rules are triggers, not API code.
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Persona } from '../../src/auth/personas.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  approveException,
  attachEvidence,
  blockers,
  createRelease,
  expectPgError,
  expireException,
  gateId,
  passG1,
  passG2,
  type Release,
  requestException,
  storedGates,
  submitApproval,
  who,
} from './scenario.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

/** One statement as the persona, through the real request path. */
function sqlAs(persona: Persona, sub: string, sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  return db.as(persona, sub, (c) => c.query(sql, params));
}

function insertApproval(
  persona: Persona,
  sub: string,
  row: { release: string; gate?: string; exception?: string; approver?: string; personaRole?: string },
): Promise<pg.QueryResult> {
  const scope = row.gate ? 'gate' : row.exception ? 'exception' : 'release';
  return sqlAs(
    persona,
    sub,
    `insert into ops.approvals (release_id, gate_id, exception_id, approver_id, persona_role, decision, scope)
     values ($1, $2, $3, $4, $5::public.ops_persona, 'approved', $6::public.ops_approval_scope)`,
    [
      row.release,
      row.gate ?? null,
      row.exception ?? null,
      row.approver ?? sub,
      row.personaRole ?? persona,
      scope,
    ],
  );
}

const OWN_EXCEPTION = /separation of duties: .+ requested exception .+ and may not approve it/;

describe('no one approves their own exception', () => {
  it('approve_exception by the requester is refused', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    await expectPgError(approveException(db, e.exception_id, who.rm2), 'OPS03', OWN_EXCEPTION);
    // Approved by someone else, it is.
    await expect(approveException(db, e.exception_id, who.rm3)).resolves.toMatchObject({
      approver_id: who.rm3,
    });
  });

  it('submit_approval of the exception by its requester is refused', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    await expectPgError(
      db.as('release_manager', who.rm2, (c) =>
        c.query(
          `select ops.submit_approval(p_release_id => $1, p_decision => 'approved', p_exception_id => $2)`,
          [r.release_id, e.exception_id],
        ),
      ),
      'OPS03',
      OWN_EXCEPTION,
    );
  });

  it('approver_id is written only by ops.approve_exception: not by the requester, not by a direct UPDATE', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    const directUpdate = (sub: string) =>
      sqlAs(
        'release_manager',
        sub,
        `update ops.exceptions set approver_id = $2, approved_at = now() where exception_id = $1`,
        [e.exception_id, sub],
      );
    // No persona may UPDATE exceptions at all; the owner's maintenance session is refused by the guard.
    await expectPgError(directUpdate(who.rm2), '42501', /permission denied for table exceptions/);
    await expectPgError(directUpdate(who.rm3), '42501', /permission denied for table exceptions/);
    await expectPgError(
      db.admin.query(
        `update ops.exceptions set approver_id = 'someone', approved_at = now() where exception_id = $1`,
        [e.exception_id],
      ),
      'OPS03',
      /approved only through ops.approve_exception/,
    );
    await expectPgError(approveException(db, e.exception_id, who.rm2), 'OPS03', OWN_EXCEPTION);
    // Another release manager, through the function: the legitimate path.
    await expect(approveException(db, e.exception_id, who.rm3)).resolves.toMatchObject({
      approver_id: who.rm3,
    });
    // And once approved, it cannot be re-approved by anyone.
    await expectPgError(
      approveException(db, e.exception_id, who.rm),
      'OPS09',
      /is already approved by rm-rosa/,
    );
  });

  it('a direct INSERT of an approval of the exception by its requester is refused', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    await expectPgError(
      insertApproval('release_manager', who.rm2, { release: r.release_id, exception: e.exception_id }),
      'OPS03',
      OWN_EXCEPTION,
    );
  });

  it('a direct INSERT of an exception already approved is refused', async () => {
    const r = await createRelease(db);
    await expectPgError(
      sqlAs(
        'release_manager',
        who.rm2,
        `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
           requested_by, approver_id, approved_at, expires_at)
         values ($1, 'gate_bypass', '{G3}', 'r', 'low', $2, $3, now(), now() + interval '1 day')`,
        [r.release_id, who.rm2, who.rm3],
      ),
      'OPS03',
      /an exception is requested first and approved afterwards by someone else/,
    );
  });

  it('only a release_manager approves exceptions', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { persona: 'qa_tester', sub: who.qa });
    await expectPgError(
      db.as('sre', who.sre, (c) => c.query('select ops.approve_exception($1)', [e.exception_id])),
      'OPS03',
      /persona sre may not approve exceptions; allowed: release_manager/,
    );
  });
});

describe('the G3 approver is neither the initiating actor nor the G2 signer', () => {
  async function readyForG3(
    initiator: { persona: Persona; sub: string },
    g2Signer: string,
  ): Promise<Release> {
    const r = await createRelease(db, initiator);
    await passG1(db, r);
    await passG2(db, r, g2Signer);
    await attachEvidence(db, 'release_manager', who.rm, r.release_id, 'rollback_plan', 'G3');
    return r;
  }
  const INITIATOR = /separation of duties: rm-rita initiated release .+ and may not approve its G3/;
  const G2_SIGNER = /separation of duties: carol signed off G2 of release .+ and may not also approve its G3/;

  it('the initiating actor is refused, through submit_approval', async () => {
    const r = await readyForG3({ persona: 'release_manager', sub: who.rm }, who.qa);
    expect(r.initiating_actor).toBe(who.rm);
    await expectPgError(
      submitApproval(db, 'release_manager', who.rm, r.release_id, 'G3'),
      'OPS03',
      INITIATOR,
    );
    // Another release manager may.
    await submitApproval(db, 'release_manager', who.rm2, r.release_id, 'G3');
    expect((await storedGates(db, r.release_id)).G3).toBe('passed');
  });

  it('the initiating actor is refused, through a direct INSERT', async () => {
    const r = await readyForG3({ persona: 'release_manager', sub: who.rm }, who.qa);
    await expectPgError(
      insertApproval('release_manager', who.rm, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G3'),
      }),
      'OPS03',
      INITIATOR,
    );
  });

  it('the G2 signer is refused, through submit_approval', async () => {
    // carol signs G2 as a QA tester and, with a release manager token, tries to approve G3.
    const r = await readyForG3({ persona: 'developer', sub: who.dev }, 'carol');
    await expectPgError(
      submitApproval(db, 'release_manager', 'carol', r.release_id, 'G3'),
      'OPS03',
      G2_SIGNER,
    );
  });

  it('the G2 signer is refused, through a direct INSERT', async () => {
    const r = await readyForG3({ persona: 'developer', sub: who.dev }, 'carol');
    await expectPgError(
      insertApproval('release_manager', 'carol', {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G3'),
      }),
      'OPS03',
      G2_SIGNER,
    );
  });

  it('a rejection by the initiating actor is not an approval and is recorded', async () => {
    const r = await readyForG3({ persona: 'release_manager', sub: who.rm }, who.qa);
    await submitApproval(db, 'release_manager', who.rm, r.release_id, 'G3', 'rejected');
    expect((await storedGates(db, r.release_id)).G3).toBe('failed');
  });
});

describe("an approval is recorded as the caller's own persona and identity", () => {
  it('a qa_tester may not INSERT an approval as a release_manager', async () => {
    const r = await createRelease(db);
    await expectPgError(
      insertApproval('qa_tester', who.qa, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G3'),
        personaRole: 'release_manager',
      }),
      'OPS03',
      /an approval is recorded as the approver's own persona \(qa_tester\), not as release_manager/,
    );
  });

  it('a release_manager may not INSERT an approval as a qa_tester', async () => {
    const r = await createRelease(db);
    await expectPgError(
      insertApproval('release_manager', who.rm, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G2'),
        personaRole: 'qa_tester',
      }),
      'OPS03',
      /an approval is recorded as the approver's own persona \(release_manager\), not as qa_tester/,
    );
  });

  it('nobody INSERTs an approval on behalf of someone else', async () => {
    const r = await createRelease(db);
    await expectPgError(
      insertApproval('qa_tester', who.qa, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G2'),
        approver: 'qa-someone-else',
      }),
      'OPS03',
      /an approval is recorded as its approver \(qa-quinn\), not on behalf of qa-someone-else/,
    );
  });

  it('submit_approval takes the persona and approver from the token', async () => {
    const r = await createRelease(db);
    const { approval_id } = await submitApproval(db, 'release_manager', who.rm2, r.release_id, 'G3');
    const { rows } = await db.admin.query(
      'select approver_id, persona_role::text, created_by from ops.approvals where approval_id = $1',
      [approval_id],
    );
    expect(rows[0]).toEqual({ approver_id: who.rm2, persona_role: 'release_manager', created_by: who.rm2 });
  });
});

describe('a gate takes sign-offs only from its persona', () => {
  const G2_BY_RM = /G2 is signed off by a qa_tester, not a release_manager/;
  const G3_BY_QA = /G3 is signed off by a release_manager, not a qa_tester/;

  it('G2 by a release_manager is refused, through submit_approval and a direct INSERT', async () => {
    const r = await createRelease(db);
    await expectPgError(submitApproval(db, 'release_manager', who.rm, r.release_id, 'G2'), 'OPS03', G2_BY_RM);
    await expectPgError(
      insertApproval('release_manager', who.rm, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G2'),
      }),
      'OPS03',
      G2_BY_RM,
    );
  });

  it('G3 by a qa_tester is refused, through submit_approval and a direct INSERT', async () => {
    const r = await createRelease(db);
    await expectPgError(submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G3'), 'OPS03', G3_BY_QA);
    await expectPgError(
      insertApproval('qa_tester', who.qa, {
        release: r.release_id,
        gate: await gateId(db, r.release_id, 'G3'),
      }),
      'OPS03',
      G3_BY_QA,
    );
  });

  it('G1 takes no approvals at all', async () => {
    const r = await createRelease(db);
    await expectPgError(
      submitApproval(db, 'release_manager', who.rm, r.release_id, 'G1'),
      'OPS22',
      /G1 takes no approvals: it is decided by its checks and evidence/,
    );
  });
});

describe('gates are sequential and passed is computed, never typed in', () => {
  // No persona may UPDATE release_gates; even the owner's maintenance session is refused by the
  // guard, which is what these tests read.
  const setStatus = (gate: string, status: string) =>
    db.admin.query(`update ops.release_gates set status = $2::public.ops_gate_status where gate_id = $1`, [
      gate,
      status,
    ]);

  it('a persona cannot UPDATE stored gate status at all', async () => {
    const r = await createRelease(db);
    const g1 = await gateId(db, r.release_id, 'G1');
    for (const persona of [
      'release_manager',
      'ci_service_role',
      'qa_tester',
      'sre',
      'developer',
      'audit_reader',
    ] as const) {
      await expectPgError(
        sqlAs(persona, who.rm, `update ops.release_gates set status = 'failed' where gate_id = $1`, [g1]),
        '42501',
        /permission denied for table release_gates/,
      );
    }
  });

  it('a direct UPDATE to passed on G3 while G2 is pending is refused with the sequential message', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    expect((await storedGates(db, r.release_id)).G2).toBe('pending');
    const g3 = await gateId(db, r.release_id, 'G3');
    await expectPgError(
      setStatus(g3, 'passed'),
      'OPS09',
      /gate G3 cannot be passed before G2 has passed \(it is pending\)/,
    );
    await expectPgError(
      setStatus(g3, 'bypassed'),
      'OPS09',
      /gate G3 cannot be bypassed before G2 has passed \(it is pending\)/,
    );
  });

  it('hand-setting passed is refused even when the predecessor passed, with its own message', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await passG2(db, r);
    expect((await storedGates(db, r.release_id)).G2).toBe('passed');
    const g3 = await gateId(db, r.release_id, 'G3');
    await expectPgError(
      setStatus(g3, 'passed'),
      'OPS03',
      /gate G3 cannot be set to passed by hand: it is computed/,
    );
    await expectPgError(setStatus(g3, 'bypassed'), 'OPS03', /gate G3 cannot be set to bypassed by hand/);
    // G1 has no predecessor: hand-setting a fresh release's G1 is refused by the same rule.
    const fresh = await createRelease(db);
    await expectPgError(
      setStatus(await gateId(db, fresh.release_id, 'G1'), 'passed'),
      'OPS03',
      /gate G1 cannot be set to passed by hand/,
    );
    expect((await storedGates(db, r.release_id)).G3).toBe('pending');
  });

  it('through the functions, G3 with all its own inputs still waits for G2', async () => {
    const r = await createRelease(db);
    await passG1(db, r);
    await attachEvidence(db, 'release_manager', who.rm, r.release_id, 'rollback_plan', 'G3');
    await submitApproval(db, 'release_manager', who.rm, r.release_id, 'G3');
    const gates = await storedGates(db, r.release_id);
    expect(gates.G2).toBe('pending');
    expect(gates.G3).toBe('in_progress');
    expect((await blockers(db, r.release_id, 'production')).filter((b) => b.gate_code === 'G3')).toEqual([
      { gate_code: 'G3', status: 'in_progress', reason: 'G3: waiting for G2, which is pending' },
    ]);
    // Once G2 passes, G3 passes on re-evaluation with no further input.
    await passG2(db, r);
    expect((await storedGates(db, r.release_id)).G3).toBe('passed');
  });
});

describe('exceptions expire', () => {
  it('an expired exception cannot be approved', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    await expireException(db, e.exception_id);
    await expectPgError(
      approveException(db, e.exception_id, who.rm3),
      'OPS09',
      new RegExp(`exception ${e.exception_id} expired at .+ and can no longer be approved`),
    );
  });

  it('an expired exception cannot be approved, through the function or by a direct UPDATE', async () => {
    const r = await createRelease(db);
    const e = await requestException(db, r.release_id, ['G3'], { sub: who.rm2 });
    await expireException(db, e.exception_id);
    await expectPgError(
      sqlAs(
        'release_manager',
        who.rm3,
        `update ops.exceptions set approver_id = $2, approved_at = now() where exception_id = $1`,
        [e.exception_id, who.rm3],
      ),
      '42501',
      /permission denied for table exceptions/,
    );
    await expectPgError(
      approveException(db, e.exception_id, who.rm3),
      'OPS09',
      new RegExp(`exception ${e.exception_id} expired at .+ and can no longer be approved`),
    );
  });

  it('cannot be requested already expired', async () => {
    const r = await createRelease(db);
    await expectPgError(
      requestException(db, r.release_id, ['G3'], { expiresIn: '-1 minute' }),
      '23514',
      /must be in the future/,
    );
  });
});

describe('persona checks in the functions', () => {
  const cases: Array<[Persona, string, (r: Release) => [string, unknown[]], string, RegExp]> = [
    [
      'audit_reader',
      'create_release',
      () => [`select ops.create_release('odoo-core', 'audit-made')`, []],
      'OPS03',
      /persona audit_reader may not create releases; allowed: release_manager, developer, ci_service_role/,
    ],
    [
      'qa_tester',
      'promote_release',
      (r) => [`select ops.promote_release($1, 'staging')`, [r.release_id]],
      'OPS03',
      /persona qa_tester may not promote releases/,
    ],
    [
      'developer',
      'submit_approval',
      (r) => [`select ops.submit_approval($1, 'approved', 'G2')`, [r.release_id]],
      'OPS03',
      /persona developer may not submit approvals/,
    ],
    [
      'ci_service_role',
      'request_exception',
      (r) => [
        `select ops.request_exception($1, 'gate_bypass', '{G3}', 'r', 'low', now() + interval '1 day')`,
        [r.release_id],
      ],
      'OPS03',
      /persona ci_service_role may not request exceptions/,
    ],
    [
      'sre',
      'record_check',
      (r) => [`select ops.record_check($1, 'G1', 'build', 'pass')`, [r.release_id]],
      'OPS03',
      /persona sre may not record checks/,
    ],
    [
      'release_manager',
      'record_recovery_drill',
      () => [`select ops.record_recovery_drill('staging', 'restore', 'success')`, []],
      'OPS03',
      /persona release_manager may not record recovery drills/,
    ],
    [
      'developer',
      'create_release on behalf of someone else',
      () => [`select ops.create_release('odoo-core', 'dev-made', p_initiating_actor => 'someone-else')`, []],
      'OPS03',
      /only ci_service_role may name another initiating actor/,
    ],
  ];

  for (const [persona, what, call, code, message] of cases) {
    it(`${persona} calling ${what} → ${code}`, async () => {
      const r = await createRelease(db);
      const [sql, params] = call(r);
      await expectPgError(sqlAs(persona, `${persona}-caller`, sql, params), code, message);
    });
  }

  it('a persona without the grant cannot write the table directly (42501)', async () => {
    const r = await createRelease(db);
    const g2 = await gateId(db, r.release_id, 'G2');
    await expect(
      insertApproval('audit_reader', who.auditor, { release: r.release_id, gate: g2 }),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      insertApproval('ci_service_role', who.ci, { release: r.release_id, gate: g2 }),
    ).rejects.toMatchObject({ code: '42501' });
    await expect(
      sqlAs('qa_tester', who.qa, `update ops.exceptions set approver_id = 'qa-quinn', approved_at = now()`),
    ).rejects.toMatchObject({ code: '42501' });
  });
});
