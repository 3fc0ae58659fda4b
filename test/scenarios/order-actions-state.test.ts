/**
 * Order actions end to end through the HTTP API, each checked by the COMPLETE state it leaves
 * (issue 8): the products (configuration, price snapshot, name), their services and resources,
 * relationships, the subscription, the history rows and the outbox event's changeSummary.
 * Orders are driven to completion by the orchestrator, as the fulfillment worker runs it.
 *
 * Covers ADD, MODIFY (direct and from an accepted quote), SUSPEND, RESUME and RENEW, and the
 * defects of issue 8 points 1 (MODIFY never repriced), 4 (internal modification routes skipped
 * the specification), 7 (a MODIFY quote charged the installation again), 9 (an add-on sold
 * with no parent) and 11 (an illegal state was a 400 on orders, a 409 on internal routes).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { addMonths } from '../../src/inventory/service.ts';
import { queryRows } from '../../src/platform/db.ts';
import { ScriptedProvisioner } from '../fulfillment/scripted-provisioner.ts';
import { call, createTestApp, drainFulfillment, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_order-actions-state-demo-key-0123456789';

describe('order actions leave the whole installed base right', () => {
  let app: TestApp;
  let accountId: string;
  const scripted = new ScriptedProvisioner();
  const offering: Record<string, string> = {};
  /** The fiber (1 Gbps) and Static IP the ADD test sells; later tests change them. */
  let fiberId: string;
  let staticIpId: string;

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const drain = () => drainFulfillment(app, 'test-worker');
  const submit = async (items: unknown[]) => {
    const response = await api('POST', `/accounts/${accountId}/orders`, { items });
    assert.equal(response.status, 201, JSON.stringify(response.body));
    return response.body;
  };
  const completed = async (orderId: string) => {
    await drain();
    const order = (await api('GET', `/orders/${orderId}`)).body;
    assert.equal(order.status, 'completed', JSON.stringify(order.items.map((i: any) => i.error)));
    return order;
  };
  /** The product as the installed base shows it: with services, resources and relationships. */
  const inBase = async (id: string) => {
    const base = (await api('GET', `/accounts/${accountId}/installed-base`)).body;
    const product = base.products.find((p: any) => p.productInstanceId === id);
    assert.ok(product, `product ${id} is in the installed base`);
    return product;
  };
  const product = async (id: string) => (await api('GET', `/product-instances/${id}`)).body;
  const subscription = async (id: string) => (await api('GET', `/subscriptions/${id}`)).body;
  const historyOf = async (id: string) => ((await api('GET', `/product-instances/${id}/history`)).body.items as any[]).sort((a, b) => a.version - b.version);
  const eventsOf = (aggregateId: string) => queryRows<{ event_type: string; aggregate_version: number; payload: any }>(
    app.db.pool, 'select event_type, aggregate_version, payload from outbox_event where aggregate_id = $1 order by position', [aggregateId]);
  /** The price terms of a snapshot's lines, by charge code: what billing will read. */
  const terms = (price: any) => Object.fromEntries((price.lines as any[]).map((l) => [l.chargeCode, { kind: l.kind, period: l.period, listAmountMinor: l.listAmountMinor, finalAmountMinor: l.finalAmountMinor }]));
  const fiberDemo = async () => {
    const base = (await api('GET', `/accounts/${accountId}/installed-base`)).body;
    return base.products.find((p: any) => p.productOfferingId === offering['business-fiber'] && p.place?.name === 'Jakarta HQ');
  };
  const assertConsistent = async () => {
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  };

  before(async () => {
    app = await createTestApp({ provisioners: [scripted], fulfillment: { routing: { defaultProvisioner: 'scripted', byStep: { renew: 'internal' }, maxAttempts: 3 } } });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    const list = await api('GET', '/product-offerings?limit=200');
    for (const o of list.body.items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('ADD: a 1 Gbps fiber and its Static IP, complete — names, prices, services, resources, link, subscription, history, events', async () => {
    const now = app.clock.now().toISOString();
    const submitted = await submit([
      { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' }, place: { name: 'Bandung branch', city: 'Bandung' }, subscription: { termMonths: 12 } },
      { action: 'ADD', offeringId: offering['static-ip-29'], parentItemNumber: 1 },
    ]);
    const order = await completed(submitted.orderId);
    fiberId = order.items[0].productInstanceId;
    staticIpId = order.items[1].productInstanceId;

    const fiber = await inBase(fiberId);
    assert.equal(fiber.status, 'ACTIVE');
    assert.equal(fiber.name, 'Business Fiber 1Gbps', 'named by the offering\'s nameTemplate');
    assert.deepEqual(fiber.configuration, { bandwidthMbps: '1000', accessType: 'FTTx' });
    assert.equal(fiber.price.currency, 'IDR');
    assert.deepEqual(terms(fiber.price), {
      'fiber-1g-monthly': { kind: 'recurring', period: 'month', listAmountMinor: '1500000000', finalAmountMinor: '1500000000' },
      installation: { kind: 'one_time', period: null, listAmountMinor: '500000000', finalAmountMinor: '500000000' },
    });
    assert.deepEqual(fiber.price.lines.map((l: any) => l.itemId), [order.items[0].itemId, order.items[0].itemId]);
    assert.deepEqual(order.items[0].details.price, fiber.price, 'the order item charged what the instance keeps');
    assert.equal(fiber.productOfferingId, offering['business-fiber']);
    assert.equal(fiber.place.city, 'Bandung');
    assert.equal(fiber.activationDate, now);
    assert.equal(fiber.version, 3);
    assert.equal((await product(fiberId)).pendingChange, null);
    // One service (internet access) with the three resources its reserve tasks returned.
    assert.equal(fiber.serviceInstances.length, 1);
    const [access] = fiber.serviceInstances;
    assert.equal(access.status, 'ACTIVE');
    assert.equal(access.name, 'Internet Access Service', 'named as the catalog names the service');
    assert.match(access.externalServiceId, /^ext-configure-/);
    assert.deepEqual(access.resourceInstances.map((r: any) => r.resourceType).sort(), ['ONT', 'PORT', 'VLAN'], 'typed by the resource specifications');
    assert.ok(access.resourceInstances.every((r: any) => r.status === 'ALLOCATED' && r.version === 1), JSON.stringify(access.resourceInstances));
    // Each resource is the one its reserve task got from the provisioner.
    const reserved = ((await api('GET', `/orders/${submitted.orderId}/tasks`)).body.items as any[]).filter((t) => t.step === 'reserve' && t.itemId === order.items[0].itemId);
    assert.deepEqual(access.resourceInstances.map((r: any) => r.resourceId).sort(), reserved.map((t) => t.externalId).sort());

    const ip = await inBase(staticIpId);
    assert.equal(ip.status, 'ACTIVE');
    assert.equal(ip.name, 'Static IP /29');
    assert.deepEqual(ip.configuration, { prefixLength: 29 });
    assert.deepEqual(terms(ip.price), { 'static-ip-monthly': { kind: 'recurring', period: 'month', listAmountMinor: '75000000', finalAmountMinor: '75000000' } });
    assert.equal(ip.subscriptionId, fiber.subscriptionId, 'an add-on joins its parent\'s subscription');
    // The installed base lists each product's outgoing links: the add-on points at its base.
    assert.deepEqual(ip.relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', fiberId]]);
    assert.deepEqual(fiber.relationships, []);
    assert.deepEqual(ip.serviceInstances.map((s: any) => [s.name, s.status, s.resourceInstances.map((r: any) => r.resourceType)]), [['IP Allocation Service', 'ACTIVE', ['IP_BLOCK']]]);

    const sub = await subscription(fiber.subscriptionId);
    assert.equal(sub.status, 'ACTIVE');
    assert.equal(sub.termMonths, 12);
    assert.equal(sub.startDate, now);
    assert.equal(sub.endDate, addMonths(now, 12, 'Asia/Jakarta'));
    assert.equal(sub.commitmentEndDate, sub.endDate);
    assert.equal(sub.version, 2, 'created, then activated');

    assert.deepEqual((await historyOf(fiberId)).map((h) => [h.version, h.changeType]), [[1, 'CREATED'], [2, 'ACTIVATION_STARTED'], [3, 'ACTIVATED']]);
    const events = await eventsOf(fiberId);
    assert.deepEqual(events.map((e) => [e.aggregate_version, e.event_type]), [[1, 'ProductInstanceCreated'], [2, 'ProductInstanceActivationPending'], [3, 'ProductInstanceActivated']]);
    assert.equal(events[0].payload.changeSummary.operation, 'ADD');
    assert.deepEqual(events[2].payload.changeSummary.changedCharacteristics, []);
    assert.deepEqual(events[2].payload.changeSummary.changedPrices, []);
    await assertConsistent();
  });

  test('MODIFY 1 → 2 Gbps: repriced (no installation again), renamed, services and subscription untouched; the event lists the changed prices', async () => {
    const before = await inBase(fiberId);
    const subscriptionBefore = await subscription(before.subscriptionId);
    const submitted = await submit([{ action: 'MODIFY', productInstanceId: fiberId, expectedVersion: before.version, configuration: { bandwidthMbps: '2000' } }]);
    // Priced at submission; the change waits on the instance.
    const pending = await product(fiberId);
    assert.equal(pending.status, 'PENDING_MODIFICATION');
    assert.deepEqual(pending.pendingChange.configuration, { bandwidthMbps: '2000' });
    assert.equal(pending.pendingChange.name, 'Business Fiber 2Gbps');
    assert.deepEqual(terms(submitted.items[0].details.price), {
      'fiber-2g-monthly': { kind: 'recurring', period: 'month', listAmountMinor: '2500000000', finalAmountMinor: '2500000000' },
    }, 'the change charges the 2 Gbps price and no installation');

    const order = await completed(submitted.orderId);
    const after = await inBase(fiberId);
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after.version, before.version + 2);
    assert.equal(after.name, 'Business Fiber 2Gbps');
    assert.deepEqual(after.configuration, { bandwidthMbps: '2000', accessType: 'FTTx' });
    assert.deepEqual(terms(after.price), {
      installation: { kind: 'one_time', period: null, listAmountMinor: '500000000', finalAmountMinor: '500000000' },
      'fiber-2g-monthly': { kind: 'recurring', period: 'month', listAmountMinor: '2500000000', finalAmountMinor: '2500000000' },
    }, 'the sale\'s one-time line is kept as it was; the recurring price is the new one');
    const installation = after.price.lines.find((l: any) => l.chargeCode === 'installation');
    assert.deepEqual(installation, before.price.lines.find((l: any) => l.chargeCode === 'installation'), 'the installation line is the sale\'s, untouched');
    assert.equal(after.price.lines.find((l: any) => l.chargeCode === 'fiber-2g-monthly').itemId, order.items[0].itemId);
    assert.equal((await product(fiberId)).pendingChange, null);
    assert.equal(after.productOfferingVersion, before.productOfferingVersion, 'the instance keeps its offering version');
    assert.deepEqual(after.catalogSnapshot, before.catalogSnapshot);
    assert.deepEqual(after.place, before.place);
    assert.equal(after.activationDate, before.activationDate);
    // The same service and resources (a modify task per service), the same link and subscription.
    assert.deepEqual(after.serviceInstances.map((s: any) => [s.serviceInstanceId, s.status, s.resourceInstances.map((r: any) => r.resourceInstanceId).sort()]),
      before.serviceInstances.map((s: any) => [s.serviceInstanceId, 'ACTIVE', s.resourceInstances.map((r: any) => r.resourceInstanceId).sort()]));
    assert.deepEqual((await inBase(staticIpId)).relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', fiberId]]);
    assert.deepEqual(await subscription(before.subscriptionId), subscriptionBefore);

    const history = await historyOf(fiberId);
    assert.deepEqual(history.slice(-2).map((h) => [h.version, h.changeType]), [[before.version + 1, 'MODIFICATION_STARTED'], [before.version + 2, 'MODIFIED']]);
    const [modified] = (await eventsOf(fiberId)).filter((e) => e.aggregate_version === before.version + 2);
    assert.equal(modified.event_type, 'ProductInstanceModified');
    assert.equal(modified.payload.changeSummary.operation, 'MODIFY');
    assert.deepEqual(modified.payload.changeSummary.changedCharacteristics, ['bandwidthMbps']);
    assert.deepEqual(modified.payload.changeSummary.changedPrices, ['fiber-1g-monthly', 'fiber-2g-monthly']);
    await assertConsistent();
  });

  test('MODIFY from an accepted quote: the quote shows no installation, and the order charges exactly what the quote showed', async () => {
    const fiber = await fiberDemo();
    assert.equal(fiber.name, 'Business Fiber 1Gbps');
    const quote = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'MODIFY', productInstanceId: fiber.productInstanceId, configuration: { bandwidthMbps: '2000' } }] });
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    assert.deepEqual(quote.body.price.lines.map((l: any) => [l.chargeCode, l.finalAmountMinor]), [['fiber-2g-monthly', '2500000000']], 'a change is not a new sale: no installation');
    assert.equal(quote.body.price.totals.oneTimeMinor, '0');
    assert.equal((await api('POST', `/quotes/${quote.body.quoteId}/acceptance:apply`, { expectedVersion: 1 })).status, 200);

    // A rule published after the quote was accepted does not change what the customer agreed to.
    const rule = await api('POST', '/price-rules', {
      code: 'fiber-half-price', name: 'Half price fiber', type: 'percentage', priority: 10, stacking: 'stack',
      appliesTo: { offeringIds: [offering['business-fiber']] }, discount: { percent: '50' },
    });
    assert.equal(rule.status, 201, JSON.stringify(rule.body));
    try {
      const submitted = await api('POST', `/quotes/${quote.body.quoteId}/order`, { expectedQuoteVersion: 2 });
      assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
      const order = await completed(submitted.body.orderId);
      const after = await inBase(fiber.productInstanceId);
      assert.equal(after.name, 'Business Fiber 2Gbps', 'the demo fiber is renamed by its new bandwidth');
      assert.deepEqual(after.configuration, { bandwidthMbps: '2000', accessType: 'FTTx' });
      assert.equal(after.version, fiber.version + 2);
      const strip = ({ lineId: _l, itemId: _i, ...rest }: any) => rest;
      const quoted = quote.body.price.lines.map(strip);
      const sale = fiber.price.lines.filter((l: any) => l.kind === 'one_time');
      assert.ok(sale.length > 0, 'the demo fiber was sold with an installation');
      assert.deepEqual(after.price.lines, [...sale, ...after.price.lines.slice(sale.length)], 'the sale\'s one-time lines are kept as they were');
      assert.deepEqual(after.price.lines.slice(sale.length).map(strip), quoted, 'the rest is line for line what the quote showed');
      assert.deepEqual(after.price.lines.slice(sale.length).map((l: any) => l.itemId), [order.items[0].itemId]);
      assert.deepEqual(order.items[0].details.price.lines.map(strip), quoted, 'the order item charges what the quote showed');
      assert.deepEqual(after.serviceInstances.map((s: any) => s.serviceInstanceId), fiber.serviceInstances.map((s: any) => s.serviceInstanceId));
      const [modified] = (await eventsOf(fiber.productInstanceId)).filter((e) => e.aggregate_version === fiber.version + 2);
      assert.equal(modified.event_type, 'ProductInstanceModified');
      assert.deepEqual(modified.payload.changeSummary.changedCharacteristics, ['bandwidthMbps']);
      assert.deepEqual(modified.payload.changeSummary.changedPrices, ['fiber-1g-monthly', 'fiber-2g-monthly']);
    } finally {
      await api('POST', `/price-rules/${rule.body.id}/retirement:apply`, {});
    }
    await assertConsistent();
  });

  test('SUSPEND of the fiber suspends it and its Static IP (a cascaded item), services with them; nothing commercial changes', async () => {
    const fiber = await inBase(fiberId);
    const ip = await inBase(staticIpId);
    const subscriptionBefore = await subscription(fiber.subscriptionId);
    const submitted = await submit([{ action: 'SUSPEND', productInstanceId: fiberId, expectedVersion: fiber.version, reason: 'non-payment' }]);
    assert.deepEqual(submitted.items.map((i: any) => [i.action, i.productInstanceId, i.details.cascadedFrom ?? null]), [['SUSPEND', fiberId, null], ['SUSPEND', staticIpId, 1]]);
    await completed(submitted.orderId);

    for (const [before, id] of [[fiber, fiberId], [ip, staticIpId]] as const) {
      const after = await inBase(id);
      assert.equal(after.status, 'SUSPENDED');
      assert.equal(after.version, before.version + 1);
      assert.equal(after.name, before.name);
      assert.deepEqual(after.configuration, before.configuration);
      assert.deepEqual(after.price, before.price);
      assert.deepEqual(after.relationships, before.relationships);
      assert.deepEqual(after.serviceInstances.map((s: any) => [s.serviceInstanceId, s.status, s.resourceInstances.map((r: any) => [r.resourceInstanceId, r.status])]),
        before.serviceInstances.map((s: any) => [s.serviceInstanceId, 'SUSPENDED', s.resourceInstances.map((r: any) => [r.resourceInstanceId, r.status])]));
      assert.deepEqual((await historyOf(id)).at(-1)!.changeType, 'SUSPENDED');
      const [event] = (await eventsOf(id)).filter((e) => e.aggregate_version === after.version);
      assert.equal(event.event_type, 'ProductInstanceSuspended');
      assert.equal(event.payload.changeSummary.operation, 'SUSPEND');
      assert.equal(event.payload.changeSummary.previousStatus, 'ACTIVE');
      assert.deepEqual(event.payload.changeSummary.changedCharacteristics, []);
      assert.deepEqual(event.payload.changeSummary.changedPrices, []);
    }
    assert.deepEqual(await subscription(fiber.subscriptionId), subscriptionBefore, 'suspending products leaves the subscription as it was');
    await assertConsistent();
  });

  test('RESUME brings the fiber back first, then its Static IP; services active again', async () => {
    const fiber = await inBase(fiberId);
    const ip = await inBase(staticIpId);
    const subscriptionBefore = await subscription(fiber.subscriptionId);
    const submitted = await submit([{ action: 'RESUME', productInstanceId: fiberId, expectedVersion: fiber.version }]);
    assert.deepEqual(submitted.items.map((i: any) => [i.action, i.productInstanceId]), [['RESUME', fiberId], ['RESUME', staticIpId]]);
    assert.deepEqual(submitted.items[1].dependsOn, [submitted.items[0].itemId], 'the add-on comes back after its base');
    await completed(submitted.orderId);
    for (const [before, id] of [[fiber, fiberId], [ip, staticIpId]] as const) {
      const after = await inBase(id);
      assert.equal(after.status, 'ACTIVE');
      assert.equal(after.version, before.version + 1);
      assert.deepEqual([after.name, after.configuration, after.price, after.relationships], [before.name, before.configuration, before.price, before.relationships]);
      assert.ok(after.serviceInstances.every((s: any) => s.status === 'ACTIVE'));
      assert.deepEqual(after.serviceInstances.map((s: any) => s.serviceInstanceId), before.serviceInstances.map((s: any) => s.serviceInstanceId));
      assert.equal((await historyOf(id)).at(-1)!.changeType, 'RESUMED');
      const [event] = (await eventsOf(id)).filter((e) => e.aggregate_version === after.version);
      assert.equal(event.event_type, 'ProductInstanceResumed');
      assert.equal(event.payload.changeSummary.operation, 'RESUME');
      assert.equal(event.payload.changeSummary.previousStatus, 'SUSPENDED');
    }
    assert.deepEqual(await subscription(fiber.subscriptionId), subscriptionBefore);
    await assertConsistent();
  });

  test('RENEW: the subscription runs 12 months longer (one new version, a history row, an event); the products are untouched', async () => {
    const fiber = await inBase(fiberId);
    const ip = await inBase(staticIpId);
    const before = await subscription(fiber.subscriptionId);
    const submitted = await submit([{ action: 'RENEW', productInstanceId: fiberId, expectedVersion: fiber.version, termMonths: 12 }]);
    await completed(submitted.orderId);
    const after = await subscription(fiber.subscriptionId);
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after.version, before.version + 1);
    assert.equal(after.startDate, before.startDate);
    assert.equal(after.endDate, addMonths(before.endDate, 12, 'Asia/Jakarta'));
    assert.equal(after.commitmentEndDate, after.endDate);
    const subscriptionHistory = ((await api('GET', `/subscriptions/${fiber.subscriptionId}/history`)).body.items as any[]).sort((a, b) => a.version - b.version);
    assert.deepEqual(subscriptionHistory.at(-1).version, after.version);
    assert.equal(subscriptionHistory.at(-1).changeType, 'RENEWED');
    const [event] = (await eventsOf(fiber.subscriptionId)).filter((e) => e.aggregate_version === after.version);
    assert.equal(event.event_type, 'SubscriptionRenewed');
    for (const [beforeProduct, id] of [[fiber, fiberId], [ip, staticIpId]] as const) {
      assert.deepEqual(await inBase(id), beforeProduct, 'a renewal is commercial: the products keep their version and everything else');
    }
    await assertConsistent();
  });

  test('RENEW to an end that is not after the current one is a 400 at submission, not a failure after fulfillment; nothing is held', async () => {
    const fiber = await inBase(fiberId);
    const before = await subscription(fiber.subscriptionId);
    const orders = (await api('GET', `/accounts/${accountId}/orders?limit=200`)).body.items.length;
    for (const newEndDate of [before.endDate, before.startDate, '2020-01-01T00:00:00Z']) {
      const refused = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'RENEW', productInstanceId: fiberId, expectedVersion: fiber.version, newEndDate }] });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.type, '/problems/validation-error');
      assert.deepEqual(refused.body.errors.map((e: any) => e.field), ['/items/0/newEndDate']);
      assert.match(refused.body.errors[0].message, /must be after the current end date/);
    }
    assert.deepEqual(await subscription(fiber.subscriptionId), before);
    assert.deepEqual(await inBase(fiberId), fiber);
    assert.equal((await api('GET', `/accounts/${accountId}/orders?limit=200`)).body.items.length, orders, 'no order was written');
    assert.equal((await queryRows(app.db.pool, `select 1 from asset_operation_guard where product_instance_id = $1 and status = 'ACTIVE'`, [fiberId])).length, 0, 'no guard is held');
  });

  // ---------------------------------------------------------------- the defects, one by one

  test('point 4: modification:start refuses an out-of-range value and an unknown characteristic, 400 naming each; nothing changes and a later MODIFY order works', async () => {
    const fiber = await inBase(fiberId);
    const eventsBefore = (await eventsOf(fiberId)).length;
    const start = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:start`, {
      orderId: randomUUID(), orderItemId: randomUUID(), expectedVersion: fiber.version,
      requestedChange: { configuration: { bandwidthMbps: '5000', colour: 'pink' } },
    });
    assert.equal(start.status, 400, JSON.stringify(start.body));
    assert.equal(start.body.type, '/problems/validation-error');
    assert.deepEqual(start.body.errors.map((e: any) => e.field).sort(), ['/requestedChange/configuration/bandwidthMbps', '/requestedChange/configuration/colour']);
    assert.match(start.body.errors.find((e: any) => e.field.endsWith('bandwidthMbps')).message, /1000, 2000/);
    assert.deepEqual(await inBase(fiberId), fiber, 'nothing changed');
    assert.equal((await eventsOf(fiberId)).length, eventsBefore);

    // A valid start, then a bad change at completion: refused the same way, the modification still pending.
    const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
    const started = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:start`, { ...cause, expectedVersion: fiber.version, requestedChange: { configuration: { bandwidthMbps: 1000 } } });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.deepEqual(started.body.pendingChange.configuration, { bandwidthMbps: '1000' }, 'kept normalized, as the specification spells it');
    const complete = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:complete`, { ...cause, expectedVersion: fiber.version + 1, change: { configuration: { colour: 'pink' } } });
    assert.equal(complete.status, 400, JSON.stringify(complete.body));
    assert.deepEqual(complete.body.errors.map((e: any) => e.field), ['/change/configuration/colour']);
    assert.equal((await product(fiberId)).status, 'PENDING_MODIFICATION');
    const cancelled = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:cancel`, { ...cause, expectedVersion: fiber.version + 1 });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));

    const current = await product(fiberId);
    assert.deepEqual(current.configuration, fiber.configuration);
    const submitted = await submit([{ action: 'MODIFY', productInstanceId: fiberId, expectedVersion: current.version, configuration: { bandwidthMbps: '1000' } }]);
    await completed(submitted.orderId);
    const downgraded = await inBase(fiberId);
    assert.equal(downgraded.name, 'Business Fiber 1Gbps');
    assert.deepEqual(terms(downgraded.price)['fiber-1g-monthly'], { kind: 'recurring', period: 'month', listAmountMinor: '1500000000', finalAmountMinor: '1500000000' });
    await assertConsistent();
  });

  test('the internal modification routes name the instance as an order does: by the offering\'s template, unless the change names it', async () => {
    const modify = async (requestedChange: Record<string, unknown>) => {
      const version = (await product(fiberId)).version;
      const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
      const started = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:start`, { ...cause, expectedVersion: version, requestedChange });
      assert.equal(started.status, 200, JSON.stringify(started.body));
      const done = await api('POST', `/internal/assets/product-instances/${fiberId}/modification:complete`, { ...cause, expectedVersion: version + 1 });
      assert.equal(done.status, 200, JSON.stringify(done.body));
      return { pendingChange: started.body.pendingChange, after: done.body };
    };
    const upgraded = await modify({ configuration: { bandwidthMbps: '2000' } });
    assert.deepEqual(upgraded.pendingChange, { configuration: { bandwidthMbps: '2000' }, name: 'Business Fiber 2Gbps' });
    assert.equal(upgraded.after.name, 'Business Fiber 2Gbps');
    const named = await modify({ configuration: { bandwidthMbps: '1000' }, name: 'Head office fiber' });
    assert.equal(named.after.name, 'Head office fiber', 'a name the change gives wins');
    const kept = await modify({ configuration: { bandwidthMbps: '2000' } });
    assert.equal(kept.after.name, 'Head office fiber', 'a name someone chose is not overwritten by the template');
    const restored = await modify({ configuration: { bandwidthMbps: '1000' }, name: 'Business Fiber 1Gbps' });
    assert.equal(restored.after.name, 'Business Fiber 1Gbps');
    assert.deepEqual(restored.after.configuration, { bandwidthMbps: '1000', accessType: 'FTTx' });
    await assertConsistent();
  });

  test('point 9: an add-on offering with no parent is refused, 400 naming the item, in orders and in quotes; nothing is written', async () => {
    const ordersBefore = (await api('GET', `/accounts/${accountId}/orders?limit=200`)).body.items.length;
    const productsBefore = (await api('GET', `/accounts/${accountId}/installed-base`)).body.products.length;
    const order = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' } }, { action: 'ADD', offeringId: offering['static-ip-29'] }] });
    assert.equal(order.status, 400, JSON.stringify(order.body));
    assert.equal(order.body.type, '/problems/validation-error');
    assert.deepEqual(order.body.errors.map((e: any) => e.field), ['/items/1']);
    assert.match(order.body.errors[0].message, /static-ip-29 is an add-on.*business-fiber/);
    assert.equal((await api('GET', `/accounts/${accountId}/orders?limit=200`)).body.items.length, ordersBefore);
    assert.equal((await api('GET', `/accounts/${accountId}/installed-base`)).body.products.length, productsBefore);

    const quote = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['sla-gold'] }] });
    assert.equal(quote.status, 400, JSON.stringify(quote.body));
    assert.deepEqual(quote.body.errors.map((e: any) => e.field), ['/lines/0']);
    assert.match(quote.body.errors[0].message, /sla-gold is an add-on/);
    const preview = await api('POST', '/price-previews', { accountId, lines: [{ action: 'ADD', offeringId: offering['static-ip-29'] }] });
    assert.equal(preview.status, 400);

    // With a parent it sells, as before.
    const withParent = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['business-fiber'] }, { action: 'ADD', offeringId: offering['sla-gold'], parentLineNumber: 1 }] });
    assert.equal(withParent.status, 201, JSON.stringify(withParent.body));
  });

  test('point 11: an action the target\'s state does not allow is 409 illegal-transition on orders, as on the internal routes, naming instance, state and allowed actions', async () => {
    const fiber = await inBase(fiberId);
    const order = await api('POST', `/accounts/${accountId}/orders`, { items: [{ action: 'RESUME', productInstanceId: fiberId, expectedVersion: fiber.version }] });
    assert.equal(order.status, 409, JSON.stringify(order.body));
    assert.equal(order.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(order.body.type, '/problems/illegal-transition');
    assert.equal(order.body.id, fiberId);
    assert.equal(order.body.state, 'ACTIVE');
    assert.equal(order.body.command, 'RESUME');
    assert.equal(order.body.field, '/items/0/action');
    assert.deepEqual(order.body.allowedCommands, ['MODIFY', 'DISCONNECT', 'SUSPEND', 'MOVE', 'REPLACE', 'RENEW']);

    const internal = await api('POST', `/internal/assets/product-instances/${fiberId}/resumption:apply`, { expectedVersion: fiber.version });
    assert.equal(internal.status, 409, JSON.stringify(internal.body));
    assert.equal(internal.body.type, order.body.type);
    assert.equal(internal.body.id, fiberId);
    assert.equal(internal.body.state, 'ACTIVE');
    assert.deepEqual(await inBase(fiberId), fiber, 'nothing changed');

    // A quote line on an instance that has ended is the same conflict: 409, not a 400.
    const ip = await inBase(staticIpId);
    await completed((await submit([{ action: 'DISCONNECT', productInstanceId: staticIpId, expectedVersion: ip.version }])).orderId);
    const quote = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'MODIFY', productInstanceId: staticIpId, configuration: {} }] });
    assert.equal(quote.status, 409, JSON.stringify(quote.body));
    assert.equal(quote.body.type, '/problems/illegal-transition');
    assert.equal(quote.body.id, staticIpId);
    assert.equal(quote.body.state, 'DISCONNECTED');
    assert.equal(quote.body.field, '/lines/0/productInstanceId');
  });

  test('a nameTemplate may only name characteristics of the specification; a value label only an enum value', async () => {
    const specs = (await api('GET', '/product-specifications?limit=200')).body.items as any[];
    const fiberSpec = specs.find((x) => x.body.code === 'business-fiber');
    const badTemplate = await api('POST', '/product-offerings', {
      code: 'fiber-named-badly', name: 'Fiber', category: 'connectivity', segment: 'enterprise',
      productSpecification: { id: fiberSpec.id, version: fiberSpec.version }, nameTemplate: 'Fiber {colour}',
    });
    assert.equal(badTemplate.status, 400, JSON.stringify(badTemplate.body));
    assert.deepEqual(badTemplate.body.errors.map((e: any) => e.field), ['/nameTemplate']);
    const badLabel = await api('POST', '/product-specifications', {
      code: 'fiber-labelled-badly', name: 'Fiber',
      characteristics: [{ name: 'bandwidthMbps', valueType: 'enum', values: ['1000'], valueLabels: { '5000': '5Gbps' } }],
    });
    assert.equal(badLabel.status, 400, JSON.stringify(badLabel.body));
    assert.deepEqual(badLabel.body.errors.map((e: any) => e.field), ['/characteristics/0/valueLabels/5000']);
  });
});
