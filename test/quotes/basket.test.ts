/**
 * The basket-pricing use case (quotes/basket.ts) on the demo tenant: the availability zone of a
 * line, checked by priceBasketInTx itself and through the quote path (preview, quote).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { findAccountInTx } from '../../src/customers/index.ts';
import { ensureDemo } from '../../src/demo/seed.ts';
import { assetVersionsInTx } from '../../src/inventory/index.ts';
import { inTenantTransaction, queryRows } from '../../src/platform/db.ts';
import { ValidationError } from '../../src/platform/errors.ts';
import { newId } from '../../src/platform/ids.ts';
import { priceBasketInTx, type BasketLine, type PricedBasket } from '../../src/quotes/index.ts';
import { call, createTestApp, type TestApp } from '../helpers/app.ts';

const KEY = 'tnr_basket-test-demo-key-0123456789';

describe('pricing a basket', () => {
  let app: TestApp;
  let tenantId: string;
  let homeId: string;
  let zonedId: string;

  const api = (method: 'GET' | 'POST', url: string, body?: unknown) => call(app.server, KEY, method, url, body);

  before(async () => {
    app = await createTestApp();
    const demo = await ensureDemo(app.services, KEY);
    homeId = demo.residentialAccountId;
    tenantId = (await app.services.access.authenticate(KEY))!.tenantId;
    // Home internet sold in two zones only: a copy of the demo's internet-100.
    const list = await api('GET', '/product-offerings?limit=200');
    const internet = list.body.items.find((o: any) => o.body.code === 'internet-100');
    const created = await api('POST', '/product-offerings', { ...internet.body, code: 'internet-100-jkt', name: 'Home Internet 100 (Jakarta, Bandung)', availabilityZones: ['JKT', 'BDG'] });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const published = await api('POST', `/product-offerings/${created.body.id}/versions/1/publication:apply`);
    assert.equal(published.status, 200, JSON.stringify(published.body));
    zonedId = created.body.id;
  });
  after(() => app.close());

  const line = (zone: string | null): BasketLine => ({
    lineId: newId(), action: 'ADD', offeringId: zonedId, offeringVersion: null, productInstanceId: null,
    parentLineId: null, parentProductInstanceId: null, configuration: {}, quantity: 1, usageEstimate: null, zone,
  });
  const priceBasket = (lines: BasketLine[], pricing = true): Promise<PricedBasket> => inTenantTransaction(app.db.pool, tenantId, async (tx) => {
    const account = (await findAccountInTx(tx, homeId))!;
    const installedBase = await assetVersionsInTx(tx, homeId);
    return priceBasketInTx(tx, {
      account, installedBase, lines, pointer: '/items', at: app.clock.now().toISOString(), completeBundles: false,
      pricing: pricing ? { promoCodes: [], rounding: 'HALF_UP' } : null,
    });
  });

  test('a line in a zone the offering is not sold in is refused, naming the line and the zones', async () => {
    const refused = await priceBasket([line('JKT'), line('SBY')]).then(() => null, (error: unknown) => error);
    assert.ok(refused instanceof ValidationError, String(refused));
    assert.deepEqual(refused.errors, [{ field: '/items/1/offeringId', message: 'offering internet-100-jkt is not available in zone SBY; it is in JKT, BDG' }]);
  });

  test('a line in one of its zones, or naming none, is sold and priced', async () => {
    const inZone = line('BDG');
    const noZone = line(null);
    const basket = await priceBasket([inZone, noZone]);
    assert.deepEqual(basket.lines.map((l) => [l.line.lineId, l.line.offeringVersion, l.offering?.id, l.priced, l.addedMember]), [
      [inZone.lineId, 1, zonedId, true, false],
      [noZone.lineId, 1, zonedId, true, false],
    ]);
    assert.equal(basket.price!.currency, 'IDR');
    for (const item of [inZone, noZone]) {
      assert.deepEqual(basket.price!.lines.filter((l) => l.itemId === item.lineId).map((l) => [l.chargeCode, l.listAmountMinor]).sort(), [['connection-fee', '25000000'], ['monthly-fee', '35000000']]);
    }
    const checkOnly = await priceBasket([inZone], false);
    assert.equal(checkOnly.price, null, 'without pricing the basket is checked, not priced');
    assert.equal(checkOnly.lines[0].priced, true);
  });

  test('the quote path refuses the zone too: a preview shows no price, a quote is not stored', async () => {
    const preview = await api('POST', '/price-previews', { accountId: homeId, lines: [{ action: 'ADD', offeringId: zonedId, zone: 'SBY' }] });
    assert.equal(preview.status, 400, JSON.stringify(preview.body));
    assert.equal(preview.body.type, '/problems/validation-error');
    assert.deepEqual(preview.body.errors, [{ field: '/lines/0/offeringId', message: 'offering internet-100-jkt is not available in zone SBY; it is in JKT, BDG' }]);

    const before = await queryRows(app.db.pool, 'select quote_id from quote where account_id = $1', [homeId]);
    const quote = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: zonedId, zone: 'JKT' }, { action: 'ADD', offeringId: zonedId, zone: 'SBY' }] });
    assert.equal(quote.status, 400, JSON.stringify(quote.body));
    assert.deepEqual(quote.body.errors.map((e: any) => e.field), ['/lines/1/offeringId']);
    assert.deepEqual(await queryRows(app.db.pool, 'select quote_id from quote where account_id = $1', [homeId]), before, 'nothing stored');

    const sold = await api('POST', `/accounts/${homeId}/quotes`, { lines: [{ action: 'ADD', offeringId: zonedId, zone: 'JKT' }] });
    assert.equal(sold.status, 201, JSON.stringify(sold.body));
    assert.deepEqual(sold.body.lines.map((l: any) => [l.offeringId, l.offeringVersion, l.zone]), [[zonedId, 1, 'JKT']]);
    assert.equal(sold.body.price.totals.grandTotalMinor, '60000000');
  });
});
