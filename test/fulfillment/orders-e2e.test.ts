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
import { call, createTestApp, drainFulfillment, type TestApp } from '../helpers/app.ts';
import { ScriptedProvisioner } from './scripted-provisioner.ts';

const KEY = 'tnr_fulfillment-e2e-demo-key-0123456789';

describe('orders fulfilled end to end', () => {
  let app: TestApp;
  let accountId: string;
  /** The residential demo account: the home offerings are sold to it, not to PT Contoh Digital (enterprise). */
  let homeId: string;
  let demoFiberId: string;
  const scripted = new ScriptedProvisioner();
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const products = async () => {
    const base = await api('GET', `/accounts/${accountId}/installed-base`);
    return base.body.products as any[];
  };
  /** Runs the orchestrator as a worker would, until no task is ready. */
  const drain = () => drainFulfillment(app, 'test-worker');
  const order = async (id: string) => (await api('GET', `/orders/${id}`)).body;
  const tasks = async (id: string) => (await api('GET', `/orders/${id}/tasks`)).body.items as any[];
  const submit = async (items: unknown[], extra: Record<string, unknown> = {}, account = accountId) => {
    const response = await api('POST', `/accounts/${account}/orders`, { items, ...extra });
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
    const demo = await ensureDemo(app.services, KEY);
    accountId = demo.accountId;
    homeId = demo.residentialAccountId;
    demoFiberId = (await products()).find((p) => p.name === 'Business Fiber 1Gbps').productInstanceId;
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

  /** The demo's Business Fiber and its three children (two PARENT_OF, one ADDON_OF). */
  const demoFamily = async () => {
    const base = await products();
    // By id: its name follows its bandwidth (a MODIFY to 2000 renames it), and ADD tests sell more fibers.
    const fiber = base.find((p) => p.productInstanceId === demoFiberId);
    const childIds = new Set([
      ...fiber.relationships.filter((r: any) => r.type === 'PARENT_OF').map((r: any) => r.targetProductInstanceId),
      ...base.filter((p) => p.relationships.some((r: any) => r.type === 'ADDON_OF' && r.targetProductInstanceId === fiber.productInstanceId)).map((p) => p.productInstanceId),
    ]);
    const children = base.filter((p) => childIds.has(p.productInstanceId));
    return { fiber, children };
  };
  const productById = async (id: string) => (await api('GET', `/product-instances/${id}`)).body;

  test('MODIFY: PENDING_MODIFICATION while in flight, then the change applied in a new version', async () => {
    const { fiber } = await demoFamily();
    const submitted = await submit([{ action: 'MODIFY', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, configuration: { bandwidthMbps: '2000' } }]);
    const pending = (await api('GET', `/product-instances/${fiber.productInstanceId}`)).body;
    assert.equal(pending.status, 'PENDING_MODIFICATION');
    assert.equal(pending.pendingChange.configuration.bandwidthMbps, '2000');
    await drain();
    assert.equal((await order(submitted.orderId)).status, 'completed');
    const modified = (await api('GET', `/product-instances/${fiber.productInstanceId}`)).body;
    assert.equal(modified.status, 'ACTIVE');
    assert.equal(modified.configuration.bandwidthMbps, '2000');
    assert.equal(modified.productInstanceId, fiber.productInstanceId, 'same instance, new version');
    assert.equal(modified.version, fiber.version + 2);
    await assertConsistent();
  });

  test('a MODIFY with a configuration the specification refuses is 400 and changes nothing', async () => {
    const { fiber } = await demoFamily();
    const response = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'MODIFY', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, configuration: { bandwidthMbps: '9999' } }] });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal((await api('GET', `/product-instances/${fiber.productInstanceId}`)).body.version, fiber.version);
  });

  test('SUSPEND of a base product suspends its add-ons in the same order; RESUME brings them back', async () => {
    const { fiber, children } = await demoFamily();
    const suspended = await submit([{ action: 'SUSPEND', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, reason: 'non-payment' }]);
    assert.equal(suspended.items.length, 1 + children.length, 'one item per add-on was added');
    for (const item of suspended.items.slice(1)) {
      assert.equal(item.action, 'SUSPEND');
      assert.equal(item.details.cascadedFrom, 1);
    }
    assert.deepEqual(new Set(suspended.items.slice(1).map((i: any) => i.productInstanceId)), new Set(children.map((c) => c.productInstanceId)));
    await drain();
    assert.equal((await order(suspended.orderId)).status, 'completed');
    for (const p of [fiber, ...children]) assert.equal((await productById(p.productInstanceId)).status, 'SUSPENDED', p.name);

    const now = await demoFamily();
    const resumed = await submit([{ action: 'RESUME', productInstanceId: fiber.productInstanceId, expectedVersion: now.fiber.version }]);
    assert.equal(resumed.items.length, 1 + children.length);
    await drain();
    assert.equal((await order(resumed.orderId)).status, 'completed');
    for (const p of [fiber, ...children]) assert.equal((await productById(p.productInstanceId)).status, 'ACTIVE', p.name);
    await assertConsistent();
  });

  test('MOVE: same instance at a new place with new service instances', async () => {
    const { fiber } = await demoFamily();
    const before = fiber.serviceInstances.filter((s: any) => s.status !== 'TERMINATED').map((s: any) => s.serviceInstanceId);
    const submitted = await submit([{ action: 'MOVE', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, place: { name: 'Surabaya branch', city: 'Surabaya' } }]);
    await drain();
    assert.equal((await order(submitted.orderId)).status, 'completed');
    const moved = (await products()).find((p) => p.productInstanceId === fiber.productInstanceId);
    assert.equal(moved.productInstanceId, fiber.productInstanceId);
    assert.equal(moved.place.city, 'Surabaya');
    const live = moved.serviceInstances.filter((s: any) => s.status === 'ACTIVE');
    assert.ok(live.length >= 1 && live.every((s: any) => !before.includes(s.serviceInstanceId)), 'new service instances at the new place');
    await assertConsistent();
  });

  test('RENEW: the subscription end moves; the product is untouched', async () => {
    const { fiber } = await demoFamily();
    const subscriptionBefore = (await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body;
    const submitted = await submit([{ action: 'RENEW', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, termMonths: 12 }]);
    await drain();
    assert.equal((await order(submitted.orderId)).status, 'completed');
    const subscription = (await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body;
    assert.ok(subscription.endDate > subscriptionBefore.endDate, `${subscription.endDate} after ${subscriptionBefore.endDate}`);
    assert.equal((await productById(fiber.productInstanceId)).version, fiber.version, 'a renewal is commercial: the product keeps its version');
    assert.ok((await tasks(submitted.orderId)).every((t) => t.provisionerCode === 'internal'));
    await assertConsistent();
  });

  test('REPLACE: a new instance REPLACES the old one, which is DISCONNECTED; children move to the new one', async () => {
    const added = await submit([{ action: 'ADD', offeringId: offering['internet-100'], configuration: {} }], {}, homeId);
    await drain();
    const old = (await api('GET', `/product-instances/${added.items[0].productInstanceId}`)).body;
    assert.equal(old.status, 'ACTIVE');
    const submitted = await submit([{ action: 'REPLACE', productInstanceId: old.productInstanceId, expectedVersion: old.version, replacementOfferingId: offering['internet-100-prepaid-30d'] }], {}, homeId);
    await drain();
    const done = await order(submitted.orderId);
    assert.equal(done.status, 'completed', JSON.stringify(done.items[0].error));
    const replaced = (await api('GET', `/product-instances/${old.productInstanceId}`)).body;
    assert.equal(replaced.status, 'DISCONNECTED');
    const successor = (await api('GET', `/product-instances/${done.items[0].productInstanceId}`)).body;
    assert.notEqual(successor.productInstanceId, old.productInstanceId);
    assert.equal(successor.status, 'ACTIVE');
    assert.equal(successor.subscriptionId, old.subscriptionId);
    assert.ok(successor.relationships.some((r: any) => r.type === 'REPLACES' && r.targetProductInstanceId === old.productInstanceId));
    await assertConsistent();
  });

  test('retries: a retryable failure is retried after its backoff, observable per task; exhausted retries fail the item and its dependents', async () => {
    // The first two calls of each reserve fail (retryable); the third succeeds.
    scripted.script = (task, n) => (task.step === 'reserve' && n <= 2 ? { outcome: 'failed', code: 'noc-busy', message: 'NOC is busy', retryable: true } : undefined);
    const submitted = await submit([{ action: 'ADD', offeringId: offering['internet-100'], configuration: {} }], {}, homeId);
    await drain();
    let reserve = (await tasks(submitted.orderId)).find((t) => t.step === 'reserve');
    assert.equal(reserve.status, 'pending');
    assert.equal(reserve.attempts, 1);
    assert.equal(reserve.lastError.code, 'noc-busy');
    assert.ok(reserve.nextRunAt > app.clock.now().toISOString(), 'the next run waits for the backoff');
    for (let i = 0; i < 2; i++) {
      app.clock.advance(10 * 60_000);
      await drain();
    }
    reserve = (await tasks(submitted.orderId)).find((t) => t.step === 'reserve');
    assert.equal(reserve.status, 'done');
    assert.equal(reserve.attempts, 3);
    assert.equal((await order(submitted.orderId)).status, 'completed');

    // Always failing: after maxAttempts (3) the task fails, the item fails, the instance is ERROR.
    scripted.script = (task) => (task.step === 'configure' ? { outcome: 'failed', code: 'noc-down', message: 'NOC unreachable', retryable: true } : undefined);
    const failing = await submit([
      { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' } },
      { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
    ]);
    for (let i = 0; i < 4; i++) {
      await drain();
      app.clock.advance(10 * 60_000);
    }
    const failed = await order(failing.orderId);
    assert.equal(failed.status, 'failed');
    assert.equal(failed.items[0].status, 'failed');
    assert.equal(failed.items[0].error.code, 'noc-down');
    assert.equal(failed.items[1].status, 'failed');
    assert.equal(failed.items[1].error.code, 'dependency-failed');
    const configure = (await tasks(failing.orderId)).find((t) => t.step === 'configure' && t.itemId === failing.items[0].itemId);
    assert.equal(configure.status, 'failed');
    assert.equal(configure.attempts, 3);
    const instance = (await api('GET', `/product-instances/${failing.items[0].productInstanceId}`)).body;
    assert.equal(instance.status, 'ERROR');
    assert.equal(instance.lastError.code, 'noc-down');
    assert.equal(instance.activeOperation, null, 'a failed item holds nothing');
    await assertConsistent();

    // Manual re-run (seed 003 B2): admin only, audited, idempotent.
    scripted.script = () => undefined;
    const rerun = await api('POST', `/orders/${failing.orderId}/rerun`);
    assert.equal(rerun.status, 200, JSON.stringify(rerun.body));
    assert.equal(rerun.body.order.status, 'inProgress');
    assert.deepEqual(new Set(rerun.body.rerunItemIds), new Set(failing.items.map((i: any) => i.itemId)));
    assert.equal((await api('GET', `/product-instances/${failing.items[0].productInstanceId}`)).body.status, 'PENDING_ACTIVATION');
    await drain();
    assert.equal((await order(failing.orderId)).status, 'completed');
    assert.equal((await api('GET', `/product-instances/${failing.items[1].productInstanceId}`)).body.status, 'ACTIVE');
    const again = await api('POST', `/orders/${failing.orderId}/rerun`);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.rerunItemIds, []);
    const audits = await queryRows(app.db.pool, `select * from audit_log where action = 'order.rerun' and target_id = $1`, [failing.orderId]);
    assert.equal(audits.length, 1, 'one audited re-run; the second changed nothing');
    await assertConsistent();
  });

  test('a non-retryable failure of a MODIFY returns the asset to ACTIVE unchanged with the error recorded; a mixed order ends partial', async () => {
    const { fiber, children } = await demoFamily();
    const router = children.find((c) => c.name === 'Managed Router');
    scripted.script = (task) => (task.step === 'modify' && task.productInstanceId === fiber.productInstanceId ? { outcome: 'failed', code: 'profile-rejected', message: 'profile not allowed', retryable: false } : undefined);
    const submitted = await submit([
      { action: 'MODIFY', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, configuration: { bandwidthMbps: '1000' } },
      { action: 'MODIFY', productInstanceId: router.productInstanceId, expectedVersion: router.version, configuration: {} },
    ]);
    await drain();
    scripted.script = () => undefined;
    const done = await order(submitted.orderId);
    assert.equal(done.status, 'partial');
    const after = (await api('GET', `/product-instances/${fiber.productInstanceId}`)).body;
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after.configuration.bandwidthMbps, fiber.configuration.bandwidthMbps);
    assert.equal(after.lastError.code, 'profile-rejected');
    assert.equal(after.activeOperation, null);
    await assertConsistent();
  });

  test('cancelling before the point of no return: pending tasks cancelled, done work compensated in reverse, the new instance CANCELLED', async () => {
    const submitted = await submit([{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' } }]);
    // Run the reserve and configure tasks only (one task at a time), not the activation.
    for (let i = 0; i < 20; i++) {
      const list = await tasks(submitted.orderId);
      if (list.every((t) => t.step === 'activate' || t.status === 'done')) break;
      await app.services.orchestrator.runOnce('test-worker');
    }
    const before = await tasks(submitted.orderId);
    const activate = before.find((t) => t.step === 'activate');
    assert.equal(activate.status, 'pending');
    const cancel = await api('POST', `/orders/${submitted.orderId}/cancel`, { reason: 'customer changed their mind' });
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.equal(cancel.body.status, 'pendingCancellation');
    const after = await tasks(submitted.orderId);
    assert.equal(after.find((t) => t.taskId === activate.taskId).status, 'cancelled');
    const compensations = after.filter((t) => t.idempotencyKey.endsWith(':compensate'));
    assert.equal(compensations.length, before.filter((t) => t.status === 'done').length, 'one compensation per done task');
    assert.equal((await api('GET', `/product-instances/${submitted.items[0].productInstanceId}`)).body.status, 'CANCELLED');
    await drain();
    const ended = await order(submitted.orderId);
    assert.equal(ended.status, 'cancelled');
    assert.equal(ended.items[0].status, 'cancelled');
    const final = await tasks(submitted.orderId);
    assert.ok(final.filter((t) => t.step !== 'activate' && !t.idempotencyKey.endsWith(':compensate')).every((t) => t.status === 'compensated'));
    // Reverse order: the service was unconfigured before its resources were given back.
    const undone = scripted.compensations.filter((c) => c.orderId === submitted.orderId).map((c) => c.step);
    assert.equal(undone[0], 'configure');
    await assertConsistent();
  });

  test('amending after the point of no return is 409 naming the task and changes nothing; the operator completes the waiting task', async () => {
    scripted.script = (task) => (task.step === 'activate' ? { outcome: 'waiting', externalId: 'ticket-42' } : undefined);
    const submitted = await submit([{ action: 'ADD', offeringId: offering['managed-router'] }]);
    await drain();
    const activate = (await tasks(submitted.orderId)).find((t) => t.step === 'activate');
    assert.equal(activate.status, 'waiting');
    assert.equal(activate.externalId, 'ticket-42');
    const refused = await api('POST', `/orders/${submitted.orderId}/cancel`, {});
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.equal(refused.body.type, '/problems/point-of-no-return');
    assert.equal(refused.body.task.taskId, activate.taskId);
    assert.equal((await order(submitted.orderId)).status, 'inProgress');
    const bySupplemental = await api('POST', `/accounts/${accountId}/orders`, { supplementalOf: submitted.orderId, cancelItems: [submitted.items[0].itemId], items: [] });
    assert.equal(bySupplemental.status, 409);
    assert.equal(bySupplemental.body.type, '/problems/point-of-no-return');

    const result = await api('POST', `/fulfillment/tasks/${activate.taskId}/result`, { outcome: 'done', externalId: 'ticket-42' });
    assert.equal(result.status, 200, JSON.stringify(result.body));
    assert.equal(result.body.status, 'done');
    assert.equal((await order(submitted.orderId)).status, 'completed');
    const same = await api('POST', `/fulfillment/tasks/${activate.taskId}/result`, { outcome: 'done', externalId: 'ticket-42' });
    assert.equal(same.status, 200, 'posting the same result again is a no-op');
    const contrary = await api('POST', `/fulfillment/tasks/${activate.taskId}/result`, { outcome: 'failed', code: 'x', message: 'too late' });
    assert.equal(contrary.status, 409);
    scripted.script = () => undefined;
    await assertConsistent();
  });

  test('a supplemental order amends a MODIFY in flight: the first item is withdrawn, the new change is applied', async () => {
    const { fiber } = await demoFamily();
    const first = await submit([{ action: 'MODIFY', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, configuration: { bandwidthMbps: '2000' } }]);
    const conflicting = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'DISCONNECT', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version + 1 }] });
    assert.equal(conflicting.status, 409);
    assert.equal(conflicting.body.type, '/problems/operation-in-progress');
    assert.equal(conflicting.body.heldBy.orderId, first.orderId);
    const pending = (await api('GET', `/product-instances/${fiber.productInstanceId}`)).body;
    const amendment = await submit([{ action: 'MODIFY', productInstanceId: fiber.productInstanceId, expectedVersion: pending.version, configuration: { bandwidthMbps: '1000' } }], { supplementalOf: first.orderId });
    assert.equal(amendment.items[0].details.amends.orderId, first.orderId);
    await drain();
    assert.equal((await order(first.orderId)).status, 'cancelled');
    assert.equal((await order(amendment.orderId)).status, 'completed');
    const modified = (await api('GET', `/product-instances/${fiber.productInstanceId}`)).body;
    assert.equal(modified.configuration.bandwidthMbps, '1000');
    await assertConsistent();
  });

  test('DISCONNECT of a base product disconnects its add-ons in the same order; the subscription ends with them', async () => {
    const { fiber, children } = await demoFamily();
    const submitted = await submit([{ action: 'DISCONNECT', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, reason: 'contract ended' }]);
    assert.equal(submitted.items.length, 1 + children.filter((c) => c.status !== 'DISCONNECTED').length);
    // The add-ons go first: the base item waits for them.
    assert.deepEqual(new Set(submitted.items[0].dependsOn), new Set(submitted.items.slice(1).map((i: any) => i.itemId)));
    await drain();
    assert.equal((await order(submitted.orderId)).status, 'completed');
    for (const p of [fiber, ...children]) assert.equal((await productById(p.productInstanceId)).status, 'DISCONNECTED', p.name);
    const subscription = (await api('GET', `/subscriptions/${fiber.subscriptionId}`)).body;
    assert.equal(subscription.status, 'TERMINATED');
    await assertConsistent();
  });

  test('a held order starts no task until the hold is released', async () => {
    const submitted = await submit([{ action: 'ADD', offeringId: offering['managed-router'] }]);
    const held = await api('POST', `/orders/${submitted.orderId}/hold`, { reason: 'waiting for site access' });
    assert.equal(held.status, 200, JSON.stringify(held.body));
    assert.equal(held.body.status, 'held');
    assert.equal(await app.services.orchestrator.runOnce('test-worker'), 0, 'nothing is claimed while held');
    const released = await api('POST', `/orders/${submitted.orderId}/release-hold`, {});
    assert.equal(released.body.status, 'inProgress');
    await drain();
    assert.equal((await order(submitted.orderId)).status, 'completed');
    const again = await api('POST', `/orders/${submitted.orderId}/hold`, {});
    assert.equal(again.status, 409, 'a completed order cannot be held');
  });

  test('ADD of a bundle: the members are the products, in one subscription; the bundle itself is commercial', async () => {
    const submitted = await submit([
      { action: 'ADD', offeringId: offering['triple-play'] },
      { action: 'ADD', offeringId: offering['internet-100'], parentItemNumber: 1 },
      { action: 'ADD', offeringId: offering['iptv'], parentItemNumber: 1, configuration: { channelPackage: 'basic' } },
      { action: 'ADD', offeringId: offering['voip'], parentItemNumber: 1 },
    ], {}, homeId);
    assert.equal(submitted.items[0].productInstanceId, null, 'a bundle has no product instance of its own');
    await drain();
    const done = await order(submitted.orderId);
    assert.equal(done.status, 'completed', JSON.stringify(done.items.map((i: any) => [i.status, i.error])));
    const members = await Promise.all(done.items.slice(1).map((i: any) => productById(i.productInstanceId)));
    assert.ok(members.every((m) => m.status === 'ACTIVE'));
    assert.equal(new Set(members.map((m) => m.subscriptionId)).size, 1, 'the members share one subscription');
    await assertConsistent();
  });
});
