/**
 * Every charge model of seed 001 with worked ISP examples (IDR minor units): recurring per
 * month / year / N days, prepaid N days, usage on graduated and volume tiers, a one-time
 * connection fee, equipment rental as its own line; charge conditions and per-unit multipliers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BusinessRuleError, ValidationError } from '../../src/platform/errors.ts';
import { priceItems } from '../../src/pricing/engine.ts';
import { ctx, fiberItem, item, offering, OFFERING, voipOffering } from './fixtures.ts';

function byId<T extends { lineId: string }>(lines: T[]) {
  return Object.fromEntries(lines.map((l) => [l.lineId, l]));
}

describe('flat-rate, one-time and rental lines of home fibre', () => {
  test('default configuration: 100 Mbit/s monthly, connection fee, router rental on its own line', () => {
    const result = priceItems([fiberItem()], ctx());
    assert.deepEqual(result.lines.map((l) => [l.lineId, l.kind, l.period, l.listAmountMinor, l.finalAmountMinor]), [
      ['line-1:monthly-100', 'recurring', 'month', '35000000', '35000000'],
      ['line-1:static-ip', 'recurring', 'month', '0', '0'],
      ['line-1:installation', 'one_time', null, '50000000', '50000000'],
      ['line-1:router-rental', 'rental', 'month', '3000000', '3000000'],
    ]);
    assert.deepEqual(result.totals, {
      oneTimeMinor: '50000000',
      prepaidMinor: '0',
      recurring: [{ period: 'month', periodDays: null, amountMinor: '38000000' }],
      usageEstimateMinor: '0',
      grandTotalMinor: '88000000',
      listTotalMinor: '88000000',
      discountTotalMinor: '0',
    });
    assert.deepEqual(result.rules, []);
    assert.equal(result.currency, 'IDR');
  });

  test('condition picks the bandwidth price (an enum condition written as a number matches too)', () => {
    const lines = byId(priceItems([fiberItem('l', { bandwidthMbps: 300 })], ctx()).lines);
    assert.equal(lines['l:monthly-300'].listAmountMinor, '50000000');
    assert.equal(lines['l:monthly-100'], undefined);
    assert.equal(lines['l:monthly-1000'], undefined);
  });

  test('a boolean condition drops the router rental when the customer brings a router', () => {
    const lines = byId(priceItems([fiberItem('l', { rentRouter: false })], ctx()).lines);
    assert.equal(lines['l:router-rental'], undefined);
  });

  test('perUnitOf multiplies by the characteristic value and quantity multiplies every amount', () => {
    const result = priceItems([fiberItem('l', { staticIps: 3, bandwidthMbps: '1000' }, { quantity: 2 })], ctx());
    const lines = byId(result.lines);
    assert.equal(lines['l:static-ip'].listAmountMinor, '30000000'); // Rp 50.000 × 3 IPs × 2
    assert.equal(lines['l:static-ip'].quantity, '2');
    assert.equal(lines['l:monthly-1000'].listAmountMinor, '250000000');
    assert.equal(lines['l:installation'].listAmountMinor, '100000000');
    assert.deepEqual(result.totals.recurring, [{ period: 'month', periodDays: null, amountMinor: '286000000' }]);
  });

  test('an invalid configuration is refused with the field of the characteristic', () => {
    assert.throws(() => priceItems([fiberItem('l', { bandwidthMbps: 200 })], ctx()), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.equal(e.errors[0].field, '/configuration/bandwidthMbps');
      assert.match(e.message, /item l/);
      return true;
    });
  });
});

describe('periods', () => {
  test('yearly, every-7-days and prepaid-30-days lines are totalled per period', () => {
    const business = offering('business-annual', [{ kind: 'recurring', code: 'annual', name: 'Business 1 Gbit/s, yearly', amountMinor: '1200000000', period: 'year' }]);
    const hotspot = offering('hotspot-weekly', [{ kind: 'recurring', code: 'weekly', name: 'Hotspot 7 days', amountMinor: '5000000', period: 'days', periodDays: 7 }]);
    const prepaid = offering('fiber-prepaid', [{ kind: 'prepaid', code: 'prepaid-30', name: 'Internet 30 days', amountMinor: '30000000', days: 30 }]);
    const result = priceItems([
      item('a', OFFERING.business, business),
      item('b', OFFERING.hotspot, hotspot, { quantity: 3 }),
      item('c', OFFERING.prepaid, prepaid),
      fiberItem('d'),
    ], ctx());
    const lines = byId(result.lines);
    assert.deepEqual([lines['a:annual'].period, lines['a:annual'].periodDays], ['year', null]);
    assert.deepEqual([lines['b:weekly'].period, lines['b:weekly'].periodDays, lines['b:weekly'].listAmountMinor], ['days', 7, '15000000']);
    assert.deepEqual([lines['c:prepaid-30'].kind, lines['c:prepaid-30'].period, lines['c:prepaid-30'].periodDays], ['prepaid', 'days', 30]);
    assert.deepEqual(result.totals.recurring, [
      { period: 'month', periodDays: null, amountMinor: '38000000' },
      { period: 'year', periodDays: null, amountMinor: '1200000000' },
      { period: 'days', periodDays: 7, amountMinor: '15000000' },
    ]);
    assert.equal(result.totals.prepaidMinor, '30000000');
    assert.equal(result.totals.oneTimeMinor, '50000000');
    assert.equal(result.totals.grandTotalMinor, String(38000000 + 1200000000 + 15000000 + 30000000 + 50000000));
  });

  test('a days period without periodDays is a catalog error', () => {
    const broken = offering('broken', [{ kind: 'recurring', code: 'weekly', name: 'Weekly', amountMinor: '100', period: 'days' }]);
    assert.throws(() => priceItems([item('a', OFFERING.hotspot, broken)], ctx()), BusinessRuleError);
  });
});

describe('usage (VoIP minutes)', () => {
  test('graduated tiers: 100 free minutes, Rp 150 up to 1000, Rp 100 after', () => {
    const result = priceItems([item('v', OFFERING.voip, voipOffering('graduated'), { usageEstimate: { 'voip-minutes': '1500' } })], ctx());
    const usage = byId(result.lines)['v:voip-minutes'];
    // 100 × 0 + 900 × Rp 150 + 500 × Rp 100 = Rp 185.000
    assert.equal(usage.listAmountMinor, '18500000');
    assert.equal(usage.kind, 'usage');
    assert.deepEqual(usage.usage, {
      unit: 'minute',
      tierMode: 'graduated',
      tiers: [{ upTo: '100', unitPrice: '0' }, { upTo: '1000', unitPrice: '15000' }, { upTo: null, unitPrice: '10000' }],
      estimatedQuantity: '1500',
    });
    assert.equal(result.totals.usageEstimateMinor, '18500000');
    assert.deepEqual(result.totals.recurring, [{ period: 'month', periodDays: null, amountMinor: '5000000' }]);
  });

  test('graduated: an estimate on a tier bound stays in the lower tier', () => {
    const at = (estimate: string) => byId(priceItems([item('v', OFFERING.voip, voipOffering('graduated'), { usageEstimate: { 'voip-minutes': estimate } })], ctx()).lines)['v:voip-minutes'].listAmountMinor;
    assert.equal(at('100'), '0');
    assert.equal(at('1000'), '13500000'); // 900 × Rp 150
    assert.equal(at('0'), '0');
    assert.equal(at('150.5'), '757500'); // 50.5 × Rp 150
  });

  test('volume tiers: every minute at the price of the tier the total falls in', () => {
    const at = (estimate: string) => byId(priceItems([item('v', OFFERING.voip, voipOffering('volume'), { usageEstimate: { 'voip-minutes': estimate } })], ctx()).lines)['v:voip-minutes'].listAmountMinor;
    assert.equal(at('80'), '0');
    assert.equal(at('1000'), '15000000'); // 1000 × Rp 150
    assert.equal(at('1500'), '15000000'); // 1500 × Rp 100
    assert.equal(at('1001'), '10010000');
  });

  test('seed 001 example: VoIP at 1.5 RUB a minute (150 kopecks), 42.5 minutes', () => {
    const voip = offering('voip-ru', [{ kind: 'usage', code: 'minutes', name: 'VoIP', unit: 'minute', tierMode: 'graduated', tiers: [{ upTo: null, unitPrice: '150' }] }], { priceLists: [{ currency: 'RUB', charges: [{ kind: 'usage', code: 'minutes', name: 'VoIP', unit: 'minute', tierMode: 'graduated', tiers: [{ upTo: null, unitPrice: '150' }] }] }] });
    const line = priceItems([item('v', OFFERING.voip, voip, { usageEstimate: { minutes: '42.5' } })], ctx({ currency: 'RUB' })).lines[0];
    assert.equal(line.listAmountMinor, '6375'); // 63,75 ₽
  });

  test('a fractional rate is rounded to minor units with the context rounding', () => {
    const data = offering('mobile-data', [{ kind: 'usage', code: 'data-mb', name: 'Data', unit: 'MB', tierMode: 'graduated', tiers: [{ upTo: null, unitPrice: '0.5' }] }]);
    const priced = (rounding: 'HALF_UP' | 'HALF_EVEN' | 'DOWN', estimate: string) =>
      priceItems([item('d', OFFERING.voip, data, { usageEstimate: { 'data-mb': estimate } })], ctx({ rounding })).lines[0].listAmountMinor;
    assert.deepEqual(['HALF_UP', 'HALF_EVEN', 'DOWN'].map((m) => priced(m as 'HALF_UP', '5')), ['3', '2', '2']); // 2.5
    assert.deepEqual(['HALF_UP', 'HALF_EVEN', 'DOWN'].map((m) => priced(m as 'HALF_UP', '7')), ['4', '4', '3']); // 3.5
  });

  test('no estimate: the rate card is shown with an amount of 0', () => {
    const line = byId(priceItems([item('v', OFFERING.voip, voipOffering('graduated'))], ctx()).lines)['v:voip-minutes'];
    assert.equal(line.listAmountMinor, '0');
    assert.equal(line.usage?.estimatedQuantity, null);
    assert.equal(line.usage?.tiers.length, 3);
  });

  test('a malformed estimate is a validation error; an estimate beyond a bounded last tier a business error', () => {
    assert.throws(() => priceItems([item('v', OFFERING.voip, voipOffering('graduated'), { usageEstimate: { 'voip-minutes': '-5' } })], ctx()), ValidationError);
    const bounded = offering('bounded', [{ kind: 'usage', code: 'sms', name: 'SMS', unit: 'sms', tierMode: 'volume', tiers: [{ upTo: '100', unitPrice: '20000' }] }]);
    assert.throws(() => priceItems([item('v', OFFERING.voip, bounded, { usageEstimate: { sms: '101' } })], ctx()), /beyond its last tier/);
  });
});

describe('price lists and items', () => {
  test('no price list in the currency: a business error naming the offering and its currencies', () => {
    assert.throws(() => priceItems([fiberItem()], ctx({ currency: 'USD' })), (e: unknown) => {
      assert.ok(e instanceof BusinessRuleError);
      assert.match(e.message, /offering fiber-home .* has no price list in USD; it is priced in IDR/);
      return true;
    });
  });

  test('the price list of the context currency is used', () => {
    const dual = offering('dual', [{ kind: 'one_time', code: 'fee', name: 'Fee', amountMinor: '100' }], {
      priceLists: [
        { currency: 'USD', charges: [{ kind: 'one_time', code: 'fee', name: 'Fee', amountMinor: '999' }] },
        { currency: 'IDR', charges: [{ kind: 'one_time', code: 'fee', name: 'Fee', amountMinor: '15000000' }] },
      ],
    });
    assert.equal(priceItems([item('x', OFFERING.business, dual)], ctx()).lines[0].listAmountMinor, '15000000');
    assert.equal(priceItems([item('x', OFFERING.business, dual)], ctx({ currency: 'USD' })).lines[0].listAmountMinor, '999');
  });

  test('quantity must be a positive integer; item ids unique', () => {
    assert.throws(() => priceItems([fiberItem('a', {}, { quantity: 0 })], ctx()), ValidationError);
    assert.throws(() => priceItems([fiberItem('a', {}, { quantity: 1.5 })], ctx()), ValidationError);
    assert.throws(() => priceItems([fiberItem('a'), fiberItem('a')], ctx()), ValidationError);
  });

  test('lines have stable ids and keep item and charge order', () => {
    const result = priceItems([fiberItem('b'), item('a', OFFERING.voip, voipOffering('volume'))], ctx());
    assert.deepEqual(result.lines.map((l) => l.lineId), ['b:monthly-100', 'b:static-ip', 'b:installation', 'b:router-rental', 'a:voip-monthly', 'a:voip-minutes']);
    assert.deepEqual(priceItems([fiberItem('b'), item('a', OFFERING.voip, voipOffering('volume'))], ctx()), result);
  });
});
