/**
 * Who may buy an offering (issue 8 point 3, last sentence: "A residential offering was accepted
 * for a business account without complaint"), through the HTTP API on the demo tenant: the
 * demo's PT Contoh Digital is an enterprise account, Budi Santoso a residential one. Orders,
 * quotes and price previews refuse an offering of another segment, naming the field and both
 * segments, and change nothing; the residential account buys the home offerings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ensureDemo } from '../../src/demo/seed.ts';
import { checkAllTenants } from '../../src/inventory/check.ts';
import { queryRows } from '../../src/platform/db.ts';
import { call, createTestApp, drainFulfillment, getOk, type TestApp } from '../helpers/app.ts';
import { ScriptedProvisioner } from '../fulfillment/scripted-provisioner.ts';

const KEY = 'tnr_segments-test-key-0123456789';

describe('an account is sold only the offerings of its segment', () => {
  let app: TestApp;
  let enterpriseId: string;
  let homeId: string;
  const scripted = new ScriptedProvisioner();
  const offering: Record<string, string> = {};

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);
  const get = (url: string) => getOk(app.server, KEY, url);
  const drain = () => drainFulfillment(app, 'segments-worker');
  const base = async (account: string) => (await get(`/accounts/${account}/installed-base`)).products as any[];
  /** Everything a refused request must leave as it was. */
  const state = async () => ({
    products: await queryRows(app.db.pool, 'select product_instance_id, version, status, configuration_snapshot, price_snapshot, pending_change from product_instance order by product_instance_id'),
    history: (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from product_instance_history'))[0].n,
    guards: await queryRows(app.db.pool, `select product_instance_id, status from asset_operation_guard order by product_instance_id, status`),
    orders: (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from product_order'))[0].n,
    quotes: (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from quote'))[0].n,
    outbox: (await queryRows<{ n: number }>(app.db.pool, 'select count(*)::int as n from outbox_event'))[0].n,
  });
  const assertConsistent = async () => {
    const report = await checkAllTenants(app.db.pool, app.clock.now());
    assert.deepEqual(report.findings, [], 'tenure check is clean');
  };

  before(async () => {
    app = await createTestApp({ provisioners: [scripted], fulfillment: { routing: { defaultProvisioner: 'scripted', byStep: { renew: 'internal' }, maxAttempts: 3 } } });
    const demo = await ensureDemo(app.services, KEY);
    enterpriseId = demo.accountId;
    homeId = demo.residentialAccountId;
    for (const o of (await get('/product-offerings?limit=200')).items) offering[o.body.code] = o.id;
  });
  after(() => app.close());

  test('the demo has an enterprise and a residential account, each listed with its segment', async () => {
    const accounts = (await get('/accounts')).items as any[];
    assert.deepEqual(accounts.map((a) => [a.accountId, a.name, a.segment]).sort((x, y) => x[1].localeCompare(y[1])), [
      [homeId, 'Budi Santoso — Bandung', 'residential'],
      [enterpriseId, 'PT Contoh Digital — Jakarta', 'enterprise'],
    ]);
    assert.deepEqual((await base(enterpriseId)).map((p) => p.name).sort(), ['Business Fiber 1Gbps', 'Managed Router', 'SLA Gold', 'Static IP /29']);
    assert.deepEqual((await base(homeId)).map((p) => [p.name, p.status]), [['Internet 100 Mbit/s', 'ACTIVE']]);
  });

  test("the issue's case: REPLACE of the demo's Managed Router by the residential router-rental is a 400 naming the item and both segments; nothing changes", async () => {
    const router = (await base(enterpriseId)).find((p) => p.name === 'Managed Router');
    const before = await state();
    const replace = await api('POST', `/accounts/${enterpriseId}/orders`, {
      items: [{ action: 'REPLACE', productInstanceId: router.productInstanceId, expectedVersion: router.version, replacementOfferingId: offering['router-rental'] }],
    });
    assert.equal(replace.status, 400, JSON.stringify(replace.body));
    assert.equal(replace.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(replace.body.type, '/problems/validation-error');
    assert.deepEqual(replace.body.errors, [{
      field: '/items/0/replacementOfferingId',
      message: `offering router-rental is for residential customers; account ${enterpriseId} is enterprise`,
    }]);
    // Nothing changed: products (version, status, configuration, price), history, guards, orders, outbox.
    assert.deepEqual(await state(), before);
    const after = (await get(`/product-instances/${router.productInstanceId}`));
    assert.equal(after.version, router.version);
    assert.equal(after.status, 'ACTIVE');
    assert.equal(after.activeOperation, null);

    // An ADD of a home offering is refused the same way, as is a business offering for the household.
    const add = await api('POST', `/accounts/${enterpriseId}/orders`, { items: [{ action: 'ADD', offeringId: offering['iptv'] }] });
    assert.equal(add.status, 400);
    assert.deepEqual(add.body.errors, [{ field: '/items/0/offeringId', message: `offering iptv is for residential customers; account ${enterpriseId} is enterprise` }]);
    const business = await api('POST', `/accounts/${homeId}/orders`, { items: [{ action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' } }] });
    assert.equal(business.status, 400);
    assert.deepEqual(business.body.errors, [{ field: '/items/0/offeringId', message: `offering business-fiber is for enterprise customers; account ${homeId} is residential` }]);
    assert.deepEqual(await state(), before);
  });

  test('a quote line or a price-preview line of another segment is a 400 naming /lines/N/offeringId; nothing is stored', async () => {
    const before = await state();
    const lines = [
      { action: 'ADD', offeringId: offering['business-fiber'], configuration: { bandwidthMbps: '1000' } },
      { action: 'ADD', offeringId: offering['triple-play'] },
    ];
    const quote = await api('POST', `/accounts/${enterpriseId}/quotes`, { lines });
    assert.equal(quote.status, 400, JSON.stringify(quote.body));
    assert.equal(quote.body.type, '/problems/validation-error');
    assert.deepEqual(quote.body.errors, [{ field: '/lines/1/offeringId', message: `offering triple-play is for residential customers; account ${enterpriseId} is enterprise` }]);

    const preview = await api('POST', '/price-previews', { accountId: enterpriseId, lines });
    assert.equal(preview.status, 400, JSON.stringify(preview.body));
    assert.equal(preview.body.type, '/problems/validation-error');
    assert.deepEqual(preview.body.errors, quote.body.errors);

    const forHome = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: offering['internet-100'] }, { action: 'ADD', offeringId: offering['sla-gold'], parentLineNumber: 1 }] });
    assert.equal(forHome.status, 400);
    assert.deepEqual(forHome.body.errors, [{ field: '/lines/1/offeringId', message: `offering sla-gold is for enterprise customers; account ${homeId} is residential` }]);
    assert.deepEqual(await state(), before);

    // The same lines without the other segment's offering are priced.
    assert.equal((await api('POST', `/accounts/${enterpriseId}/quotes`, { lines: [lines[0]] })).status, 201);
    const homePreview = await api('POST', '/price-previews', { accountId: homeId, lines: [lines[1]], promoCodes: ['WELCOME10'] });
    assert.equal(homePreview.status, 200, JSON.stringify(homePreview.body));
    assert.deepEqual(homePreview.body.lines.map((l: any) => l.chargeCode).sort(), ['calls', 'connection-fee', 'iptv-basic', 'line-fee', 'monthly-fee']);
  });

  test('the residential account buys Internet 100 with a rental router: the whole resulting installed base', async () => {
    scripted.script = (task) => {
      if (task.step === 'reserve') {
        const id = { ont: 'ZTEG-B4D2E7A0', port: 'BDG-OLT-02/1/1/6', vlan: '3102', router: 'TPL-C6-0077' }[task.specification?.code as string];
        if (id) return { outcome: 'done', externalId: id, data: {} };
      }
      if (task.step === 'configure') return { outcome: 'done', externalId: `CFG-${task.specification?.code}`, data: { profile: task.specification?.code === 'internet-access' ? 'HOME-100M' : 'CPE-HOME' } };
      return undefined;
    };
    const existing = (await base(homeId)).map((p) => p.productInstanceId);
    const submitted = await api('POST', `/accounts/${homeId}/orders`, {
      items: [
        { action: 'ADD', offeringId: offering['internet-100'], subscription: { termMonths: 12 } },
        { action: 'ADD', offeringId: offering['router-rental'], parentItemNumber: 1, configuration: { model: 'ZTE H196A' } },
      ],
    });
    assert.equal(submitted.status, 201, JSON.stringify(submitted.body));
    await drain();
    scripted.script = () => undefined;
    const order = await get(`/orders/${submitted.body.orderId}`);
    assert.equal(order.status, 'completed', JSON.stringify(order.items.map((i: any) => i.error)));
    const [internetId, routerId] = order.items.map((i: any) => i.productInstanceId);

    const products = await base(homeId);
    assert.deepEqual(products.map((p) => p.productInstanceId).filter((id) => !existing.includes(id)).sort(), [internetId, routerId].sort());
    const internet = products.find((p) => p.productInstanceId === internetId);
    const router = products.find((p) => p.productInstanceId === routerId);
    const now = app.clock.now().toISOString();

    // Products: name, status, configuration, price snapshot from the home offerings' price lists.
    assert.deepEqual([internet.name, internet.status, internet.configuration, internet.activationDate], ['Internet 100 Mbit/s', 'ACTIVE', { bandwidthMbps: 100 }, now]);
    assert.deepEqual([router.name, router.status, router.configuration], ['Wi-Fi Router Rental', 'ACTIVE', { model: 'ZTE H196A' }]);
    const terms = (p: any) => p.price.lines.map((l: any) => [l.offeringId, l.chargeCode, l.kind, l.listAmountMinor, l.finalAmountMinor]);
    assert.equal(internet.price.currency, 'IDR');
    assert.deepEqual(terms(internet), [
      [offering['internet-100'], 'monthly-fee', 'recurring', '35000000', '35000000'],
      [offering['internet-100'], 'connection-fee', 'one_time', '25000000', '25000000'],
    ]);
    assert.deepEqual(terms(router), [[offering['router-rental'], 'router-rental', 'rental', '7000000', '7000000']]);
    assert.equal((await get(`/product-instances/${internetId}`)).catalogSnapshot.segment, 'residential');

    // Services and resources, from the fulfillment tasks.
    const services = (p: any) => p.serviceInstances.map((s: any) => [s.name, s.status, s.externalServiceId, s.technicalParameters, s.resourceInstances.map((r: any) => [r.resourceType, r.resourceId, r.status]).sort()]);
    assert.deepEqual(services(internet), [['Internet Access Service', 'ACTIVE', 'CFG-internet-access', { profile: 'HOME-100M' }, [['ONT', 'ZTEG-B4D2E7A0', 'ALLOCATED'], ['PORT', 'BDG-OLT-02/1/1/6', 'ALLOCATED'], ['VLAN', '3102', 'ALLOCATED']]]]);
    assert.deepEqual(services(router), [['Managed CPE Service', 'ACTIVE', 'CFG-managed-cpe', { profile: 'CPE-HOME' }, [['ROUTER', 'TPL-C6-0077', 'ALLOCATED']]]]);

    // Relationships: the rental router is an add-on of the internet; one subscription of 12 months for both.
    assert.deepEqual(internet.relationships, []);
    assert.deepEqual(router.relationships.map((r: any) => [r.type, r.targetProductInstanceId]), [['ADDON_OF', internetId]]);
    assert.equal(router.subscriptionId, internet.subscriptionId);
    const subscription = await get(`/subscriptions/${internet.subscriptionId}`);
    assert.deepEqual([subscription.status, subscription.termMonths, subscription.accountId], ['ACTIVE', 12, homeId]);
    assert.deepEqual(new Set(subscription.productInstanceIds), new Set([internetId, routerId]));

    // History and events: created then activated, each caused by its order item.
    for (const [id, item] of [[internetId, order.items[0]], [routerId, order.items[1]]]) {
      const history = (await get(`/product-instances/${id}/history?limit=50`)).items as any[];
      assert.deepEqual(history.map((h) => [h.version, h.changeType, h.afterState.status]), [[1, 'CREATED', 'PENDING_ACTIVATION'], [2, 'ACTIVATION_STARTED', 'PENDING_ACTIVATION'], [3, 'ACTIVATED', 'ACTIVE']]);
      assert.ok(history.every((h) => h.orderItemId === item.itemId), 'every row names the order item');
      const events = await queryRows<{ event_type: string; payload: any }>(app.db.pool, 'select event_type, payload from outbox_event where aggregate_id = $1 order by position', [id]);
      assert.deepEqual(events.map((e) => e.event_type), ['ProductInstanceCreated', 'ProductInstanceActivationPending', 'ProductInstanceActivated']);
      assert.equal(events[0].payload.changeSummary.operation, 'ADD');
    }
    await assertConsistent();
  });
});
