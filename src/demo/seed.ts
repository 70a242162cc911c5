// Demo data for a development start: a few releases of a fictional Odoo project in different
// states, each step written through the governance functions as the persona that owns it, so the
// demo obeys every rule the real thing does. Runs once (it is skipped when the project exists).
import pg from 'pg';
import { DEMO_PEOPLE } from './people.js';

const PROJECT = 'odoo-demo';

type Persona = 'ci_service_role' | 'release_manager' | 'qa_tester' | 'sre' | 'developer';

const PEOPLE: Record<Persona, string> = DEMO_PEOPLE;

async function as<T>(
  client: pg.ClientBase,
  persona: Persona,
  fn: () => Promise<T>,
  sub = PEOPLE[persona],
): Promise<T> {
  await client.query('begin');
  try {
    // The persona is the role the transaction assumes; the claims say who.
    await client.query(`select set_config('role', $2, true), set_config('request.jwt.claims', $1, true)`, [
      JSON.stringify({ sub, role: persona }),
      persona,
    ]);
    const result = await fn();
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback');
    throw err;
  }
}

async function one<T>(client: pg.ClientBase, sql: string, params: unknown[]): Promise<T> {
  const { rows } = await client.query(sql, params);
  return rows[0] as T;
}

export async function seedDemoData({ adminUrl }: { adminUrl: string }): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const exists = await client.query('select 1 from ops.releases where project = $1 limit 1', [PROJECT]);
    if (exists.rowCount) return;

    const create = (name: string) =>
      as(client, 'developer', () =>
        one<{ release_id: string }>(client, 'select release_id from ops.create_release($1, $2, $3, $4)', [
          PROJECT,
          name,
          'production',
          `refs/tags/${name}`,
        ]),
      ).then((r) => r.release_id);
    const check = (id: string, gate: string, name: string, status: string) =>
      as(client, 'ci_service_role', () =>
        client.query('select ops.record_check($1, $2, $3, $4, $5, true, $6)', [
          id,
          gate,
          name,
          status,
          'github_actions',
          `https://github.example/odoo/actions/runs/${name}`,
        ]),
      );
    const passG1 = async (id: string) => {
      await check(id, 'G1', 'build', 'pass');
      await check(id, 'G1', 'unit-tests', 'pass');
    };
    const passG2 = (id: string) =>
      as(client, 'qa_tester', async () => {
        await client.query(
          `select ops.attach_evidence($1::uuid, 'test_result', 'https://qa.example/reports/' || $1::text, 'G2', repeat('a', 64), 'agent')`,
          [id],
        );
        await client.query(`select ops.submit_approval($1, 'approved', 'G2', 'UAT passed on staging data')`, [
          id,
        ]);
      });
    const passG3 = (id: string) =>
      as(client, 'release_manager', async () => {
        await client.query(
          `select ops.attach_evidence($1::uuid, 'rollback_plan', 'https://wiki.example/rollback/' || $1::text, 'G3')`,
          [id],
        );
        await client.query(
          `select ops.submit_approval($1, 'approved', 'G3', 'Change window agreed with ops')`,
          [id],
        );
      });
    const deploy = async (id: string, env: string) => {
      // The SRE on duty promotes (refused unless eligible) and confirms the deployment's health.
      const dep = await as(client, 'sre', () =>
        one<{ deployment_id: string }>(client, 'select deployment_id from ops.promote_release($1, $2)', [
          id,
          env,
        ]),
      );
      await as(client, 'sre', async () => {
        await client.query(`select ops.update_deployment($1, 'succeeded')`, [dep.deployment_id]);
        await client.query(`select ops.record_health_check($1, 'pass', $2)`, [
          dep.deployment_id,
          `https://grafana.example/d/odoo?env=${env}`,
        ]);
      });
    };

    // Promoted: the whole way to production.
    const promoted = await create('17.0.42');
    await passG1(promoted);
    await passG2(promoted);
    await passG3(promoted);
    await deploy(promoted, 'staging');
    await deploy(promoted, 'production');

    // Eligible for staging, waiting for its release manager at G3.
    const waiting = await create('17.0.43');
    await passG1(waiting);
    await passG2(waiting);

    // A failing build keeps G1 failed.
    const broken = await create('17.0.44');
    await check(broken, 'G1', 'build', 'pass');
    await check(broken, 'G1', 'unit-tests', 'fail');

    // A hotfix whose G3 is bypassed by an exception approved by a second release manager.
    const hotfix = await create('17.0.45-hotfix');
    await passG1(hotfix);
    await passG2(hotfix);
    const exception = await as(client, 'developer', () =>
      one<{ exception_id: string }>(
        client,
        `select exception_id from ops.request_exception($1, 'gate_bypass', '{G3}', $2, $3, now() + interval '2 days')`,
        [
          hotfix,
          'Security fix must ship before the regular change window',
          'Low: one module, rollback tested',
        ],
      ),
    );
    await as(
      client,
      'release_manager',
      () =>
        client.query('select ops.approve_exception($1, $2)', [
          exception.exception_id,
          'Approved for CVE fix',
        ]),
      'morgan.release-manager',
    );
  } finally {
    await client.end();
  }
}
