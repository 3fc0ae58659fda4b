/**
 * MOVE, REPLACE and DISCONNECT (now, and at a future date) through the HTTP API with the
 * fulfillment worker running (the orchestrator, as a worker calls it), on the demo tenant:
 * after each order, the whole resulting installed base is checked — products with
 * configuration, price snapshot and name; services and their resources; relationships; the
 * subscription; the history rows and the outbox events' changeSummary (issue 8, points 2, 3, 8).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, drainFulfillment, getOk, type TestApp } from '../helpers/app.ts';
import { ScriptedProvisioner } from '../fulfillment/scripted-provisioner.ts';

const KEY = 'tnr_order-actions-scenario-key-0123456789';
const DAY = 24 * 3_600_000;
const SURABAYA = { name: 'Surabaya branch', street: 'Jl. Basuki Rahmat 8', city: 'Surabaya', country: 'ID' };

describe('MOVE, REPLACE and DISCONNECT leave the installed base right', () => {
  let app: TestApp;
  let accountId: string;
  const scripted = new ScriptedProvisioner();
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const get = (url: string) => getOk(app.server, KEY, url);
  const drain = () => drainFulfillment(app, 'scenario-worker');
  const submit = async (items: unknown[], account = accountId) => {
    const response = await api('POST', `/accounts/${account}/orders`, { items });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  };
  const base = async (account = accountId) => (await get(`/accounts/${account}/installed-base`)).products as any[];
  const inBase = async (id: string, account = accountId) => (await base(account)).find((p) => p.productInstanceId === id);
  const product = (id: string) => get(`/product-instances/${id}`);
  const history = async (kind: 'product-instances' | 'subscriptions' | 'service-instances', id: string) => (await get(`/${kind}/${id}/history?limit=200`)).items as any[];
  const events = async (aggregateId: string) =>
    (await queryRows<{ event_type: string; payload: any }>(app.db.pool, 'select event_type, payload from outbox_event where aggregate_id = $1 order by position', [aggregateId]))
      .map((r) => ({ type: r.event_type, ...r.payload }));
  const lastEvent = async (aggregateId: string, type: string) => {
    const found = (await events(aggregateId)).filter((e) => e.type === type);
    assert.ok(found.length > 0, `an event ${type} for ${aggregateId}`);
    return found[found.length - 1];
  };
  const tasks = async (orderId: string) => (await get(`/orders/${orderId}/tasks`)).items as any[];
  const assertConsistent = async () => {
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  };
  const now = () => app.clock.now().toISOString();

  /** The demo's Business Fiber and its children by name. */
  const family = async () => {
    const products = await base();
    const byName = (name: string) => products.find((p) => p.name === name && p.status !== 'DISCONNECTED');
    return { fiber: byName('Business Fiber 1Gbps'), staticIp: byName('Static IP /29'), router: byName('Managed Router') ?? byName('Business Router Rental'), sla: byName('SLA Gold'), products };
  };

  before(async () => {
    app = await createTestApp({ provisioners: [scripted], fulfillment: { routing: { defaultProvisioner: 'scripted', byStep: { renew: 'internal' }, maxAttempts: 3 } } });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const demoOfferings = (await get('/product-offerings?limit=200')).items as any[];
    for (const o of demoOfferings) offering[o.body.code] = o.id;
    // The demo account is enterprise: it rents its router as cpe-rental (an add-on the Business
    // Fiber allows), never the residential router-rental.
    assert.ok(offering['cpe-rental']);
  });
  after(() => app.close());

  test('REPLACE of the Managed Router by a rental: configured and priced for the new offering, its own services and resources, the parent re-pointed', async () => {
    const { fiber, router } = await family();
    const subscriptionBefore = await get(`/subscriptions/${fiber.subscriptionId}`);
    const oldService = router.serviceInstances[0];
    assert.equal(oldService.resourceInstances[0].resourceId, 'HEX-7F3A99D0');
    app.clock.advance(DAY);
    scripted.script = (task) => {
      if (task.step === 'reserve' && task.specification?.code === 'router') return { outcome: 'done', externalId: 'TPL-C6-0042', data: { serialNumber: 'TPL-C6-0042' } };
      if (task.step === 'configure' && task.specification?.code === 'managed-cpe') return { outcome: 'done', externalId: 'CPE-0042', data: { managementIp: '10.8.0.42', ssid: 'ContohDigital' } };
      return undefined;
    };
    const submitted = await submit([{ action: 'REPLACE', productInstanceId: router.productInstanceId, expectedVersion: router.version, replacementOfferingId: offering['cpe-rental'] }]);
    assert.equal(submitted.items.length, 1);
    // Configured for the new specification: the old model is not one of its values, so its default.
    assert.deepEqual(submitted.items[0].details.configuration, { model: 'TP-Link Archer C6' });
    await drain();
    scripted.script = () => undefined;
    const done = await get(`/orders/${submitted.orderId}`);
    assert.equal(done.status, 'completed', JSON.stringify(done.items[0].error));
    const newId = done.items[0].productInstanceId;
    assert.notEqual(newId, router.productInstanceId);

    // The new instance: the new offering's name, configuration and price (from the pricing engine).
    const successor = await product(newId);
    assert.equal(successor.status, 'ACTIVE');
    assert.equal(successor.name, 'Business Router Rental');
    assert.equal(successor.productOfferingId, offering['cpe-rental']);
    assert.equal(successor.catalogSnapshot.code, 'cpe-rental');
    assert.deepEqual(successor.configuration, { model: 'TP-Link Archer C6' });
    assert.equal(successor.price.currency, 'IDR');
    assert.deepEqual(successor.price.lines.map((l: any) => [l.offeringId, l.chargeCode, l.kind, l.period, l.listAmountMinor, l.finalAmountMinor]), [
      [offering['cpe-rental'], 'cpe-rental', 'rental', 'month', '7000000', '7000000'],
    ]);
    assert.deepEqual(successor.price, submitted.items[0].details.price, 'the price the order was accepted with');
    assert.equal(successor.subscriptionId, router.subscriptionId, 'same subscription');
    assert.deepEqual(successor.place, router.place);
    assert.equal(successor.activationDate, now());

    // Its own service and resource, from the fulfillment tasks.
    const newInBase = await inBase(newId);
    assert.equal(newInBase.serviceInstances.length, 1);
    const service = newInBase.serviceInstances[0];
    assert.equal(service.status, 'ACTIVE');
    assert.equal(service.externalServiceId, 'CPE-0042');
    assert.deepEqual(service.technicalParameters, { managementIp: '10.8.0.42', ssid: 'ContohDigital' });
    assert.equal(service.serviceSpecificationId, oldService.serviceSpecificationId, 'the same managed-cpe service specification');
    assert.deepEqual(service.resourceInstances.map((r: any) => [r.resourceId, r.status]), [['TPL-C6-0042', 'ALLOCATED']]);

    // The old one: disconnected, its service terminated, its router released.
    const old = await inBase(router.productInstanceId);
    assert.equal(old.status, 'DISCONNECTED');
    assert.equal(old.terminationDate, now());
    assert.deepEqual(old.configuration, router.configuration, 'the old instance keeps what it had');
    assert.deepEqual(old.serviceInstances.map((s: any) => [s.serviceInstanceId, s.status, s.resourceInstances.map((r: any) => r.status)]), [[oldService.serviceInstanceId, 'TERMINATED', ['RELEASED']]]);

    // Relationships: the parent's PARENT_OF now points at the new instance; new REPLACES old.
    const fiberNow = await inBase(fiber.productInstanceId);
    const children = fiberNow.relationships.filter((r: any) => r.type === 'PARENT_OF').map((r: any) => r.targetProductInstanceId);
    assert.ok(children.includes(newId), 'fiber PARENT_OF the new router');
    assert.ok(!children.includes(router.productInstanceId), 'no current link to the disconnected one');
    assert.deepEqual(newInBase.relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['REPLACES', router.productInstanceId]]);
    const endedLinks = await queryRows(app.db.pool, `select relationship_type, valid_to from product_instance_relationship where target_product_instance_id = $1 and ended_at is not null`, [router.productInstanceId]);
    assert.deepEqual(endedLinks.map((r: any) => [r.relationship_type, r.valid_to.toISOString()]), [['PARENT_OF', now()]], 'the old link is kept, ended');

    // The subscription is untouched: its products changed, not the commitment.
    const { productInstanceIds, ...subscription } = await get(`/subscriptions/${fiber.subscriptionId}`);
    const { productInstanceIds: idsBefore, ...unchanged } = subscriptionBefore;
    assert.deepEqual(subscription, unchanged);
    assert.deepEqual(new Set(productInstanceIds), new Set([...idsBefore, newId]), 'the new instance joined it');

    // History and events.
    const newHistory = await history('product-instances', newId);
    assert.deepEqual(newHistory.map((h) => [h.version, h.changeType, h.orderItemId]), [[1, 'CREATED', done.items[0].itemId]]);
    const oldHistory = await history('product-instances', router.productInstanceId);
    const lastOld = oldHistory[oldHistory.length - 1];
    assert.deepEqual([lastOld.changeType, lastOld.beforeState.status, lastOld.afterState.status, lastOld.effectiveAt], ['REPLACED', 'ACTIVE', 'DISCONNECTED', now()]);
    const created = await lastEvent(newId, 'ProductInstanceCreated');
    assert.deepEqual(created.changeSummary, { operation: 'REPLACE', replaces: router.productInstanceId, changedCharacteristics: ['model'], changedPrices: ['cpe-rental'] });
    const replaced = await lastEvent(router.productInstanceId, 'ProductInstanceReplaced');
    assert.deepEqual(replaced.changeSummary, { operation: 'REPLACE', command: 'replacement:apply', previousStatus: 'ACTIVE', replacedBy: newId, changedCharacteristics: [], changedPrices: [] });
    const linkEvents = (await queryRows<{ event_type: string; payload: any }>(app.db.pool, `select event_type, payload from outbox_event where aggregate_type = 'relationship' and payload->>'targetProductInstanceId' in ($1, $2) order by position`, [router.productInstanceId, newId]))
      .map((e) => [e.event_type, e.payload.type, e.payload.sourceProductInstanceId === fiber.productInstanceId ? 'fiber' : 'new', e.payload.targetProductInstanceId === newId ? 'new' : 'old']);
    assert.deepEqual(linkEvents.slice(-3), [
      ['ProductInstanceRelationshipEnded', 'PARENT_OF', 'fiber', 'old'],
      ['ProductInstanceRelationshipCreated', 'PARENT_OF', 'fiber', 'new'],
      ['ProductInstanceRelationshipCreated', 'REPLACES', 'new', 'old'],
    ]);
    await assertConsistent();
  });

  test('MOVE: the base and its add-ons move; new services carry what was configured and reserved at the new place; the old ones are released', async () => {
    const { fiber, staticIp, router, sla } = await family();
    const subscriptionBefore = await get(`/subscriptions/${fiber.subscriptionId}`);
    const oldFiberService = fiber.serviceInstances.find((s: any) => s.status === 'ACTIVE');
    assert.deepEqual(oldFiberService.technicalParameters, { profile: 'BIZ-1G', vlan: 2101 });
    app.clock.advance(DAY);
    const reserved: Record<string, { externalId: string; data: Record<string, unknown> }> = {
      ont: { externalId: 'ZTEG-SBY-0001', data: { model: 'ZTE F670L' } },
      port: { externalId: 'SBY-OLT-02/1/1/4', data: {} },
      vlan: { externalId: '3105', data: { vlanId: 3105 } },
      'ip-block': { externalId: '198.51.100.16/29', data: { prefixLength: 29 } },
      router: { externalId: 'TPL-C6-0042', data: { serialNumber: 'TPL-C6-0042' } },
    };
    scripted.script = (task) => {
      if (task.step === 'reserve') return { outcome: 'done', ...reserved[task.specification!.code] };
      if (task.step === 'configure' && task.specification?.code === 'internet-access') return { outcome: 'done', externalId: 'CFS-SBY-1', data: { profile: 'BIZ-1G', vlan: 3105 } };
      if (task.step === 'configure') return { outcome: 'done', externalId: `CFS-SBY-${task.specification!.code}`, data: { site: 'SBY' } };
      return undefined;
    };
    const submitted = await submit([{ action: 'MOVE', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, place: SURABAYA }]);
    // The add-ons follow their base: one item each, after the base.
    assert.equal(submitted.items.length, 4);
    assert.deepEqual(new Set(submitted.items.slice(1).map((i: any) => i.productInstanceId)), new Set([staticIp, router, sla].map((p) => p.productInstanceId)));
    for (const item of submitted.items.slice(1)) {
      assert.equal(item.action, 'MOVE');
      assert.equal(item.details.cascadedFrom, 1);
      assert.deepEqual(item.details.place, SURABAYA);
      assert.deepEqual(item.dependsOn, [submitted.items[0].itemId]);
    }
    await drain();
    scripted.script = () => undefined;
    const done = await get(`/orders/${submitted.orderId}`);
    assert.equal(done.status, 'completed', JSON.stringify(done.items.map((i: any) => i.error)));

    // The base: same instance, same configuration, price and name, at the new place.
    const moved = await inBase(fiber.productInstanceId);
    assert.equal(moved.status, 'ACTIVE');
    assert.equal(moved.version, fiber.version + 1);
    assert.equal(moved.name, fiber.name);
    assert.deepEqual(moved.configuration, fiber.configuration);
    assert.deepEqual(moved.price, fiber.price);
    assert.deepEqual(moved.place, SURABAYA);
    assert.equal(moved.subscriptionId, fiber.subscriptionId);
    // Its services: the old one terminated with every resource released; the new one carries
    // the configure task's parameters (the new VLAN, not the released 2101) and the reserved resources.
    const old = moved.serviceInstances.find((s: any) => s.serviceInstanceId === oldFiberService.serviceInstanceId);
    assert.equal(old.status, 'TERMINATED');
    assert.deepEqual(old.resourceInstances.map((r: any) => r.status), ['RELEASED', 'RELEASED', 'RELEASED']);
    const live = moved.serviceInstances.filter((s: any) => s.status === 'ACTIVE');
    assert.equal(live.length, 1);
    assert.deepEqual(live[0].place, SURABAYA);
    assert.equal(live[0].externalServiceId, 'CFS-SBY-1');
    assert.deepEqual(live[0].technicalParameters, { profile: 'BIZ-1G', vlan: 3105 });
    assert.equal(live[0].serviceSpecificationId, oldFiberService.serviceSpecificationId);
    assert.deepEqual(live[0].resourceInstances.map((r: any) => [r.resourceId, r.status]).sort(), [['3105', 'ALLOCATED'], ['SBY-OLT-02/1/1/4', 'ALLOCATED'], ['ZTEG-SBY-0001', 'ALLOCATED']]);

    // The add-ons: at the new place too, each with its new service and resources.
    const expectedResources: Record<string, string[]> = { [staticIp.productInstanceId]: ['198.51.100.16/29'], [router.productInstanceId]: ['TPL-C6-0042'], [sla.productInstanceId]: [] };
    for (const child of [staticIp, router, sla]) {
      const now = await inBase(child.productInstanceId);
      assert.equal(now.status, 'ACTIVE', child.name);
      assert.deepEqual(now.place, SURABAYA, child.name);
      assert.deepEqual(now.configuration, child.configuration, child.name);
      assert.deepEqual(now.price, child.price, child.name);
      const liveServices = now.serviceInstances.filter((s: any) => s.status === 'ACTIVE');
      assert.equal(liveServices.length, 1, child.name);
      assert.deepEqual(liveServices[0].place, SURABAYA);
      assert.deepEqual(liveServices[0].technicalParameters, { site: 'SBY' });
      assert.deepEqual(liveServices[0].resourceInstances.map((r: any) => r.resourceId), expectedResources[child.productInstanceId], child.name);
      const oldServices = now.serviceInstances.filter((s: any) => s.status !== 'ACTIVE');
      assert.ok(oldServices.length >= 1 && oldServices.every((s: any) => s.status === 'TERMINATED' && s.resourceInstances.every((r: any) => r.status === 'RELEASED')), child.name);
      const last = (await history('product-instances', child.productInstanceId)).at(-1);
      assert.deepEqual([last.changeType, last.beforeState.place.city, last.afterState.place.city, last.orderItemId], ['MOVED', 'Jakarta Selatan', 'Surabaya', done.items.find((i: any) => i.productInstanceId === child.productInstanceId).itemId]);
    }

    // Relationships unchanged; the subscription untouched.
    assert.deepEqual(moved.relationships, fiber.relationships);
    assert.deepEqual(await get(`/subscriptions/${fiber.subscriptionId}`), subscriptionBefore);

    // History and events.
    const fiberHistory = await history('product-instances', fiber.productInstanceId);
    const last = fiberHistory[fiberHistory.length - 1];
    assert.deepEqual([last.version, last.changeType, last.beforeState.place.city, last.afterState.place.city], [fiber.version + 1, 'MOVED', 'Jakarta Selatan', 'Surabaya']);
    const movedEvent = await lastEvent(fiber.productInstanceId, 'ProductInstanceMoved');
    assert.deepEqual(movedEvent.changeSummary, {
      operation: 'MOVE', command: 'move:apply', previousStatus: 'ACTIVE', fromPlace: fiber.place, toPlace: SURABAYA, changedCharacteristics: [], changedPrices: [],
    });
    const serviceHistory = await history('service-instances', live[0].serviceInstanceId);
    assert.deepEqual(serviceHistory.map((h) => [h.version, h.changeType]), [[1, 'MOVED_IN']]);
    assert.deepEqual((await lastEvent(live[0].serviceInstanceId, 'ServiceInstanceCreated')).changeSummary, { operation: 'MOVED_IN', movedFrom: oldFiberService.serviceInstanceId });
    assert.deepEqual((await history('service-instances', oldFiberService.serviceInstanceId)).at(-1).changeType, 'MOVED_OUT');
    await assertConsistent();
  });

  test('DISCONNECT at a past date is refused and changes nothing', async () => {
    const { fiber } = await family();
    const response = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'DISCONNECT', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, requestedTerminationDate: new Date(Date.parse(now()) - DAY).toISOString() }] });
    assert.equal(response.status, 400, JSON.stringify(response.body));
    assert.equal(response.body.type, '/problems/validation-error');
    assert.equal(response.body.errors[0].field, '/items/0/requestedTerminationDate');
    assert.equal((await product(fiber.productInstanceId)).version, fiber.version);
    assert.equal((await product(fiber.productInstanceId)).activeOperation, null);
  });

  test('DISCONNECT at a future date: scheduled (product and subscription show the date), withdrawn cleanly by a cancel, then done at the date', async () => {
    const { fiber, staticIp, router, sla } = await family();
    const members = [fiber, staticIp, router, sla];
    const subscriptionBefore = await get(`/subscriptions/${fiber.subscriptionId}`);
    const at = new Date(Date.parse(now()) + 30 * DAY).toISOString();
    const disconnectAt = (date: string) => submit([{ action: 'DISCONNECT', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, requestedTerminationDate: date, reason: 'office closes' }]);

    // 1. Scheduled: every product keeps its state and shows the date; the subscription ends then.
    const first = await disconnectAt(at);
    assert.equal(first.items.length, 4, 'the add-ons follow the same date');
    assert.ok(first.items.every((i: any) => i.details.requestedTerminationDate === at));
    for (const p of members) {
      const scheduled = await product(p.productInstanceId);
      assert.equal(scheduled.status, 'ACTIVE', p.name);
      assert.equal(scheduled.terminationDate, at, p.name);
      assert.deepEqual(scheduled.pendingChange, { operation: 'DISCONNECT', requestedTerminationDate: at, reason: 'office closes' });
      assert.equal(scheduled.activeOperation.operationType, 'DISCONNECT');
      assert.equal(scheduled.version, p.version + 1);
      assert.deepEqual((await history('product-instances', p.productInstanceId)).at(-1).changeType, 'DISCONNECT_SCHEDULED');
    }
    const scheduledSubscription = await get(`/subscriptions/${fiber.subscriptionId}`);
    assert.equal(scheduledSubscription.status, 'ACTIVE');
    assert.equal(scheduledSubscription.endDate, at, 'billing sees when service ends');
    assert.equal(scheduledSubscription.commitmentEndDate, subscriptionBefore.commitmentEndDate, 'the term is kept');
    assert.deepEqual((await lastEvent(fiber.subscriptionId, 'SubscriptionTerminationScheduled')).changeSummary, { operation: 'DISCONNECT', scheduledEndDate: at, changedFields: ['endDate'] });
    assert.deepEqual((await lastEvent(fiber.productInstanceId, 'ProductInstanceDisconnectScheduled')).changeSummary, {
      operation: 'DISCONNECT', previousStatus: 'ACTIVE', scheduledTerminationDate: at, changedCharacteristics: [], changedPrices: [],
    });
    // Its tasks wait for the date.
    assert.ok((await tasks(first.orderId)).every((t) => t.status === 'pending' && t.nextRunAt === at));
    assert.equal(await drain(), 0, 'nothing runs before the date');

    // 2. Cancelled before the date: everything back as it was, nothing held.
    const cancelled = await api('POST', `/orders/${first.orderId}/cancel`, { reason: 'the office stays open' });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal((await get(`/orders/${first.orderId}`)).status, 'cancelled');
    assert.ok((await tasks(first.orderId)).every((t) => t.status === 'cancelled'));
    for (const p of members) {
      const restored = await product(p.productInstanceId);
      assert.equal(restored.status, 'ACTIVE');
      assert.equal(restored.terminationDate, null);
      assert.equal(restored.pendingChange, null);
      assert.equal(restored.activeOperation, null);
      assert.deepEqual((await history('product-instances', p.productInstanceId)).slice(-2).map((h) => h.changeType), ['DISCONNECT_SCHEDULED', 'DISCONNECT_UNSCHEDULED']);
    }
    const restoredSubscription = await get(`/subscriptions/${fiber.subscriptionId}`);
    assert.equal(restoredSubscription.endDate, subscriptionBefore.endDate);
    assert.deepEqual((await history('subscriptions', fiber.subscriptionId)).slice(-2).map((h) => h.changeType), ['TERMINATION_SCHEDULED', 'TERMINATION_UNSCHEDULED']);
    await assertConsistent();

    // 3. Scheduled again, and run at the date (a little late, as a worker may be).
    const fiberNow = await product(fiber.productInstanceId);
    const second = await submit([{ action: 'DISCONNECT', productInstanceId: fiber.productInstanceId, expectedVersion: fiberNow.version, requestedTerminationDate: at, reason: 'office closes' }]);
    app.clock.advance(30 * DAY - 3_600_000);
    assert.equal(await drain(), 0, 'an hour before the date, still nothing');
    app.clock.advance(2 * 3_600_000);
    await drain();
    const done = await get(`/orders/${second.orderId}`);
    assert.equal(done.status, 'completed', JSON.stringify(done.items.map((i: any) => i.error)));
    const products = await base();
    for (const p of members) {
      const ended = products.find((x) => x.productInstanceId === p.productInstanceId);
      assert.equal(ended.status, 'DISCONNECTED', p.name);
      assert.equal(ended.terminationDate, at, `${p.name}: terminated at the requested date`);
      assert.deepEqual(ended.configuration, p.configuration);
      assert.deepEqual(ended.price, p.price);
      assert.ok(ended.serviceInstances.every((s: any) => s.status === 'TERMINATED' && s.resourceInstances.every((r: any) => r.status === 'RELEASED')), p.name);
      const rows = await history('product-instances', p.productInstanceId);
      const last = rows[rows.length - 1];
      assert.deepEqual([last.changeType, last.effectiveAt, last.recordedAt], ['DISCONNECTED', at, now()], `${p.name}: effective at the date, recorded when done`);
      const event = await lastEvent(p.productInstanceId, 'ProductInstanceDisconnected');
      assert.equal(event.changeSummary.operation, 'DISCONNECT');
      assert.equal(event.status, 'DISCONNECTED');
    }
    const terminated = await get(`/subscriptions/${fiber.subscriptionId}`);
    assert.equal(terminated.status, 'TERMINATED');
    assert.equal(terminated.endDate, at, 'terminationDate == subscription endDate == the effective date');
    const lastSubscription = (await history('subscriptions', fiber.subscriptionId)).at(-1);
    assert.deepEqual([lastSubscription.changeType, lastSubscription.effectiveAt], ['TERMINATED', at]);
    const service = await get(`/service-instances/${fiber.serviceInstances.find((s: any) => s.status === 'ACTIVE').serviceInstanceId}`);
    assert.equal(service.terminationDate, at);
    await assertConsistent();
  });

  describe('an enterprise account', () => {
    let enterprise: string;
    before(async () => {
      const customer = (await api('POST', '/customers', { name: 'PT Besar Sekali' })).body;
      const account = await api('POST', '/accounts', { customerId: customer.customerId, name: 'PT Besar Sekali — Surabaya', currency: 'IDR', timeZone: 'Asia/Jakarta', segment: 'enterprise' });
      assert.equal(account.status, 201, JSON.stringify(account.body));
      assert.equal(account.body.segment, 'enterprise');
      enterprise = account.body.accountId;
    });

    test('is not sold residential offerings: ADD and REPLACE are refused naming the offering, and nothing changes', async () => {
      const add = await api('POST', `/accounts/${enterprise}/orders`, { items: [{ action: 'ADD', offeringId: offering['internet-100'] }] });
      assert.equal(add.status, 400, JSON.stringify(add.body));
      assert.equal(add.body.type, '/problems/validation-error');
      assert.equal(add.body.errors[0].field, '/items/0/offeringId');
      assert.match(add.body.errors[0].message, /internet-100 is for residential customers; account .* is enterprise/);

      const sold = await submit([
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['managed-router'], parentItemNumber: 1 },
      ], enterprise);
      await drain();
      assert.equal((await get(`/orders/${sold.orderId}`)).status, 'completed');
      const router = await product(sold.items[1].productInstanceId);
      const replace = await api('POST', `/accounts/${enterprise}/orders`, { items: [{ action: 'REPLACE', productInstanceId: router.productInstanceId, expectedVersion: router.version, replacementOfferingId: offering['router-rental'] }] });
      assert.equal(replace.status, 400, JSON.stringify(replace.body));
      assert.equal(replace.body.errors[0].field, '/items/0/replacementOfferingId');
      assert.match(replace.body.errors[0].message, /router-rental is for residential customers/);
      const after = await product(router.productInstanceId);
      assert.equal(after.version, router.version);
      assert.equal(after.activeOperation, null);
    });

    test('REPLACE carries over the chosen characteristics the new specification accepts; the item\'s own configuration is checked against the new specification', async () => {
      const sold = await submit([{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' }, subscription: { termMonths: 12 } }], enterprise);
      await drain();
      const fiber = await product(sold.items[0].productInstanceId);
      // A second offering of the same product: Business Fiber Plus, a flat monthly fee.
      const created = await api('POST', '/product-offerings', {
        code: 'business-fiber-plus', name: 'Business Fiber Plus', category: 'connectivity', segment: 'enterprise',
        productSpecification: { id: fiber.productSpecificationId, version: fiber.productSpecificationVersion },
        priceLists: [{ currency: 'IDR', charges: [{ kind: 'recurring', code: 'plus-monthly', name: 'Business Fiber Plus monthly', amountMinor: '2000000000', period: 'month' }] }],
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await api('POST', `/product-offerings/${created.body.id}/versions/1/publication:apply`)).status, 200);

      const invalid = await api('POST', `/accounts/${enterprise}/orders`, { items: [{ action: 'REPLACE', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, replacementOfferingId: created.body.id, configuration: { bandwidthMbps: '9999' } }] });
      assert.equal(invalid.status, 400, JSON.stringify(invalid.body));
      assert.deepEqual(invalid.body.errors.map((e: any) => e.field), ['/items/0/configuration/bandwidthMbps']);
      assert.equal((await product(fiber.productInstanceId)).version, fiber.version);

      const submitted = await submit([{ action: 'REPLACE', productInstanceId: fiber.productInstanceId, expectedVersion: fiber.version, replacementOfferingId: created.body.id }], enterprise);
      await drain();
      const done = await get(`/orders/${submitted.orderId}`);
      assert.equal(done.status, 'completed', JSON.stringify(done.items[0].error));
      const plus = await product(done.items[0].productInstanceId);
      assert.equal(plus.name, 'Business Fiber Plus');
      assert.deepEqual(plus.configuration, { bandwidthMbps: '2000', accessType: 'FTTx' }, 'the chosen bandwidth is carried over');
      assert.deepEqual(plus.price.lines.map((l: any) => [l.chargeCode, l.finalAmountMinor]), [['plus-monthly', '2000000000']]);
      const plusInBase = await inBase(plus.productInstanceId, enterprise);
      assert.equal(plusInBase.serviceInstances.length, 1);
      assert.equal(plusInBase.serviceInstances[0].resourceInstances.length, 3, 'ONT, port and VLAN reserved for it');
      assert.equal((await product(fiber.productInstanceId)).status, 'DISCONNECTED');
      await assertConsistent();
    });

    test('DISCONNECT now: the base and its add-on end now, with their services, resources and the subscription', async () => {
      const sold = await submit([
        { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '2000' }, place: SURABAYA, subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['sla-gold'], parentItemNumber: 1 },
      ], enterprise);
      await drain();
      assert.equal((await get(`/orders/${sold.orderId}`)).status, 'completed');
      const [fiberId, slaId] = sold.items.map((i: any) => i.productInstanceId);
      const fiber = await inBase(fiberId, enterprise);
      const sla = await inBase(slaId, enterprise);
      assert.deepEqual(fiber.configuration, { bandwidthMbps: '2000', accessType: 'FTTx' });
      assert.equal(fiber.name, 'Business Fiber 2Gbps', 'named by the offering\'s template');
      assert.deepEqual(fiber.price.lines.map((l: any) => [l.chargeCode, l.finalAmountMinor]), [['fiber-2g-monthly', '2500000000'], ['installation', '500000000']]);
      assert.ok(fiber.serviceInstances[0].resourceInstances.length === 3);

      app.clock.advance(DAY);
      const submitted = await submit([{ action: 'DISCONNECT', productInstanceId: fiberId, expectedVersion: fiber.version, reason: 'moving to another provider' }], enterprise);
      assert.deepEqual(submitted.items.map((i: any) => [i.action, i.productInstanceId]), [['DISCONNECT', fiberId], ['DISCONNECT', slaId]]);
      assert.equal((await product(fiberId)).status, 'ACTIVE', 'nothing happens in the request');
      await drain();
      const done = await get(`/orders/${submitted.orderId}`);
      assert.equal(done.status, 'completed');
      const ended = now();
      for (const [before, id] of [[fiber, fiberId], [sla, slaId]] as const) {
        const p = await inBase(id, enterprise);
        assert.equal(p.status, 'DISCONNECTED');
        assert.equal(p.terminationDate, ended);
        assert.equal(p.name, before.name);
        assert.deepEqual(p.configuration, before.configuration);
        assert.deepEqual(p.price, before.price);
        assert.ok(p.serviceInstances.length === 1 && p.serviceInstances.every((s: any) => s.status === 'TERMINATED' && s.resourceInstances.every((r: any) => r.status === 'RELEASED')));
        const rows = await history('product-instances', id);
        assert.deepEqual(rows.slice(-2).map((h) => [h.changeType, h.afterState.status, h.effectiveAt]), [['DISCONNECT_STARTED', 'PENDING_DISCONNECT', ended], ['DISCONNECTED', 'DISCONNECTED', ended]]);
        const event = await lastEvent(id, 'ProductInstanceDisconnected');
        assert.deepEqual(event.changeSummary, { operation: 'DISCONNECT', command: 'disconnect:complete', previousStatus: 'PENDING_DISCONNECT', changedCharacteristics: [], changedPrices: [] });
      }
      // The add-on link is kept: relationships are history too.
      assert.deepEqual((await inBase(slaId, enterprise)).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', fiberId]]);
      const subscription = await get(`/subscriptions/${fiber.subscriptionId}`);
      assert.equal(subscription.status, 'TERMINATED');
      assert.equal(subscription.endDate, ended, 'terminationDate == subscription endDate');
      const terminatedEvent = await lastEvent(fiber.subscriptionId, 'SubscriptionTerminated');
      assert.equal(terminatedEvent.endDate, ended);
      assert.equal(terminatedEvent.changeSummary.operation, 'TERMINATION');
      await assertConsistent();
    });
  });
});
