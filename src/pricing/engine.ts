/**
 * The pricing engine (seed 001 "Pricing Engine"): a pure, deterministic function from items,
 * rules and a context to an itemized price. No I/O, no clock, no randomness; the same inputs
 * give the same output whatever the order of `ctx.rules` or `ctx.promoCodes`.
 *
 * Lines. Each charge of the offering's price list in `ctx.currency` whose `condition` holds for
 * the (validated, defaulted) configuration becomes a line `${itemId}:${chargeCode}`:
 *   recurring, rental, prepaid, one_time: amountMinor × quantity × value of `perUnitOf` (when set;
 *     0 when that characteristic has no value);
 *   usage: the estimate for `usageEstimate[chargeCode]` priced on the rate card (graduated: each
 *     tier's units at that tier's price; volume: every unit at the price of the tier the total
 *     falls in, a tier covering totals ≤ upTo), "0" without an estimate. `unitPrice` is in minor
 *     units per unit and may be fractional ("150" = 1.50 RUB a minute). The estimate is the item's
 *     total; quantity and perUnitOf do not multiply it.
 * A list amount that is not whole (fractional per-unit values, usage) is rounded with ctx.rounding.
 * An item with action MODIFY (a change of an owned instance) has no one_time lines: one-time
 * charges are charged by the sale (ADD) only.
 *
 * Rules. The candidates are ctx.rules plus one synthetic `bundle` rule per item whose offering is
 * a bundle (id `bundle:<itemId>`, priority BUNDLE_RULE_PRIORITY, stacking 'stack', the bundle's
 * discountPercent, applied to the bundle item's own lines and to the lines of items whose
 * bundleItemId is that item). They are ordered by ascending priority, ties by rule id (code-unit
 * order), never by input order, and evaluated in two passes over that order:
 *   1. overrides: an account term's overrideAmountMinor (per unit, like amountMinor) replaces the
 *      line's amount when it is lower than the amount in effect (the lowest override wins; an
 *      override never raises a price and never applies to usage lines). The adjustment is the
 *      difference; the overridden amount becomes the line's base.
 *   2. discounts, every rule type: percentage/promo/bundle/account term `discount.percent`, loyalty
 *      and volume tier percents take that percent of the running amount (rounded with
 *      ctx.rounding); a fixed amount is taken once per line, only in its own currency.
 * Overrides run first because an override is a price, not a discount: discounts then apply to
 * the negotiated price whatever the priorities.
 * Stacking: a `stack` rule applies to the running amount. An `exclusive` rule applies only to a
 * line that no other rule has changed yet (an override counts as a change) and, when it changes
 * the line, stops every later rule on it (its own discount after its own override still applies).
 * Caps: a discount never takes a line below 0, and a line's discounts together never exceed
 * floor(maxTotalDiscountPercent % of the line's base). A rule that would go beyond is cut to what
 * is left; its adjustment shows the cut amount and its decision's reason says so.
 * Every amount is an integer string; a line's final = list + sum(adjustments), exactly.
 */
import { ROUNDING_MODES, type Charge, type Discount, type RecurringPeriod, type ProductOfferingBody, type RoundingMode, type RuleTarget, type RuleType } from '../catalog/index.ts';
import { BusinessRuleError, ValidationError } from '../platform/errors.ts';
import { numericValue, validateConfiguration, valuesEqual } from './configuration.ts';
import { Dec, dec, formatDecimal, formatMinor, isDecimalString, minDec, percentOf, roundMinor, sumMinor } from './money.ts';
import type { PriceAdjustment, PricedLine, PriceResult, PriceRule, PricingContext, PricingItem, RuleDecision } from './types.ts';

/** Priority of the synthetic bundle rules: after typical tenant rules (0–499), before late ones. */
export const BUNDLE_RULE_PRIORITY = 500;

const PERCENT = /^(100(\.0{1,6})?|[0-9]{1,2}(\.[0-9]{1,6})?)$/;
const MINOR = /^(0|[1-9][0-9]*)$/;

