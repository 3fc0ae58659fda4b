/**
 * One shape each (issue 8, point 12): a catalog version is a JSON integer wherever an instance
 * names one (product offering, product specification, service specification), and a product
 * instance's price is the price snapshot `{currency, lines}` of the pricing engine — for the
 * demo's products, a product an order sold and a product a REPLACE order created alike, now and
 * as of a past instant, in history states and in quote snapshots. The internal routes take
 * only that: a string version or another price shape is a 400 and writes nothing.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Value } from '@sinclair/typebox/value';
import { ensureDemo } from '../../src/demo/seed.ts';
import { queryOne } from '../../src/platform/db.ts';
import { PriceSnapshotSchema } from '../../src/pricing/snapshot.ts';
import { call, createTestApp, drainFulfillment, getOk, type TestApp } from '../helpers/app.ts';
import { ScriptedProvisioner } from '../fulfillment/scripted-provisioner.ts';

const KEY = 'tnr_one-shape-test-demo-key-0123456789';
const DAY = 24 * 3_600_000;
const SURABAYA = { name: 'Surabaya branch', street: 'Jl. Basuki Rahmat 8', city: 'Surabaya', country: 'ID' };

describe('one shape each: integer catalog versions, the {currency, lines} price snapshot', () => {
  let app: TestApp;
  let accountId: string;
  const offering: Record<string, any> = {};
  const scripted = new ScriptedProvisioner();

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const get = (url: string) => getOk(app.server, KEY, url);
  const drain = () => drainFulfillment(app, 'one-shape-worker');
  const completedOrder = async (items: unknown[]) => {
    const submitted = await api('POST', `/accounts/${accountId}/orders`, { items });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    await drain();
    const done = await get(`/orders/${submitted.body.orderId}`);
    assert.equal(done.status, 'completed', JSON.stringify(done.items.map((i: any) => i.error)));
    return done;
  };
  const counts = () => queryOne<{ products: number; history: number; outbox: number }>(app.db.pool, `
    select (select count(*)::int from product_instance) as products,
           (select count(*)::int from product_instance_history) as history,
           (select count(*)::int from outbox_event) as outbox`);

  /** A version as the catalog numbers it: a JSON integer ≥ 1, never the string "1". */
  const assertVersion = (value: unknown, where: string) => assert.ok(Number.isInteger(value) && (value as number) >= 1, `${where} is an integer version, not ${JSON.stringify(value)}`);
  /** The price snapshot's one shape, line fields as the pricing engine writes them. */
  const assertPriceSnapshot = (price: any, where: string) => {
    assert.deepEqual(Object.keys(price).sort(), ['currency', 'lines'], `${where}: ${JSON.stringify(price)}`);
    assert.equal(price.currency, 'IDR', where);
    assert.ok(price.lines.length > 0, `${where} has priced lines`);
    assert.ok(Value.Check(PriceSnapshotSchema, price), `${where}: ${[...Value.Errors(PriceSnapshotSchema, price)].map((e) => `${e.path} ${e.message}`).join('; ')}`);
  };

  before(async () => {
    app = await createTestApp({ provisioners: [scripted], fulfillment: { routing: { defaultProvisioner: 'scripted', byStep: { renew: 'internal' }, maxAttempts: 3 } } });
    accountId = (await ensureDemo(app.services, KEY)).accountId;
    for (const o of (await get('/product-offerings?limit=200')).items) offering[o.body.code] = o;
  });
  after(() => app.close());

  test('the demo\'s products, an order\'s and a REPLACE\'s: integer versions and {currency, lines} everywhere they are shown', async () => {
    const demo = (await get(`/accounts/${accountId}/installed-base`)).products as any[];
    const router = demo.find((p) => p.name === 'Managed Router');
    const demoFiber = demo.find((p) => p.name === 'Business Fiber 1Gbps');
    const asOfBefore = app.clock.now().toISOString();

    app.clock.advance(DAY);
    const sale = await completedOrder([{ action: 'ADD', offeringId: offering['business-fiber'].id, configuration: { bandwidthMbps: '2000' }, place: SURABAYA, subscription: { termMonths: 12 } }]);
    assertVersion(sale.items[0].offeringVersion, 'the ADD order item\'s offeringVersion');
    const soldId = sale.items[0].productInstanceId;
    app.clock.advance(DAY);
    const replacement = await completedOrder([{ action: 'REPLACE', productInstanceId: router.productInstanceId, expectedVersion: router.version, replacementOfferingId: offering['cpe-rental'].id }]);
    const replacedById = replacement.items[0].productInstanceId;
    assert.notEqual(replacedById, router.productInstanceId);

    const base = (await get(`/accounts/${accountId}/installed-base`)).products as any[];
    const live = base.filter((p) => p.status !== 'DISCONNECTED');
    assert.deepEqual(live.map((p) => p.productInstanceId).sort(), [...demo.filter((p) => p.productInstanceId !== router.productInstanceId).map((p) => p.productInstanceId), soldId, replacedById].sort());
    for (const p of base) {
      assertVersion(p.productOfferingVersion, `installed base: ${p.name}'s productOfferingVersion`);
      assertPriceSnapshot(p.price, `installed base: ${p.name}'s price`);

      const full = await get(`/product-instances/${p.productInstanceId}`);
      assertVersion(full.productOfferingVersion, `${p.name}'s productOfferingVersion`);
      assertVersion(full.productSpecificationVersion, `${p.name}'s productSpecificationVersion`);
      assert.deepEqual(full.price, p.price);
      // The catalog entries the versions name exist; the price lines were priced from that offering version.
      assert.equal((await api('GET', `/product-offerings/${full.productOfferingId}/versions/${full.productOfferingVersion}`)).status, 200);
      assert.equal((await api('GET', `/product-specifications/${full.productSpecificationId}/versions/${full.productSpecificationVersion}`)).status, 200);
      for (const line of p.price.lines) {
        assert.equal(line.offeringId, full.productOfferingId, `${p.name}: ${line.chargeCode} is a line of its own offering`);
        assert.equal(line.offeringVersion, full.productOfferingVersion, `${p.name}: ${line.chargeCode} was priced from the version it was sold from`);
      }

      for (const s of p.serviceInstances) {
        const service = await get(`/service-instances/${s.serviceInstanceId}`);
        assertVersion(service.serviceSpecificationVersion, `${p.name}: ${service.name}'s serviceSpecificationVersion`);
        assert.equal((await api('GET', `/service-specifications/${service.serviceSpecificationId}/versions/${service.serviceSpecificationVersion}`)).status, 200);
        for (const h of (await get(`/service-instances/${s.serviceInstanceId}/history?limit=200`)).items) {
          assertVersion(h.afterState.serviceSpecificationVersion, `${service.name} history v${h.version}`);
        }
      }
      for (const h of (await get(`/product-instances/${p.productInstanceId}/history?limit=200`)).items) {
        assertVersion(h.afterState.productOfferingVersion, `${p.name} history v${h.version} afterState.productOfferingVersion`);
        assertVersion(h.afterState.productSpecificationVersion, `${p.name} history v${h.version} afterState.productSpecificationVersion`);
        assertPriceSnapshot(h.afterState.price, `${p.name} history v${h.version} afterState.price`);
        if (h.beforeState) assertVersion(h.beforeState.productOfferingVersion, `${p.name} history v${h.version} beforeState`);
      }
    }
    // The three kinds this test is about are all there: the demo's, the sale's, the replacement's.
    const sold = base.find((p) => p.productInstanceId === soldId);
    assert.equal(sold.name, 'Business Fiber 2Gbps');
    assert.deepEqual(sold.price.lines.map((l: any) => [l.chargeCode, l.kind, l.finalAmountMinor]), [['fiber-2g-monthly', 'recurring', '2500000000'], ['installation', 'one_time', '500000000']]);
    const successor = base.find((p) => p.productInstanceId === replacedById);
    assert.equal(successor.productOfferingId, offering['cpe-rental'].id);
    assert.equal(successor.productOfferingVersion, offering['cpe-rental'].version);
    assert.deepEqual(successor.price.lines.map((l: any) => [l.chargeCode, l.kind, l.finalAmountMinor]), [['cpe-rental', 'rental', '7000000']]);
    assert.deepEqual(base.find((p) => p.productInstanceId === demoFiber.productInstanceId).price.lines.map((l: any) => [l.chargeCode, l.kind]), [['fiber-1g-monthly', 'recurring'], ['installation', 'one_time']]);

    // As of before the orders (rebuilt from history), the demo has the same shapes.
    const then = (await get(`/accounts/${accountId}/installed-base?asOf=${encodeURIComponent(asOfBefore)}`)).products as any[];
    assert.equal(then.length, demo.length);
    for (const p of then) {
      assertVersion(p.productOfferingVersion, `as of ${asOfBefore}: ${p.name}`);
      assertPriceSnapshot(p.price, `as of ${asOfBefore}: ${p.name}'s price`);
    }

    // A quote's installed-base snapshot names the versions as integers too.
    const quote = await api('POST', `/accounts/${accountId}/quotes`, { lines: [{ action: 'MODIFY', productInstanceId: soldId, configuration: { bandwidthMbps: '1000' } }] });
    assert.equal(quote.status, 201, JSON.stringify(quote.body));
    assert.ok(quote.body.snapshot.assetVersions.length >= base.length - 1);
    for (const a of quote.body.snapshot.assetVersions) assertVersion(a.productOfferingVersion, `quote snapshot: ${a.name}`);
    const stored = await get(`/quotes/${quote.body.quoteId}`);
    for (const a of stored.snapshot.assetVersions) assertVersion(a.productOfferingVersion, `stored quote snapshot: ${a.name}`);
  });

  test('the internal routes take integer versions and the {currency, lines} price snapshot only; anything else is a 400 that writes nothing', async () => {
    const fiber = offering['business-fiber'];
    const item = { orderId: randomUUID(), orderItemId: randomUUID() };
    const line = (chargeCode: string, kind: string, amountMinor: string) => ({
      lineId: `${item.orderItemId}:${chargeCode}`, itemId: item.orderItemId, offeringId: fiber.id, offeringVersion: fiber.version,
      chargeCode, chargeName: chargeCode, kind, period: kind === 'recurring' ? 'month' : null, periodDays: null, quantity: '1',
      listAmountMinor: amountMinor, adjustments: [], finalAmountMinor: amountMinor, usage: null,
    });
    const price = { currency: 'IDR', lines: [line('fiber-1g-monthly', 'recurring', '1500000000'), line('installation', 'one_time', '500000000')] };
    const body = {
      accountId, ...item,
      productOfferingId: fiber.id, productOfferingVersion: fiber.version,
      productSpecificationId: fiber.body.productSpecification.id, productSpecificationVersion: fiber.body.productSpecification.version,
      name: 'Business Fiber 1Gbps', catalogSnapshot: { offeringCode: 'business-fiber' }, configuration: { bandwidthMbps: '1000' }, price,
      place: SURABAYA, subscription: { termMonths: 12 },
    };
    const refused = async (payload: unknown, fieldPrefix: string, url = '/internal/assets/product-instances') => {
      const response = await api('POST', url, payload);
      assert.equal(response.status, 400, JSON.stringify(response.body));
      assert.equal(response.body.type, '/problems/validation-error');
      assert.ok(response.body.errors.length > 0 && response.body.errors.every((e: any) => e.field.startsWith(fieldPrefix)), `${fieldPrefix}: ${JSON.stringify(response.body.errors)}`);
    };
    const before = await counts();
    await refused({ ...body, productOfferingVersion: String(fiber.version) }, '/productOfferingVersion');
    await refused({ ...body, productSpecificationVersion: '1' }, '/productSpecificationVersion');
    await refused({ ...body, price: { currency: 'IDR', recurring: { period: 'month', amountMinor: '1500000000' } } }, '/price');
    await refused({ ...body, price: {} }, '/price');
    await refused({ ...body, price: { currency: 'IDR', lines: [{ ...price.lines[0], finalAmountMinor: 1500000000 }] } }, '/price/lines/0/finalAmountMinor');
    await refused({ ...body, price: { currency: 'IDR', lines: [{ ...price.lines[0], listAmountMinor: '15000.00' }] } }, '/price/lines/0/listAmountMinor');
    await refused({ ...body, price: { ...price, currency: 'USD' } }, '/price/currency');
    assert.deepEqual(await counts(), before, 'nothing was written');

    const created = await api('POST', '/internal/assets/product-instances', body);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const instance = created.body.productInstance;
    assert.equal(instance.productOfferingVersion, fiber.version);
    assert.equal(instance.productSpecificationVersion, fiber.body.productSpecification.version);
    assert.deepEqual(instance.price, price);

    // A modification's price and offering version are held to the same rules.
    const path = `/internal/assets/product-instances/${instance.productInstanceId}`;
    assert.equal((await api('POST', `${path}/activation:start`, { ...item, expectedVersion: 1 })).status, 200);
    assert.equal((await api('POST', `${path}/activation:complete`, { ...item, expectedVersion: 2 })).status, 200);
    const change = { orderId: randomUUID(), orderItemId: randomUUID(), expectedVersion: 3 };
    const afterCreate = await counts();
    await refused({ ...change, requestedChange: { price: { currency: 'IDR', recurring: { period: 'month', amountMinor: '2500000000' } } } }, '/requestedChange/price', `${path}/modification:start`);
    await refused({ ...change, requestedChange: { productOfferingVersion: '1' } }, '/requestedChange/productOfferingVersion', `${path}/modification:start`);
    await refused({ ...change, requestedChange: { productOfferingVersion: 99 } }, '/requestedChange/productOfferingVersion', `${path}/modification:start`);
    await refused({ ...change, requestedChange: { price: { ...price, currency: 'EUR' } } }, '/requestedChange/price/currency', `${path}/modification:start`);
    await refused({ orderId: change.orderId, orderItemId: change.orderItemId, serviceSpecificationId: randomUUID(), serviceSpecificationVersion: '1' }, '/serviceSpecificationVersion', `${path}/service-attachment:apply`);
    assert.deepEqual(await counts(), afterCreate, 'nothing was written');
    assert.equal((await get(path.replace('/internal/assets', ''))).status, 'ACTIVE');
  });
});
