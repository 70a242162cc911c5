// Every ops-gates command against a real server on a real port, each as the persona who runs it
// in real life: what it prints, what it answers to a script (--json, exit code) and what it left
// in the database; and each one's refusals: usage (2), auth (3), the server's no (1).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { COMMANDS } from '../../src/cli/run.js';
import { type TestDatabase, useTestDatabase } from '../support/db.js';
import { cli, type LiveServer, logRows, PEOPLE, type Person, SECRET, startServer, token } from './support.js';

let db: TestDatabase;
let server: LiveServer;
const work = mkdtempSync(path.join(tmpdir(), 'ops-gates-cli-'));

beforeAll(async () => {
  db = await useTestDatabase();
  server = await startServer(db);
});
afterAll(async () => {
  await server?.close();
  // The folder holds a development secret and a signing key: removed with the run.
  rmSync(work, { recursive: true, force: true });
});

/** The environment a person's shell would have. */
async function as(who: Person, extra: Record<string, string> = {}) {
  return { env: { OPS_API_URL: server.url, OPS_TOKEN: await token(who), ...extra } };
}

const ANSI = '\u001b[';
let seq = 0;
const uniqueName = (prefix: string) => `${prefix}-${Date.now()}-${++seq}`;

async function createRelease(who: Person = 'developer', project = 'odoo-core') {
  const name = uniqueName('r');
  const r = await cli(['release', 'create', '--project', project, '--name', name, '--json'], await as(who));
  expect(r.code, r.stderr).toBe(0);
  return { id: r.json.release.id as string, ref: `${project}/${name}` };
}

/** Whether the exception's expiry has passed, by the database's clock. */
async function expired(exceptionId: string): Promise<boolean> {
  const { rows } = await db.admin.query<{ past: boolean }>(
    'select expires_at <= clock_timestamp() as past from ops.exceptions where exception_id = $1',
    [exceptionId],
  );
  return rows[0]!.past;
}

async function gateStatus(releaseId: string, gate: string): Promise<string> {
  const { rows } = await db.admin.query(
    'select status::text from ops.release_gates where release_id = $1 and gate_code = $2',
    [releaseId, gate],
  );
  return rows[0].status;
}

/** G1 passed, G2 evidence and approval: eligible for staging. */
async function throughG2(ref: string) {
  expect((await cli(['build-complete', '--release', ref, '--status', 'pass'], await as('ci'))).code).toBe(0);
  const e = await cli(
    [
      'evidence',
      'add',
      'https://ci.example/junit.xml',
      '--release',
      ref,
      '--type',
      'test_result',
      '--gate',
      'G2',
    ],
    await as('qa'),
  );
  expect(e.code, e.stderr).toBe(0);
  const s = await cli(
    ['signoff', '--release', ref, '--gate', 'G2', '--decision', 'approved', '--rationale', 'suite green'],
    await as('qa'),
  );
  expect(s.code, s.stderr).toBe(0);
}

async function throughG3(ref: string) {
  await throughG2(ref);
  for (const args of [
    [
      'evidence',
      'add',
      'https://wiki.example/rollback',
      '--release',
      ref,
      '--type',
      'rollback_plan',
      '--gate',
      'G3',
    ],
    [
      'signoff',
      '--release',
      ref,
      '--gate',
      'G3',
      '--decision',
      'approved',
      '--rationale',
      'rollback rehearsed',
    ],
  ]) {
    const r = await cli(args, await as('rm'));
    expect(r.code, r.stderr).toBe(0);
  }
}