/** A rule as evaluated here: tenant rule, account term or bundle, in one shape. */
interface EngineRule {
  id: string;
  code: string;
  name: string;
  type: RuleType;
  source: 'rule' | 'account_term' | 'bundle';
  priority: number;
  stacking: 'stack' | 'exclusive';
  appliesTo: RuleTarget;
  validFrom?: string;
  validTo?: string;
  discount?: Discount;
  promoCode?: string;
  maxRedemptions?: number;
  loyaltyTiers?: { minMonths: number; percent: string }[];
  volumeTiers?: { minQuantity: number; percent: string }[];
  overrideAmountMinor?: string;
  /** bundle: the items whose lines it discounts. */
  bundleItems?: Set<string>;
}

interface LineState {
  line: PricedLine;
  item: PricingItem;
  /** quantity × perUnitOf value: what a per-unit amount is multiplied by. */
  factor: Dec;
  list: Dec;
  /** The list amount, or the override that replaced it. */
  base: Dec;
  running: Dec;
  /** Sum of discount magnitudes so far (overrides excluded). */
  discounted: Dec;
  /** Ids of rules that changed the line. */
  changedBy: Set<string>;
  /** The exclusive rule that closed the line to later rules. */
  stoppedBy: string | null;
}

interface Tally {
  lineIds: Set<string>;
  /** Why it did not change a line, first seen first. */
  skipped: string[];
  /** Notes on lines it did change (capping). */
  notes: string[];
  /** A rule-level reason that stopped it before looking at lines. */
  blocked: string | null;
}

