import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { checkAllTenants, checkTenant } from '../../src/inventory/check.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, orderCause } from '../helpers/fixtures.ts';

describe('consistency check (seed 000 §21.1)', () => {
  let app: TestApp;
  let accountId: string;
  before(async () => {
    app = await createTestApp();
    ({ accountId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  test('a healthy database has zero findings', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const cause = orderCause();
    await app.services.inventory.startModification(app.ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, requestedChange: { configuration: { bandwidthMbps: 2000 } } });
    const report = await checkTenant(app.db.pool, app.tenantId, app.clock.now());
    assert.deepEqual(report.findings, []);
    assert.equal(report.healthy, true);
    const http = await call(app.server, app.adminKey, 'GET', '/admin/consistency-check');
    assert.equal(http.status, 200);
    assert.equal(http.body.healthy, true);
  });

  test('a version changed without history is found', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    await app.db.pool.query(`update product_instance set status = 'SUSPENDED', version = version + 1 where product_instance_id = $1`, [product.productInstanceId]);
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    const finding = report.findings.find((f) => f.kind === 'missing-history' && f.id === product.productInstanceId);
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.version, product.version + 1);
    assert.equal(report.healthy, false);
  });

  test('a guard held by a finished operation is found', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const cause = orderCause();
    await app.services.inventory.startModification(app.ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
    app.clock.advance(1000);
    await app.services.inventory.completeModification(app.ctx, product.productInstanceId, { ...cause, expectedVersion: product.version + 1 });
    // Corrupt: bring the finished operation's guard back to life.
    await app.db.pool.query(
      `update asset_operation_guard set status = 'ACTIVE', released_at = null where product_instance_id = $1 and order_item_id = $2`,
      [product.productInstanceId, cause.orderItemId],
    );
    const report = await checkTenant(app.db.pool, app.tenantId, app.clock.now());
    const finding = report.findings.find((f) => f.kind === 'stale-guard' && f.id === product.productInstanceId);
    assert.ok(finding, JSON.stringify(report.findings));
    assert.match(finding.detail, new RegExp(cause.orderItemId));
  });

  test('a guard left on a disconnected asset is found', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    await app.db.pool.query(
      `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id, operation_type, status, acquired_at)
       select tenant_id, account_id, $2, product_instance_id, $3, $4, 'MODIFY', 'ACTIVE', now() from product_instance where product_instance_id = $1`,
      [product.productInstanceId, randomUUID(), randomUUID(), randomUUID()],
    );
    await app.db.pool.query(`update product_instance set status = 'DISCONNECTED' where product_instance_id = $1`, [product.productInstanceId]);
    const report = await checkTenant(app.db.pool, app.tenantId, app.clock.now());
    assert.ok(report.findings.some((f) => f.kind === 'stale-guard' && f.id === product.productInstanceId));
  });

  test('a version without its outbox event is found', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    await app.db.pool.query(`delete from outbox_event where aggregate_id = $1 and aggregate_version = $2`, [product.productInstanceId, product.version]);
    const report = await checkTenant(app.db.pool, app.tenantId, app.clock.now());
    const finding = report.findings.find((f) => f.kind === 'missing-outbox-event' && f.id === product.productInstanceId);
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.version, product.version);
  });
});
