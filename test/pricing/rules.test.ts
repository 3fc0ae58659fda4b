/**
 * Price rules with worked examples on home fibre (IDR minor units): every rule type, validity,
 * promo eligibility, loyalty and volume tiers, account terms (override and discount), bundle
 * discounts, stacking vs exclusive, priority and tie order, the total-discount cap, rounding.
 *
 * The default fibre item has: monthly-100 Rp 350.000 (35000000), static-ip 0, installation
 * Rp 500.000 (50000000), router-rental Rp 30.000 (3000000).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ProductOfferingBody } from '../../src/catalog/model.ts';
import { BusinessRuleError } from '../../src/platform/errors.ts';
import { BUNDLE_RULE_PRIORITY, monthsBetween, priceItems } from '../../src/pricing/engine.ts';
import type { PriceResult, PriceRule, PricingContext } from '../../src/pricing/types.ts';
import { ctx, fiberItem, item, offering, OFFERING, rule, term, voipOffering } from './fixtures.ts';

function price(rules: PriceRule[], extra: Partial<PricingContext> = {}, items = [fiberItem('l')]): PriceResult {
  return priceItems(items, ctx({ rules, ...extra }));
}
function line(result: PriceResult, lineId: string) {
  const found = result.lines.find((l) => l.lineId === lineId);
  assert.ok(found, `no line ${lineId}`);
  return found;
}
function decision(result: PriceResult, ruleId: string) {
  const found = result.rules.find((r) => r.ruleId === ruleId);
  assert.ok(found, `no decision for ${ruleId}`);
  return found;
}
const adjustments = (result: PriceResult, lineId: string) => line(result, lineId).adjustments.map((a) => [a.ruleId, a.amountMinor]);

describe('percentage and fixed amount', () => {
  test('10% off recurring charges only', () => {
    const result = price([rule({ id: 'pct', type: 'percentage', priority: 10, appliesTo: { chargeKinds: ['recurring'] }, discount: { percent: '10' } })]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['pct', '-3500000']]);
    assert.equal(line(result, 'l:monthly-100').finalAmountMinor, '31500000');
    assert.deepEqual(line(result, 'l:router-rental').adjustments, []);
    assert.deepEqual(line(result, 'l:installation').adjustments, []);
    assert.deepEqual(decision(result, 'pct'), { ruleId: 'pct', ruleCode: 'pct', applied: true, reason: null, lineIds: ['l:monthly-100'] });
    assert.equal(result.totals.discountTotalMinor, '3500000');
    assert.equal(result.totals.grandTotalMinor, '84500000');
    assert.equal(line(result, 'l:monthly-100').adjustments[0].ruleType, 'percentage');
    assert.match(line(result, 'l:monthly-100').adjustments[0].description, /10% off/);
  });

  test('Rp 100.000 off the connection fee; in another currency it does not apply', () => {
    const idr = price([rule({ id: 'fix', type: 'fixed_amount', priority: 10, appliesTo: { chargeCodes: ['installation'] }, discount: { amountMinor: '10000000', currency: 'IDR' } })]);
    assert.deepEqual(adjustments(idr, 'l:installation'), [['fix', '-10000000']]);
    const usd = price([rule({ id: 'fix', type: 'fixed_amount', priority: 10, appliesTo: { chargeCodes: ['installation'] }, discount: { amountMinor: '1000', currency: 'USD' } })]);
    assert.deepEqual(line(usd, 'l:installation').adjustments, []);
    assert.deepEqual(decision(usd, 'fix'), { ruleId: 'fix', ruleCode: 'fix', applied: false, reason: 'fixed amount is in USD; the price is in IDR', lineIds: [] });
  });

  test('a fixed amount larger than the line takes it to 0, not below, and says so', () => {
    const result = price([rule({ id: 'fix', type: 'fixed_amount', priority: 10, appliesTo: { chargeCodes: ['router-rental'] }, discount: { amountMinor: '5000000', currency: 'IDR' } })]);
    assert.deepEqual(adjustments(result, 'l:router-rental'), [['fix', '-3000000']]);
    assert.equal(line(result, 'l:router-rental').finalAmountMinor, '0');
    assert.match(decision(result, 'fix').reason ?? '', /remaining amount 3000000 instead of 5000000/);
    assert.equal(decision(result, 'fix').applied, true);
  });

  test('a rule that targets another offering does not apply', () => {
    const result = price([rule({ id: 'voip-only', type: 'percentage', priority: 1, appliesTo: { offeringIds: [OFFERING.voip] }, discount: { percent: '10' } })]);
    assert.deepEqual(decision(result, 'voip-only'), { ruleId: 'voip-only', ruleCode: 'voip-only', applied: false, reason: 'targets no line of this price', lineIds: [] });
  });
});

describe('validity', () => {
  const base = { type: 'percentage' as const, priority: 1, discount: { percent: '10' } };
  test('a rule applies from validFrom (inclusive) to validTo (exclusive)', () => {
    const at = '2025-06-15T08:00:00Z';
    assert.equal(decision(price([rule({ id: 'r', ...base, validFrom: at })]), 'r').applied, true);
    const expired = decision(price([rule({ id: 'r', ...base, validTo: at })]), 'r');
    assert.deepEqual([expired.applied, expired.reason], [false, `expired: valid until ${at}`]);
    const future = decision(price([rule({ id: 'r', ...base, validFrom: '2025-07-01T00:00:00Z' })]), 'r');
    assert.deepEqual([future.applied, future.reason], [false, 'not yet valid: valid from 2025-07-01T00:00:00Z']);
  });
});

describe('promo codes', () => {
  const promo = (extra: Partial<Parameters<typeof rule>[0]> = {}) =>
    rule({ id: 'promo-fiber50', type: 'promo', priority: 5, promoCode: 'FIBER50', maxRedemptions: 100, appliesTo: { offeringIds: [OFFERING.fiber], chargeCodes: ['installation'] }, discount: { percent: '50' }, ...extra });

  test('presented (case-insensitively): half off the connection fee', () => {
    const result = price([promo()], { promoCodes: ['fiber50'], promoRedemptions: { 'promo-fiber50': 99 } });
    assert.deepEqual(adjustments(result, 'l:installation'), [['promo-fiber50', '-25000000']]);
    assert.equal(decision(result, 'promo-fiber50').applied, true);
  });

  test('not presented', () => {
    const d = decision(price([promo()], { promoCodes: ['OTHER'] }), 'promo-fiber50');
    assert.deepEqual([d.applied, d.reason], [false, 'promo code FIBER50 was not presented']);
  });

  test('expired', () => {
    const d = decision(price([promo({ validTo: '2025-06-01T00:00:00Z' })], { promoCodes: ['FIBER50'] }), 'promo-fiber50');
    assert.deepEqual([d.applied, d.reason], [false, 'expired: valid until 2025-06-01T00:00:00Z']);
  });

  test('redemptions used up', () => {
    const d = decision(price([promo()], { promoCodes: ['FIBER50'], promoRedemptions: { 'promo-fiber50': 100 } }), 'promo-fiber50');
    assert.deepEqual([d.applied, d.reason], [false, 'promo code FIBER50 is used up: 100 of 100 redemptions']);
  });

  test('not eligible: the offering is not one the promo is for', () => {
    const result = priceItems([item('v', OFFERING.voip, voipOffering('graduated'))], ctx({ rules: [promo()], promoCodes: ['FIBER50'] }));
    const d = decision(result, 'promo-fiber50');
    assert.deepEqual([d.applied, d.reason, d.lineIds], [false, 'targets no line of this price', []]);
    assert.equal(result.totals.discountTotalMinor, '0');
  });

  test('a fixed-amount promo', () => {
    const result = price([promo({ discount: { amountMinor: '20000000', currency: 'IDR' } })], { promoCodes: ['FIBER50'] });
    assert.deepEqual(adjustments(result, 'l:installation'), [['promo-fiber50', '-20000000']]);
  });
});

describe('loyalty', () => {
  const loyalty = rule({ id: 'loyal', type: 'loyalty', priority: 20, appliesTo: { chargeKinds: ['recurring'] }, loyaltyTiers: [{ minMonths: 12, percent: '5' }, { minMonths: 24, percent: '10' }] });
  const monthly = (customerSince: string | null) => price([loyalty], { customerSince });

  test('the highest tier reached by calendar months of tenure', () => {
    assert.deepEqual(adjustments(monthly('2023-06-15T08:00:00Z'), 'l:monthly-100'), [['loyal', '-3500000']]); // 24 months: 10%
    assert.deepEqual(adjustments(monthly('2023-06-15T08:00:01Z'), 'l:monthly-100'), [['loyal', '-1750000']]); // 23 months: 5%
    assert.deepEqual(adjustments(monthly('2020-01-01T00:00:00Z'), 'l:monthly-100'), [['loyal', '-3500000']]);
    assert.match(line(monthly('2023-06-15T08:00:00Z'), 'l:monthly-100').adjustments[0].description, /10% off for 24 months/);
  });

  test('below the first tier, new customer', () => {
    const short = decision(monthly('2024-07-01T00:00:00Z'), 'loyal');
    assert.deepEqual([short.applied, short.reason], [false, 'tenure of 11 months is below the first loyalty tier (12 months)']);
    const fresh = decision(monthly(null), 'loyal');
    assert.deepEqual([fresh.applied, fresh.reason], [false, 'new customer: no tenure for a loyalty discount']);
  });

  test('calendar months clamp to the month end', () => {
    const ms = (s: string) => Date.parse(s);
    assert.equal(monthsBetween(ms('2025-01-31T00:00:00Z'), ms('2025-02-27T23:59:59Z')), 0);
    assert.equal(monthsBetween(ms('2025-01-31T00:00:00Z'), ms('2025-02-28T00:00:00Z')), 1);
    assert.equal(monthsBetween(ms('2024-01-31T00:00:00Z'), ms('2024-02-29T00:00:00Z')), 1);
    assert.equal(monthsBetween(ms('2024-02-29T12:00:00Z'), ms('2025-02-28T12:00:00Z')), 12);
    assert.equal(monthsBetween(ms('2023-06-15T08:00:00Z'), ms('2025-06-15T07:59:59Z')), 23);
  });
});

describe('volume', () => {
  const volume = rule({ id: 'vol', type: 'volume', priority: 30, appliesTo: { chargeCodes: ['monthly-100'] }, volumeTiers: [{ minQuantity: 5, percent: '5' }, { minQuantity: 10, percent: '10' }] });
  test('the quantity picks the highest tier it reaches', () => {
    const twelve = price([volume], {}, [fiberItem('l', {}, { quantity: 12 })]);
    assert.deepEqual(adjustments(twelve, 'l:monthly-100'), [['vol', '-42000000']]); // 10% of 12 × Rp 350.000
    const seven = price([volume], {}, [fiberItem('l', {}, { quantity: 7 })]);
    assert.deepEqual(adjustments(seven, 'l:monthly-100'), [['vol', '-12250000']]); // 5% of 7 × Rp 350.000
    const two = decision(price([volume], {}, [fiberItem('l', {}, { quantity: 2 })]), 'vol');
    assert.deepEqual([two.applied, two.reason], [false, 'quantity 2 of line l:monthly-100 is below the first volume tier (5)']);
  });
});

describe('account terms', () => {
  test('an override replaces the amount, per unit, and discounts then apply to the negotiated price', () => {
    // The tenant rule has a lower priority number, yet the override is a price and comes first.
    const result = price([
      term({ id: 'term-price', priority: 100, appliesTo: { chargeCodes: ['monthly-100'] }, overrideAmountMinor: '30000000' }),
      rule({ id: 'pct', type: 'percentage', priority: 1, appliesTo: { chargeKinds: ['recurring'] }, discount: { percent: '10' } }),
    ], {}, [fiberItem('l', {}, { quantity: 2 })]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['term-price', '-10000000'], ['pct', '-6000000']]);
    assert.equal(line(result, 'l:monthly-100').finalAmountMinor, '54000000');
    assert.equal(line(result, 'l:monthly-100').adjustments[0].ruleType, 'account_term');
    assert.match(line(result, 'l:monthly-100').adjustments[0].description, /price 60000000 instead of 70000000/);
  });

  test('an override never raises a price', () => {
    const d = decision(price([term({ id: 't', appliesTo: { chargeCodes: ['monthly-100'] }, overrideAmountMinor: '40000000' })]), 't');
    assert.deepEqual([d.applied, d.reason], [false, 'override 40000000 is not below the current amount 35000000 of line l:monthly-100']);
  });

  test('an override does not apply to usage lines', () => {
    const result = priceItems([item('v', OFFERING.voip, voipOffering('graduated'), { usageEstimate: { 'voip-minutes': '500' } })], ctx({ rules: [term({ id: 't', appliesTo: { chargeKinds: ['usage'] }, overrideAmountMinor: '0' })] }));
    assert.equal(decision(result, 't').applied, false);
    assert.match(decision(result, 't').reason ?? '', /does not apply to usage/);
  });

  test('a term discount applies within its validity only', () => {
    const discount = (validTo?: string) => price([term({ id: 't', validFrom: '2025-01-01T00:00:00Z', validTo, discount: { percent: '15' }, appliesTo: { chargeCodes: ['monthly-100'] } })]);
    assert.deepEqual(adjustments(discount('2026-01-01T00:00:00Z'), 'l:monthly-100'), [['t', '-5250000']]);
    const expired = decision(discount('2025-06-01T00:00:00Z'), 't');
    assert.deepEqual([expired.applied, expired.reason], [false, 'expired: valid until 2025-06-01T00:00:00Z']);
    const early = decision(price([term({ id: 't', validFrom: '2025-07-01T00:00:00Z', discount: { percent: '15' } })]), 't');
    assert.equal(early.applied, false);
  });

  test('a term with both: override, then its own discount on the negotiated price', () => {
    const result = price([term({ id: 't', stacking: 'exclusive', appliesTo: { chargeCodes: ['monthly-100'] }, overrideAmountMinor: '30000000', discount: { percent: '10' } })]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['t', '-5000000'], ['t', '-3000000']]);
  });
});

describe('bundles', () => {
  const triplePlay: ProductOfferingBody = offering('triple-play', [{ kind: 'one_time', code: 'bundle-activation', name: 'Bundle activation', amountMinor: '10000000' }], {
    category: 'bundle',
    bundle: {
      members: [
        { offeringId: OFFERING.fiber, included: true, minCount: 1, maxCount: 1 },
        { offeringId: OFFERING.voip, included: false, minCount: 0, maxCount: 2 },
      ],
      discountPercent: '10',
    },
  });
  const items = () => [
    item('b', OFFERING.bundle, triplePlay),
    fiberItem('f', {}, { bundleItemId: 'b' }),
    item('v', OFFERING.voip, voipOffering('graduated'), { bundleItemId: 'b' }),
    fiberItem('other'),
  ];

  test('the bundle discount applies to the bundle and its members, not to other items', () => {
    const result = priceItems(items(), ctx());
    assert.deepEqual(adjustments(result, 'b:bundle-activation'), [['bundle:b', '-1000000']]);
    assert.deepEqual(adjustments(result, 'f:monthly-100'), [['bundle:b', '-3500000']]);
    assert.deepEqual(adjustments(result, 'f:installation'), [['bundle:b', '-5000000']]);
    assert.deepEqual(adjustments(result, 'v:voip-monthly'), [['bundle:b', '-500000']]);
    assert.deepEqual(line(result, 'other:monthly-100').adjustments, []);
    const d = decision(result, 'bundle:b');
    assert.equal(d.applied, true);
    assert.equal(d.ruleCode, 'bundle:triple-play');
    assert.deepEqual(d.lineIds, ['b:bundle-activation', 'f:monthly-100', 'f:installation', 'f:router-rental', 'v:voip-monthly']);
    assert.equal(line(result, 'f:monthly-100').adjustments[0].ruleType, 'bundle');
  });

  test('bundle rules sit at priority 500 among the other rules', () => {
    const result = priceItems(items(), ctx({
      rules: [
        rule({ id: 'late-fixed', type: 'fixed_amount', priority: BUNDLE_RULE_PRIORITY + 1, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { amountMinor: '1000000', currency: 'IDR' } }),
        rule({ id: 'early-fixed', type: 'fixed_amount', priority: BUNDLE_RULE_PRIORITY - 1, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { amountMinor: '5000000', currency: 'IDR' } }),
      ],
    }));
    // 35000000 − 5000000 = 30000000; 10% → 3000000; then − 1000000.
    assert.deepEqual(adjustments(result, 'f:monthly-100'), [['early-fixed', '-5000000'], ['bundle:b', '-3000000'], ['late-fixed', '-1000000']]);
    assert.deepEqual(result.rules.map((r) => r.ruleId), ['early-fixed', 'bundle:b', 'late-fixed']);
  });

  test('a bundle without a price list of its own is priced by its members', () => {
    const bare = { ...triplePlay, priceLists: [] };
    const result = priceItems([item('b', OFFERING.bundle, bare), fiberItem('f', {}, { bundleItemId: 'b' })], ctx());
    assert.equal(result.lines.filter((l) => l.itemId === 'b').length, 0);
    assert.deepEqual(adjustments(result, 'f:monthly-100'), [['bundle:b', '-3500000']]);
  });

  test('a member that names an item which is not a bundle, or is not a member, is refused', () => {
    assert.throws(() => priceItems([fiberItem('x'), fiberItem('f', {}, { bundleItemId: 'x' })], ctx()), BusinessRuleError);
    const iptv = offering('iptv', [{ kind: 'recurring', code: 'tv', name: 'IPTV', amountMinor: '10000000', period: 'month' }]);
    assert.throws(() => priceItems([item('b', OFFERING.bundle, triplePlay), item('t', OFFERING.iptv, iptv, { bundleItemId: 'b' })], ctx()), /not a member of bundle triple-play/);
  });
});

describe('stacking, exclusivity and order', () => {
  const onMonthly = { appliesTo: { chargeCodes: ['monthly-100'] } };

  test('stacked percentages apply to the running amount', () => {
    const result = price([
      rule({ id: 'a', type: 'percentage', priority: 1, ...onMonthly, discount: { percent: '10' } }),
      rule({ id: 'b', type: 'percentage', priority: 2, ...onMonthly, discount: { percent: '20' } }),
    ]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['a', '-3500000'], ['b', '-6300000']]);
    assert.equal(line(result, 'l:monthly-100').finalAmountMinor, '25200000');
  });

  test('an exclusive rule first closes the line to later rules', () => {
    const result = price([
      rule({ id: 'excl', type: 'promo', priority: 1, stacking: 'exclusive', promoCode: 'NEWHOME', ...onMonthly, discount: { percent: '20' } }),
      rule({ id: 'later', type: 'percentage', priority: 2, discount: { percent: '10' } }),
    ], { promoCodes: ['NEWHOME'] });
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['excl', '-7000000']]);
    assert.deepEqual(adjustments(result, 'l:installation'), [['later', '-5000000']]); // not targeted by the exclusive rule
    assert.deepEqual(decision(result, 'later').lineIds, ['l:installation', 'l:router-rental']);
  });

  test('an exclusive rule after a discount is not combinable', () => {
    const result = price([
      rule({ id: 'first', type: 'percentage', priority: 1, ...onMonthly, discount: { percent: '10' } }),
      rule({ id: 'excl', type: 'percentage', priority: 2, stacking: 'exclusive', ...onMonthly, discount: { percent: '30' } }),
    ]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['first', '-3500000']]);
    const d = decision(result, 'excl');
    assert.deepEqual([d.applied, d.reason], [false, 'not combinable: line l:monthly-100 was already changed by first']);
  });

  test('an exclusive rule does not combine with a negotiated price (an override counts as a change)', () => {
    const result = price([
      term({ id: 'term', ...onMonthly, overrideAmountMinor: '30000000' }),
      rule({ id: 'excl', type: 'percentage', priority: 0, stacking: 'exclusive', ...onMonthly, discount: { percent: '30' } }),
    ]);
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['term', '-5000000']]);
    assert.equal(decision(result, 'excl').applied, false);
  });

  test('priority decides the order: fixed then percent differs from percent then fixed', () => {
    const both = (fixedPriority: number, pctPriority: number) => price([
      rule({ id: 'fixed', type: 'fixed_amount', priority: fixedPriority, ...onMonthly, discount: { amountMinor: '5000000', currency: 'IDR' } }),
      rule({ id: 'pct', type: 'percentage', priority: pctPriority, ...onMonthly, discount: { percent: '10' } }),
    ]);
    assert.deepEqual(adjustments(both(1, 2), 'l:monthly-100'), [['fixed', '-5000000'], ['pct', '-3000000']]);
    assert.deepEqual(adjustments(both(2, 1), 'l:monthly-100'), [['pct', '-3500000'], ['fixed', '-5000000']]);
  });

  test('equal priorities are ordered by rule id, never by input order', () => {
    const rules = [
      rule({ id: 'b-pct', type: 'percentage', priority: 5, ...onMonthly, discount: { percent: '10' } }),
      rule({ id: 'a-fixed', type: 'fixed_amount', priority: 5, ...onMonthly, discount: { amountMinor: '5000000', currency: 'IDR' } }),
    ];
    const forward = price(rules);
    const backward = price([...rules].reverse());
    assert.deepEqual(forward, backward);
    assert.deepEqual(adjustments(forward, 'l:monthly-100'), [['a-fixed', '-5000000'], ['b-pct', '-3000000']]);
    assert.deepEqual(forward.rules.map((r) => r.ruleId), ['a-fixed', 'b-pct']);
  });

  test('duplicate rule ids are refused', () => {
    assert.throws(() => price([rule({ id: 'x', type: 'percentage', priority: 1, discount: { percent: '1' } }), rule({ id: 'x', type: 'percentage', priority: 2, discount: { percent: '2' } })]), BusinessRuleError);
  });
});

describe('cap on the total discount', () => {
  test('maxTotalDiscountPercent 50: the second 30% is cut to what is left, and the decision says so', () => {
    const result = price([
      rule({ id: 'r1', type: 'percentage', priority: 1, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { percent: '30' } }),
      rule({ id: 'r2', type: 'percentage', priority: 2, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { percent: '30' } }),
      rule({ id: 'r3', type: 'percentage', priority: 3, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { percent: '5' } }),
    ], { maxTotalDiscountPercent: '50' });
    // 30% of 35000000 = 10500000; 30% of 24500000 = 7350000, but only 17500000 − 10500000 = 7000000 is left.
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['r1', '-10500000'], ['r2', '-7000000']]);
    assert.equal(line(result, 'l:monthly-100').finalAmountMinor, '17500000');
    assert.match(line(result, 'l:monthly-100').adjustments[1].description, /\(capped\)/);
    const d2 = decision(result, 'r2');
    assert.equal(d2.applied, true);
    assert.equal(d2.reason, 'capped on line l:monthly-100 at 7000000 instead of 7350000: a line\'s discounts may not exceed 50% of 35000000');
    const d3 = decision(result, 'r3');
    assert.equal(d3.applied, false);
    assert.match(d3.reason ?? '', /capped on line l:monthly-100 at 0 instead of 875000/);
  });

  test('the cap is measured on the negotiated price after an override', () => {
    const result = price([
      term({ id: 't', appliesTo: { chargeCodes: ['monthly-100'] }, overrideAmountMinor: '20000000' }),
      rule({ id: 'big', type: 'percentage', priority: 1, appliesTo: { chargeCodes: ['monthly-100'] }, discount: { percent: '80' } }),
    ], { maxTotalDiscountPercent: '25' });
    assert.deepEqual(adjustments(result, 'l:monthly-100'), [['t', '-15000000'], ['big', '-5000000']]);
  });

  test('with cap 0 no discount applies', () => {
    const result = price([rule({ id: 'r', type: 'percentage', priority: 1, discount: { percent: '10' } })], { maxTotalDiscountPercent: '0' });
    assert.equal(result.totals.discountTotalMinor, '0');
    assert.equal(decision(result, 'r').applied, false);
  });
});

describe('rounding', () => {
  const odd = (amountMinor: string) => [item('x', OFFERING.business, offering('odd', [{ kind: 'recurring', code: 'monthly', name: 'Monthly', amountMinor, period: 'month' }]))];
  const pct = [rule({ id: 'r', type: 'percentage', priority: 1, discount: { percent: '12.5' } })];
  const discountWith = (amountMinor: string, rounding: 'HALF_UP' | 'HALF_EVEN' | 'DOWN') => price(pct, { rounding }, odd(amountMinor)).lines[0].adjustments[0].amountMinor;

  test('12.5% of Rp 350.000,04 = 4375000.5 minor units: HALF_UP rounds up, HALF_EVEN to even, DOWN truncates', () => {
    assert.equal(discountWith('35000004', 'HALF_UP'), '-4375001');
    assert.equal(discountWith('35000004', 'HALF_EVEN'), '-4375000');
    assert.equal(discountWith('35000004', 'DOWN'), '-4375000');
  });

  test('12.5% of Rp 350.000,12 = 4375001.5: HALF_EVEN rounds up to the even neighbour', () => {
    assert.equal(discountWith('35000012', 'HALF_UP'), '-4375002');
    assert.equal(discountWith('35000012', 'HALF_EVEN'), '-4375002');
    assert.equal(discountWith('35000012', 'DOWN'), '-4375001');
  });

  test('the result keeps its rounding and final = list + adjustments exactly', () => {
    const result = price(pct, { rounding: 'HALF_EVEN' }, odd('35000004'));
    assert.equal(result.rounding, 'HALF_EVEN');
    assert.equal(result.lines[0].finalAmountMinor, '30625004');
    assert.equal(result.totals.discountTotalMinor, '4375000');
  });
});