describe('help and usage', () => {
  it('--help lists every command, the environment and the exit codes (exit 0)', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toContain(c.path.join(' '));
    expect(r.stdout).toContain('OPS_API_URL');
    expect(r.stdout).toMatch(
      /Exit codes:\n {2}0 {2}ok.*\n {2}1 {2}not eligible.*\n {2}2 {2}usage.*\n {2}3 {2}auth.*\n {2}4 {2}server or network/,
    );
  });

  it('every command has --help with its options and the exit codes, and needs no server for it', async () => {
    for (const c of COMMANDS) {
      const r = await cli([...c.path, '--help'], { env: { OPS_API_URL: 'http://127.0.0.1:9' } });
      expect(r.code, c.path.join(' ')).toBe(0);
      expect(r.stdout).toContain(`Usage: ops-gates ${c.path.join(' ')}`);
      expect(r.stdout).toContain('--json');
      expect(r.stdout.match(/Exit codes/g), `${c.path.join(' ')}: exit codes once`).toHaveLength(1);
      for (const name of Object.keys(c.options)) expect(r.stdout).toContain(`--${name}`);
    }
  });

  it('a command group lists its subcommands; global options may come before the command', async () => {
    const group = await cli(['exception', '--help']);
    expect(group.code).toBe(0);
    expect(group.stdout).toMatch(/^Usage: ops-gates exception <request\|approve\|review\|list> \[options\]/);
    const r = await cli(['--token', await token('sre'), '--url', server.url, '--json', 'whoami']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.viewer.persona).toBe('sre');
  });

  it('usage errors exit 2 and say what is wrong', async () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: ops-gates/],
      [['launch-rockets'], /unknown command "launch-rockets"/],
      [['release'], /release needs a subcommand: create/],
      [['status', 'x/y', '--colour'], /Unknown option '--colour'/],
      [['eligible', 'odoo-core/r1'], /--env is required/],
      [['eligible', 'odoo-core/r1', '--env', 'qa'], /--env must be one of staging, production/],
      [['eligible', 'not-a-release', '--env', 'staging'], /neither a release UUID nor project\/name/],
      [['release', 'create', '--name', 'x'], /--project is required/],
      [
        ['exception', 'request', '--release', 'a/b', '--gates', 'G3', '--reason', 'r', '--risk', 'r'],
        /exactly one of --expires-in/,
      ],
      [['status', '--timeout', 'soon', 'a/b'], /--timeout must be a duration/],
      [['status', 'a/b', 'c/d'], /unexpected argument "c\/d"/],
      // A number a double cannot hold would be sent as another number: refused, named, before
      // anything is sent.
      [
        [
          'emit',
          'build_complete',
          '--release',
          'a/b',
          '--payload',
          '{"status":"pass","v":[1,9007199254740993]}',
        ],
        /--payload has numbers that cannot be sent exactly: v\.1 9007199254740993 \(would be sent as 9007199254740992\)/,
      ],
      [
        ['emit', 'build_complete', '--release', 'a/b', '--set', 'status=pass', '--set', 'n=1e400'],
        /--set n=1e400 has numbers that cannot be sent exactly: 1e400 \(would be sent as Infinity\)/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, { env: { OPS_API_URL: server.url, OPS_TOKEN: 'x' } });
      expect(r.code, args.join(' ')).toBe(2);
      expect(`${r.stdout}${r.stderr}`, args.join(' ')).toMatch(message);
    }
  });

  it('--json errors are a JSON document on stdout as well as a message on stderr', async () => {
    const r = await cli(['eligible', 'x/y', '--env', 'mars', '--json']);
    expect(r.code).toBe(2);
    expect(r.json).toEqual({ error: expect.objectContaining({ code: 'usage', exitCode: 2 }) });
    expect(r.stderr).toMatch(/^error: --env must be one of/);
  });
});

describe('auth', () => {
  it('no token, a token signed with another secret, an expired token: exit 3', async () => {
    const { mintToken } = await import('../../src/auth/dev-tokens.js');
    const foreign = await mintToken({ secret: 'another-secret-0123456789abcdef0123456789', persona: 'sre' });
    for (const tok of [undefined, foreign, 'not-a-jwt']) {
      const g = await cli(['whoami'], { env: { OPS_API_URL: server.url, OPS_TOKEN: tok } });
      expect(g.code, String(tok)).toBe(3);
      const e = await cli(
        ['build-complete', '--release', '00000000-0000-4000-8000-000000000000', '--status', 'pass'],
        { env: { OPS_API_URL: server.url, OPS_TOKEN: tok } },
      );
      expect(e.code, String(tok)).toBe(3);
    }
  });

  it('whoami shows the subject and persona the server sees; --token overrides OPS_TOKEN', async () => {
    const r = await cli(['whoami', '--json', '--token', await token('sre')], await as('qa'));
    expect(r.code).toBe(0);
    expect(r.json.viewer).toEqual({ subject: 'sre-sam', persona: 'sre' });
  });

  it('token mint signs with SUPABASE_JWT_SECRET; refuses in production, unknown personas and without a secret', async () => {
    const minted = await cli(['token', 'mint', '--persona', 'qa_tester', '--sub', 'quinn', '--json'], {
      env: { SUPABASE_JWT_SECRET: SECRET },
    });
    expect(minted.code).toBe(0);
    expect(minted.json).toMatchObject({ persona: 'qa_tester', sub: 'quinn' });
    const who = await cli(['whoami', '--json'], {
      env: { OPS_API_URL: server.url, OPS_TOKEN: minted.json.token },
    });
    expect(who.json.viewer).toEqual({ subject: 'quinn', persona: 'qa_tester' });

    const plain = await cli(['token', 'mint', '--persona', 'sre'], { env: { SUPABASE_JWT_SECRET: SECRET } });
    expect(plain.stdout.trim()).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);

    const secretFile = path.join(work, 'dev-secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const fromFile = await cli(['token', 'mint', '--persona', 'sre', '--secret-file', secretFile, '--json']);
    expect(fromFile.code).toBe(0);
    const sre = await cli(['whoami', '--json'], {
      env: { OPS_API_URL: server.url, OPS_TOKEN: fromFile.json.token },
    });
    expect(sre.json.viewer).toEqual({ subject: 'dev:sre', persona: 'sre' });

    expect(
      (
        await cli(['token', 'mint', '--persona', 'sre'], {
          env: { NODE_ENV: 'production', SUPABASE_JWT_SECRET: SECRET },
        })
      ).code,
    ).toBe(2);
    expect(
      (await cli(['token', 'mint', '--persona', 'root'], { env: { SUPABASE_JWT_SECRET: SECRET } })).code,
    ).toBe(2);
    const none = await cli([
      'token',
      'mint',
      '--persona',
      'sre',
      '--secret-file',
      path.join(work, 'missing'),
    ]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no JWT secret/);
  });
});

