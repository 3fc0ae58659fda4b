/** Order submission through the HTTP API on the demo tenant: validation first, then all guards or none. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_orders-test-demo-key-0123456789';

describe('order submission', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};
  const product: Record<string, { id: string; version: number; status: string }> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const refresh = async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    for (const p of base.body.products) product[p.name] = { id: p.productInstanceId, version: p.version, status: p.status };
  };
  const activeGuards = (productInstanceId: string) =>
    queryRows<{ order_id: string; order_item_id: string }>(app.db.pool, `select order_id, order_item_id from asset_operation_guard where product_instance_id = $1 and status = 'ACTIVE'`, [productInstanceId]);
  const orderCount = async () => (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from product_order'))[0].n;

  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
    await refresh();
  });
  after(() => app.close());

  test('an ADD order with an add-on item is acknowledged, priced, and has its history', async () => {
    const res = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.body.status, 'acknowledged');
    const [fiber, sla] = res.body.items;
    assert.equal(fiber.details.configuration.bandwidthMbps, '2000');
    assert.deepEqual(fiber.details.price.lines.map((l: any) => l.chargeCode).sort(), ['fiber-2g-monthly', 'installation']);
    assert.equal(sla.parentItemId, fiber.itemId);
    assert.deepEqual(sla.dependsOn, [fiber.itemId], 'an add-on waits for its parent');
    const history = await api('GET', `/orders/${res.body.orderId}/history`);
    assert.equal(history.body.items.length, 3);
    assert.ok(history.body.items.every((h: any) => h.toStatus === 'acknowledged'));
  });

  test('a change order takes the target\'s guard; another order on it is 409 naming the holder; all or nothing', async () => {
    const fiber = product['Business Fiber 1Gbps'];
    const first = await api('POST', `/accounts/${accountId}/orders`, {
      items: [{ action: 'MODIFY', productInstanceId: fiber.id, expectedVersion: fiber.version, configuration: { bandwidthMbps: '2000' } }],
    });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const guards = await activeGuards(fiber.id);
    assert.deepEqual(guards, [{ order_id: first.body.orderId, order_item_id: first.body.items[0].itemId }]);

    const router = product['Managed Router'];
    const before = await orderCount();
    const second = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'SUSPEND', productInstanceId: router.id, expectedVersion: router.version },
        { action: 'DISCONNECT', productInstanceId: fiber.id, expectedVersion: fiber.version },
      ],
    });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body.type, '/problems/operation-in-progress');
    assert.equal(second.body.heldBy.orderId, first.body.orderId);
    assert.deepEqual(await activeGuards(router.id), [], 'nothing is held when the order is refused');
    assert.equal(await orderCount(), before);

    // The amending client reads the asset as it is now: PENDING_MODIFICATION, one version on.
    const pending = await api('GET', `/product-instances/${fiber.id}`);
    assert.equal(pending.body.status, 'PENDING_MODIFICATION');
    const supplemental = await api('POST', `/accounts/${accountId}/orders`, {
      supplementalOf: first.body.orderId,
      items: [{ action: 'MODIFY', productInstanceId: fiber.id, expectedVersion: pending.body.version, configuration: { bandwidthMbps: '1000' } }],
    });
    assert.equal(supplemental.status, 201, JSON.stringify(supplemental.body));
    assert.equal(supplemental.body.supplementalOfOrderId, first.body.orderId);
    assert.equal(supplemental.body.items[0].details.amends.orderId, first.body.orderId);
  });

  test('stale versions, illegal actions, add-on limits and dependency cycles are refused before anything is written', async () => {
    const router = product['Managed Router'];
    const before = await orderCount();
    const stale = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'SUSPEND', productInstanceId: router.id, expectedVersion: router.version + 7 }] });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.type, '/problems/concurrent-modification');

    const illegal = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'RESUME', productInstanceId: router.id, expectedVersion: router.version }] });
    // The same meaning as on the internal routes: a conflict with the target's state.
    assert.equal(illegal.status, 409);
    assert.equal(illegal.body.type, '/problems/illegal-transition');
    assert.equal(illegal.body.id, router.id);
    assert.equal(illegal.body.state, 'ACTIVE');
    assert.match(illegal.body.detail, /RESUME is not allowed; allowed: .*SUSPEND/);

    const tooMany = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['static-ip-29'], parentProductInstanceId: product['Business Fiber 1Gbps'].id }] });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.detail, /at most 1/);

    const cycle = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], dependsOn: [2] },
        { action: 'ADD', offeringId: offering['managed-router'], dependsOn: [1] },
      ],
    });
    assert.equal(cycle.status, 400);
    assert.match(cycle.body.detail, /cycle/);

    const badConfig = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '9' } }] });
    assert.equal(badConfig.status, 400);
    assert.equal(badConfig.body.errors[0].field, '/items/0/configuration/bandwidthMbps');

    const missing = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'MODIFY', productInstanceId: router.id }] });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.errors[0].field, '/items/0/expectedVersion');
    assert.equal(await orderCount(), before);
    assert.deepEqual(await activeGuards(router.id), []);
  });

  test('a direct order checks the availability zone as a quote does: outside the offering\'s zones it is 400 naming the item, and nothing is written', async () => {
    const list = await api('GET', '/product-offerings?limit=200');
    const router = list.body.items.find((o: any) => o.body.code === 'managed-router');
    const created = await api('POST', '/product-offerings', { ...router.body, code: 'managed-router-jkt', name: 'Managed Router (Jakarta, Bandung)', availabilityZones: ['JKT', 'BDG'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await api('POST', `/product-offerings/${created.body.id}/versions/1/publication:apply`)).status, 200);
    const written = () => queryRows(app.db.pool, `select
      (select count(*)::int from product_order) as orders, (select count(*)::int from order_item) as items,
      (select count(*)::int from order_state_change) as changes, (select count(*)::int from product_instance) as instances,
      (select count(*)::int from product_instance_history) as history, (select count(*)::int from asset_operation_guard) as guards,
      (select count(*)::int from fulfillment_task) as tasks, (select count(*)::int from outbox_event) as events,
      (select count(*)::int from audit_log) as audits`);
    const before = await written();

    const refused = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: created.body.id, zone: 'SBY' }] });
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    assert.equal(refused.body.type, '/problems/validation-error');
    assert.deepEqual(refused.body.errors, [{ field: '/items/0/offeringId', message: 'offering managed-router-jkt is not available in zone SBY; it is in JKT, BDG' }]);
    assert.deepEqual(await written(), before, 'nothing is written');

    const sold = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: created.body.id, zone: 'JKT' }] });
    assert.equal(sold.status, 201, JSON.stringify(sold.body));
    assert.equal(sold.body.items[0].details.zone, 'JKT');
    assert.equal(sold.body.items[0].offeringId, created.body.id);
  });

  test('an order from an accepted quote converts it in the same transaction, with the stale check', async () => {
    await refresh();
    const router = product['Managed Router'];
    const quote = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'MODIFY', productInstanceId: router.id, configuration: {} }] });
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    assert.equal((await api('POST', `/quotes/${quote.body.quoteId}/acceptance:apply`, { expectedVersion: 1 })).status, 200);
    const order = await api('POST', `/quotes/${quote.body.quoteId}/order`, { expectedQuoteVersion: 2 });
    assert.equal(order.status, 201, JSON.stringify(order.body));
    assert.equal(order.body.quoteId, quote.body.quoteId);
    assert.equal(order.body.items[0].action, 'MODIFY');
    assert.equal(order.body.items[0].expectedVersion, router.version);
    assert.equal((await api('GET', `/quotes/${quote.body.quoteId}`)).body.status, 'CONVERTED');

    // A quote on the static IP, then the static IP changes: the order is refused, the quote stays ACCEPTED.
    const ip = product['Static IP /29'];
    const quote2 = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'DISCONNECT', productInstanceId: ip.id }] });
    assert.equal((await api('POST', `/quotes/${quote2.body.quoteId}/acceptance:apply`, { expectedVersion: 1 })).status, 200);
    const principal = (await app.services.access.authenticate(KEY))!;
    await app.services.inventory.suspend({ tenantId: principal.tenantId, actor: null, correlationId: null }, ip.id, { expectedVersion: ip.version });
    const before = await orderCount();
    const refused = await api('POST', `/quotes/${quote2.body.quoteId}/order`, { expectedQuoteVersion: 2 });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.type, '/problems/stale-quote');
    assert.equal((await api('GET', `/quotes/${quote2.body.quoteId}`)).body.status, 'ACCEPTED');
    assert.equal(await orderCount(), before);
  });

  test('viewers read orders but cannot submit them', async () => {
    const principal = (await app.services.access.authenticate(KEY))!;
    const viewer = await app.services.access.createApiKey({ tenantId: principal.tenantId, actor: null, correlationId: null }, { name: 'viewer', role: 'viewer' });
    const list = await call(app.server, viewer.apiKey, 'GET', `/accounts/${accountId}/orders`);
    assert.equal(list.status, 200);
    assert.ok(list.body.items.length >= 1);
    const post = await call(app.server, viewer.apiKey, 'POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['managed-router'] }] });
    assert.equal(post.status, 403);
  });
});
