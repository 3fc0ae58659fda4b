/**
 * The scenario stories of seed 000 §22.4, end to end through the HTTP API only:
 *   new sale → product active → subscription active
 *   upgrade active product → same product instance, new version
 *   disconnect product with child add-ons → child impact evaluated
 *   renew subscription → subscription version changes, product unchanged
 *   move service → commercial product continuity preserved
 * plus replace (new REPLACES old). The manual clock moves between steps, so every step has
 * its own transaction time and `installed-base?asOf=` can show the account as it was.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';
import { catalogRefs, ensureFixtureCatalog, priceSnapshot, serviceSpecRef } from '../helpers/fixtures.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const iso = (t: string | Date) => new Date(t).toISOString();

function snapshot(name: string, configuration: Record<string, unknown>) {
  return {
    ...catalogRefs(),
    name,
    catalogSnapshot: { offeringName: name },
    configuration,
    price: priceSnapshot(),
  };
}

const orderItem = () => ({ orderId: randomUUID(), orderItemId: randomUUID() });

/** Checks the shape of seed 000 §20.1 (plus the nested services and resources). */
function assertInstalledBaseShape(ib: any, accountId: string) {
  assert.equal(ib.accountId, accountId);
  assert.match(ib.snapshotTime, ISO);
  assert.ok(Array.isArray(ib.products));
  for (const p of ib.products) {
    assert.match(p.productInstanceId, UUID);
    assert.equal(typeof p.name, 'string');
    assert.equal(typeof p.status, 'string');
    assert.ok(Number.isInteger(p.version) && p.version >= 1);
    assert.ok(p.subscriptionId === null || UUID.test(p.subscriptionId));
    assert.ok(Array.isArray(p.relationships));
    for (const r of p.relationships) {
      assert.equal(typeof r.type, 'string');
      assert.match(r.targetProductInstanceId, UUID);
    }
    assert.ok(Array.isArray(p.serviceInstances));
    for (const s of p.serviceInstances) {
      assert.match(s.serviceInstanceId, UUID);
      assert.ok(Array.isArray(s.resourceInstances));
      for (const r of s.resourceInstances) assert.match(r.resourceInstanceId, UUID);
    }
  }
}

