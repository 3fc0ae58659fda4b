/**
 * Property tests of the pricing engine over random offerings, charges, configurations, bundles,
 * rules (every type, validities, promo codes, tiers, account terms), caps and rounding modes:
 *   - every amount is an integer string; no line, total or final amount is negative; no float;
 *   - final = list + adjustments; Σ finals = grand total = list total − discount total, and the
 *     totals per kind add up to the grand total;
 *   - a percent rule takes at most its percent of the running amount (after rounding), a fixed
 *     rule at most its amount, and a line's discounts at most the cap of its (overridden) base;
 *   - the result does not depend on the order of ctx.rules or ctx.promoCodes (priorities are
 *     drawn from a tiny range, so ties are frequent and settled by rule id).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import type { Charge, ProductOfferingBody, ProductSpecificationBody, RoundingMode } from '../../src/catalog/model.ts';
import { priceItems } from '../../src/pricing/engine.ts';
import type { PriceResult, PriceRule, PricingContext, PricingItem } from '../../src/pricing/types.ts';
import { characteristic } from './fixtures.ts';

const AT = '2025-06-15T08:00:00Z';
const OFFERING_IDS = ['0ff00000-0000-4000-8000-000000000001', '0ff00000-0000-4000-8000-000000000002', '0ff00000-0000-4000-8000-000000000003'];
const BUNDLE_ID = '0ff00000-0000-4000-8000-0000000000bb';
const CHARGE_CODES = ['monthly', 'setup', 'router', 'prepaid', 'voip', 'extra-ip'];
const PROMO_CODES = ['FIBER50', 'MERDEKA', 'RAMADAN'];
const DATES = ['2024-01-01T00:00:00Z', '2025-06-15T07:59:59Z', AT, '2025-06-15T08:00:01Z', '2026-01-01T00:00:00Z'];

const spec: ProductSpecificationBody = {
  code: 'random-product',
  name: 'Random product',
  characteristics: [
    characteristic({ name: 'plan', valueType: 'enum', values: ['basic', 'pro'], default: 'basic' }),
    characteristic({ name: 'extras', valueType: 'integer', min: '0', max: '10', default: 0 }),
    characteristic({ name: 'ratio', valueType: 'decimal', min: '0', max: '3', default: '1' }),
  ],
  serviceSpecifications: [],
};

/** A percentage string with up to two decimals, 0–100. */
const percentArb = fc.integer({ min: 0, max: 10000 }).map((n) => `${Math.floor(n / 100)}${n % 100 ? '.' + String(n % 100).padStart(2, '0') : ''}`);
const minorArb = fc.bigInt({ min: 0n, max: 10n ** 11n }).map(String);
const smallMinorArb = fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: 10n ** 9n })).map(String);
const decimalArb = (maxInt: number) => fc.tuple(fc.integer({ min: 0, max: maxInt }), fc.integer({ min: 0, max: 999 })).map(([i, f]) => (f ? `${i}.${String(f).padStart(3, '0')}` : `${i}`));

const conditionArb = fc.option(fc.constantFrom('basic', 'pro').map((equals) => ({ characteristic: 'plan', equals })), { nil: undefined });
const perUnitArb = fc.option(fc.constantFrom('extras', 'ratio'), { nil: undefined });
const periodArb = fc.oneof(
  fc.constant({ period: 'month' as const }),
  fc.constant({ period: 'year' as const }),
  fc.integer({ min: 1, max: 90 }).map((periodDays) => ({ period: 'days' as const, periodDays })),
);

const tiersArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 500 }), decimalArb(20000)), { minLength: 0, maxLength: 3 }).chain((bounded) =>
  decimalArb(20000).map((lastPrice) => {
    let upTo = 0;
    const tiers = bounded.map(([step, unitPrice]) => {
      upTo += step;
      return { upTo: String(upTo), unitPrice };
    });
    return [...tiers, { upTo: null, unitPrice: lastPrice }];
  }),
);

