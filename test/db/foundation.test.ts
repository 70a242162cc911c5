// The foundation's constraints, each proven by trying to break it (as the superuser owner, which
// none of them may exempt).
import { beforeAll, describe, expect, it } from 'vitest';
import { type TestDatabase, useTestDatabase } from '../support/db.js';

let db: TestDatabase;
beforeAll(async () => {
  db = await useTestDatabase();
});

async function newRelease(name = `r-${Math.random().toString(36).slice(2)}`): Promise<string> {
  const { rows } = await db.admin.query(
    `insert into ops.releases (project, release_name) values ('odoo-core', $1) returning release_id`,
    [name],
  );
  return rows[0].release_id;
}

async function ingestRow(key: string, status = 'accepted'): Promise<string> {
  const { rows } = await db.admin.query(
    `insert into ops.event_ingest_log (source_system, event_type, idempotency_key, schema_version, processing_status)
     values ('github_actions', 'build_complete', $1, 'v1.0', $2) returning ingest_id`,
    [key, status],
  );
  return rows[0].ingest_id;
}

describe('releases', () => {
  it('get exactly four gates, G1-G4, pending, with their names', async () => {
    const id = await newRelease();
    const { rows } = await db.admin.query(
      'select gate_code, gate_name, status from ops.release_gates where release_id = $1 order by gate_code',
      [id],
    );
    expect(rows).toEqual([
      { gate_code: 'G1', gate_name: 'Build Integrity', status: 'pending' },
      { gate_code: 'G2', gate_name: 'Validation Readiness', status: 'pending' },
      { gate_code: 'G3', gate_name: 'Promotion Readiness', status: 'pending' },
      { gate_code: 'G4', gate_name: 'Post-Deploy Operational Confirmation', status: 'pending' },
    ]);
  });

  it('are unique per project and name', async () => {
    await newRelease('dup-name');
    await expect(newRelease('dup-name')).rejects.toMatchObject({ code: '23505' });
  });

  it('allow only one row per gate code', async () => {
    const id = await newRelease();
    await expect(
      db.admin.query(
        `insert into ops.release_gates (release_id, gate_code, gate_name) values ($1, 'G1', 'x')`,
        [id],
      ),
    ).rejects.toMatchObject({ code: '23505', constraint: 'release_gates_release_id_gate_code_key' });
  });

  it('record created_at and a non-null created_by even without a token', async () => {
    const id = await newRelease();
    const { rows } = await db.admin.query(
      'select created_by, created_at from ops.releases where release_id = $1',
      [id],
    );
    expect(rows[0].created_by).toMatch(/^db:/);
    expect(rows[0].created_at).toBeInstanceOf(Date);
  });

  it('take created_by from the JWT subject as text, never from the payload', async () => {
    const client = await db.admin.connect();
    try {
      await client.query('begin');
      await client.query(`select set_config('request.jwt.claims', '{"sub":"github_actions"}', true)`);
      const { rows } = await client.query(
        `insert into ops.releases (project, release_name, created_by) values ('p', 'forged', 'someone-else')
         returning created_by, initiating_actor`,
      );
      expect(rows[0]).toEqual({ created_by: 'github_actions', initiating_actor: 'github_actions' });
      await client.query('rollback');
    } finally {
      client.release();
    }
  });
});

describe('append-only tables', () => {
  const cases: Array<[string, () => Promise<string>]> = [
    ['event_ingest_log', async () => `ingest_id = '${await ingestRow(`k-${Math.random()}`)}'`],
    [
      'environment_events',
      async () => {
        const { rows } = await db.admin.query(
          `insert into ops.environment_events (environment, event_type, source_system, idempotency_key)
           values ('staging', 'maintenance_window', 'monitoring', $1) returning event_id`,
          [`e-${Math.random()}`],
        );
        return `event_id = '${rows[0].event_id}'`;
      },
    ],
    [
      'gate_transitions',
      async () => {
        const release = await newRelease();
        const { rows } = await db.admin.query(
          `insert into ops.gate_transitions (gate_id, from_status, to_status, reason)
           select gate_id, 'pending', 'in_progress', 'test' from ops.release_gates
           where release_id = $1 and gate_code = 'G1' returning transition_id`,
          [release],
        );
        return `transition_id = '${rows[0].transition_id}'`;
      },
    ],
  ];

  for (const [table, makeRow] of cases) {
    it(`${table}: UPDATE, DELETE and TRUNCATE raise, even for the owner`, async () => {
      const where = await makeRow();
      await expect(db.admin.query(`update ops.${table} set created_by = 'x' where ${where}`)).rejects.toThrow(
        /append-only: update/,
      );
      await expect(db.admin.query(`delete from ops.${table} where ${where}`)).rejects.toThrow(
        /append-only: delete/,
      );
      await expect(db.admin.query(`truncate ops.${table} cascade`)).rejects.toThrow(/append-only: truncate/);
      const { rowCount } = await db.admin.query(`select 1 from ops.${table} where ${where}`);
      expect(rowCount).toBe(1);
    });
  }
});

