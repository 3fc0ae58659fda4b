/**
 * Orders fulfilled end to end through the HTTP API on the demo tenant: each action submitted
 * over HTTP, its tasks run by the orchestrator (as a worker does, never in the request), and
 * the installed base, the order's lifecycle and the consistency check looked at afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { ScriptedProvisioner } from './scripted-provisioner.ts';

const KEY = 'tnr_fulfillment-e2e-demo-key-0123456789';

describe('orders fulfilled end to end', () => {
  let app: TestApp;
  let accountId: string;
  const scripted = new ScriptedProvisioner();
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const products = async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    return base.body.products as any[];
  };
  const productNamed = async (name: string) => (await products()).find((p) => p.name === name);
  /** Runs the orchestrator as a worker would, until no task is ready. */
  const drain = async () => {
    for (let round = 0; round < 200; round++) {
      if ((await app.services.orchestrator.runOnce('test-worker')) === 0) return;
    }
    throw new Error('fulfillment did not settle in 200 rounds');
  };
  const order = async (id: string) => (await api('GET', `/orders/${id}`)).body;
  const tasks = async (id: string) => (await api('GET', `/orders/${id}/tasks`)).body.items as any[];
  const submit = async (items: unknown[], extra: Record<string, unknown> = {}) => {
    const response = await api('POST', `/accounts/${accountId}/orders`, { items, ...extra });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  };
  const assertConsistent = async () => {
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
    const held = await queryRows(app.db.pool, `select g.* from asset_operation_guard g join order_item i on i.item_id = g.order_item_id
      where g.status = 'ACTIVE' and i.status in ('completed', 'failed', 'cancelled')`);
    assert.deepEqual(held, [], 'no ended order item holds a guard');
  };

  before(async () => {
    app = await createTestApp({ provisioners: [scripted], fulfillment: { routing: { defaultProvisioner: 'scripted', byStep: { renew: 'internal' }, maxAttempts: 3 } } });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('ADD: a fiber with two add-ons becomes three ACTIVE instances with services and resources, each task provisioned once', async () => {
    const submitted = await submit([
      { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { city: 'Bandung' }, subscription: { termMonths: 12 } },
      { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
      { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
    ]);
    assert.equal(submitted.status, 'acknowledged');
    // Accepted: the instances exist, pending activation, held by their items; nothing ran in the request.
    for (const item of submitted.items) {
      const instance = (await api('GET', `/product-instances/${item.productInstanceId}`)).body;
      assert.equal(instance.status, 'PENDING_ACTIVATION');
    }
    assert.ok((await tasks(submitted.orderId)).every((t) => t.status === 'pending'));

    await drain();
    const done = await order(submitted.orderId);
    if (done.status !== 'completed') console.log(JSON.stringify(await tasks(submitted.orderId), null, 1));
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.ok(done.items.every((i: any) => i.status === 'completed'));
    const taskList = await tasks(submitted.orderId);
    assert.ok(taskList.every((t) => t.status === 'done' && t.attempts === 1), JSON.stringify(taskList));
    for (const t of taskList) assert.equal(scripted.callsPerTask().get(t.taskId), 1, `task ${t.taskNumber} provisioned once`);

    const fiber = (await api('GET', `/product-instances/${done.items[0].productInstanceId}`)).body;
    assert.equal(fiber.status, 'ACTIVE');
    const base = await products();
    const fiberInBase = base.find((p) => p.productInstanceId === fiber.productInstanceId);
    assert.equal(fiberInBase.serviceInstances.length, 1);
    assert.equal(fiberInBase.serviceInstances[0].status, 'ACTIVE');
    assert.match(fiberInBase.serviceInstances[0].externalServiceId, /^ext-configure-/);
    assert.ok(fiberInBase.serviceInstances[0].resourceInstances.length >= 1, 'reserved resources are attached');
    const staticIp = base.find((p) => p.productInstanceId === done.items[1].productInstanceId);
    assert.equal(staticIp.status, 'ACTIVE');
    assert.equal(staticIp.subscriptionId, fiber.subscriptionId, 'an add-on joins its parent\'s subscription');
    assert.ok(staticIp.relationships.some((r: any) => r.type === 'ADDON_OF' && r.targetProductInstanceId === fiber.productInstanceId));
    const subscription = (await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body;
    assert.equal(subscription.status, 'ACTIVE');

    const history = (await api('GET', `/orders/${submitted.orderId}/history`)).body.items.filter((c: any) => c.itemId === null).map((c: any) => c.toStatus);
    assert.deepEqual(history, ['acknowledged', 'inProgress', 'completed']);
    await assertConsistent();
  });
});
