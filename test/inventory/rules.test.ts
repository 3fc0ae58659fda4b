import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BusinessRuleError, ValidationError } from '../../src/platform/errors.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { activeProduct, createAccount, orderCause } from '../helpers/fixtures.ts';

describe('command rules', () => {
  let app: TestApp;
  let accountId: string;
  before(async () => {
    app = await createTestApp();
    ({ accountId } = await createAccount(app.services, app.ctx));
  });
  after(() => app.close());

  test('an operation that spans two commands must be owned by an order item', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    await assert.rejects(
      app.services.inventory.startModification(app.ctx, product.productInstanceId, { expectedVersion: product.version }),
      (error: unknown) => error instanceof ValidationError && error.errors[0].field === '/orderItemId',
    );
    const guards = await queryRows(app.db.pool, 'select * from asset_operation_guard where product_instance_id = $1 and status = $2', [product.productInstanceId, 'ACTIVE']);
    assert.equal(guards.length, 0);
  });

  test('a subscription cannot be terminated before it started', async () => {
    const product = await activeProduct(app.services, app.ctx, accountId);
    const subscription = await app.services.queries.subscription(app.ctx, product.subscriptionId!);
    await assert.rejects(
      app.services.inventory.changeSubscriptionState(app.ctx, subscription.subscriptionId, 'termination:apply', {
        expectedVersion: subscription.version,
        effectiveAt: '2020-01-01T00:00:00.000Z',
      }),
      BusinessRuleError,
    );
    const http = await call(app.server, app.adminKey, 'POST', `/internal/assets/subscriptions/${subscription.subscriptionId}/termination:apply`, {
      expectedVersion: subscription.version,
      effectiveAt: '2020-01-01T00:00:00Z',
    });
    assert.equal(http.status, 422);
    assert.equal(http.body.type, '/problems/business-rule-violation');
    assert.equal((await app.services.queries.subscription(app.ctx, subscription.subscriptionId)).status, 'ACTIVE');
  });

  test('every product-instance transition, cascaded ones included, is in the audit log with its API key', async () => {
    const parent = await activeProduct(app.services, app.ctx, accountId);
    const child = await activeProduct(app.services, app.ctx, accountId, {
      subscriptionId: parent.subscriptionId,
      relationships: [{ type: 'ADDON_OF', targetProductInstanceId: parent.productInstanceId }],
    });
    const cause = orderCause();
    await app.services.inventory.startDisconnect(app.ctx, parent.productInstanceId, { ...cause, expectedVersion: parent.version });
    const rows = await queryRows<{ target_id: string; action: string; actor_api_key_id: string; details: any }>(
      app.db.pool,
      `select target_id, action, actor_api_key_id, details from audit_log where action = 'product-instance.disconnect.start' order by recorded_at`,
    );
    const byTarget = Object.fromEntries(rows.map((r) => [r.target_id, r]));
    assert.ok(byTarget[parent.productInstanceId]);
    assert.equal(byTarget[child.productInstanceId].details.cascadedFrom, parent.productInstanceId);
    assert.equal(byTarget[child.productInstanceId].actor_api_key_id, app.ctx.actor!.apiKeyId);
  });

  test('a revoked API key stops working at once', async () => {
    const key = await app.services.access.createApiKey(app.ctx, { name: 'short-lived', role: 'operator' });
    assert.equal((await call(app.server, key.apiKey, 'GET', '/customers')).status, 200);
    const revoked = await call(app.server, app.adminKey, 'POST', `/api-keys/${key.apiKeyId}/revocation:apply`, {});
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    const after = await call(app.server, key.apiKey, 'GET', '/customers');
    assert.equal(after.status, 401);
  });
});