function chargeArb(code: string): fc.Arbitrary<Charge> {
  const common = fc.record({ condition: conditionArb, perUnitOf: perUnitArb });
  const name = code;
  return fc.oneof(
    fc.tuple(common, minorArb, periodArb).map(([c, amountMinor, p]) => ({ kind: 'recurring' as const, code, name, ...strip(c), amountMinor, ...p })),
    fc.tuple(common, minorArb, periodArb).map(([c, amountMinor, p]) => ({ kind: 'rental' as const, code, name, ...strip(c), amountMinor, ...p })),
    fc.tuple(common, minorArb, fc.integer({ min: 1, max: 365 })).map(([c, amountMinor, days]) => ({ kind: 'prepaid' as const, code, name, ...strip(c), amountMinor, days })),
    fc.tuple(common, minorArb).map(([c, amountMinor]) => ({ kind: 'one_time' as const, code, name, ...strip(c), amountMinor })),
    fc.tuple(conditionArb, fc.constantFrom('graduated' as const, 'volume' as const), tiersArb).map(([condition, tierMode, tiers]) => ({ kind: 'usage' as const, code, name, ...strip({ condition }), unit: 'minute', tierMode, tiers })),
  );
}

function strip<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const chargesArb = fc.subarray(CHARGE_CODES, { minLength: 1 }).chain((codes) => fc.tuple(...codes.map(chargeArb)));

const offeringArb = (code: string) => chargesArb.map((charges): ProductOfferingBody => ({
  code,
  name: code,
  category: 'internet',
  segment: 'residential',
  availabilityZones: [],
  sellable: true,
  productSpecification: { id: '0ff00000-0000-4000-8000-0000000000ff', version: 1 },
  priceLists: [{ currency: 'IDR', charges }],
  addOns: [],
}));

const configurationArb = fc.record({
  plan: fc.constantFrom('basic', 'pro'),
  extras: fc.integer({ min: 0, max: 10 }),
  ratio: decimalArb(2),
}, { requiredKeys: [] });

const usageEstimateArb = fc.option(fc.record({ voip: decimalArb(3000), monthly: decimalArb(3000), setup: decimalArb(10) }, { requiredKeys: [] }), { nil: undefined });

const itemArb = (i: number) => fc.record({
  offeringIndex: fc.integer({ min: 0, max: OFFERING_IDS.length - 1 }),
  configuration: configurationArb,
  quantity: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 })),
  usageEstimate: usageEstimateArb,
  inBundle: fc.boolean(),
}).map((x) => ({ ...x, itemId: `item-${i}` }));

const targetArb = fc.record({
  offeringIds: fc.subarray(OFFERING_IDS, { minLength: 1 }),
  chargeKinds: fc.subarray(['recurring', 'prepaid', 'one_time', 'rental', 'usage'] as const, { minLength: 1 }),
  chargeCodes: fc.subarray(CHARGE_CODES, { minLength: 1 }),
}, { requiredKeys: [] });

const discountArb = fc.oneof(
  percentArb.map((percent) => ({ percent })),
  fc.tuple(smallMinorArb, fc.constantFrom('IDR', 'IDR', 'USD')).map(([amountMinor, currency]) => ({ amountMinor, currency })),
);