export function priceItems(items: PricingItem[], ctx: PricingContext): PriceResult {
  const at = instant(ctx.at, '/at');
  if (!/^[A-Z]{3}$/.test(ctx.currency)) throw ValidationError.field('/currency', `must be an ISO 4217 code such as IDR; got ${JSON.stringify(ctx.currency)}`);
  if (!(ROUNDING_MODES as readonly string[]).includes(ctx.rounding)) throw ValidationError.field('/rounding', `must be one of ${ROUNDING_MODES.join(', ')}`);
  const capPercent = ctx.maxTotalDiscountPercent ?? '100';
  if (!PERCENT.test(capPercent)) throw ValidationError.field('/maxTotalDiscountPercent', 'must be a percentage between 0 and 100, e.g. "50"');
  const mode = ctx.rounding;

  // ------------------------------------------------------------ items and their lines
  const itemsById = new Map<string, PricingItem>();
  for (const [i, item] of items.entries()) {
    if (itemsById.has(item.itemId)) throw ValidationError.field(`/items/${i}/itemId`, `repeats item id ${item.itemId}; item ids must be unique`);
    if (!Number.isSafeInteger(item.quantity) || item.quantity < 1) throw ValidationError.field(`/items/${i}/quantity`, `must be an integer of at least 1; got ${item.quantity}`);
    itemsById.set(item.itemId, item);
  }
  for (const item of items) {
    if (item.bundleItemId === undefined || item.bundleItemId === null) continue;
    const bundle = itemsById.get(item.bundleItemId);
    if (!bundle || !bundle.offering.body.bundle) {
      throw new BusinessRuleError(`item ${item.itemId} names ${item.bundleItemId} as its bundle, but that is not an item of a bundle offering`);
    }
    if (!bundle.offering.body.bundle.members.some((m) => m.offeringId === item.offering.id)) {
      throw new BusinessRuleError(`offering ${offeringName(item.offering.body)} (${item.offering.id}) of item ${item.itemId} is not a member of bundle ${offeringName(bundle.offering.body)}`);
    }
  }

  const states: LineState[] = [];
  const lineIds = new Set<string>();
  for (const item of items) {
    for (const state of linesOf(item, ctx.currency, mode)) {
      if (lineIds.has(state.line.lineId)) {
        throw new BusinessRuleError(`offering ${offeringName(item.offering.body)} has two charges with code ${state.line.chargeCode} in its ${ctx.currency} price list`);
      }
      lineIds.add(state.line.lineId);
      states.push(state);
    }
  }

  // ------------------------------------------------------------ rules, in their one order
  const rules: EngineRule[] = ctx.rules.map(fromPriceRule);
  for (const item of items) {
    const bundle = item.offering.body.bundle;
    if (!bundle) continue;
    const members = new Set([item.itemId, ...items.filter((x) => x.bundleItemId === item.itemId).map((x) => x.itemId)]);
    rules.push({
      id: `bundle:${item.itemId}`,
      code: `bundle:${item.offering.body.code}`,
      name: `Bundle ${item.offering.body.name}`,
      type: 'bundle',
      source: 'bundle',
      priority: BUNDLE_RULE_PRIORITY,
      stacking: 'stack',
      appliesTo: {},
      discount: { percent: bundle.discountPercent },
      bundleItems: members,
    });
  }
  const seen = new Set<string>();
  for (const rule of rules) {
    if (seen.has(rule.id)) throw new BusinessRuleError(`price rule id ${rule.id} is given twice; rule ids must be unique`);
    seen.add(rule.id);
  }
  rules.sort(compareRules);

  const promoCodes = new Set(ctx.promoCodes.map((c) => c.toUpperCase()));
  const tallies = new Map<string, Tally>(rules.map((r) => [r.id, { lineIds: new Set(), skipped: [], notes: [], blocked: null }]));
  const gate = new Map<string, { percentFromLoyalty?: string; loyaltyMonths?: number }>();
  for (const rule of rules) {
    const blocked = ruleLevelBlock(rule, ctx, at, promoCodes, gate);
    tallies.get(rule.id)!.blocked = blocked;
  }

  // Pass 1: overrides.
  for (const rule of rules) {
    const tally = tallies.get(rule.id)!;
    if (tally.blocked || rule.overrideAmountMinor === undefined) continue;
    const per = rule.overrideAmountMinor;
    if (!MINOR.test(per)) throw new BusinessRuleError(`account term ${rule.name} (${rule.id}) has an invalid override amount ${JSON.stringify(per)}`);
    for (const s of states) {
      if (!targets(rule, s)) continue;
      if (s.line.kind === 'usage') { skip(tally, `an override does not apply to usage charge ${s.line.lineId}`); continue; }
      if (s.stoppedBy && s.stoppedBy !== rule.id) { skip(tally, `line ${s.line.lineId} is closed by exclusive rule ${s.stoppedBy}`); continue; }
      if (rule.stacking === 'exclusive' && otherChanges(s, rule.id)) { skip(tally, `exclusive: line ${s.line.lineId} was already changed by ${[...s.changedBy].join(', ')}`); continue; }
      const amount = roundMinor(dec(per).times(s.factor), mode);
      if (amount.greaterThanOrEqualTo(s.running)) {
        skip(tally, `override ${formatMinor(amount)} is not below the current amount ${formatMinor(s.running)} of line ${s.line.lineId}`);
        continue;
      }
      const delta = amount.minus(s.running);
      record(s, rule, delta, `${rule.name}: price ${formatMinor(amount)} instead of ${formatMinor(s.running)}`, tally);
      s.base = amount;
      s.running = amount;
    }
  }

  // Pass 2: discounts.
  const cap = dec(capPercent);
  for (const rule of rules) {
    const tally = tallies.get(rule.id)!;
    if (tally.blocked) continue;
    const percentForAll = rule.type === 'loyalty' ? gate.get(rule.id)?.percentFromLoyalty : undefined;
    const hasDiscount = rule.type === 'loyalty' || rule.type === 'volume' || rule.discount !== undefined;
    if (!hasDiscount) continue;
    const problem = discountProblem(rule, ctx.currency);
    if (problem) { skip(tally, problem); continue; }
    for (const s of states) {
      if (!targets(rule, s)) continue;
      if (s.stoppedBy && s.stoppedBy !== rule.id) { skip(tally, `line ${s.line.lineId} is closed by exclusive rule ${s.stoppedBy}`); continue; }
      if (rule.stacking === 'exclusive' && otherChanges(s, rule.id)) { skip(tally, `not combinable: line ${s.line.lineId} was already changed by ${[...s.changedBy].filter((id) => id !== rule.id).join(', ')}`); continue; }

      let percent: string | undefined;
      let fixed: Dec | undefined;
      let what: string;
      if (rule.type === 'loyalty') {
        percent = percentForAll!;
        what = `${percent}% off for ${gate.get(rule.id)!.loyaltyMonths} months of tenure`;
      } else if (rule.type === 'volume') {
        const tier = pickVolumeTier(rule.volumeTiers ?? [], s.item.quantity);
        if (!tier) { skip(tally, `quantity ${s.item.quantity} of line ${s.line.lineId} is below the first volume tier (${Math.min(...(rule.volumeTiers ?? []).map((t) => t.minQuantity))})`); continue; }
        percent = tier.percent;
        what = `${percent}% off for quantity ${s.item.quantity} (tier from ${tier.minQuantity})`;
      } else if ('percent' in rule.discount!) {
        percent = rule.discount.percent;
        what = `${percent}% off`;
      } else {
        fixed = dec(rule.discount!.amountMinor);
        what = `${formatMinor(fixed)} ${rule.discount!.currency} off`;
      }
      if (percent !== undefined && !PERCENT.test(percent)) throw new BusinessRuleError(`price rule ${rule.code} (${rule.id}) has an invalid percentage ${JSON.stringify(percent)}`);

      const wanted = fixed ?? roundMinor(percentOf(s.running, percent!), mode);
      const capAmount = roundMinor(percentOf(s.base, cap), 'DOWN');
      const capRoom = capAmount.minus(s.discounted);
      const room = minDec(s.running, capRoom.isNegative() ? new Dec(0) : capRoom);
      let amount = wanted;
      let note: string | null = null;
      if (wanted.greaterThan(room)) {
        amount = room;
        note = capRoom.lessThan(s.running)
          ? `capped on line ${s.line.lineId} at ${formatMinor(amount)} instead of ${formatMinor(wanted)}: a line's discounts may not exceed ${capPercent}% of ${formatMinor(s.base)}`
          : `limited on line ${s.line.lineId} to its remaining amount ${formatMinor(amount)} instead of ${formatMinor(wanted)}`;
      }
      if (amount.isZero()) {
        skip(tally, note ?? `nothing to discount on line ${s.line.lineId} (${percent !== undefined ? `${percent}% of ${formatMinor(s.running)}` : 'amount 0'})`);
        continue;
      }
      if (note) tally.notes.push(note);
      record(s, rule, amount.negated(), `${rule.name}: ${what}${note ? ' (capped)' : ''}`, tally);
      s.running = s.running.minus(amount);
      s.discounted = s.discounted.plus(amount);
    }
  }

  // ------------------------------------------------------------ results
  const lines = states.map((s) => {
    s.line.finalAmountMinor = formatMinor(s.running);
    return s.line;
  });
  const decisions: RuleDecision[] = rules.map((rule) => {
    const tally = tallies.get(rule.id)!;
    const changed = states.filter((s) => tally.lineIds.has(s.line.lineId)).map((s) => s.line.lineId);
    const applied = changed.length > 0;
    let reason: string | null;
    if (applied) reason = tally.notes.length ? tally.notes.join('; ') : null;
    else reason = tally.blocked ?? tally.skipped[0] ?? 'targets no line of this price';
    return { ruleId: rule.id, ruleCode: rule.code, applied, reason, lineIds: changed };
  });

  return { currency: ctx.currency, at: ctx.at, rounding: ctx.rounding, lines, totals: totalsOf(lines), rules: decisions };
}

