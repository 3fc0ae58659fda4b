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
    for (const code of ['internet-100', 'internet-100-prepaid-30d', 'voip', 'iptv', 'router-rental', 'triple-play', 'business-fiber', 'static-ip-29', 'managed-router', 'sla-gold']) {
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
    assert.deepEqual(enterprise.body.items.map((o: any) => o.code).sort(), ['business-fiber', 'managed-router', 'sla-gold', 'static-ip-29']);
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
      assert.equal(full.productOfferingVersion, String(sold.version));
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

  test('a second start finds the demo and loads nothing again; a second demo tenant gets its own catalog ids', async () => {
    const again = await ensureDemo(services, key);
    assert.equal(again.created, false);
    assert.equal(again.tenantId, demo.tenantId);
    const second = await ensureDemo(services, 'tnr_another-demo-key-0123456789');
    assert.equal(second.created, true);
    const mine = (await get('/product-offerings?limit=200')).body.items.map((o: any) => o.id);
    const theirs = (await call(server, 'tnr_another-demo-key-0123456789', 'GET', '/product-offerings?limit=200')).body.items.map((o: any) => o.id);
    assert.equal(theirs.length, mine.length);
    assert.ok(theirs.every((id: string) => !mine.includes(id)));
  });
});