describe('release create', () => {
  it('creates a draft release initiated by the caller; plain output names it', async () => {
    const name = uniqueName('create');
    const r = await cli(
      ['release', 'create', '--project', 'odoo-core', '--name', name, '--source-ref', 'v1'],
      await as('developer'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      new RegExp(
        `^✓ release odoo-core/${name} created \\(draft\\), initiated by dev-dana\\n  id [0-9a-f-]{36}\\n$`,
      ),
    );
    const { rows } = await db.admin.query(
      'select status::text, initiating_actor, source_ref from ops.releases where release_name = $1',
      [name],
    );
    expect(rows).toEqual([{ status: 'draft', initiating_actor: 'dev-dana', source_ref: 'v1' }]);
  });

  it('a second release of the same name is refused (exit 1); an auditor may not create one (exit 3)', async () => {
    const { ref } = await createRelease();
    const [project, name] = ref.split('/') as [string, string];
    const again = await cli(
      ['release', 'create', '--project', project, '--name', name, '--json'],
      await as('developer'),
    );
    expect(again.code).toBe(1);
    expect(again.json.error.code).toBe('conflict');
    const auditor = await cli(
      ['release', 'create', '--project', project, '--name', `${name}-x`],
      await as('auditor'),
    );
    expect(auditor.code).toBe(3);
    expect(auditor.stderr).toMatch(
      /requires one of the personas: ci_service_role, release_manager, developer/,
    );
  });
});

describe('events', () => {
  it('build-complete: a G1 check and its build log, under the key it was given; a re-run with a pinned emitted_at is a duplicate', async () => {
    const { id, ref } = await createRelease();
    const key = `github_actions/${Date.now()}/build_complete`;
    const args = [
      'build-complete',
      '--release',
      ref,
      '--status',
      'pass',
      '--source',
      'github_actions',
      '--artifact-ref',
      'https://github.com/acme/odoo/actions/runs/1',
      '--idempotency-key',
      key,
      '--emitted-at',
      '2026-11-26T10:00:00Z',
      '--json',
    ];
    const first = await cli(args, await as('ci'));
    expect(first.code, first.stderr).toBe(0);
    expect(first.json).toMatchObject({
      status: 'accepted',
      eventType: 'build_complete',
      releaseId: id,
      gateCode: 'G1',
      idempotencyKey: key,
      attempts: 1,
      detail: { gate_status: 'passed' },
    });
    const again = await cli(args, await as('ci'));
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ status: 'duplicate', ingestId: first.json.ingestId });
    expect((await logRows(db, key)).map((r) => [r.processing_status, r.created_by])).toEqual([
      ['accepted', 'ci-github-actions'],
      ['duplicate', 'ci-github-actions'],
    ]);
    const { rows } = await db.admin.query(
      `select a.artifact_type::text, a.artifact_url from ops.evidence_artifacts a where a.release_id = $1`,
      [id],
    );
    expect(rows).toEqual([
      { artifact_type: 'build_log', artifact_url: 'https://github.com/acme/odoo/actions/runs/1' },
    ]);
  });

  it('a derived key is the same for the same content; re-sending it later is a duplicate of the first', async () => {
    const { id, ref } = await createRelease();
    const first = await cli(
      ['build-complete', '--release', ref, '--status', 'fail', '--json'],
      await as('ci'),
    );
    expect(first.json.idempotencyKey).toMatch(new RegExp(`^manual/${id}/build_complete/[0-9a-f]{64}$`));
    // Later, with a new emitted_at: emission time is not part of the event's identity.
    const rerun = await cli(
      ['build-complete', '--release', id, '--status', 'fail', '--json'],
      await as('ci'),
    );
    expect(rerun.code).toBe(0);
    expect(rerun.json).toMatchObject({ status: 'duplicate', ingestId: first.json.ingestId });
    // A different outcome is a different event: a new key, accepted, and G1 follows the latest result.
    const pass = await cli(
      ['build-complete', '--release', ref, '--status', 'pass', '--json'],
      await as('ci'),
    );
    expect(pass.code).toBe(0);
    expect(pass.json.idempotencyKey).not.toBe(first.json.idempotencyKey);
    expect(await gateStatus(id, 'G1')).toBe('passed');
  });

  it('build-complete refusals: bad status (2), unknown release (1, logged), a persona that may not send it (3)', async () => {
    expect(
      (await cli(['build-complete', '--release', 'a/b', '--status', 'green'], await as('ci'))).code,
    ).toBe(2);
    expect(
      (await cli(['build-complete', '--release', 'odoo-core/nope', '--status', 'pass'], await as('ci'))).code,
    ).toBe(1);
    const unknown = '00000000-0000-4000-8000-00000000abcd';
    const r = await cli(
      ['build-complete', '--release', unknown, '--status', 'pass', '--json'],
      await as('ci'),
    );
    expect(r.code).toBe(1);
    expect(r.json.error).toMatchObject({ httpStatus: 409 });
    const { rows } = await db.admin.query(
      `select processing_status::text, http_status from ops.event_ingest_log where release_id = $1`,
      [unknown],
    );
    expect(rows).toEqual([{ processing_status: 'rejected', http_status: 409 }]);
    const { ref } = await createRelease();
    const qa = await cli(['build-complete', '--release', ref, '--status', 'pass'], await as('qa'));
    expect(qa.code).toBe(3);
    expect(qa.stderr).toMatch(/may not send build_complete/);
  });

  it('check: a result on any gate; an optional check does not count; a missing name is usage', async () => {
    const { id, ref } = await createRelease();
    const r = await cli(
      ['check', '--release', ref, '--gate', 'G1', '--name', 'lint', '--status', 'pass'],
      await as('developer'),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^✓ check_result accepted: G1 check lint pass; G1 is now passed/);
    const opt = await cli(
      ['check', '--release', ref, '--gate', 'G1', '--name', 'perf', '--status', 'fail', '--optional'],
      await as('ci'),
    );
    expect(opt.code).toBe(0);
    expect(await gateStatus(id, 'G1')).toBe('passed');
    expect(
      (await cli(['check', '--release', ref, '--gate', 'G1', '--status', 'pass'], await as('ci'))).code,
    ).toBe(2);
  });

  it('evidence add: a file is hashed (sha256) and named; a URL is taken as is; a missing file is usage; an auditor is refused', async () => {
    const { id, ref } = await createRelease();
    const file = path.join(work, 'junit.xml');
    writeFileSync(file, '<testsuite tests="42" failures="0"/>\n');
    const digest = createHash('sha256').update('<testsuite tests="42" failures="0"/>\n').digest('hex');
    const r = await cli(
      [
        'evidence',
        'add',
        'junit.xml',
        '--release',
        ref,
        '--type',
        'test_result',
        '--gate',
        'G2',
        '--artifact-url',
        'https://ci.example/42/junit.xml',
        '--json',
      ],
      { ...(await as('qa')), cwd: work },
    );
    expect(r.code, r.stderr).toBe(0);
    const { rows } = await db.admin.query(
      `select a.artifact_url, a.sha256, a.metadata, a.created_by from ops.evidence_artifacts a where a.artifact_id = $1`,
      [r.json.detail.artifact_id],
    );
    expect(rows).toEqual([
      {
        artifact_url: 'https://ci.example/42/junit.xml',
        sha256: digest,
        metadata: { file_name: 'junit.xml', size_bytes: 37 },
        created_by: 'qa-quinn',
      },
    ]);
    const local = await cli(
      ['evidence', 'add', file, '--release', id, '--type', 'uat_summary', '--gate', 'G2', '--json'],
      await as('qa'),
    );
    expect(local.code).toBe(0);
    const url = await cli(
      [
        'evidence',
        'add',
        'https://wiki.example/uat',
        '--release',
        ref,
        '--type',
        'uat_summary',
        '--gate',
        'G2',
      ],
      await as('qa'),
    );
    expect(url.stdout).toMatch(
      /^✓ evidence_attached accepted: uat_summary on G2 https:\/\/wiki\.example\/uat/,
    );
    expect(
      (await cli(['evidence', 'add', 'nope.xml', '--release', ref, '--type', 'test_result'], await as('qa')))
        .code,
    ).toBe(2);
    expect(
      (
        await cli(
          ['evidence', 'add', 'https://x.example', '--release', ref, '--type', 'selfie'],
          await as('qa'),
        )
      ).code,
    ).toBe(2);
    expect(
      (
        await cli(
          ['evidence', 'add', 'https://x.example', '--release', ref, '--type', 'test_result'],
          await as('auditor'),
        )
      ).code,
    ).toBe(3);
  });

  it('signoff: QA passes G2; G3 by the QA persona or by a release manager who signed G2 is refused (3); a rationale is required (2)', async () => {
    const { id, ref } = await createRelease();
    await throughG2(ref);
    expect(await gateStatus(id, 'G2')).toBe('passed');
    expect(
      (
        await cli(
          ['signoff', '--release', ref, '--gate', 'G3', '--decision', 'approved', '--rationale', 'x'],
          await as('qa'),
        )
      ).code,
    ).toBe(3);
    expect(
      (await cli(['signoff', '--release', ref, '--gate', 'G2', '--decision', 'approved'], await as('qa')))
        .code,
    ).toBe(2);
    expect(
      (
        await cli(
          ['signoff', '--release', ref, '--gate', 'G4', '--decision', 'approved', '--rationale', 'x'],
          await as('rm'),
        )
      ).code,
    ).toBe(2);

    // A release initiated by rm-raj: he may not approve its G3 himself.
    const own = await createRelease('rm2');
    await throughG2(own.ref);
    const self = await cli(
      ['signoff', '--release', own.ref, '--gate', 'G3', '--decision', 'approved', '--rationale', 'mine'],
      await as('rm2'),
    );
    expect(self.code).toBe(3);
    expect(self.stderr).toMatch(/initiat/);
  });

  it('signoff: a rejection fails G2 and says so', async () => {
    const { id, ref } = await createRelease();
    await cli(['build-complete', '--release', ref, '--status', 'pass'], await as('ci'));
    const r = await cli(
      [
        'signoff',
        '--release',
        ref,
        '--gate',
        'G2',
        '--decision',
        'rejected',
        '--rationale',
        'checkout broken',
      ],
      await as('qa'),
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/G2 rejected; G2 is now failed/);
    expect(await gateStatus(id, 'G2')).toBe('failed');
  });

  it('emit: any envelope from a file, flags overriding; --set builds the payload; a bad envelope is stopped locally (2) unless --unchecked (server: 422 → 1)', async () => {
    const { id, ref } = await createRelease();
    const file = path.join(work, 'envelope.json');
    writeFileSync(
      file,
      JSON.stringify({
        event_type: 'check_result',
        gate_code: 'G1',
        source_system: 'jenkins',
        release_id: id,
        payload: { check_name: 'unit', status: 'pass' },
      }),
    );
    const r = await cli(['emit', '--file', file, '--json'], await as('ci'));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({
      status: 'accepted',
      eventType: 'check_result',
      idempotencyKey: expect.stringMatching(/^jenkins\//),
    });

    const env = await cli(
      [
        'emit',
        'environment_event',
        '--release',
        id,
        '--set',
        'environment=staging',
        '--set',
        'kind=maintenance_window',
        '--set',
        'minutes=30',
        '--json',
      ],
      await as('sre'),
    );
    expect(env.code, env.stderr).toBe(0);
    const { rows } = await db.admin.query('select payload from ops.environment_events where event_id = $1', [
      env.json.detail.event_id,
    ]);
    expect(rows[0].payload).toEqual({ environment: 'staging', kind: 'maintenance_window', minutes: 30 });

    const bad = await cli(['emit', 'check_result', '--release', ref, '--set', 'status=pass'], await as('ci'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/gate_code/);
    const v2 = path.join(work, 'v2.json');
    writeFileSync(
      v2,
      JSON.stringify({ schema_version: 'v2.0', event_type: 'check_result', release_id: id, payload: {} }),
    );
    expect((await cli(['emit', '--file', v2], await as('ci'))).code).toBe(2);
    const unchecked = await cli(['emit', '--file', v2, '--unchecked', '--json'], await as('ci'));
    expect(unchecked.code).toBe(1);
    expect(unchecked.json.error).toMatchObject({ code: 'unsupported_schema_version', httpStatus: 422 });
  });
});

describe('promotion, deployments and G4', () => {
  it('promote before G3 is refused with its blockers (exit 1, stderr); a developer may not promote (3)', async () => {
    const { ref } = await createRelease();
    await throughG2(ref);
    const r = await cli(['promote', ref, '--env', 'production', '--json'], await as('rm'));
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('not_eligible');
    expect(r.json.error.blockers.map((b: { reason: string }) => b.reason)).toContain(
      'G3: no rollback_plan evidence attached',
    );
    expect(r.stderr).toMatch(/blockers:\n {2}- G3: no rollback_plan evidence attached/);
    expect((await cli(['promote', ref, '--env', 'staging'], await as('developer'))).code).toBe(3);
  });

  it('promote → deploy update → health-check → production: the release is promoted; a second promotion is a conflict', async () => {
    const { id, ref } = await createRelease();
    await throughG3(ref);
    const staging = await cli(['promote', ref, '--env', 'staging', '--json'], await as('rm'));
    expect(staging.code, staging.stderr).toBe(0);
    const depId = staging.json.deployment.id;
    expect(staging.json.deployment).toMatchObject({
      environment: 'staging',
      status: 'in_progress',
      g4Status: 'pending',
    });
    const twice = await cli(['promote', ref, '--env', 'staging'], await as('rm'));
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already deployed/);

    const done = await cli(
      ['deploy', 'update', '--release', ref, '--deployment', depId, '--status', 'succeeded'],
      await as('ci'),
    );
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/deployment_event accepted: deployment .* succeeded/);
    const health = await cli(
      [
        'health-check',
        '--release',
        id,
        '--env',
        'staging',
        '--status',
        'pass',
        '--artifact-url',
        'https://grafana.example/d/1',
        '--json',
      ],
      await as('sre'),
    );
    expect(health.code, health.stderr).toBe(0);
    expect(health.json.detail).toMatchObject({ deployment_id: depId, g4_status: 'passed' });
    expect((await cli(['eligible', ref, '--env', 'production'], await as('auditor'))).code).toBe(0);

    // An SRE cannot read releases, so it names them by UUID.
    const byName = await cli(['promote', ref, '--env', 'production'], await as('sre'));
    expect(byName.code).toBe(3);
    expect(byName.stderr).toMatch(
      /hint: your persona cannot look releases up by name: give the release UUID/,
    );
    const prod = await cli(['promote', id, '--env', 'production', '--json'], await as('sre'));
    expect(prod.code, prod.stderr).toBe(0);
    await cli(
      ['deploy', 'update', '--release', id, '--deployment', prod.json.deployment.id, '--status', 'succeeded'],
      await as('sre'),
    );
    const report = path.join(work, 'health.json');
    writeFileSync(report, '{"p95_ms": 180}');
    const ph = await cli(
      [
        'health-check',
        '--release',
        id,
        '--deployment',
        prod.json.deployment.id,
        '--status',
        'pass',
        '--file',
        report,
      ],
      await as('sre'),
    );
    expect(ph.code, ph.stderr).toBe(0);
    const { rows } = await db.admin.query('select status::text from ops.releases where release_id = $1', [
      id,
    ]);
    expect(rows[0].status).toBe('promoted');

    // Incident: production is rolled back to the previous deployment; the release says so.
    const rollback = await cli(
      [
        'deploy',
        'record',
        '--release',
        id,
        '--env',
        'production',
        '--rollback-of',
        prod.json.deployment.id,
        '--status',
        'succeeded',
        '--json',
      ],
      await as('sre'),
    );
    expect(rollback.code, rollback.stderr).toBe(0);
    const { rows: after } = await db.admin.query(
      'select status::text from ops.releases where release_id = $1',
      [id],
    );
    expect(after[0].status).toBe('rolled_back');
  });

  it('deploy record outside eligibility is refused (1); deploy update and health-check usage errors (2); an unknown deployment (1)', async () => {
    const { ref } = await createRelease();
    const rec = await cli(['deploy', 'record', '--release', ref, '--env', 'production'], await as('ci'));
    expect(rec.code).toBe(1);
    expect(rec.stderr).toMatch(/not eligible/);
    expect(
      (
        await cli(
          ['deploy', 'update', '--release', ref, '--deployment', 'x', '--status', 'succeeded'],
          await as('ci'),
        )
      ).code,
    ).toBe(2);
    expect(
      (
        await cli(
          [
            'deploy',
            'update',
            '--release',
            ref,
            '--deployment',
            '00000000-0000-4000-8000-000000000001',
            '--status',
            'done',
          ],
          await as('ci'),
        )
      ).code,
    ).toBe(2);
    const unknown = await cli(
      [
        'deploy',
        'update',
        '--release',
        ref,
        '--deployment',
        '00000000-0000-4000-8000-000000000001',
        '--status',
        'succeeded',
      ],
      await as('ci'),
    );
    expect(unknown.code).toBe(1);
    expect((await cli(['health-check', '--release', ref, '--status', 'pass'], await as('sre'))).code).toBe(2);
    const none = await cli(
      ['health-check', '--release', ref, '--env', 'staging', '--status', 'pass'],
      await as('ci'),
    );
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/names no deployment/);
  });
});