// ------------------------------------------------------------------ lines

function linesOf(item: PricingItem, currency: string, mode: RoundingMode): LineState[] {
  const body = item.offering.body;
  const priceList = body.priceLists.find((p) => p.currency === currency);
  if (!priceList) {
    // A bundle without any price list of its own is priced by its members alone.
    if (body.bundle && body.priceLists.length === 0) return [];
    const has = body.priceLists.map((p) => p.currency);
    throw new BusinessRuleError(
      `offering ${offeringName(body)} (${item.offering.id} version ${item.offering.version}) has no price list in ${currency}; ` +
        (has.length ? `it is priced in ${has.join(', ')}` : 'it has no price lists'),
      { offeringId: item.offering.id, currency, currencies: has },
    );
  }
  let configuration: Record<string, unknown>;
  try {
    configuration = item.specification ? validateConfiguration(item.specification, item.configuration) : validateConfiguration(null, item.configuration ?? {});
  } catch (error) {
    if (error instanceof ValidationError) throw new ValidationError(`item ${item.itemId}: ${error.message}`, error.errors);
    throw error;
  }

  const states: LineState[] = [];
  for (const charge of priceList.charges) {
    // One-time charges are the sale's (installation, connection fee): a change does not pay them again.
    if (charge.kind === 'one_time' && item.action === 'MODIFY') continue;
    if (charge.condition && !conditionHolds(configuration[charge.condition.characteristic], charge.condition.equals)) continue;
    const lineId = `${item.itemId}:${charge.code}`;
    let list: Dec;
    let factor = new Dec(item.quantity);
    let usage: PricedLine['usage'] = null;
    if (charge.kind === 'usage') {
      const raw = item.usageEstimate?.[charge.code];
      let estimate: Dec | null = null;
      if (raw !== undefined && raw !== null) {
        if (typeof raw !== 'string' || !isDecimalString(raw) || raw.startsWith('-')) {
          throw new ValidationError(`item ${item.itemId}: usageEstimate/${charge.code} must be a non-negative decimal string`, [
            { field: `/usageEstimate/${charge.code}`, message: `must be a non-negative decimal string such as "120.5"; got ${JSON.stringify(raw)}` },
          ]);
        }
        estimate = dec(raw);
      }
      list = estimate ? roundMinor(usageAmount(charge, estimate, body), mode) : new Dec(0);
      usage = { unit: charge.unit, tierMode: charge.tierMode, tiers: charge.tiers.map((t) => ({ ...t })), estimatedQuantity: estimate ? formatDecimal(estimate) : null };
    } else {
      if (charge.perUnitOf !== undefined) factor = factor.times(perUnitValue(configuration, charge, body));
      if (!MINOR.test(charge.amountMinor)) throw new BusinessRuleError(`charge ${charge.code} of offering ${offeringName(body)} has an invalid amount ${JSON.stringify(charge.amountMinor)}`);
      list = roundMinor(dec(charge.amountMinor).times(factor), mode);
    }
    let period: PricedLine['period'] = null;
    let periodDays: number | null = null;
    if (charge.kind === 'recurring' || charge.kind === 'rental') {
      period = charge.period;
      if (charge.period === 'days') {
        if (!charge.periodDays) throw new BusinessRuleError(`charge ${charge.code} of offering ${offeringName(body)} recurs every N days but has no periodDays`);
        periodDays = charge.periodDays;
      }
    } else if (charge.kind === 'prepaid') {
      period = 'days';
      periodDays = charge.days;
    }
    states.push({
      line: {
        lineId,
        itemId: item.itemId,
        offeringId: item.offering.id,
        offeringVersion: item.offering.version,
        chargeCode: charge.code,
        chargeName: charge.name,
        kind: charge.kind,
        period,
        periodDays,
        quantity: String(item.quantity),
        listAmountMinor: formatMinor(list),
        adjustments: [],
        finalAmountMinor: formatMinor(list),
        usage,
      },
      item,
      factor,
      list,
      base: list,
      running: list,
      discounted: new Dec(0),
      changedBy: new Set(),
      stoppedBy: null,
    });
  }
  return states;
}