const ruleArb = (id: string): fc.Arbitrary<PriceRule> => {
  const common = fc.record({
    priority: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(500)),
    stacking: fc.constantFrom('stack' as const, 'exclusive' as const),
    appliesTo: targetArb,
    validFrom: fc.option(fc.constantFrom(...DATES), { nil: undefined }),
    validTo: fc.option(fc.constantFrom(...DATES), { nil: undefined }),
  });
  const base = (c: { validFrom?: string; validTo?: string }) => ({ id, source: 'rule' as const, code: id, name: id, ...strip(c) });
  return fc.oneof(
    fc.tuple(common, discountArb).map(([c, discount]) => ({ ...base(c), ...strip(c), type: 'percentage' as const, discount }) as PriceRule),
    fc.tuple(common, discountArb).map(([c, discount]) => ({ ...base(c), ...strip(c), type: 'fixed_amount' as const, discount }) as PriceRule),
    fc.tuple(common, discountArb, fc.constantFrom(...PROMO_CODES), fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined })).map(
      ([c, discount, promoCode, maxRedemptions]) => ({ ...base(c), ...strip(c), type: 'promo' as const, discount, promoCode, ...strip({ maxRedemptions }) }) as PriceRule,
    ),
    fc.tuple(common, fc.array(fc.record({ minMonths: fc.integer({ min: 0, max: 60 }), percent: percentArb }), { minLength: 1, maxLength: 4 })).map(
      ([c, loyaltyTiers]) => ({ ...base(c), ...strip(c), type: 'loyalty' as const, loyaltyTiers }) as PriceRule,
    ),
    fc.tuple(common, fc.array(fc.record({ minQuantity: fc.integer({ min: 1, max: 30 }), percent: percentArb }), { minLength: 1, maxLength: 4 })).map(
      ([c, volumeTiers]) => ({ ...base(c), ...strip(c), type: 'volume' as const, volumeTiers }) as PriceRule,
    ),
    // Account terms carry an override or a discount (never both here, so adjustments can be attributed).
    fc.tuple(common, fc.oneof(smallMinorArb.map((overrideAmountMinor) => ({ overrideAmountMinor })), discountArb.map((discount) => ({ discount }))), fc.constantFrom(...DATES)).map(
      ([c, what, validFrom]) => ({ id, source: 'account_term' as const, type: 'account_term' as const, code: id, name: id, priority: c.priority, stacking: c.stacking, appliesTo: c.appliesTo, validFrom, ...strip({ validTo: c.validTo }), ...what }) as PriceRule,
    ),
  );
};

interface Scenario {
  items: PricingItem[];
  ctx: PricingContext;
}

const RULE_IDS = ['0a', '1b', '2c', '3d', '4e', '5f', '6g', '7h', 'bundle:zz', 'Zeta', 'alpha'];

const scenarioArb: fc.Arbitrary<Scenario> = fc
  .record({
    offerings: fc.tuple(...OFFERING_IDS.map((_, i) => offeringArb(`offering-${i}`))),
    items: fc.integer({ min: 1, max: 4 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => itemArb(i)))),
    bundle: fc.option(fc.tuple(percentArb, fc.boolean(), minorArb), { nil: null }),
    ruleIds: fc.subarray(RULE_IDS),
    rounding: fc.constantFrom<RoundingMode>('HALF_UP', 'HALF_EVEN', 'DOWN'),
    cap: fc.option(percentArb, { nil: undefined }),
    customerSince: fc.option(fc.constantFrom('2020-02-29T00:00:00Z', '2024-06-15T08:00:00Z', '2025-01-31T00:00:00Z', '2025-06-15T08:00:00Z'), { nil: null }),
    promoCodes: fc.subarray([...PROMO_CODES, 'fiber50', 'UNKNOWN']),
    redemptions: fc.dictionary(fc.constantFrom(...RULE_IDS), fc.integer({ min: 0, max: 4 })),
  })
  .chain((s) => fc.tuple(...s.ruleIds.map(ruleArb)).map((rules) => ({ ...s, rules })))
  .map((s): Scenario => {
    const items: PricingItem[] = s.items.map((x) => ({
      itemId: x.itemId,
      offering: { id: OFFERING_IDS[x.offeringIndex], version: 1, body: s.offerings[x.offeringIndex] },
      specification: spec,
      configuration: x.configuration,
      quantity: x.quantity,
      ...(x.usageEstimate ? { usageEstimate: x.usageEstimate as Record<string, string> } : {}),
    }));
    if (s.bundle) {
      const [discountPercent, ownCharge, amountMinor] = s.bundle;
      const body: ProductOfferingBody = {
        code: 'bundle',
        name: 'Bundle',
        category: 'bundle',
        segment: 'any',
        availabilityZones: [],
        sellable: true,
        priceLists: ownCharge ? [{ currency: 'IDR', charges: [{ kind: 'one_time', code: 'activation', name: 'Activation', amountMinor }] }] : [],
        addOns: [],
        bundle: { members: OFFERING_IDS.map((offeringId) => ({ offeringId, included: false, minCount: 0, maxCount: 5 })), discountPercent },
      };
      items.forEach((it, i) => {
        if (s.items[i].inBundle) it.bundleItemId = 'bundle-item';
      });
      items.push({ itemId: 'bundle-item', offering: { id: BUNDLE_ID, version: 1, body }, specification: null, configuration: {}, quantity: 1 });
    }
    return {
      items,
      ctx: {
        accountId: 'acc',
        currency: 'IDR',
        at: AT,
        customerSince: s.customerSince,
        promoCodes: s.promoCodes,
        rules: s.rules,
        promoRedemptions: s.redemptions,
        rounding: s.rounding,
        ...(s.cap !== undefined ? { maxTotalDiscountPercent: s.cap } : {}),
      },
    };
  });