describe('release revise', () => {
  it('binds the release to another revision: status shows it, and the approval that went stale', async () => {
    const { id, ref } = await createRelease();
    await throughG2(ref);
    expect(await gateStatus(id, 'G2')).toBe('passed');
    const revised = await cli(
      ['release', 'revise', ref, '--source-ref', 'refs/tags/v2', '--reason', 'hotfix'],
      await as('developer'),
    );
    expect(revised.code, revised.stderr).toBe(0);
    expect(revised.stdout).toMatch(/is now at revision 2: refs\/tags\/v2 \(was no source ref\)/);
    const status = await cli(['status', ref], await as('rm'));
    expect(status.stdout.split('\n')[1]).toMatch(/^revision 2: refs\/tags\/v2/);
    expect(status.stdout).toMatch(
      /G2: the qa_tester approval by \S+ is stale: approved for no source ref, release is now at refs\/tags\/v2/,
    );
    expect(await gateStatus(id, 'G2')).toBe('pending');
    // A QA tester does not choose what ships (3); a revision always says why (2).
    const qa = await cli(
      ['release', 'revise', ref, '--source-ref', 'refs/tags/v3', '--reason', 'x'],
      await as('qa'),
    );
    expect(qa.code).toBe(3);
    expect((await cli(['release', 'revise', ref, '--source-ref', 'refs/tags/v3'], await as('rm'))).code).toBe(
      2,
    );
  });
});