function conditionHolds(value: unknown, equals: string | number | boolean): boolean {
  if (value === undefined || value === null) return false;
  if (Array.isArray(value)) return value.some((v) => valuesEqual(v, equals));
  return valuesEqual(value, equals);
}

function perUnitValue(configuration: Record<string, unknown>, charge: Charge, body: ProductOfferingBody): Dec {
  const name = charge.perUnitOf!;
  const value = configuration[name];
  if (value === undefined || value === null) return new Dec(0);
  const n = numericValue(value);
  if (!n || n.isNegative()) {
    throw new BusinessRuleError(`charge ${charge.code} of offering ${offeringName(body)} is priced per ${name}, whose value ${JSON.stringify(value)} is not a non-negative number`);
  }
  return n;
}

/** The amount (minor units, unrounded) of `quantity` units on a usage charge's rate card. */
export function usageAmount(charge: Extract<Charge, { kind: 'usage' }>, quantity: Dec, body?: ProductOfferingBody): Dec {
  const where = `usage charge ${charge.code}${body ? ` of offering ${offeringName(body)}` : ''}`;
  const tiers = charge.tiers;
  let previous = new Dec(0);
  for (const [i, tier] of tiers.entries()) {
    if (!isDecimalString(tier.unitPrice)) throw new BusinessRuleError(`${where}: tier ${i} has an invalid unit price ${JSON.stringify(tier.unitPrice)}`);
    if (tier.upTo === null) {
      if (i !== tiers.length - 1) throw new BusinessRuleError(`${where}: only the last tier may be unbounded`);
      continue;
    }
    const upTo = dec(tier.upTo);
    if (!upTo.greaterThan(previous)) throw new BusinessRuleError(`${where}: tier bounds must increase (tier ${i} up to ${tier.upTo})`);
    previous = upTo;
  }
  const last = tiers[tiers.length - 1];
  if (last.upTo !== null && quantity.greaterThan(dec(last.upTo))) {
    throw new BusinessRuleError(`${where}: the estimate ${formatDecimal(quantity)} ${charge.unit} is beyond its last tier (up to ${last.upTo})`);
  }
  if (charge.tierMode === 'volume') {
    const tier = tiers.find((t) => t.upTo === null || quantity.lessThanOrEqualTo(dec(t.upTo)))!;
    return quantity.times(dec(tier.unitPrice));
  }
  let total = new Dec(0);
  let from = new Dec(0);
  for (const tier of tiers) {
    const to = tier.upTo === null ? quantity : minDec(quantity, dec(tier.upTo));
    if (to.greaterThan(from)) total = total.plus(to.minus(from).times(dec(tier.unitPrice)));
    if (tier.upTo === null || quantity.lessThanOrEqualTo(dec(tier.upTo))) break;
    from = dec(tier.upTo);
  }
  return total;
}