const INTEGER = /^(0|[1-9][0-9]*)$/;
const SIGNED = /^(0|-?[1-9][0-9]*)$/;
const MODE = { HALF_UP: Decimal.ROUND_HALF_UP, HALF_EVEN: Decimal.ROUND_HALF_EVEN, DOWN: Decimal.ROUND_DOWN } as const;
const D = (s: string) => new Decimal(s);

/** Numbers anywhere in the result must be integers (versions, periodDays); money is strings. */
function assertNoFloat(value: unknown, path = '$'): void {
  if (typeof value === 'number') assert.ok(Number.isInteger(value), `${path} is a float ${value}`);
  else if (Array.isArray(value)) value.forEach((v, i) => assertNoFloat(v, `${path}[${i}]`));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) assertNoFloat(v, `${path}.${k}`);
}

/** The largest percent a rule could take on a line, or null for a fixed amount. */
function maxPercentOf(rule: PriceRule | undefined, scenario: Scenario, ruleId: string): { percent?: Decimal; fixed?: Decimal } {
  if (ruleId.startsWith('bundle:') && !rule) {
    const bundle = scenario.items.find((i) => `bundle:${i.itemId}` === ruleId)!.offering.body.bundle!;
    return { percent: D(bundle.discountPercent) };
  }
  assert.ok(rule, `adjustment by unknown rule ${ruleId}`);
  if (rule.type === 'loyalty') return { percent: Decimal.max(...rule.loyaltyTiers!.map((t) => D(t.percent))) };
  if (rule.type === 'volume') return { percent: Decimal.max(...rule.volumeTiers!.map((t) => D(t.percent))) };
  const discount = rule.discount!;
  return 'percent' in discount ? { percent: D(discount.percent) } : { fixed: D(discount.amountMinor) };
}