describe('status and eligible', () => {
  it('status: a G1-G4 table with blockers, plain when piped, coloured on a terminal unless NO_COLOR', async () => {
    const { ref } = await createRelease();
    await cli(['build-complete', '--release', ref, '--status', 'pass'], await as('ci'));
    const piped = await cli(['status', ref], await as('rm'));
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain(ANSI);
    const lines = piped.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${ref} {2}in_progress {2}id `));
    expect(lines.find((l) => l.startsWith('G1'))).toMatch(/^G1 +Build Integrity +passed$/);
    expect(lines.find((l) => l.startsWith('G2'))).toMatch(
      /^G2 +Validation Readiness +pending +G2: no test_result or uat_summary evidence attached$/,
    );
    expect(piped.stdout).toContain('no qa_tester approval yet');
    expect(piped.stdout).toMatch(
      /staging +✗ not eligible \(2 blockers\)\nproduction +✗ not eligible \(7 blockers\)/,
    );

    const tty = await cli(['status', ref], { ...(await as('rm')), tty: true });
    expect(tty.stdout).toContain(ANSI);
    const noColor = await cli(['status', ref], {
      ...(await as('rm')),
      env: { ...(await as('rm')).env, NO_COLOR: '1' },
      tty: true,
    });
    expect(noColor.stdout).not.toContain(ANSI);
    expect(noColor.stdout).toContain('G1');

    const json = await cli(['status', ref, '--json'], await as('auditor'));
    expect(
      json.json.release.gates.map((g: { gateCode: string; status: string }) => `${g.gateCode}:${g.status}`),
    ).toEqual(['G1:passed', 'G2:pending', 'G3:pending', 'G4:pending']);
  });

  it('status refusals: an unknown release (1), a persona that cannot read gates (3)', async () => {
    expect((await cli(['status', 'odoo-core/never-made'], await as('rm'))).code).toBe(1);
    expect((await cli(['status', '00000000-0000-4000-8000-000000000002'], await as('rm'))).code).toBe(1);
    const { ref } = await createRelease();
    expect((await cli(['status', ref], await as('qa'))).code).toBe(3);
  });

  it('eligible: 0 when eligible, 1 with blockers on stderr when not, the same in --json', async () => {
    const { id, ref } = await createRelease();
    const before = await cli(['eligible', ref, '--env', 'staging'], await as('qa'));
    expect(before.code).toBe(1);
    expect(before.stdout).toBe(`✗ ${ref} is not eligible for staging\n`);
    expect(before.stderr).toBe(
      'blockers for staging:\n  - G1: no build checks reported yet\n  - G2: waiting for G1, which is pending\n  - G2: no test_result or uat_summary evidence attached\n  - G2: no qa_tester approval yet\n',
    );
    await throughG2(ref);
    const after = await cli(['eligible', id, '--env', 'staging', '--json'], await as('developer'));
    expect(after.code).toBe(0);
    expect(after.json).toEqual({
      releaseId: id,
      release: id,
      environment: 'staging',
      eligible: true,
      blockers: [],
    });
    const prod = await cli(['eligible', '--release', id, '--env', 'production', '--json'], await as('sre'));
    expect(prod.code).toBe(1);
    expect(prod.json.eligible).toBe(false);
    expect(prod.json.blockers.length).toBeGreaterThan(0);
  });
});

describe('exceptions', () => {
  it('request → approve by another person → G3 bypassed until it expires → expired blocker → post-review', async () => {
    // The bypass must be read while it is in force. On a busy machine the approval and that read
    // can outlast a short window, so the window widens (on a new release) until the database's
    // clock says the read came before the expiry.
    let id = '';
    let ref = '';
    let excId = '';
    for (const window of ['3s', '15s', '60s']) {
      ({ id, ref } = await createRelease());
      await throughG2(ref);
      const req = await cli(
        [
          'exception',
          'request',
          '--release',
          ref,
          '--gates',
          'G3',
          '--reason',
          'hotfix for checkout',
          '--risk',
          'no rollback rehearsal',
          '--expires-in',
          window,
          '--controls',
          '{"on_call":"sre-sam"}',
          '--json',
        ],
        await as('developer'),
      );
      expect(req.code, req.stderr).toBe(0);
      excId = req.json.exception.id;
      expect(req.json.exception).toMatchObject({
        requestedBy: 'dev-dana',
        impactedGates: ['G3'],
        exceptionType: 'gate_bypass',
      });

      const approved = await cli(
        ['exception', 'approve', excId, '--rationale', 'revenue impact'],
        await as('rm'),
      );
      if (approved.code !== 0 && (await expired(excId))) continue;
      expect(approved.code, approved.stderr).toBe(0);
      expect(approved.stdout).toMatch(/approved by rm-rita \(requested by dev-dana\)/);
      const during = await cli(['eligible', ref, '--env', 'production', '--json'], await as('auditor'));
      if (await expired(excId)) continue;
      expect(during.json.blockers.map((b: { gateCode: string }) => b.gateCode)).not.toContain('G3');
      break;
    }
    expect(await expired(excId), 'no window was wide enough to read the bypass in force').toBe(false);

    await vi.waitUntil(() => expired(excId), { timeout: 120_000, interval: 100 });
    const after = await cli(['eligible', ref, '--env', 'production'], await as('auditor'));
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(new RegExp(`G3 bypass exception ${excId} expired at`));

    const listed = await cli(
      ['exception', 'list', '--release', ref, '--state', 'expired', '--json'],
      await as('auditor'),
    );
    expect(listed.json.exceptions.map((e: { id: string }) => e.id)).toEqual([excId]);
    const table = await cli(['exception', 'list', ref], await as('rm'));
    expect(table.stdout).toMatch(/^Id +Type +Gates +Requested by +Approved by +Expires +Post-review/);
    const reviewed = await cli(
      ['exception', 'review', excId, '--status', 'complete', '--json'],
      await as('rm'),
    );
    expect(reviewed.json.exception).toEqual({ id: excId, postReviewStatus: 'complete' });
    const { rows } = await db.admin.query(
      'select approver_id, post_review_status::text from ops.exceptions where release_id = $1',
      [id],
    );
    expect(rows).toEqual([{ approver_id: 'rm-rita', post_review_status: 'complete' }]);
  }, 300_000);

  it('refusals: approving your own request (3), approving as QA (3), an unknown exception (1), expired ones cannot be approved (1)', async () => {
    const { ref } = await createRelease();
    const mine = await cli(
      [
        'exception',
        'request',
        '--release',
        ref,
        '--gates',
        'G2,G3',
        '--reason',
        'r',
        '--risk',
        'r',
        '--expires-in',
        '1h',
        '--json',
      ],
      await as('rm'),
    );
    expect(mine.code, mine.stderr).toBe(0);
    expect((await cli(['exception', 'approve', mine.json.exception.id], await as('rm'))).code).toBe(3);
    expect((await cli(['exception', 'approve', mine.json.exception.id], await as('qa'))).code).toBe(3);
    expect(
      (await cli(['exception', 'approve', '00000000-0000-4000-8000-000000000003'], await as('rm2'))).code,
    ).toBe(1);
    expect((await cli(['exception', 'approve', 'nope'], await as('rm2'))).code).toBe(2);

    const short = await cli(
      [
        'exception',
        'request',
        '--release',
        ref,
        '--gates',
        'G3',
        '--reason',
        'r',
        '--risk',
        'r',
        '--expires-in',
        '5s',
        '--json',
      ],
      await as('qa'),
    );
    // Long enough for the request to be recorded on a busy machine (an expiry already past when
    // it arrives is refused); then waited out by the database's clock.
    expect(short.code, short.stderr).toBe(0);
    await vi.waitUntil(() => expired(short.json.exception.id), { timeout: 120_000, interval: 100 });
    const late = await cli(['exception', 'approve', short.json.exception.id], await as('rm'));
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/expired/);
    expect(
      (
        await cli(
          [
            'exception',
            'request',
            '--release',
            ref,
            '--gates',
            'G9',
            '--reason',
            'r',
            '--risk',
            'r',
            '--expires-in',
            '1h',
          ],
          await as('qa'),
        )
      ).code,
    ).toBe(2);
    expect(
      (
        await cli(
          [
            'exception',
            'request',
            '--release',
            ref,
            '--gates',
            'G3',
            '--reason',
            'r',
            '--risk',
            'r',
            '--expires-in',
            '1h',
          ],
          await as('ci'),
        )
      ).code,
    ).toBe(3);
  });
});

describe('timeline and bundle', () => {
  it('timeline: the chain with who did what; --kind filters; --json has every entry; a QA persona may not read it (3)', async () => {
    const { id, ref } = await createRelease();
    await throughG2(ref);
    const t = await cli(['timeline', ref], await as('auditor'));
    expect(t.code, t.stderr).toBe(0);
    const lines = t.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Timeline of ${ref} {2}\\d+ of \\d+ entries$`));
    expect(lines[2]).toMatch(/^# +When \(UTC\) +Who +Persona +Gate +What$/);
    expect(t.stdout).toMatch(/dev-dana +developer +release .* created/);
    expect(t.stdout).toMatch(/ci-github-actions +ci_service_role +G1 +G1 pending -> passed/);
    expect(t.stdout).toMatch(/qa-quinn +qa_tester +G2 +qa_tester qa-quinn approved G2: suite green/);
    expect(t.stdout).not.toMatch(/event .*: accepted \(HTTP 200\)/);
    expect((await cli(['timeline', ref, '--all'], await as('rm'))).stdout).toMatch(
      /build_complete event .*: accepted \(HTTP 200\)/,
    );

    const approvals = await cli(['timeline', id, '--kind', 'approval', '--json'], await as('rm'));
    expect(
      approvals.json.entries.map((e: { actor: string; gateCode: string }) => [e.actor, e.gateCode]),
    ).toEqual([['qa-quinn', 'G2']]);
    const all = await cli(['timeline', id, '--json'], await as('auditor'));
    expect(all.json.entries.map((e: { seq: number }) => e.seq)).toEqual(
      all.json.entries.map((_: unknown, i: number) => i + 1),
    );
    expect((await cli(['timeline', ref], await as('qa'))).code).toBe(3);
    expect((await cli(['timeline', 'odoo-core/none'], await as('auditor'))).code).toBe(1);
  });

  it('a gate bypassed by an exception names its approver once in the timeline', async () => {
    const { ref } = await createRelease();
    await throughG2(ref);
    const req = await cli(
      [
        'exception',
        'request',
        '--release',
        ref,
        '--gates',
        'G3',
        '--reason',
        'r',
        '--risk',
        'r',
        '--expires-in',
        '1h',
        '--json',
      ],
      await as('developer'),
    );
    expect((await cli(['exception', 'approve', req.json.exception.id], await as('rm'))).code).toBe(0);
    const t = await cli(['timeline', ref, '--kind', 'gate_transition', '--json'], await as('auditor'));
    const bypass = t.json.entries.find((e: { summary: string }) => e.summary.includes('-> bypassed'));
    expect(bypass.summary).toBe('G3 pending -> bypassed: gate_bypass exception for G3 approved by rm-rita');
  });

  it('bundle -o: writes the bundle, whose canonical sha256 matches the one printed; stdout without -o', async () => {
    const { id, ref } = await createRelease();
    await throughG2(ref);
    const file = path.join(work, 'bundle.json');
    const r = await cli(['bundle', ref, '-o', file, '--json'], await as('auditor'));
    expect(r.code, r.stderr).toBe(0);
    const { payloadHash } = await import('../../src/ingest/envelope.js');
    const { readFileSync } = await import('node:fs');
    const archived = JSON.parse(readFileSync(file, 'utf8'));
    expect(r.json).toMatchObject({ releaseId: id, file, sha256: payloadHash(archived) });
    expect(JSON.stringify(archived)).toContain('https://ci.example/junit.xml');
    const plain = await cli(['bundle', ref, '-o', 'plain.json'], { ...(await as('rm')), cwd: work });
    expect(plain.stdout).toMatch(
      /^✓ evidence bundle of .* written to plain\.json \(\d+ bytes\)\n {2}sha256 \(canonical JSON, RFC 8785\) [0-9a-f]{64}\n$/,
    );
    const stdout = await cli(['bundle', id], await as('auditor'));
    expect(JSON.parse(stdout.stdout)).toEqual(archived);
    expect((await cli(['bundle', ref, '-o', file], await as('developer'))).code).toBe(3);
    expect((await cli(['bundle', ref, '-o', '/nonexistent-dir/b.json'], await as('auditor'))).code).toBe(2);
  });
});

it('people in these tests are who the server says they are', async () => {
  for (const who of Object.keys(PEOPLE) as Person[]) {
    const r = await cli(['whoami', '--json'], await as(who));
    expect(r.json.viewer).toEqual({ subject: PEOPLE[who].sub, persona: PEOPLE[who].persona });
  }
});
