// Attacks on the gate rule in one query (ops.gate_findings, 20261204110000), as data: each row is
// a sequence of facts chosen where the one query could differ from the six functions it replaced:
// several deployments of one release (a rollback among them), several exceptions of each kind and
// state, several approvals by one persona and by the reviser, stale checks, evidence waived, a
// release without any exception, and policy changes to check, evidence and approval requirements.
// After every step the gates are computed twice in one transaction, with the current definitions
// and with the previous ones put back (from the migrations before 20261204110000, rolled back to a
// savepoint): ops.compute_release_gates and each concern's ops.gate_<concern>_findings must answer
// the same rows (none a concern used to omit), the same reasons in the same order.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERSONAS } from '../../src/auth/personas.js';
import { projectRoot } from '../../src/db/migrate.js';
import { tryAsRole } from '../security/sql-door.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import {
  approveException,
  attachEvidence,
  createRelease,
  expireException,
  passG1,
  passG2,
  passG3,
  promote,
  type Release,
  recordCheck,
  recordHealthCheck,
  requestException,
  reviseRelease,
  submitApproval,
  uniqueName,
  updateDeployment,
  who,
} from './scenario.js';

const MIGRATIONS = path.join(projectRoot, 'supabase/migrations');
const FOLDED = '20261204110000';
const PARTS = ['check', 'deployment', 'evidence', 'approval', 'exception'];
// The previous composition joins the always-empty timing hook, dropped by 20261204150100: put back with it.
const PREVIOUS = [
  'ops.gate_timing_findings',
  'ops.compute_release_gates',
  ...PARTS.map((p) => `ops.gate_${p}_findings`),
];

/** The last definition of `name` in the migrations before FOLDED, as `create or replace`. */
function previousDefinition(name: string): string {
  let found: string | undefined;
  const start = new RegExp(`create (or replace )?function ${name.replace('.', '\\.')}\\(`, 'gi');
  for (const file of readdirSync(MIGRATIONS)
    .filter((f) => f.endsWith('.sql') && f < FOLDED)
    .sort()) {
    const text = readFileSync(path.join(MIGRATIONS, file), 'utf8');
    for (const m of text.matchAll(start)) {
      const tag = /\$[a-z_]*\$/i.exec(text.slice(m.index))!;
      const bodyStart = m.index + tag.index + tag[0].length;
      found = text
        .slice(m.index, text.indexOf(tag[0], bodyStart) + tag[0].length)
        .replace(/^create (or replace )?function/i, 'create or replace function');
    }
  }
  if (!found) throw new Error(`no definition of ${name} before ${FOLDED}`);
  return found;
}

let db: TestDatabase;
let previous: string[];

/** What the rule answers for the release now: the composed gates and every concern's own rows. */
const ANSWER = `
  select json_build_object(
    'gates', (select json_agg(x) from ops.compute_release_gates($1) x),
    ${PARTS.map(
      (p) => `'${p}', (select json_agg(f order by f.gate_id) from ops.releases r
        cross join lateral ops.gate_${p}_findings(r, ops.counted_revisions(r.release_id)) f
        where r.release_id = $1)`,
    ).join(',\n    ')}) as answer`;

/** The answers of the current and the previous definitions, in one transaction (the same facts and clock). */
async function bothAnswers(releaseId: string): Promise<{ now: unknown; was: unknown }> {
  const c = await db.admin.connect();
  try {
    await c.query('begin isolation level repeatable read');
    const now = (await c.query(ANSWER, [releaseId])).rows[0].answer;
    await c.query('savepoint previous');
    for (const sql of previous) await c.query(sql);
    const was = (await c.query(ANSWER, [releaseId])).rows[0].answer;
    await c.query('rollback to savepoint previous');
    return { now, was };
  } finally {
    await c.query('rollback').catch(() => {});
    c.release();
  }
}

type Step = [what: string, act: (r: Release) => Promise<unknown>];

const owner =
  (sql: string, params: unknown[] = []) =>
  async () =>
    db.admin.query(sql, params);

/** A promotion with its outcome and health; a refusal (a deployment already standing) is kept as the step's answer. */
const deploy = async (
  r: Release,
  env: 'staging' | 'production',
  outcome: 'succeeded' | 'failed' | 'rolled_back',
  health?: 'pass' | 'fail',
) => {
  try {
    const d = await promote(db, r.release_id, env);
    if (outcome === 'rolled_back') await updateDeployment(db, d.deployment_id, 'succeeded');
    await updateDeployment(db, d.deployment_id, outcome);
    if (health) await recordHealthCheck(db, d.deployment_id, health);
    return d;
  } catch (err) {
    return (err as { code?: string }).code ?? Promise.reject(err);
  }
};