function checkInvariants(scenario: Scenario, result: PriceResult): void {
  assertNoFloat(result);
  const rulesById = new Map(scenario.ctx.rules.map((r) => [r.id, r]));
  const overrideRules = new Set(scenario.ctx.rules.filter((r) => r.source === 'account_term' && r.overrideAmountMinor !== undefined).map((r) => r.id));
  const cap = D(scenario.ctx.maxTotalDiscountPercent ?? '100');
  const mode = MODE[scenario.ctx.rounding];

  for (const line of result.lines) {
    assert.match(line.listAmountMinor, INTEGER);
    assert.match(line.finalAmountMinor, INTEGER);
    let running = D(line.listAmountMinor);
    let base = running;
    let discounted = new Decimal(0);
    for (const adj of line.adjustments) {
      assert.match(adj.amountMinor, SIGNED);
      const amount = D(adj.amountMinor);
      assert.ok(amount.isNegative(), `adjustment ${adj.amountMinor} of ${adj.ruleId} on ${line.lineId} is not a reduction`);
      if (overrideRules.has(adj.ruleId)) {
        assert.equal(discounted.isZero(), true, 'overrides come before discounts');
        running = running.plus(amount);
        base = running;
        continue;
      }
      const taken = amount.negated();
      const { percent, fixed } = maxPercentOf(rulesById.get(adj.ruleId), scenario, adj.ruleId);
      if (percent) assert.ok(taken.lte(running.times(percent).dividedBy(100).toDecimalPlaces(0, mode)), `${adj.ruleId} took ${taken} of ${running} at ${percent}%`);
      if (fixed) assert.ok(taken.lte(fixed));
      running = running.minus(taken);
      discounted = discounted.plus(taken);
      assert.ok(!running.isNegative(), `line ${line.lineId} went negative`);
    }
    assert.equal(running.toFixed(0), line.finalAmountMinor, 'final = list + adjustments');
    assert.ok(discounted.lte(base.times(cap).dividedBy(100)), `line ${line.lineId}: discounts ${discounted} above ${cap}% of ${base}`);
    assert.ok(base.lte(D(line.listAmountMinor)));
  }

  const t = result.totals;
  for (const v of [t.oneTimeMinor, t.prepaidMinor, t.usageEstimateMinor, t.grandTotalMinor, t.listTotalMinor, t.discountTotalMinor, ...t.recurring.map((r) => r.amountMinor)]) assert.match(v, INTEGER);
  const sum = (xs: string[]) => xs.reduce((a, x) => a.plus(D(x)), new Decimal(0));
  assert.equal(sum(result.lines.map((l) => l.finalAmountMinor)).toFixed(0), t.grandTotalMinor);
  assert.equal(sum(result.lines.map((l) => l.listAmountMinor)).toFixed(0), t.listTotalMinor);
  assert.equal(D(t.listTotalMinor).minus(D(t.discountTotalMinor)).toFixed(0), t.grandTotalMinor);
  assert.equal(sum([t.oneTimeMinor, t.prepaidMinor, t.usageEstimateMinor, ...t.recurring.map((r) => r.amountMinor)]).toFixed(0), t.grandTotalMinor);

  // One decision per rule considered; an applied rule lists exactly the lines it adjusted.
  const bundles = scenario.items.filter((i) => i.offering.body.bundle).length;
  assert.equal(result.rules.length, scenario.ctx.rules.length + bundles);
  for (const d of result.rules) {
    const touched = result.lines.filter((l) => l.adjustments.some((a) => a.ruleId === d.ruleId)).map((l) => l.lineId);
    assert.deepEqual(d.lineIds, touched);
    assert.equal(d.applied, touched.length > 0);
    if (!d.applied) assert.ok(d.reason, `rule ${d.ruleId} not applied without a reason`);
  }
}

test('pricing invariants hold for random catalogs, rules and contexts', () => {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      checkInvariants(scenario, priceItems(scenario.items, scenario.ctx));
    }),
    { numRuns: 400 },
  );
});

test('the result does not depend on the order of rules or promo codes', () => {
  const withPermutation = scenarioArb.chain((scenario) =>
    fc.tuple(
      fc.constant(scenario),
      fc.shuffledSubarray(scenario.ctx.rules, { minLength: scenario.ctx.rules.length, maxLength: scenario.ctx.rules.length }),
      fc.shuffledSubarray(scenario.ctx.promoCodes, { minLength: scenario.ctx.promoCodes.length, maxLength: scenario.ctx.promoCodes.length }),
    ),
  );
  fc.assert(
    fc.property(withPermutation, ([scenario, rules, promoCodes]) => {
      const original = priceItems(scenario.items, scenario.ctx);
      const shuffled = priceItems(scenario.items, { ...scenario.ctx, rules, promoCodes });
      assert.deepEqual(shuffled, original);
    }),
    { numRuns: 300 },
  );
});

test('the rules actually bite: random scenarios exercise discounts, caps and exclusivity', () => {
  // Guards the generators: without this, a broken generator could make the properties vacuous.
  const seen = { applied: 0, capped: 0, exclusiveBlocked: 0, override: 0, usage: 0 };
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      const result = priceItems(scenario.items, scenario.ctx);
      for (const d of result.rules) {
        if (d.applied) seen.applied += 1;
        if (d.reason?.startsWith('capped')) seen.capped += 1;
        if (d.reason?.startsWith('not combinable')) seen.exclusiveBlocked += 1;
      }
      if (result.lines.some((l) => l.adjustments.some((a) => a.description.includes(': price ')))) seen.override += 1;
      if (result.lines.some((l) => l.kind === 'usage' && l.listAmountMinor !== '0')) seen.usage += 1;
    }),
    { numRuns: 400, seed: 20250615 },
  );
  for (const [k, v] of Object.entries(seen)) assert.ok(v > 0, `no scenario exercised ${k}`);
});
