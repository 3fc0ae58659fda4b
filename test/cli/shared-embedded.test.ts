/**
 * The CLI while `npm start` runs on the embedded PostgreSQL (issue 8 point 10): the commands use
 * the server's PostgreSQL, found by the data folder's postmaster.pid, instead of failing with
 * "tenure: undefined"; a second server on the same folder is refused with a message that says
 * what to do; bad arguments are refused before anything is opened.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTenure, tenureCli, type StartedTenure } from '../helpers/tenure-process.ts';

const DEMO_KEY = 'tnr_shared-embedded-demo-key-0123456789';

describe('tenure CLI next to a running npm start (embedded PostgreSQL)', () => {
  let dir: string;
  let env: Record<string, string | undefined>;
  let server: StartedTenure;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'tenure-shared-'));
    await chmod(dir, 0o755);
    env = { DATABASE_URL: undefined, TENURE_DATA_DIR: path.join(dir, 'pgdata'), TENURE_EMBEDDED_PG_PORT: '0', TENURE_DEMO_KEY: DEMO_KEY };
    server = await startTenure(env);
  });
  after(async () => {
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const api = async (path: string, key = DEMO_KEY) => {
    const response = await fetch(server.url + path, { headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, body: await response.json() };
  };

  test('check, migrate and tenant create use the server\'s PostgreSQL, and leave it running', async () => {
    const check = await tenureCli(['check'], { env });
    assert.equal(check.stderr, '');
    assert.equal(check.code, 0);
    assert.match(check.stdout, /^healthy: 0 findings\noutbox: \d+ unpublished event\(s\), \d+ older than 300 s; publishing disabled \(TENURE_RELAY off: information, not a finding\)\n$/);

    const migrate = await tenureCli(['migrate'], { env });
    assert.equal(migrate.stderr, '');
    assert.equal(migrate.code, 0);
    assert.match(migrate.stdout, /^nothing to apply \(\d+ already applied\)\n$/);

    const created = await tenureCli(['tenant', 'create', '--name', 'Acme ISP', '--json'], { env });
    assert.equal(created.stderr, '');
    assert.equal(created.code, 0);
    const tenant = JSON.parse(created.stdout);
    assert.deepEqual(Object.keys(tenant).sort(), ['apiKey', 'apiKeyId', 'mode', 'name', 'tenantId']);
    assert.equal(tenant.name, 'Acme ISP');
    assert.equal(tenant.mode, 'live');
    // The tenant is in the server's database: its key works on the running API, and it owns nothing yet.
    assert.deepEqual(await api('/accounts', tenant.apiKey), { status: 200, body: { items: [], nextCursor: null } });

    // The server still serves the demo: the CLI did not stop the PostgreSQL it borrowed.
    const accounts = await api('/accounts');
    assert.equal(accounts.status, 200);
    assert.deepEqual(accounts.body.items.map((a: any) => a.segment).sort(), ['enterprise', 'residential'], 'the enterprise and the residential demo accounts');
    const base = await api(`/accounts/${accounts.body.items.find((a: any) => a.segment === 'enterprise').accountId}/installed-base`);
    assert.equal(base.status, 200);
    assert.equal(base.body.products.length, 4);
  });

  test('fulfillment rerun checks its --order argument before touching the database', async () => {
    const result = await tenureCli(['fulfillment', 'rerun', '--order', 'not-a-uuid'], { env });
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'tenure: --order must be an order id (a UUID such as 0b6f2c1e-8d4a-4f5e-9c3b-2a1d0e9f8c7b), got "not-a-uuid"\n');

    const unknown = await tenureCli(['fulfillment', 'rerun', '--order', '00000000-0000-4000-8000-0000000000ff'], { env });
    assert.equal(unknown.code, 2);
    assert.equal(unknown.stderr, 'tenure: order 00000000-0000-4000-8000-0000000000ff does not exist\n');
  });

  test('other bad arguments are refused with what was wrong', async () => {
    for (const [args, message] of [
      [['tenant', 'create', '--name', '   '], 'tenure: --name must be 1 to 200 characters, not only spaces\n'],
      [['tenant', 'create', '--name', 'x', '--mode', 'sandbox'], 'tenure: --mode must be live or test, got "sandbox"\n'],
      [['worker', '--concurrency', '2x'], 'tenure: --concurrency must be an integer from 1 to 64, got "2x"\n'],
    ] as const) {
      const result = await tenureCli([...args], { env });
      assert.equal(result.code, 2, args.join(' '));
      assert.equal(result.stderr, message);
    }
  });

  test('a second npm start on the same data folder is refused, saying what to do', async () => {
    await assert.rejects(startTenure(env), (error: Error) => {
      assert.match(error.message, /tenure exited with 1/);
      assert.match(error.message, /tenure failed to start: the embedded PostgreSQL in \S+pgdata is already running \(process \d+, port \d+\), started by another Tenure process/);
      assert.match(error.message, /Stop that process first, or give this one its own TENURE_DATA_DIR, or set DATABASE_URL/);
      assert.doesNotMatch(error.message, /undefined|\n\s+at /);
      return true;
    });
    assert.equal((await api('/accounts')).status, 200);
  });

  test('with the server stopped, the CLI starts the embedded PostgreSQL itself and stops it again', async () => {
    assert.equal(await server.stop(), 0);
    const check = await tenureCli(['check'], { env });
    assert.equal(check.stderr, '');
    assert.equal(check.code, 0);
    assert.match(check.stdout, /^healthy: 0 findings\noutbox: \d+ unpublished event\(s\), \d+ older than 300 s; publishing disabled \(TENURE_RELAY off: information, not a finding\)\n$/);
    // It stopped its server: npm start gets the folder again.
    server = await startTenure(env);
    assert.doesNotMatch(server.output(), /just created/);
    assert.equal((await api('/accounts')).status, 200);
  });
});