describe('installed-base stories of seed 000 §22.4, through HTTP', () => {
  let app: TestApp;
  let accountId: string;
  const productOf = (ib: any, id: string) => {
    const found = ib.products.find((p: any) => p.productInstanceId === id);
    assert.ok(found, `product ${id} is not in the installed base`);
    return found;
  };

  const get = async (url: string) => {
    const res = await call(app.server, app.adminKey, 'GET', url);
    assert.equal(res.status, 200, `GET ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const post = async (url: string, body: unknown, status = 200) => {
    const res = await call(app.server, app.adminKey, 'POST', url, body);
    assert.equal(res.status, status, `POST ${url}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const command = (id: string, verbPhase: string, body: unknown, status = 200) =>
    post(`/internal/assets/product-instances/${id}/${verbPhase}`, body, status);
  const installedBase = (asOf?: string) =>
    get(`/accounts/${accountId}/installed-base${asOf ? `?asOf=${encodeURIComponent(asOf)}` : ''}`);
  const history = async (path: string) => (await get(`${path}/history?limit=200`)).items as any[];

  /** New product on the account, activated by one order item; returns it ACTIVE at version 3. */
  async function sell(name: string, extra: Record<string, unknown> = {}) {
    const cause = orderItem();
    const created = await post('/internal/assets/product-instances', { accountId, ...snapshot(name, {}), ...cause, ...extra }, 201);
    const id = created.productInstance.productInstanceId;
    await command(id, 'activation:start', { expectedVersion: 1, ...cause });
    const active = await command(id, 'activation:complete', { expectedVersion: 2, ...cause });
    assert.equal(active.status, 'ACTIVE');
    return { id, created, active };
  }

  before(async () => {
    app = await createTestApp();
    await ensureFixtureCatalog(app.services, app.ctx);
    const customer = await post('/customers', { name: 'PT Contoh Digital' }, 201);
    const account = await post('/accounts', { customerId: customer.customerId, name: 'Jakarta HQ', currency: 'IDR', timeZone: 'Asia/Jakarta' }, 201);
    accountId = account.accountId;
  });
  after(() => app.close());

  // State carried from story to story: one fiber product through its whole life.
  let fiber: string;
  let subscriptionId: string;
  let serviceId: string;
  let resourceId: string;
  const sale = orderItem();
  // Sent in Jakarta time: stored and compared as the UTC instant 2026-07-01T00:00:00Z.
  const activatedAt = '2026-07-01T07:00:00+07:00';
  let afterSale: string;
  let afterUpgrade: string;
  let afterRenewal: string;

  test('1. new sale → product active → subscription active', async () => {
    const created = await post('/internal/assets/product-instances', {
      accountId,
      ...snapshot('Business Fiber 1Gbps', { bandwidthMbps: 1000 }),
      place: { address: 'Jl. Jend. Sudirman 1, Jakarta' },
      subscription: { termMonths: 12, billingCycle: 'monthly', autoRenew: true },
      ...sale,
    }, 201);
    fiber = created.productInstance.productInstanceId;
    subscriptionId = created.subscription.subscriptionId;
    assert.match(fiber, UUID);
    assert.equal(created.productInstance.status, 'PENDING_ACTIVATION');
    assert.equal(created.productInstance.version, 1);
    assert.equal(created.productInstance.subscriptionId, subscriptionId);
    assert.equal(created.subscription.status, 'PENDING');
    assert.equal(created.subscription.startDate, null);
    assert.equal(created.subscription.endDate, null);

    app.clock.advance(HOUR);
    const started = await command(fiber, 'activation:start', { expectedVersion: 1, ...sale });
    assert.equal(started.status, 'PENDING_ACTIVATION');
    assert.equal(started.version, 2);
    const holder = await get(`/product-instances/${fiber}`);
    assert.equal(holder.activeOperation.orderItemId, sale.orderItemId);
    assert.equal(holder.activeOperation.operationType, 'ADD');

    // Fulfillment attaches the service and its resource under the same order item.
    app.clock.advance(HOUR);
    const service = await command(fiber, 'service-attachment:apply', {
      ...sale,
      ...serviceSpecRef(),
      name: 'Fiber access',
      externalServiceId: 'CFS-0001',
      technicalParameters: { vlan: 100 },
    }, 201);
    serviceId = service.serviceInstanceId;
    assert.equal(service.status, 'PENDING');
    const resource = await post(`/internal/assets/service-instances/${serviceId}/resource-attachment:apply`, { ...sale, resourceType: 'ONT', resourceId: 'ONT-123' }, 201);
    resourceId = resource.resourceInstanceId;
    assert.equal(resource.status, 'ALLOCATED');

    // The activation happened in the field yesterday: effective time is sent, transaction time is now.
    app.clock.advance(HOUR);
    const recordedAt = app.clock.now().toISOString();
    const active = await command(fiber, 'activation:complete', { expectedVersion: 2, ...sale, effectiveAt: activatedAt });
    assert.equal(active.status, 'ACTIVE');
    assert.equal(active.version, 3);
    assert.equal(iso(active.activationDate), iso(activatedAt));

    const subscription = await get(`/subscriptions/${subscriptionId}`);
    assert.equal(subscription.status, 'ACTIVE');
    assert.equal(subscription.version, 2);
    assert.equal(iso(subscription.startDate), iso(activatedAt));
    // 12 calendar months in Asia/Jakarta.
    assert.equal(iso(subscription.endDate), '2027-07-01T00:00:00.000Z');
    assert.deepEqual(subscription.productInstanceIds, [fiber]);

    const guardless = await get(`/product-instances/${fiber}`);
    assert.equal(guardless.activeOperation, null, 'the guard is released when the activation completes');
    const activeService = await get(`/service-instances/${serviceId}`);
    assert.equal(activeService.status, 'ACTIVE');
    assert.equal(activeService.resourceInstances.length, 1);

    // History: every version with its order, recordedAt (transaction) ≠ effectiveAt (business).
    const h = await history(`/product-instances/${fiber}`);
    assert.deepEqual(h.map((e) => e.version), [1, 2, 3]);
    assert.deepEqual(h.map((e) => e.changeType), ['CREATED', 'ACTIVATION_STARTED', 'ACTIVATED']);
    for (const e of h) {
      assert.equal(e.orderId, sale.orderId);
      assert.equal(e.orderItemId, sale.orderItemId);
      assert.match(e.recordedAt, ISO);
      assert.match(e.effectiveAt, ISO);
    }
    assert.equal(h[2].recordedAt, recordedAt);
    assert.equal(h[2].effectiveAt, '2026-07-01T00:00:00.000Z');
    assert.equal(h[2].afterState.activationDate, '2026-07-01T00:00:00.000Z', 'snapshots hold canonical UTC instants');
    assert.notEqual(h[2].recordedAt, h[2].effectiveAt);
    assert.equal(h[0].beforeState, null);
    assert.equal(h[2].beforeState.status, 'PENDING_ACTIVATION');
    assert.equal(h[2].afterState.status, 'ACTIVE');

    const sh = await history(`/subscriptions/${subscriptionId}`);
    assert.deepEqual(sh.map((e) => [e.version, e.changeType, e.afterState.status]), [[1, 'CREATED', 'PENDING'], [2, 'ACTIVATED', 'ACTIVE']]);

    const ib = await installedBase();
    assertInstalledBaseShape(ib, accountId);
    const p = productOf(ib, fiber);
    assert.equal(p.name, 'Business Fiber 1Gbps');
    assert.equal(p.status, 'ACTIVE');
    assert.equal(p.version, 3);
    assert.equal(p.subscriptionId, subscriptionId);
    assert.deepEqual(p.relationships, []);
    assert.equal(p.serviceInstances.length, 1);
    assert.equal(p.serviceInstances[0].status, 'ACTIVE');
    assert.deepEqual(p.serviceInstances[0].resourceInstances.map((r: any) => [r.resourceInstanceId, r.resourceType, r.status]), [[resourceId, 'ONT', 'ALLOCATED']]);
    assert.equal(ib.subscriptions.find((s: any) => s.subscriptionId === subscriptionId).status, 'ACTIVE');
    afterSale = app.clock.now().toISOString();
  });

  test('2. upgrade active product → same product instance id, new version, history with before/after', async () => {
    const upgrade = orderItem();
    app.clock.advance(DAY);
    const started = await command(fiber, 'modification:start', {
      expectedVersion: 3,
      ...upgrade,
      operationType: 'MODIFY',
      correlationId: 'corr-upgrade',
      requestedChange: { configuration: { bandwidthMbps: 2000 } },
    });
    assert.equal(started.productInstanceId, fiber);
    assert.equal(started.status, 'PENDING_MODIFICATION');
    assert.equal(started.version, 4);
    assert.equal(started.configuration.bandwidthMbps, 1000, 'the change is only requested until it completes');

    app.clock.advance(HOUR);
    const modified = await command(fiber, 'modification:complete', { expectedVersion: 4, ...upgrade, correlationId: 'corr-upgrade' });
    assert.equal(modified.productInstanceId, fiber, 'MODIFY keeps the product instance id');
    assert.equal(modified.status, 'ACTIVE');
    assert.equal(modified.version, 5);
    assert.equal(modified.configuration.bandwidthMbps, 2000);
    assert.equal(modified.subscriptionId, subscriptionId);
    afterUpgrade = app.clock.now().toISOString();

    const h = await history(`/accounts/${accountId}/product-instances/${fiber}`);
    assert.deepEqual(h.map((e) => e.version), [1, 2, 3, 4, 5]);
    assert.deepEqual(h.map((e) => e.changeType), ['CREATED', 'ACTIVATION_STARTED', 'ACTIVATED', 'MODIFICATION_STARTED', 'MODIFIED']);
    for (let i = 1; i < h.length; i++) {
      assert.equal(h[i].beforeState.version, h[i - 1].version, 'each version starts from the one before');
      assert.deepEqual(h[i].beforeState, h[i - 1].afterState);
      assert.ok(h[i].recordedAt >= h[i - 1].recordedAt);
    }
    assert.equal(h[4].beforeState.configuration.bandwidthMbps, 1000);
    assert.equal(h[4].afterState.configuration.bandwidthMbps, 2000);
    assert.deepEqual([h[3].orderId, h[3].orderItemId, h[4].orderId, h[4].orderItemId], [upgrade.orderId, upgrade.orderItemId, upgrade.orderId, upgrade.orderItemId]);
    assert.equal(h[4].correlationId, 'corr-upgrade');

    // History pages through in order.
    const first = await get(`/product-instances/${fiber}/history?limit=2`);
    assert.deepEqual(first.items.map((e: any) => e.version), [1, 2]);
    const second = await get(`/product-instances/${fiber}/history?limit=2&cursor=${first.nextCursor}`);
    assert.deepEqual(second.items.map((e: any) => e.version), [3, 4]);
    const third = await get(`/product-instances/${fiber}/history?limit=2&cursor=${second.nextCursor}`);
    assert.deepEqual(third.items.map((e: any) => e.version), [5]);
    assert.equal(third.nextCursor, null);

    // As of before the upgrade: old bandwidth, old version. Now: the new ones.
    const before = productOf(await installedBase(afterSale), fiber);
    assert.equal(before.version, 3);
    assert.equal(before.status, 'ACTIVE');
    assert.equal(before.configuration.bandwidthMbps, 1000);
    const during = productOf(await installedBase(new Date(Date.parse(afterUpgrade) - HOUR).toISOString()), fiber);
    assert.equal(during.status, 'PENDING_MODIFICATION');
    const now = await installedBase();
    assertInstalledBaseShape(now, accountId);
    assert.equal(productOf(now, fiber).version, 5);
    assert.equal(productOf(now, fiber).configuration.bandwidthMbps, 2000);
  });

  test('4. renew subscription → subscription version changes, product unchanged', async () => {
    const productBefore = await get(`/product-instances/${fiber}`);
    const historyBefore = await history(`/product-instances/${fiber}`);
    const subscriptionBefore = await get(`/subscriptions/${subscriptionId}`);

    app.clock.advance(30 * DAY);
    const renewed = await post(`/internal/assets/subscriptions/${subscriptionId}/renewal:apply`, { expectedVersion: subscriptionBefore.version, ...orderItem() });
    assert.equal(renewed.subscriptionId, subscriptionId);
    assert.equal(renewed.version, subscriptionBefore.version + 1);
    assert.equal(renewed.status, 'ACTIVE');
    assert.equal(iso(renewed.endDate), '2028-07-01T00:00:00.000Z');
    afterRenewal = app.clock.now().toISOString();

    const productAfter = await get(`/product-instances/${fiber}`);
    assert.equal(productAfter.version, productBefore.version, 'renewal does not touch the product');
    assert.equal(productAfter.updatedAt, productBefore.updatedAt);
    assert.equal((await history(`/product-instances/${fiber}`)).length, historyBefore.length);
    const sh = await history(`/subscriptions/${subscriptionId}`);
    assert.deepEqual(sh.map((e) => e.changeType), ['CREATED', 'ACTIVATED', 'RENEWED']);
    assert.equal(iso(sh[2].beforeState.endDate), '2027-07-01T00:00:00.000Z');

    // One product still: the renewal made no duplicate (seed 000 §21.4).
    const ib = await installedBase();
    assert.equal(ib.products.filter((p: any) => p.subscriptionId === subscriptionId).length, 1);
    assert.equal(iso(ib.subscriptions.find((s: any) => s.subscriptionId === subscriptionId).endDate), '2028-07-01T00:00:00.000Z');
    const old = await installedBase(afterUpgrade);
    assert.equal(iso(old.subscriptions.find((s: any) => s.subscriptionId === subscriptionId).endDate), '2027-07-01T00:00:00.000Z');
  });

  test('5. move service → same product instance and subscription, new service at the new place', async () => {
    const move = orderItem();
    const productBefore = await get(`/product-instances/${fiber}`);
    const subscriptionBefore = await get(`/subscriptions/${subscriptionId}`);
    const newPlace = { address: 'Jl. M.H. Thamrin 2, Jakarta' };

    app.clock.advance(DAY);
    const moved = await command(fiber, 'move:apply', { expectedVersion: productBefore.version, ...move, place: newPlace, technicalParameters: { vlan: 200 } });
    assert.equal(moved.productInstance.productInstanceId, fiber);
    assert.equal(moved.productInstance.subscriptionId, subscriptionId);
    assert.equal(moved.productInstance.status, 'ACTIVE');
    assert.equal(moved.productInstance.version, productBefore.version + 1);
    assert.deepEqual(moved.productInstance.place, newPlace);
    assert.equal(moved.moved.length, 1);
    assert.equal(moved.moved[0].from.serviceInstanceId, serviceId);
    const newServiceId = moved.moved[0].to.serviceInstanceId;
    assert.notEqual(newServiceId, serviceId);

    const oldService = await get(`/service-instances/${serviceId}`);
    assert.equal(oldService.status, 'TERMINATED');
    assert.ok(oldService.terminationDate);
    assert.equal(oldService.resourceInstances[0].status, 'RELEASED');
    const newService = await get(`/service-instances/${newServiceId}`);
    assert.equal(newService.status, 'ACTIVE');
    assert.equal(newService.productInstanceId, fiber);
    assert.deepEqual(newService.place, newPlace);
    assert.equal(newService.technicalParameters.vlan, 200);

    // The commercial side did not move: same subscription, same version.
    const subscriptionAfter = await get(`/subscriptions/${subscriptionId}`);
    assert.equal(subscriptionAfter.version, subscriptionBefore.version);
    assert.deepEqual(subscriptionAfter.productInstanceIds, [fiber]);

    // Fulfillment attaches the ONT at the new place.
    await post(`/internal/assets/service-instances/${newServiceId}/resource-attachment:apply`, { ...move, resourceType: 'ONT', resourceId: 'ONT-456' }, 201);

    const ib = await installedBase();
    assertInstalledBaseShape(ib, accountId);
    const p = productOf(ib, fiber);
    assert.equal(ib.products.length, 1);
    assert.deepEqual(p.place, newPlace);
    const services = Object.fromEntries(p.serviceInstances.map((s: any) => [s.serviceInstanceId, s]));
    assert.equal(services[serviceId].status, 'TERMINATED');
    assert.equal(services[newServiceId].status, 'ACTIVE');
    assert.deepEqual(services[newServiceId].resourceInstances.map((r: any) => r.resourceId), ['ONT-456']);

    const before = productOf(await installedBase(afterRenewal), fiber);
    assert.equal(before.serviceInstances.length, 1);
    assert.equal(before.serviceInstances[0].serviceInstanceId, serviceId);
    assert.equal(before.serviceInstances[0].status, 'ACTIVE');
    assert.equal(before.serviceInstances[0].resourceInstances[0].status, 'ALLOCATED');

    const h = await history(`/product-instances/${fiber}`);
    assert.equal(h[h.length - 1].changeType, 'MOVED');
    assert.deepEqual(h[h.length - 1].beforeState.place, { address: 'Jl. Jend. Sudirman 1, Jakarta' });
    assert.deepEqual(h[h.length - 1].afterState.place, newPlace);
  });

  test('3. disconnect product with child add-ons → PARENT_OF and ADDON_OF children follow, others do not', async () => {
    app.clock.advance(DAY);
    // fiber PARENT_OF static-ip; sla ADDON_OF fiber; router DEPENDS_ON fiber (not a child).
    const staticIp = await sell('Static IP /29', { subscriptionId, relationships: [{ type: 'PARENT_OF', sourceProductInstanceId: fiber }] });
    const sla = await sell('SLA Gold', { subscriptionId, relationships: [{ type: 'ADDON_OF', targetProductInstanceId: fiber }] });
    const router = await sell('Managed Router', { relationships: [{ type: 'DEPENDS_ON', targetProductInstanceId: fiber }] });
    const beforeDisconnect = app.clock.now().toISOString();

    const ib0 = await installedBase();
    assertInstalledBaseShape(ib0, accountId);
    assert.deepEqual(productOf(ib0, fiber).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['PARENT_OF', staticIp.id]]);
    assert.deepEqual(productOf(ib0, sla.id).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', fiber]]);
    assert.deepEqual(productOf(ib0, router.id).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['DEPENDS_ON', fiber]]);

    const disconnect = orderItem();
    app.clock.advance(DAY);
    const fiberNow = await get(`/product-instances/${fiber}`);
    const started = await command(fiber, 'disconnect:start', {
      expectedVersion: fiberNow.version,
      ...disconnect,
      reason: 'customer relocating abroad',
      requestedTerminationDate: '2026-09-30T17:00:00Z',
    });
    assert.equal(started.productInstance.status, 'PENDING_DISCONNECT');
    assert.deepEqual(started.cascaded.map((c: any) => c.productInstanceId).sort(), [staticIp.id, sla.id].sort());
    for (const child of [staticIp.id, sla.id]) {
      const c = await get(`/product-instances/${child}`);
      assert.equal(c.status, 'PENDING_DISCONNECT');
      assert.equal(c.activeOperation.orderItemId, disconnect.orderItemId, 'the child is held by the same order item');
    }
    assert.equal((await get(`/product-instances/${router.id}`)).status, 'ACTIVE');

    app.clock.advance(DAY);
    const done = await command(fiber, 'disconnect:complete', { expectedVersion: started.productInstance.version, ...disconnect });
    assert.equal(done.productInstance.status, 'DISCONNECTED');
    assert.equal(iso(done.productInstance.terminationDate), '2026-09-30T17:00:00.000Z');
    assert.deepEqual(done.cascaded.map((c: any) => c.productInstanceId).sort(), [staticIp.id, sla.id].sort());
    for (const child of [staticIp.id, sla.id]) {
      const c = await get(`/product-instances/${child}`);
      assert.equal(c.status, 'DISCONNECTED');
      assert.equal(c.activeOperation, null);
    }
    assert.equal((await get(`/product-instances/${router.id}`)).status, 'ACTIVE');
    const subscription = await get(`/subscriptions/${subscriptionId}`);
    assert.equal(subscription.status, 'TERMINATED', 'the subscription ends with its last product');

    const ib = await installedBase();
    assertInstalledBaseShape(ib, accountId);
    const p = productOf(ib, fiber);
    assert.equal(p.status, 'DISCONNECTED');
    assert.ok(p.serviceInstances.every((s: any) => s.status === 'TERMINATED'));
    assert.ok(p.serviceInstances.every((s: any) => s.resourceInstances.every((r: any) => r.status === 'RELEASED')));
    assert.equal(productOf(ib, staticIp.id).status, 'DISCONNECTED');
    assert.equal(productOf(ib, sla.id).status, 'DISCONNECTED');

    // As of before the disconnect, everything was ACTIVE.
    const then = await installedBase(beforeDisconnect);
    assertInstalledBaseShape(then, accountId);
    for (const id of [fiber, staticIp.id, sla.id, router.id]) assert.equal(productOf(then, id).status, 'ACTIVE');
    assert.equal(then.subscriptions.find((s: any) => s.subscriptionId === subscriptionId).status, 'ACTIVE');
    assert.ok(productOf(then, fiber).serviceInstances.some((s: any) => s.status === 'ACTIVE'));

    const h = await history(`/product-instances/${staticIp.id}`);
    assert.deepEqual(h.map((e) => e.changeType), ['CREATED', 'ACTIVATION_STARTED', 'ACTIVATED', 'DISCONNECT_STARTED', 'DISCONNECTED']);
    assert.equal(h[3].orderItemId, disconnect.orderItemId);
    assert.equal(h[3].afterState.pendingChange.cascadedFrom, fiber);
  });

  test('6. replace → new product instance REPLACES old; old DISCONNECTED; add-ons follow the new one', async () => {
    app.clock.advance(DAY);
    const legacy = await sell('Legacy Fiber 500Mbps', { subscription: { termMonths: 24 } });
    const legacySubscription = legacy.active.subscriptionId;
    const addon = await sell('SLA Silver', { subscriptionId: legacySubscription, relationships: [{ type: 'ADDON_OF', targetProductInstanceId: legacy.id }] });
    const beforeReplace = app.clock.now().toISOString();

    app.clock.advance(DAY);
    const replacement = snapshot('Business Fiber 1Gbps', { bandwidthMbps: 1000 });
    const result = await command(legacy.id, 'replacement:apply', { expectedVersion: 3, ...orderItem(), replacement }, 201);
    const newId = result.productInstance.productInstanceId;
    assert.notEqual(newId, legacy.id);
    assert.equal(result.replaced.productInstanceId, legacy.id);
    assert.equal(result.replaced.status, 'DISCONNECTED');
    assert.equal(result.productInstance.status, 'ACTIVE');
    assert.equal(result.productInstance.version, 1);
    assert.equal(result.productInstance.name, 'Business Fiber 1Gbps');
    assert.equal(result.productInstance.subscriptionId, legacySubscription, 'the replacement carries the subscription on');

    const ib = await installedBase();
    assertInstalledBaseShape(ib, accountId);
    assert.deepEqual(productOf(ib, newId).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['REPLACES', legacy.id]]);
    assert.equal(productOf(ib, legacy.id).status, 'DISCONNECTED');
    assert.deepEqual(productOf(ib, addon.id).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', newId]]);
    assert.equal(productOf(ib, addon.id).status, 'ACTIVE');
    assert.equal((await get(`/subscriptions/${legacySubscription}`)).status, 'ACTIVE');

    const then = await installedBase(beforeReplace);
    assert.equal(then.products.some((p: any) => p.productInstanceId === newId), false, 'the replacement did not exist yet');
    assert.equal(productOf(then, legacy.id).status, 'ACTIVE');
    assert.deepEqual(productOf(then, addon.id).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', legacy.id]]);

    assert.deepEqual((await history(`/product-instances/${legacy.id}`)).map((e) => e.changeType), ['CREATED', 'ACTIVATION_STARTED', 'ACTIVATED', 'REPLACED']);
    assert.deepEqual((await history(`/product-instances/${newId}`)).map((e) => [e.version, e.changeType]), [[1, 'CREATED']]);
  });

  test('every command left a consistent database: history, outbox and guards agree', async () => {
    const report = await get('/admin/consistency-check');
    assert.equal(report.healthy, true, JSON.stringify(report.findings));
    assert.deepEqual(report.findings, []);
  });
});