// ------------------------------------------------------------------ rules

function fromPriceRule(rule: PriceRule): EngineRule {
  if (rule.source === 'account_term') {
    return {
      id: rule.id,
      code: rule.code,
      name: rule.name,
      type: 'account_term',
      source: 'account_term',
      priority: rule.priority ?? 0,
      stacking: rule.stacking,
      appliesTo: rule.appliesTo ?? {},
      validFrom: rule.validFrom,
      validTo: rule.validTo,
      discount: rule.discount,
      overrideAmountMinor: rule.overrideAmountMinor,
    };
  }
  return {
    id: rule.id,
    code: rule.code,
    name: rule.name,
    type: rule.type,
    source: 'rule',
    priority: rule.priority,
    stacking: rule.stacking,
    appliesTo: rule.appliesTo ?? {},
    validFrom: rule.validFrom,
    validTo: rule.validTo,
    discount: rule.discount,
    promoCode: rule.promoCode,
    maxRedemptions: rule.maxRedemptions,
    loyaltyTiers: rule.loyaltyTiers,
    volumeTiers: rule.volumeTiers,
  };
}

/** Ascending priority, then rule id by code units: a total order independent of input order. */
function compareRules(a: EngineRule, b: EngineRule): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Why the rule cannot apply at all in this context, or null. */
function ruleLevelBlock(
  rule: EngineRule,
  ctx: PricingContext,
  at: number,
  promoCodes: Set<string>,
  gate: Map<string, { percentFromLoyalty?: string; loyaltyMonths?: number }>,
): string | null {
  if (rule.validFrom !== undefined && at < ruleInstant(rule, rule.validFrom)) return `not yet valid: valid from ${rule.validFrom}`;
  if (rule.validTo !== undefined && at >= ruleInstant(rule, rule.validTo)) return `expired: valid until ${rule.validTo}`;
  switch (rule.type) {
    case 'promo': {
      if (!rule.promoCode) return 'promo rule has no promo code';
      if (!promoCodes.has(rule.promoCode.toUpperCase())) return `promo code ${rule.promoCode} was not presented`;
      const used = ctx.promoRedemptions?.[rule.id] ?? 0;
      if (rule.maxRedemptions !== undefined && used >= rule.maxRedemptions) return `promo code ${rule.promoCode} is used up: ${used} of ${rule.maxRedemptions} redemptions`;
      if (!rule.discount) return 'promo rule has no discount';
      break;
    }
    case 'loyalty': {
      const tiers = rule.loyaltyTiers ?? [];
      if (tiers.length === 0) return 'loyalty rule has no tiers';
      if (ctx.customerSince === null) return 'new customer: no tenure for a loyalty discount';
      const since = instant(ctx.customerSince, '/customerSince');
      if (since > at) return `customer since ${ctx.customerSince}, after the pricing date`;
      const months = monthsBetween(since, at);
      const tier = tiers.filter((t) => t.minMonths <= months).sort((a, b) => b.minMonths - a.minMonths)[0];
      if (!tier) return `tenure of ${months} months is below the first loyalty tier (${Math.min(...tiers.map((t) => t.minMonths))} months)`;
      gate.set(rule.id, { percentFromLoyalty: tier.percent, loyaltyMonths: months });
      break;
    }
    case 'volume':
      if (!rule.volumeTiers || rule.volumeTiers.length === 0) return 'volume rule has no tiers';
      break;
    case 'account_term':
      if (rule.overrideAmountMinor === undefined && !rule.discount) return 'account term has neither an override nor a discount';
      break;
    default:
      if (!rule.discount) return `${rule.type} rule has no discount`;
  }
  const problem = discountProblem(rule, ctx.currency);
  // An account term's override still applies when only its discount cannot.
  if (problem && rule.overrideAmountMinor === undefined) return problem;
  return null;
}

