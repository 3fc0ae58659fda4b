/**
 * Tasks of instant provisioners (timeoutMs 0) run inside their order's transaction (decision
 * 0019): one round of one worker takes a 3-item ADD routed to `internal` from submitted to
 * completed, with the same installed base, history and outbox as task-by-task fulfillment.
 * When that transaction fails (here: the installed base refuses an item's completion), nothing
 * of it stays and the order's tasks run one by one, which records the failure on the item.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, drainFulfillment, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_instant-in-one-transaction-key-012345';

describe('an order whose provisioners answer at once', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const submitAdd = async () => {
    const response = await api('POST', `/accounts/${accountId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ],
    });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  };
  const tasksOf = (orderId: string) => queryRows<any>(app.db.pool,
    'select task_number, step, status, attempts, locked_by, locked_until, started_at, finished_at, last_error from fulfillment_task where order_id = $1 order by task_number', [orderId]);

  before(async () => {
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 3 } } });
    const demo = await ensureDemo(app.services, KEY);
    accountId = demo.accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('completes in one round of one worker: every task done once, the instances ACTIVE with their services, history and events in order', async () => {
    const submitted = await submitAdd();
    assert.equal(await app.services.orchestrator.runOnce('one-round'), 10, 'the ten tasks ran in the one round');
    assert.equal(await app.services.orchestrator.runOnce('one-round'), 0, 'nothing left');

    const order = (await api('GET', `/orders/${submitted.orderId}`)).body;
    assert.equal(order.status, 'completed');
    assert.deepEqual(order.items.map((i: any) => i.status), ['completed', 'completed', 'completed']);
    const tasks = await tasksOf(submitted.orderId);
    assert.equal(tasks.length, 10);
    const now = app.clock.now().getTime();
    for (const t of tasks) {
      assert.deepEqual({ status: t.status, attempts: t.attempts, lockedBy: t.locked_by, lockedUntil: t.locked_until, lastError: t.last_error }, { status: 'done', attempts: 1, lockedBy: null, lockedUntil: null, lastError: null }, `task ${t.task_number}`);
      assert.equal(t.started_at.getTime(), now);
      assert.equal(t.finished_at.getTime(), now);
    }

    for (const item of order.items) {
      const instance = (await api('GET', `/product-instances/${item.productInstanceId}`)).body;
      assert.equal(instance.status, 'ACTIVE', `item ${item.itemNumber}`);
    }
    const base = (await api('GET', `/accounts/${accountId}/installed-base`)).body.products as any[];
    const fiber = base.find((p) => p.productInstanceId === order.items[0].productInstanceId);
    assert.equal(fiber.serviceInstances.length, 1);
    assert.equal(fiber.serviceInstances[0].status, 'ACTIVE');
    assert.deepEqual(fiber.serviceInstances[0].resourceInstances.map((r: any) => r.resourceType).sort(), ['ONT', 'PORT', 'VLAN'], 'the three reserved resources attached');
    assert.deepEqual(tasks.map((t) => t.step), ['reserve', 'reserve', 'reserve', 'configure', 'activate', 'reserve', 'configure', 'activate', 'configure', 'activate']);
    for (const addOn of order.items.slice(1)) {
      const product = base.find((p) => p.productInstanceId === addOn.productInstanceId);
      assert.equal(product.serviceInstances.length, 1);
      assert.equal(product.serviceInstances[0].status, 'ACTIVE');
      assert.equal(product.serviceInstances[0].resourceInstances.length, addOn.itemNumber === 2 ? 1 : 0);
      assert.equal(product.subscriptionId, fiber.subscriptionId, 'an add-on joins its parent\'s subscription');
    }
    assert.equal((await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body.status, 'ACTIVE');

    // The order's and items' history, in the order of their moves; the order's events.
    const history = (await api('GET', `/orders/${submitted.orderId}/history`)).body.items as any[];
    assert.deepEqual(history.filter((c) => c.itemId === null).map((c) => c.toStatus), ['acknowledged', 'inProgress', 'completed']);
    for (const item of order.items) {
      assert.deepEqual(history.filter((c) => c.itemId === item.itemId).map((c) => c.toStatus), ['acknowledged', 'inProgress', 'completed'], `item ${item.itemNumber}`);
    }
    const events = await queryRows<{ event_type: string }>(app.db.pool,
      'select event_type from outbox_event where aggregate_id = $1 order by aggregate_version', [submitted.orderId]);
    assert.deepEqual(events.map((e) => e.event_type), ['ProductOrderAcknowledged', 'ProductOrderStateChanged', 'ProductOrderStateChanged']);
    // No guard is left held by the order's items.
    const guards = await queryRows(app.db.pool, `select 1 from asset_operation_guard where order_id = $1 and status <> 'RELEASED'`, [submitted.orderId]);
    assert.deepEqual(guards, []);
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  });

  test('a refused completion rolls the order\'s transaction back whole; run one by one, the item fails with the reason and its add-ons with it', async () => {
    const submitted = await submitAdd();
    const fiberId = submitted.items[0].productInstanceId;
    // Something outside the order activated the fiber already: completing item 1 is refused.
    await app.db.pool.query(`update product_instance set status = 'ACTIVE' where product_instance_id = $1`, [fiberId]);
    await drainFulfillment(app, 'fallback-worker');

    const order = (await api('GET', `/orders/${submitted.orderId}`)).body;
    assert.equal(order.status, 'failed');
    assert.deepEqual(order.items.map((i: any) => [i.status, i.error?.code]), [['failed', 'completion-failed'], ['failed', 'dependency-failed'], ['failed', 'dependency-failed']]);
    assert.match(order.items[0].error.message, /illegal-transition/);
    const tasks = await tasksOf(submitted.orderId);
    // Item 1's five tasks ran, once each (the rolled-back first try counted no attempt); the add-ons' were cancelled.
    assert.deepEqual(tasks.map((t) => [t.step, t.status, t.attempts]), [
      ['reserve', 'done', 1], ['reserve', 'done', 1], ['reserve', 'done', 1], ['configure', 'done', 1], ['activate', 'done', 1],
      ['reserve', 'cancelled', 0], ['configure', 'cancelled', 0], ['activate', 'cancelled', 0],
      ['configure', 'cancelled', 0], ['activate', 'cancelled', 0],
    ]);
    assert.ok(tasks.every((t) => t.locked_by === null && t.locked_until === null));
    // The add-ons' instances went where a failed ADD leaves them; nothing holds a guard.
    for (const item of order.items.slice(1)) {
      assert.equal((await api('GET', `/product-instances/${item.productInstanceId}`)).body.status, 'ERROR', `item ${item.itemNumber}`);
    }
    const guards = await queryRows(app.db.pool, `select 1 from asset_operation_guard where order_id = $1 and status <> 'RELEASED'`, [submitted.orderId]);
    assert.deepEqual(guards, []);
  });
});

describe('a round and orders of only instant tasks (instantConcurrency)', () => {
  let app: TestApp;
  let accountIds: string[];
  const offering: Record<string, string> = {};
  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);

  before(async () => {
    // Two at once: a round leaves the third order for the next one, the batch (10) notwithstanding.
    app = await createTestApp({ fulfillment: { routing: { defaultProvisioner: 'internal', maxAttempts: 3 }, instantConcurrency: 2 } });
    const demo = await ensureDemo(app.services, KEY);
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
    // Orders of three customers: no two share an order lock or an installed base.
    const first = (await api('GET', `/accounts/${demo.accountId}`)).body;
    accountIds = [demo.accountId];
    for (const name of ['Second site', 'Third site']) {
      const created = await api('POST', '/accounts', { customerId: first.customerId, name, currency: first.currency, timeZone: first.timeZone, segment: first.segment });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      accountIds.push(created.body.accountId);
    }
  });
  after(() => app.close());

  test('runs at most that many orders in a round; the others stay pending, untouched, for the next rounds', async () => {
    const orderIds: string[] = [];
    for (const accountId of accountIds) {
      const response = await api('POST', `/accounts/${accountId}/orders`, {
        items: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } }],
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      orderIds.push(response.body.orderId);
    }
    const statesOf = async () => Promise.all(orderIds.map(async (orderId) => ({
      order: (await api('GET', `/orders/${orderId}`)).body.status,
      tasks: (await queryRows<any>(app.db.pool, 'select status, attempts, locked_by from fulfillment_task where order_id = $1 order by task_number', [orderId]))
        .map((t) => `${t.status}/${t.attempts}/${t.locked_by ?? '-'}`),
    })));
    const pending = { order: 'acknowledged', tasks: Array(5).fill('pending/0/-') };
    const completed = { order: 'completed', tasks: Array(5).fill('done/1/-') };

    assert.equal(await app.services.orchestrator.runOnce('bounded'), 10, 'two orders of five tasks each ran in the first round');
    const first = await statesOf();
    assert.deepEqual([...first].sort((a, b) => a.order.localeCompare(b.order)), [pending, completed, completed]);
    assert.equal(await app.services.orchestrator.runOnce('bounded'), 5, 'the third in the next');
    assert.deepEqual(await statesOf(), [completed, completed, completed]);
    assert.equal(await app.services.orchestrator.runOnce('bounded'), 0);
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  });
});
