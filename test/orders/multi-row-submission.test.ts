/**
 * Submission writes an order's rows a table at a time (multi-row statements): what it writes
 * is what the one-row commands wrote, in the same order, and a refusal of any one item leaves
 * every table as it was.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_multi-row-test-demo-key-0123456789';

const TABLES = ['product_order', 'order_item', 'order_state_change', 'fulfillment_task', 'product_instance', 'product_instance_history',
  'subscription', 'subscription_history', 'product_instance_relationship', 'asset_operation_guard', 'outbox_event', 'audit_log'];

describe('multi-row order submission', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  /** Every row of every table submission writes, as text: equal means nothing was written. */
  const everything = async () => {
    const all: Record<string, string[]> = {};
    for (const table of TABLES) all[table] = (await queryRows<{ r: string }>(app.db.pool, `select t::text as r from ${table} t order by 1`)).map((x) => x.r);
    return all;
  };
  const products = async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    // The demo's own products (this file's orders add more of the same names, not ACTIVE).
    return Object.fromEntries(base.body.products.filter((p: any) => p.status === 'ACTIVE').map((p: any) => [p.name, { id: p.productInstanceId as string, version: p.version as number }]));
  };

  before(async () => {
    app = await createTestApp();
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('a 3-item ADD order: instances, subscription, links, guards, history, audit and outbox as the one-row commands write them', async () => {
    const res = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const order = res.body;
    const itemIds: string[] = order.items.map((i: any) => i.itemId);
    const instanceIds: string[] = order.items.map((i: any) => i.productInstanceId);
    assert.equal(new Set(instanceIds).size, 3);

    const instances = await queryRows<any>(app.db.pool, 'select * from product_instance where action_origin_order_id = $1', [order.orderId]);
    const byItem = new Map(instances.map((p) => [p.action_origin_order_item_id, p]));
    const [fiber, ip, sla] = itemIds.map((id) => byItem.get(id));
    for (const [k, p] of [fiber, ip, sla].entries()) {
      assert.equal(p.product_instance_id, instanceIds[k]);
      assert.equal(p.status, 'PENDING_ACTIVATION');
      assert.equal(p.version, 2, 'created (1), then its activation started (2)');
      assert.equal(p.last_error, null);
      assert.equal(p.subscription_id, fiber.subscription_id, 'the add-ons join their base\'s subscription');
    }
    assert.deepEqual(fiber.place, { city: 'Bandung' });

    const subscriptions = await queryRows<any>(app.db.pool, 'select * from subscription where subscription_id = $1', [fiber.subscription_id]);
    assert.equal(subscriptions.length, 1);
    assert.equal(subscriptions[0].status, 'PENDING');
    assert.equal(subscriptions[0].term_months, 12);
    assert.equal(subscriptions[0].billing_cycle, 'monthly');
    const subscriptionHistory = await queryRows<any>(app.db.pool, 'select * from subscription_history where subscription_id = $1', [fiber.subscription_id]);
    assert.deepEqual(subscriptionHistory.map((h) => [h.version, h.change_type, h.changed_by_order_item_id, h.before_state]), [[1, 'CREATED', itemIds[0], null]]);

    for (const [k, id] of instanceIds.entries()) {
      const history = await queryRows<any>(app.db.pool, 'select * from product_instance_history where product_instance_id = $1 order by version', [id]);
      assert.deepEqual(history.map((h) => [h.version, h.change_type, h.changed_by_order_id, h.changed_by_order_item_id]),
        [[1, 'CREATED', order.orderId, itemIds[k]], [2, 'ACTIVATION_STARTED', order.orderId, itemIds[k]]]);
      assert.equal(history[0].before_state, null);
      assert.deepEqual(history[1].before_state, history[0].after_state, 'version 2 starts from version 1');
      assert.equal(history[1].after_state.version, 2);
      assert.equal(history[1].after_state.status, 'PENDING_ACTIVATION');
    }

    const links = await queryRows<any>(app.db.pool, 'select * from product_instance_relationship where created_by_order_id = $1 order by created_by_order_item_id', [order.orderId]);
    assert.deepEqual(links.map((r) => [r.source_product_instance_id, r.relationship_type, r.target_product_instance_id, r.created_by_order_item_id, r.ended_at]).sort(),
      [[instanceIds[1], 'ADDON_OF', instanceIds[0], itemIds[1], null], [instanceIds[2], 'ADDON_OF', instanceIds[0], itemIds[2], null]].sort());

    const guards = await queryRows<any>(app.db.pool, 'select * from asset_operation_guard where order_id = $1', [order.orderId]);
    assert.deepEqual(guards.map((g) => [g.product_instance_id, g.order_item_id, g.operation_type, g.status]).sort(),
      instanceIds.map((id, k) => [id, itemIds[k], 'ADD', 'ACTIVE']).sort());

    // The events in the order the one-by-one commands appended them, with their payloads' versions and causes.
    const events = await queryRows<any>(app.db.pool, `select * from outbox_event where account_id = $1 and (payload ->> 'causationId' = any ($2) or aggregate_id = $3) order by position`, [accountId, itemIds, order.orderId]);
    assert.deepEqual(events.map((e) => [e.event_type, e.aggregate_id, e.aggregate_version]), [
      ['SubscriptionCreated', fiber.subscription_id, 1],
      ['ProductInstanceCreated', instanceIds[0], 1],
      ['ProductInstanceActivationPending', instanceIds[0], 2],
      ['ProductInstanceCreated', instanceIds[1], 1],
      ['ProductInstanceRelationshipCreated', links.find((l) => l.source_product_instance_id === instanceIds[1]).relationship_id, null],
      ['ProductInstanceActivationPending', instanceIds[1], 2],
      ['ProductInstanceCreated', instanceIds[2], 1],
      ['ProductInstanceRelationshipCreated', links.find((l) => l.source_product_instance_id === instanceIds[2]).relationship_id, null],
      ['ProductInstanceActivationPending', instanceIds[2], 2],
      ['ProductOrderAcknowledged', order.orderId, 1],
    ]);
    const pending = events[2].payload;
    assert.equal(pending.causationId, itemIds[0]);
    assert.equal(pending.orderId, order.orderId);
    assert.equal(pending.previousVersion, 1);
    assert.equal(pending.newVersion, 2);
    assert.deepEqual(pending.changeSummary, { operation: 'ADD', command: 'activation:start', previousStatus: 'PENDING_ACTIVATION', changedCharacteristics: [], changedPrices: [] });
    assert.equal(events[1].payload.changeSummary.operation, 'ADD');
    assert.equal(events[1].payload.previousVersion, null);

    const audits = await queryRows<any>(app.db.pool, `select * from audit_log where target_id = any ($1) order by action, target_id`, [[...instanceIds, order.orderId]]);
    assert.deepEqual(audits.map((a) => [a.action, a.target_type, a.target_id, a.subject_account_id]).sort(), [
      ...instanceIds.flatMap((id) => [['product-instance.create', 'product_instance', id, accountId], ['product-instance.activation.start', 'product_instance', id, accountId]]),
      ['order.submit', 'order', order.orderId, accountId],
    ].sort());
    assert.ok(audits.every((a) => a.actor_api_key_id !== null));

    const tasks = await queryRows<any>(app.db.pool, 'select * from fulfillment_task where order_id = $1 order by task_number', [order.orderId]);
    assert.deepEqual(tasks.map((t) => t.task_number), tasks.map((_, k) => k + 1));
    assert.ok(tasks.every((t) => t.status === 'pending' && itemIds.includes(t.item_id)));
    const idOf = new Map(tasks.map((t) => [t.task_id, t]));
    assert.ok(tasks.every((t) => t.depends_on.every((d: string) => idOf.has(d) && idOf.get(d).task_number < t.task_number)), 'dependencies name earlier tasks of the order');

    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, []);
  });

  test('one ADD item of several refused by the installed base (a subscription that is not there): nothing is written', async () => {
    const before = await everything();
    const res = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['managed-router'], subscriptionId: '00000000-0000-4000-8000-000000000999' },
      ],
    });
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body.type, '/problems/not-found');
    assert.deepEqual(await everything(), before);
  });

  test('one target of several held by another order: 409 naming the holder, and nothing is written', async () => {
    const p = await products();
    const router = p['Managed Router'];
    const fiber = p['Business Fiber 1Gbps'];
    // A SUSPEND holds its target's guard and leaves it ACTIVE until its tasks are done.
    const first = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'SUSPEND', productInstanceId: router.id, expectedVersion: router.version }] });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const before = await everything();
    const second = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'DISCONNECT', productInstanceId: fiber.id, expectedVersion: fiber.version },
        { action: 'DISCONNECT', productInstanceId: router.id, expectedVersion: router.version },
      ],
    });
    assert.equal(second.status, 409, JSON.stringify(second.body));
    assert.equal(second.body.type, '/problems/operation-in-progress');
    assert.equal(second.body.heldBy.orderId, first.body.orderId);
    assert.deepEqual(await everything(), before);

    // Both free: both guards are taken, by their own items.
    // Two add-ons of the fiber (no add-ons of their own: nothing cascades onto the held router).
    const free = [p['Static IP /29'], p['SLA Gold']];
    const third = await api('POST', `/accounts/${accountId}/orders`, {
      items: free.map((x) => ({ action: 'SUSPEND', productInstanceId: x.id, expectedVersion: x.version })),
    });
    assert.equal(third.status, 201, JSON.stringify(third.body));
    const guards = await queryRows<any>(app.db.pool, `select product_instance_id, order_item_id from asset_operation_guard where order_id = $1 and status = 'ACTIVE'`, [third.body.orderId]);
    assert.deepEqual(guards.map((g) => [g.product_instance_id, g.order_item_id]).sort(), third.body.items.map((i: any) => [i.productInstanceId, i.itemId]).sort());
  });
  test('ADD items that join an existing subscription and link to an existing instance: no new subscription, the link to the installed product', async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    const fiber = base.body.products.find((p: any) => p.name === 'Business Fiber 1Gbps' && p.status === 'ACTIVE');
    const subscriptionBefore = (await queryRows<any>(app.db.pool, 'select * from subscription where subscription_id = $1', [fiber.subscriptionId]))[0];
    const subscriptionsBefore = (await everything()).subscription;
    const res = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['cpe-rental'], parentProductInstanceId: fiber.productInstanceId },
        { action: 'ADD', offeringId: offering['managed-router'], subscriptionId: fiber.subscriptionId },
      ],
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const [rental, router] = res.body.items.map((i: any) => i.productInstanceId);
    const rows = await queryRows<any>(app.db.pool, 'select product_instance_id, subscription_id, version, status from product_instance where product_instance_id = any ($1) order by product_instance_id', [[rental, router]]);
    assert.deepEqual(rows.map((r) => [r.product_instance_id, r.subscription_id, r.version, r.status]),
      [[rental, fiber.subscriptionId, 2, 'PENDING_ACTIVATION'], [router, fiber.subscriptionId, 2, 'PENDING_ACTIVATION']].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));
    assert.deepEqual((await everything()).subscription, subscriptionsBefore, 'no subscription is created or changed');
    assert.equal(subscriptionBefore.version, (await queryRows<any>(app.db.pool, 'select version from subscription where subscription_id = $1', [fiber.subscriptionId]))[0].version);
    const links = await queryRows<any>(app.db.pool, 'select source_product_instance_id, relationship_type, target_product_instance_id from product_instance_relationship where created_by_order_id = $1', [res.body.orderId]);
    assert.deepEqual(links.map((l) => [l.source_product_instance_id, l.relationship_type, l.target_product_instance_id]), [[rental, 'ADDON_OF', fiber.productInstanceId]]);
    const events = await queryRows<any>(app.db.pool, `select event_type from outbox_event where payload ->> 'causationId' = any ($1) order by position`, [res.body.items.map((i: any) => i.itemId)]);
    assert.deepEqual(events.map((e) => e.event_type), [
      'ProductInstanceCreated', 'ProductInstanceRelationshipCreated', 'ProductInstanceActivationPending',
      'ProductInstanceCreated', 'ProductInstanceActivationPending',
    ]);
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, []);
  });
});
