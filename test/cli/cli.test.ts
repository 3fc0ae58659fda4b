import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { queryRows } from '../../src/platform/db.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';
import { createServices } from '../../src/app.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { DEFAULT_SETTINGS } from '../../src/fulfillment/orchestrator.ts';
import { ProvisionerRegistry } from '../../src/fulfillment/provisioner.ts';
import { ManualProvisioner, InternalProvisioner } from '../../src/fulfillment/provisioners.ts';
import { ManualClock } from '../../src/platform/clock.ts';

const run = promisify(execFile);

async function tenure(db: TestDatabase, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
    });
    return { code: 0, stdout, stderr };
  } catch (error: any) {
    return { code: error.code as number, stdout: error.stdout as string, stderr: error.stderr as string };
  }
}

describe('tenure CLI', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase(2);
  });
  after(() => db.drop());

  test('--help lists the commands', async () => {
    const result = await tenure(db, '--help');
    assert.equal(result.code, 0);
    for (const command of ['start', 'migrate', 'tenant', 'check', 'worker', 'fulfillment']) assert.match(result.stdout, new RegExp(`\\b${command}\\b`));
  });

  test('migrate is a no-op on a migrated database', async () => {
    const result = await tenure(db, 'migrate');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /nothing to apply/);
  });

  test('tenant create prints a working first key, stored hashed', async () => {
    const result = await tenure(db, 'tenant', 'create', '--name', 'Acme ISP', '--json');
    assert.equal(result.code, 0, result.stderr);
    const created = JSON.parse(result.stdout);
    assert.match(created.apiKey, /^tnr_/);
    const rows = await queryRows<{ role: string; key_hash: string }>(db.pool, 'select role, key_hash from api_key where tenant_id = $1', [created.tenantId]);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].role, 'admin');
    assert.notEqual(rows[0].key_hash, created.apiKey);
  });

  test('check reports healthy and exits 0, then finds corruption and exits 1', async () => {
    const healthy = await tenure(db, 'check');
    assert.equal(healthy.code, 0, healthy.stderr);
    assert.match(healthy.stdout, /healthy: 0 findings/);
    // A subscription row with no history row at all.
    const [tenant] = await queryRows<{ tenant_id: string }>(db.pool, 'select tenant_id from tenant limit 1');
    await db.pool.query(`insert into customer values ('00000000-0000-4000-8000-000000000001', $1, 'c', null, now(), now())`, [tenant.tenant_id]);
    await db.pool.query(`insert into account values ('00000000-0000-4000-8000-000000000002', $1, '00000000-0000-4000-8000-000000000001', 'a', 'IDR', 'UTC', now(), now())`, [tenant.tenant_id]);
    await db.pool.query(`insert into subscription (tenant_id, account_id, subscription_id, customer_id, status, version, created_at, updated_at)
      values ($1, '00000000-0000-4000-8000-000000000002', '00000000-0000-4000-8000-000000000003', '00000000-0000-4000-8000-000000000001', 'ACTIVE', 1, now(), now())`, [tenant.tenant_id]);
    const broken = await tenure(db, 'check', '--json');
    assert.equal(broken.code, 1);
    const report = JSON.parse(broken.stdout);
    assert.equal(report.healthy, false);
    assert.ok(report.findings.some((f: any) => f.kind === 'missing-history' && f.entity === 'subscription'));
  });

  test('fulfillment rerun --order re-drives the failed work of an order, audited; a second run changes nothing', async () => {
    // An order whose only task fails for good.
    const failing = { code: () => 'failing', provision: async () => ({ outcome: 'failed' as const, code: 'noc-down', message: 'NOC unreachable', retryable: false }) };
    const services = createServices(db.pool, new ManualClock('2026-07-02T10:30:00Z'), {
      redisUrl: null,
      provisioners: { registry: new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner(), failing]), callbackSecrets: new Map() },
      fulfillment: { ...DEFAULT_SETTINGS, routing: { defaultProvisioner: 'failing', maxAttempts: 1 } },
    });
    const demo = await ensureDemo(services, 'tnr_cli-rerun-demo-key-0123456789');
    const tenantId = (await queryRows<{ tenant_id: string }>(db.pool, 'select tenant_id from account where account_id = $1', [demo.accountId]))[0].tenant_id;
    const ctx = { tenantId, actor: null, correlationId: 'cli-test' };
    const [offering] = await queryRows<{ id: string }>(db.pool, `select product_offering_id as id from product_offering where tenant_id = $1 and code = 'managed-router'`, [tenantId]);
    const order = await services.orders.submitOrder(ctx, { accountId: demo.accountId, items: [{ action: 'ADD', offeringId: offering.id }] });
    while ((await services.orchestrator.runOnce('cli-test')) > 0);
    assert.equal((await services.orders.getOrder(ctx, order.orderId)).status, 'failed');

    const rerun = await tenure(db, 'fulfillment', 'rerun', '--order', order.orderId);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /re-running 1 item/);
    assert.equal((await services.orders.getOrder(ctx, order.orderId)).status, 'inProgress');
    const again = await tenure(db, 'fulfillment', 'rerun', '--order', order.orderId);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing failed/);
    const audits = await queryRows(db.pool, `select * from audit_log where action = 'order.rerun' and target_id = $1`, [order.orderId]);
    assert.equal(audits.length, 1);
    const unknown = await tenure(db, 'fulfillment', 'rerun', '--order', '00000000-0000-4000-8000-0000000000ff');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /does not exist/);
  });

  test('a bad option fails clearly', async () => {
    const result = await tenure(db, 'tenant', 'create', '--name', 'x', '--mode', 'sandbox');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--mode must be live or test/);
  });
});