/** The release's standing deployment to an environment rolled back by the SRE. */
const rollBack = async (r: Release, env: 'staging' | 'production') => {
  const { rows } = await db.admin.query<{ deployment_id: string }>(
    `select deployment_id from ops.deployments where release_id = $1 and environment = $2 and rollback_of is null
     order by deployed_at desc limit 1`,
    [r.release_id, env],
  );
  return updateDeployment(db, rows[0]!.deployment_id, 'rolled_back').catch(
    (err) => err.code ?? Promise.reject(err),
  );
};

const passG1to3 = async (r: Release) => {
  await passG1(db, r);
  await passG2(db, r);
  await passG3(db, r);
};

const ATTACKS: { name: string; project?: (project: string) => Promise<unknown>; steps: Step[] }[] = [
  {
    name: 'a release that never has an exception (the exception concern says nothing)',
    steps: [
      ['G1 build passes', (r) => passG1(db, r)],
      [
        'G2 check fails, not required',
        (r) => recordCheck(db, r.release_id, 'G2', 'e2e', 'fail', { required: false }),
      ],
      ['G2 passes', (r) => passG2(db, r)],
    ],
  },
  {
    name: 'several approvals of one persona: approve, request changes, approve again, a second QA rejects',
    steps: [
      ['G1', (r) => passG1(db, r)],
      ['QA approves', (r) => submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2')],
      [
        'QA requests changes',
        (r) => submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2', 'request_changes'),
      ],
      ['QA approves again', (r) => submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2')],
      [
        'another QA rejects',
        (r) => submitApproval(db, 'qa_tester', 'qa-other', r.release_id, 'G2', 'rejected'),
      ],
      ['the other QA approves', (r) => submitApproval(db, 'qa_tester', 'qa-other', r.release_id, 'G2')],
      ['evidence', (r) => attachEvidence(db, 'qa_tester', who.qa, r.release_id, 'test_result', 'G2')],
    ],
  },
  {
    name: 'several deployments: failed, unhealthy, rolled back, unconfirmed, standing, production too',
    steps: [
      ['G1-G3', (r) => passG1to3(r)],
      ['staging fails', (r) => deploy(r, 'staging', 'failed')],
      ['staging again, succeeds, unhealthy', (r) => deploy(r, 'staging', 'succeeded', 'fail')],
      ['staging rolled back', (r) => rollBack(r, 'staging')],
      ['staging again, succeeds, no health yet', (r) => deploy(r, 'staging', 'succeeded')],
      [
        'its health passes',
        async (r) => {
          const { rows } = await db.admin.query<{ deployment_id: string }>(
            `select deployment_id from ops.deployments where release_id = $1 order by deployed_at desc limit 1`,
            [r.release_id],
          );
          return recordHealthCheck(db, rows[0]!.deployment_id, 'pass').catch((err) => err.code);
        },
      ],
      ['production, succeeds, healthy', (r) => deploy(r, 'production', 'succeeded', 'pass')],
      [
        'revised after production',
        (r) => reviseRelease(db, r.release_id, 'refs/heads/after', 'after').catch((err) => err.code),
      ],
    ],
  },
  {
    name: 'exceptions of every state on several gates, with time moving',
    steps: [
      ['G1', (r) => passG1(db, r)],
      ['a G2 bypass awaiting approval', (r) => requestException(db, r.release_id, ['G2'])],
      [
        'a G2+G3 bypass approved',
        async (r) =>
          approveException(db, (await requestException(db, r.release_id, ['G2', 'G3'])).exception_id),
      ],
      [
        'a G3 evidence waiver approved',
        async (r) =>
          approveException(
            db,
            (await requestException(db, r.release_id, ['G3'], { type: 'evidence_waiver' })).exception_id,
          ),
      ],
      [
        'the approved bypass expires',
        (r) =>
          db.admin
            .query(
              `select exception_id from ops.exceptions where release_id = $1 and approver_id is not null
                  and exception_type = 'gate_bypass'`,
              [r.release_id],
            )
            .then((q) => Promise.all(q.rows.map((e) => expireException(db, e.exception_id)))),
      ],
      [
        'a G4 bypass approved',
        async (r) => approveException(db, (await requestException(db, r.release_id, ['G4'])).exception_id),
      ],
      ['QA approves G2', (r) => submitApproval(db, 'qa_tester', who.qa, r.release_id, 'G2')],
    ],
  },
  {
    name: 'a revision: stale checks, stale approvals, the reviser’s G3 approval, an exception of the old revision',
    steps: [
      ['G1-G3', (r) => passG1to3(r)],
      [
        'a G4 bypass approved',
        async (r) => approveException(db, (await requestException(db, r.release_id, ['G4'])).exception_id),
      ],
      [
        'revised by a release manager',
        (r) => reviseRelease(db, r.release_id, 'refs/heads/hotfix', 'hotfix', 'release_manager', who.rm3),
      ],
      [
        'the reviser approves G3',
        (r) => submitApproval(db, 'release_manager', who.rm3, r.release_id, 'G3').catch(() => 'refused'),
      ],
      ['G1 build passes again', (r) => passG1(db, r)],
      [
        'another release manager approves G3',
        (r) => submitApproval(db, 'release_manager', who.rm, r.release_id, 'G3'),
      ],
      [
        'revised again by the developer',
        (r) => reviseRelease(db, r.release_id, 'refs/heads/hotfix2', 'again'),
      ],
    ],
  },
  {
    name: 'policy changes: required checks, an evidence requirement, two approvals, an approver for G1, none for G3',
    project: async (project) => {
      await db.admin.query(
        `insert into ops.check_requirements (project, gate_code, check_name) values ($1, 'G1', 'lint')`,
        [project],
      );
    },
    steps: [
      ['G1 build passes (lint missing)', (r) => passG1(db, r)],
      ['lint passes', (r) => recordCheck(db, r.release_id, 'G1', 'lint', 'pass')],
      ['G2', (r) => passG2(db, r)],
      [
        'G2 needs two QA approvals',
        owner(`update ops.gate_policies set min_approvals = 2 where gate_code = 'G2'`),
      ],
      ['a second QA approves', (r) => submitApproval(db, 'qa_tester', 'qa-second', r.release_id, 'G2')],
      [
        'G1 needs a QA approval',
        owner(`update ops.gate_policies set approver_persona = 'qa_tester' where gate_code = 'G1'`),
      ],
      [
        'a new G1 evidence requirement',
        owner(
          `insert into ops.gate_evidence_requirements (gate_code, artifact_types, attached_to)
         values ('G1', '{build_log}', 'gate') on conflict do nothing`,
        ),
      ],
      [
        'G3 needs no approval',
        owner(
          `update ops.gate_policies set approver_persona = null, min_approvals = 0 where gate_code = 'G3'`,
        ),
      ],
      ['a check fails on G3', (r) => recordCheck(db, r.release_id, 'G3', 'smoke', 'fail')],
    ],
  },
];

let policies: unknown[];

beforeAll(async () => {
  db = await useTestDatabase();
  previous = PREVIOUS.map(previousDefinition);
  policies = (await db.admin.query('select * from ops.gate_policies order by gate_code')).rows;
});

afterAll(async () => {
  // The policy rows as they were (other files have databases of their own; this keeps the rows
  // below independent of their order).
  for (const p of policies as {
    gate_code: string;
    min_approvals: number;
    approver_persona: string | null;
  }[]) {
    await db.admin.query(
      'update ops.gate_policies set min_approvals = $2, approver_persona = $3 where gate_code = $1',
      [p.gate_code, p.min_approvals, p.approver_persona],
    );
  }
});

describe('the gate rule in one query against the six functions it replaced', () => {
  it.each(ATTACKS.map((a) => [a.name, a] as const))('%s', async (_name, attack) => {
    const project = uniqueName('one-query-attack');
    await attack.project?.(project);
    const r = await createRelease(db, { project });
    const first = await bothAnswers(r.release_id);
    expect(first.now, 'created').toEqual(first.was);
    for (const [what, act] of attack.steps) {
      await act(r);
      const { now, was } = await bothAnswers(r.release_id);
      expect(now, what).toEqual(was);
    }
  });
});

describe('the one query and its parts, called directly by a persona (RPC or raw SQL)', () => {
  const CALLS = [
    'select * from ops.gate_findings(null::ops.releases, array[1]) where $1::uuid is not null',
    ...PARTS.map(
      (p) => `select * from ops.gate_${p}_findings(null::ops.releases, array[1]) where $1::uuid is not null`,
    ),
    'select * from ops.compute_release_gates($1)',
  ];
  it.each(PERSONAS.flatMap((persona) => CALLS.map((sql) => [persona, sql] as const)))(
    '%s: %s is refused (owner only: the findings of any release, hidden ones too)',
    async (persona, sql) => {
      const r = await createRelease(db, { project: uniqueName('one-query-exposure') });
      const answer = await tryAsRole(db, persona, { sub: `exposure-${persona}` }, (c) =>
        c.query(sql, [r.release_id]),
      );
      expect(answer.ok ? 'executed' : `${answer.code} ${answer.message}`).toMatch(
        /^42501 permission denied for function /,
      );
    },
  );
});
