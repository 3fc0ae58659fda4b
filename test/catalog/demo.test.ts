/** The demo catalog loads through the service, is all published, and the demo's installed base is sold from it. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildServer } from '../../src/api/server.ts';
import { createServices, type Services } from '../../src/app.ts';
import { ensureDemo, type DemoResult } from '../../src/demo/seed.ts';
import { ManualClock } from '../../src/platform/clock.ts';
import { call } from '../helpers/app.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/db.ts';

describe('demo catalog', () => {
  let db: TestDatabase;
  let services: Services;
  let server: Awaited<ReturnType<typeof buildServer>>;
  let demo: DemoResult;
  const key = 'tnr_demo-catalog-test-key-0123456789';
  const get = (url: string) => call(server, key, 'GET', url);

  before(async () => {
    db = await createTestDatabase();
    services = createServices(db.pool, new ManualClock('2026-07-02T10:30:00Z'), { redisUrl: null });
    demo = await ensureDemo(services, key);
    server = await buildServer(services);
  });
  after(async () => {
    await server.close();
    await db.drop();
  });

  test('every offering, specification and rule is published and served', async () => {
    const offerings = await get('/product-offerings?limit=200');
    assert.equal(offerings.status, 200);
    const codes = offerings.body.items.map((o: any) => o.code);
    for (const code of ['internet-100', 'internet-100-prepaid-30d', 'voip', 'iptv', 'router-rental', 'triple-play', 'business-fiber', 'static-ip-29', 'managed-router', 'cpe-rental', 'sla-gold']) {
      assert.ok(codes.includes(code), code);
    }
    assert.ok(offerings.body.items.every((o: any) => o.status === 'active' && o.sellable));
    const internet = offerings.body.items.find((o: any) => o.code === 'internet-100');
    assert.equal(internet.body.priceLists[0].charges[0].amountMinor, '35000000', 'Rp 350.000,00 in minor units');
    const bundle = offerings.body.items.find((o: any) => o.code === 'triple-play');
    assert.equal(bundle.body.bundle.members.length, 4);
    const voip = offerings.body.items.find((o: any) => o.code === 'voip');
    assert.deepEqual(voip.body.priceLists[0].charges[1].tiers.map((t: any) => t.upTo), ['500', '2000', null]);

    const enterprise = await get('/product-offerings?segment=enterprise&sellable=true');
    assert.deepEqual(enterprise.body.items.map((o: any) => o.code).sort(), ['business-fiber', 'cpe-rental', 'managed-router', 'sla-gold', 'static-ip-29']);
    const fiber = enterprise.body.items.find((o: any) => o.code === 'business-fiber');
    const addOnIds = fiber.body.addOns.map((a: any) => a.offeringId).sort();
    assert.deepEqual(addOnIds, enterprise.body.items.filter((o: any) => o.code !== 'business-fiber').map((o: any) => o.id).sort());

    const services_ = await get('/service-specifications?limit=200');
    assert.deepEqual(services_.body.items.map((s: any) => s.body.name).sort(),
      ['IP Allocation Service', 'IPTV Service', 'Internet Access Service', 'Managed CPE Service', 'SLA Monitoring Service', 'Voice Service']);
    const resources = await get('/resource-specifications?limit=200');
    assert.deepEqual(resources.body.items.map((r: any) => r.body.resourceType).sort(), ['IP_BLOCK', 'ONT', 'PHONE_NUMBER', 'PORT', 'ROUTER', 'VLAN']);

    const rules = await get('/price-rules');
    assert.deepEqual(rules.body.items.map((r: any) => r.code), ['welcome10', 'loyalty']);
    assert.equal(rules.body.items[0].body.promoCode, 'WELCOME10');
  });

  test("the demo's product instances point at real offering and specification versions, with their snapshot", async () => {
    const base = await get(`/accounts/${demo.accountId}/installed-base`);
    assert.equal(base.status, 200);
    const offerings = (await get('/product-offerings?limit=200')).body.items;
    const products = base.body.products as any[];
    assert.deepEqual(products.map((p) => p.name).sort(), ['Business Fiber 1Gbps', 'Managed Router', 'SLA Gold', 'Static IP /29']);
    for (const product of products) {
      const full = (await get(`/product-instances/${product.productInstanceId}`)).body;
      const sold = offerings.find((o: any) => o.id === full.productOfferingId);
      assert.ok(sold, `${full.name} is sold from a real offering`);
      assert.equal(full.productOfferingVersion, sold.version);
      assert.equal(full.productSpecificationId, sold.body.productSpecification.id);
      assert.equal(full.catalogSnapshot.productOfferingId, sold.id);
      assert.deepEqual(full.catalogSnapshot.priceLists, sold.body.priceLists);
      const version = await get(`/product-offerings/${full.productOfferingId}/versions/${full.productOfferingVersion}`);
      assert.equal(version.status, 200);
      const spec = await get(`/product-specifications/${full.productSpecificationId}/versions/${full.productSpecificationVersion}`);
      assert.equal(spec.status, 200);
    }
    const fiber = products.find((p) => p.name === 'Business Fiber 1Gbps');
    const service = (await get(`/product-instances/${fiber.productInstanceId}`)).body;
    assert.deepEqual(service.configuration, { bandwidthMbps: '1000', accessType: 'FTTx' });
  });

  test("the demo's price snapshots are the ones an order makes: {currency, lines} from the pricing engine", async () => {
    const base = (await get(`/accounts/${demo.accountId}/installed-base`)).body;
    const offerings = (await get('/product-offerings?limit=200')).body.items as any[];
    const offeringId = (code: string) => offerings.find((o) => o.code === code).id;
    const line = (p: any, code: string, chargeCode: string, chargeName: string, kind: string, amount: string) => ({
      lineId: `${p.actionOriginOrderItemId}:${chargeCode}`, itemId: p.actionOriginOrderItemId, offeringId: offeringId(code), offeringVersion: 1,
      chargeCode, chargeName, kind, period: kind === 'recurring' ? 'month' : null, periodDays: null, quantity: '1',
      listAmountMinor: amount, adjustments: [], finalAmountMinor: amount, usage: null,
    });
    const byName = Object.fromEntries(await Promise.all((base.products as any[]).map(async (p) => [p.name, (await get(`/product-instances/${p.productInstanceId}`)).body])));
    const fiber = byName['Business Fiber 1Gbps'];
    assert.deepEqual(fiber.price, { currency: 'IDR', lines: [
      line(fiber, 'business-fiber', 'fiber-1g-monthly', 'Business Fiber 1Gbps monthly', 'recurring', '1500000000'),
      line(fiber, 'business-fiber', 'installation', 'Installation', 'one_time', '500000000'),
    ] });
    assert.deepEqual(byName['Static IP /29'].price, { currency: 'IDR', lines: [line(byName['Static IP /29'], 'static-ip-29', 'static-ip-monthly', 'Static IP /29 monthly', 'recurring', '75000000')] });
    assert.deepEqual(byName['Managed Router'].price, { currency: 'IDR', lines: [line(byName['Managed Router'], 'managed-router', 'managed-router-monthly', 'Managed router monthly', 'recurring', '120000000')] });
    assert.deepEqual(byName['SLA Gold'].price, { currency: 'IDR', lines: [line(byName['SLA Gold'], 'sla-gold', 'sla-gold-monthly', 'SLA Gold monthly', 'recurring', '250000000')] });

    // The same fiber ordered through the API gets the same snapshot, but for its own item.
    const order = await call(server, key, 'POST', `/accounts/${demo.accountId}/orders`, { items: [{ action: 'ADD', offeringId: offeringId('business-fiber'), configuration: { bandwidthMbps: '1000' } }] });
    assert.equal(order.status, 201, JSON.stringify(order.body));
    const ordered = (await get(`/product-instances/${order.body.items[0].productInstanceId}`)).body;
    const withoutIds = (price: any) => ({ ...price, lines: price.lines.map(({ lineId, itemId, ...rest }: any) => rest) });
    assert.deepEqual(withoutIds(ordered.price), withoutIds(fiber.price));
    assert.ok(ordered.price.lines.every((l: any) => l.itemId === ordered.actionOriginOrderItemId && l.lineId === `${ordered.actionOriginOrderItemId}:${l.chargeCode}`));
    assert.deepEqual(ordered.configuration, fiber.configuration);
  });

  test('PT Contoh Digital is an enterprise account; the household Budi Santoso a residential one owning Internet 100, priced and built as an order would', async () => {
    const enterprise = (await get(`/accounts/${demo.accountId}`)).body;
    assert.deepEqual([enterprise.name, enterprise.segment, enterprise.currency], ['PT Contoh Digital — Jakarta', 'enterprise', 'IDR']);
    const home = (await get(`/accounts/${demo.residentialAccountId}`)).body;
    assert.deepEqual([home.name, home.segment, home.currency, home.timeZone], ['Budi Santoso — Bandung', 'residential', 'IDR', 'Asia/Jakarta']);
    assert.equal((await get(`/customers/${home.customerId}`)).body.name, 'Budi Santoso');

    const offerings = (await get('/product-offerings?limit=200')).body.items as any[];
    const internetOffering = offerings.find((o) => o.code === 'internet-100');
    const products = (await get(`/accounts/${home.accountId}/installed-base`)).body.products as any[];
    assert.deepEqual(products.map((p) => [p.name, p.status]), [['Internet 100 Mbit/s', 'ACTIVE']]);
    const internet = (await get(`/product-instances/${products[0].productInstanceId}`)).body;
    assert.equal(internet.productOfferingId, internetOffering.id);
    assert.equal(internet.catalogSnapshot.segment, 'residential');
    assert.deepEqual(internet.configuration, { bandwidthMbps: 100 });
    assert.deepEqual(internet.place, { name: 'Home', street: 'Jl. Dago No. 17', city: 'Bandung', country: 'ID' });
    const line = (chargeCode: string, chargeName: string, kind: string, amount: string) => ({
      lineId: `${internet.actionOriginOrderItemId}:${chargeCode}`, itemId: internet.actionOriginOrderItemId, offeringId: internetOffering.id, offeringVersion: 1,
      chargeCode, chargeName, kind, period: kind === 'recurring' ? 'month' : null, periodDays: null, quantity: '1',
      listAmountMinor: amount, adjustments: [], finalAmountMinor: amount, usage: null,
    });
    assert.deepEqual(internet.price, { currency: 'IDR', lines: [line('monthly-fee', 'Monthly fee', 'recurring', '35000000'), line('connection-fee', 'Connection fee', 'one_time', '25000000')] });
    assert.deepEqual(products[0].serviceInstances.map((s: any) => [s.name, s.status, s.technicalParameters, s.resourceInstances.map((r: any) => [r.resourceType, r.resourceId]).sort()]), [
      ['Internet Access Service', 'ACTIVE', { profile: 'HOME-100M', vlan: 3101 }, [['ONT', 'ZTEG-B4D2E6F1'], ['PORT', 'BDG-OLT-02/1/1/5'], ['VLAN', '3101']]],
    ]);
    const subscription = (await get(`/subscriptions/${internet.subscriptionId}`)).body;
    assert.deepEqual([subscription.accountId, subscription.status, subscription.termMonths, subscription.productInstanceIds], [home.accountId, 'ACTIVE', 12, [internet.productInstanceId]]);
  });

  test('a second start finds the demo and loads nothing again; a second demo tenant gets its own catalog ids', async () => {
    const again = await ensureDemo(services, key);
    assert.equal(again.created, false);
    assert.equal(again.tenantId, demo.tenantId);
    assert.equal(again.accountId, demo.accountId);
    assert.equal(again.residentialAccountId, demo.residentialAccountId);
    assert.equal((await get('/accounts')).body.items.length, 2, 'no account created again');
    const second = await ensureDemo(services, 'tnr_another-demo-key-0123456789');
    assert.equal(second.created, true);
    const mine = (await get('/product-offerings?limit=200')).body.items.map((o: any) => o.id);
    const theirs = (await call(server, 'tnr_another-demo-key-0123456789', 'GET', '/product-offerings?limit=200')).body.items.map((o: any) => o.id);
    assert.equal(theirs.length, mine.length);
    assert.ok(theirs.every((id: string) => !mine.includes(id)));
  });
});