/** Why the rule's discount part cannot apply in this currency, or null. */
function discountProblem(rule: EngineRule, currency: string): string | null {
  if (rule.type === 'loyalty' || rule.type === 'volume' || !rule.discount) return null;
  if ('amountMinor' in rule.discount && rule.discount.currency !== currency) return `fixed amount is in ${rule.discount.currency}; the price is in ${currency}`;
  return null;
}

function targets(rule: EngineRule, s: LineState): boolean {
  if (rule.bundleItems && !rule.bundleItems.has(s.item.itemId)) return false;
  const t = rule.appliesTo;
  if (t.offeringIds && !t.offeringIds.includes(s.line.offeringId)) return false;
  if (t.chargeKinds && !t.chargeKinds.includes(s.line.kind)) return false;
  if (t.chargeCodes && !t.chargeCodes.includes(s.line.chargeCode)) return false;
  return true;
}

function otherChanges(s: LineState, ruleId: string): boolean {
  for (const id of s.changedBy) if (id !== ruleId) return true;
  return false;
}

function pickVolumeTier(tiers: { minQuantity: number; percent: string }[], quantity: number) {
  return tiers.filter((t) => t.minQuantity <= quantity).sort((a, b) => b.minQuantity - a.minQuantity)[0];
}

function record(s: LineState, rule: EngineRule, delta: Dec, description: string, tally: Tally): void {
  const adjustment: PriceAdjustment = { ruleId: rule.id, ruleCode: rule.code, ruleType: rule.type, description, amountMinor: formatMinor(delta) };
  s.line.adjustments.push(adjustment);
  s.changedBy.add(rule.id);
  if (rule.stacking === 'exclusive') s.stoppedBy = rule.id;
  tally.lineIds.add(s.line.lineId);
}