describe('exceptions', () => {
  const insert =
    (expires: string | null, from = 'now()') =>
    async () => {
      const release = await newRelease();
      return db.admin.query(
        `insert into ops.exceptions (release_id, exception_type, impacted_gates, reason, risk_statement,
         effective_from, expires_at)
       values ($1, 'gate_bypass', '{G3}', 'hotfix', 'low', ${from}, ${expires ?? 'null'})`,
        [release],
      );
    };

  it('refuse a NULL expires_at', async () => {
    await expect(insert(null)()).rejects.toMatchObject({ code: '23502', column: 'expires_at' });
  });

  it('refuse an expires_at in the past', async () => {
    await expect(insert(`now() - interval '1 hour'`, `now() - interval '2 hours'`)()).rejects.toThrow(
      /must be in the future/,
    );
  });

  it('refuse an expires_at not after effective_from', async () => {
    await expect(insert(`now() + interval '1 hour'`, `now() + interval '2 hours'`)()).rejects.toMatchObject({
      code: '23514',
      constraint: 'exceptions_window',
    });
  });

  it('accept a bounded future window', async () => {
    await expect(insert(`now() + interval '1 day'`)()).resolves.toMatchObject({ rowCount: 1 });
  });
});

describe('evidence artifacts', () => {
  it('refuse an orphan artifact', async () => {
    await expect(
      db.admin.query(
        `insert into ops.evidence_artifacts (artifact_type, source_system, artifact_url)
         values ('build_log', 'github_actions', 'https://ci/1')`,
      ),
    ).rejects.toMatchObject({ code: '23514', constraint: 'evidence_artifacts_owner' });
  });

  it('accept a reference artifact with no owner', async () => {
    await expect(
      db.admin.query(
        `insert into ops.evidence_artifacts (artifact_type, source_system, artifact_url)
         values ('reference', 'manual', 'https://wiki/runbook')`,
      ),
    ).resolves.toMatchObject({ rowCount: 1 });
  });

  it('accept an artifact that belongs to a release', async () => {
    const release = await newRelease();
    await expect(
      db.admin.query(
        `insert into ops.evidence_artifacts (release_id, artifact_type, source_system, artifact_url)
         values ($1, 'build_log', 'github_actions', 'https://ci/2')`,
        [release],
      ),
    ).resolves.toMatchObject({ rowCount: 1 });
  });
});

describe('ingest log idempotency', () => {
  it('refuses a second accepted row for one key but keeps every other attempt', async () => {
    const first = await ingestRow('github_actions/run-1/build_complete');
    await expect(ingestRow('github_actions/run-1/build_complete')).rejects.toMatchObject({
      code: '23505',
      constraint: 'event_ingest_log_accepted_key',
    });
    await db.admin.query(
      `insert into ops.event_ingest_log (idempotency_key, processing_status, duplicate_of)
       values ('github_actions/run-1/build_complete', 'duplicate', $1)`,
      [first],
    );
    await ingestRow('github_actions/run-1/build_complete', 'rejected');
    const { rows } = await db.admin.query(
      `select processing_status, count(*)::int as n from ops.event_ingest_log
       where idempotency_key = 'github_actions/run-1/build_complete' group by 1 order by 1`,
    );
    expect(rows).toEqual([
      { processing_status: 'accepted', n: 1 },
      { processing_status: 'duplicate', n: 1 },
      { processing_status: 'rejected', n: 1 },
    ]);
  });
});

describe('policy tables', () => {
  it('are seeded with the default gate requirements and approval policies', async () => {
    const req = await db.admin.query(
      `select target_env, array_agg(gate_code order by gate_code)::text[] as gates from ops.gate_requirements group by 1 order by 1`,
    );
    expect(req.rows).toEqual([
      { target_env: 'staging', gates: ['G1', 'G2'] },
      { target_env: 'production', gates: ['G1', 'G2', 'G3', 'G4'] },
    ]);
    const pol = await db.admin.query(
      `select gate_code, min_approvals, approver_persona from ops.gate_policies order by gate_code`,
    );
    expect(pol.rows.filter((r) => r.min_approvals > 0)).toEqual([
      { gate_code: 'G2', min_approvals: 1, approver_persona: 'qa_tester' },
      { gate_code: 'G3', min_approvals: 1, approver_persona: 'release_manager' },
    ]);
  });
});