function skip(tally: Tally, reason: string): void {
  tally.skipped.push(reason);
}

// ------------------------------------------------------------------ totals

function totalsOf(lines: PricedLine[]): PriceResult['totals'] {
  const sum = (filter: (l: PricedLine) => boolean) => formatMinor(sumMinor(lines.filter(filter).map((l) => l.finalAmountMinor)));
  const groups = new Map<string, { period: RecurringPeriod; periodDays: number | null; amount: Dec }>();
  for (const line of lines) {
    if (line.kind !== 'recurring' && line.kind !== 'rental') continue;
    const key = `${line.period}:${line.periodDays ?? ''}`;
    const group = groups.get(key) ?? { period: line.period!, periodDays: line.periodDays, amount: new Dec(0) };
    group.amount = group.amount.plus(dec(line.finalAmountMinor));
    groups.set(key, group);
  }
  // Longest-lived first as before issue 12 (month, year, days); week and quarter go in between.
  const order = { month: 0, quarter: 1, year: 2, week: 3, days: 4 } as const;
  const recurring = [...groups.values()]
    .sort((a, b) => order[a.period] - order[b.period] || (a.periodDays ?? 0) - (b.periodDays ?? 0))
    .map((g) => ({ period: g.period, periodDays: g.periodDays, amountMinor: formatMinor(g.amount) }));
  const list = sumMinor(lines.map((l) => l.listAmountMinor));
  const grand = sumMinor(lines.map((l) => l.finalAmountMinor));
  return {
    oneTimeMinor: sum((l) => l.kind === 'one_time'),
    prepaidMinor: sum((l) => l.kind === 'prepaid'),
    recurring,
    usageEstimateMinor: sum((l) => l.kind === 'usage'),
    grandTotalMinor: formatMinor(grand),
    listTotalMinor: formatMinor(list),
    discountTotalMinor: formatMinor(list.minus(grand)),
  };
}

// ------------------------------------------------------------------ time

function instant(value: string, field: string): number {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(ms)) throw ValidationError.field(field, `must be an ISO 8601 date-time; got ${JSON.stringify(value)}`);
  return ms;
}

function ruleInstant(rule: EngineRule, value: string): number {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new BusinessRuleError(`price rule ${rule.code} (${rule.id}) has an invalid date ${JSON.stringify(value)}`);
  return ms;
}

/**
 * Whole calendar months from `from` to `to` (UTC): month n is complete when `from` plus n months
 * is reached, the day clamped to the month's end (31 Jan + 1 month = 28/29 Feb).
 */
export function monthsBetween(fromMs: number, toMs: number): number {
  const from = new Date(fromMs);
  const to = new Date(toMs);
  let months = (to.getUTCFullYear() - from.getUTCFullYear()) * 12 + (to.getUTCMonth() - from.getUTCMonth());
  while (months > 0 && addMonths(from, months) > toMs) months -= 1;
  return Math.max(0, months);
}

function addMonths(from: Date, months: number): number {
  const y = from.getUTCFullYear();
  const m = from.getUTCMonth() + months;
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return Date.UTC(y, m, Math.min(from.getUTCDate(), lastDay), from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds());
}

function offeringName(body: ProductOfferingBody): string {
  return body.code;
}
