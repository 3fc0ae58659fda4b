/**
 * What can be sold (seed 001, seed 000 §4): specifications, offerings, charges and price
 * rules, as versioned documents. A published version never changes; a change is a new
 * version. The TypeBox schemas are the API contract and the TypeScript types at once.
 *
 * Money: integer minor units as strings of digits ("150000000" IDR = Rp 1.500.000,00) plus an
 * ISO 4217 currency; fractional rates (usage per unit, percentages) are decimal strings.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { TransitionTable } from '../platform/state-machine.ts';

export const MinorUnits = Type.String({ pattern: '^(0|[1-9][0-9]{0,17})$', description: 'Integer amount in minor units, as a string' });
export const SignedMinorUnits = Type.String({ pattern: '^-?(0|[1-9][0-9]{0,17})$' });
export const DecimalString = Type.String({ pattern: '^(0|[1-9][0-9]{0,17})(\\.[0-9]{1,12})?$', description: 'Non-negative decimal, e.g. "1.5"' });
export const Percent = Type.String({ pattern: '^(100(\\.0{1,6})?|[0-9]{1,2}(\\.[0-9]{1,6})?)$', description: 'Percentage 0-100 as a decimal string, e.g. "12.5"' });
export const Currency = Type.String({ pattern: '^[A-Z]{3}$' });
export const Code = Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,79}$', description: 'Stable lowercase code' });

export const LIFECYCLE_STATUSES = ['draft', 'active', 'retired'] as const;
export type LifecycleStatus = (typeof LIFECYCLE_STATUSES)[number];

/**
 * The commands on one version of a catalog entity. Retirement retires every version of the id
 * at once; a publication also retires the active version it supersedes.
 */
export const VERSION_TRANSITIONS = {
  'draft:replace': { from: ['draft'], to: 'draft' },
  'publication:apply': { from: ['draft'], to: 'active' },
  'retirement:apply': { from: ['draft', 'active'], to: 'retired' },
} as const satisfies TransitionTable<LifecycleStatus>;
export type VersionCommand = keyof typeof VERSION_TRANSITIONS;

// ------------------------------------------------------------------ characteristics

export const CHARACTERISTIC_VALUE_TYPES = ['string', 'integer', 'decimal', 'boolean', 'enum'] as const;

export const Characteristic = Type.Object({
  name: Type.String({ pattern: '^[A-Za-z][A-Za-z0-9_]{0,63}$' }),
  description: Type.Optional(Type.String({ maxLength: 500 })),
  valueType: Type.Union(CHARACTERISTIC_VALUE_TYPES.map((t) => Type.Literal(t))),
  /** For enum: the allowed values (strings). */
  values: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 120 }), { minItems: 1, maxItems: 200 })),
  /** For integer/decimal: bounds (decimal strings). */
  min: Type.Optional(Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$' })),
  max: Type.Optional(Type.String({ pattern: '^-?[0-9]+(\\.[0-9]+)?$' })),
  /** For string: maximum length. */
  maxLength: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
  unit: Type.Optional(Type.String({ maxLength: 40 })),
  /** A fixed characteristic always has its default; the buyer cannot choose it. */
  configurable: Type.Boolean({ default: true }),
  default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean()])),
  /** How many values: min 0 = optional, max > 1 = the value is an array. */
  minCardinality: Type.Integer({ minimum: 0, maximum: 100, default: 0 }),
  maxCardinality: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
  /** For enum: how a value reads in an instance's name (offering `nameTemplate`), e.g. {"1000": "1Gbps"}. */
  valueLabels: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 120 }), Type.String({ minLength: 1, maxLength: 120 }))),
}, { additionalProperties: false });
export type Characteristic = Static<typeof Characteristic>;

// ------------------------------------------------------------------ specifications

export const SpecRef = Type.Object({ id: Type.String({ format: 'uuid' }), version: Type.Integer({ minimum: 1 }) }, { additionalProperties: false });
export type SpecRef = Static<typeof SpecRef>;

// The members the specifications (and offerings, charges, rules) share.
const Name = Type.String({ minLength: 1, maxLength: 200 });
const Description = Type.Optional(Type.String({ maxLength: 2000 }));
const Characteristics = Type.Array(Characteristic, { maxItems: 100, default: [] });
const SpecRefs = Type.Array(SpecRef, { maxItems: 50, default: [] });

/** Resource specification: what is consumed or locked (port, VLAN, IP block, ONT). */
export const ResourceSpecificationBody = Type.Object(
  { code: Code, name: Name, resourceType: Type.String({ minLength: 1, maxLength: 80 }), characteristics: Characteristics },
  { additionalProperties: false },
);
export type ResourceSpecificationBody = Static<typeof ResourceSpecificationBody>;

/** Service specification: the technical service that realises a product (used by fulfillment). */
export const ServiceSpecificationBody = Type.Object(
  { code: Code, name: Name, characteristics: Characteristics, resourceSpecifications: SpecRefs },
  { additionalProperties: false },
);
export type ServiceSpecificationBody = Static<typeof ServiceSpecificationBody>;

/** Product specification: the commercial product's characteristics and how it is realised. */
export const ProductSpecificationBody = Type.Object(
  { code: Code, name: Name, description: Description, characteristics: Characteristics, serviceSpecifications: SpecRefs },
  { additionalProperties: false },
);
export type ProductSpecificationBody = Static<typeof ProductSpecificationBody>;

// ------------------------------------------------------------------ charges

/**
 * The billing periods a recurring or rental charge may recur in: every `periodDays` days, or
 * every week, month, quarter or year (docs/billing.md). Issue 12 added week and quarter;
 * documents written before use the first three and read the same.
 */
export const RECURRING_PERIODS = ['month', 'year', 'days', 'week', 'quarter'] as const;
export type RecurringPeriod = (typeof RECURRING_PERIODS)[number];

/**
 * When a charge is billed for its period: `in_advance` at the period's start (a subscription
 * fee), `in_arrear` after its end (usage, or a fee billed for the period just used). Absent:
 * `in_arrear` for usage, `in_advance` for every other kind (docs/catalog-and-pricing.md
 * "Billing terms"); usage is only ever in arrear, one-time and prepaid charges only in advance.
 */
export const BILLING_MODES = ['in_advance', 'in_arrear'] as const;
export type BillingMode = (typeof BILLING_MODES)[number];

const ChargeCommon = {
  code: Code,
  name: Name,
  /** Charged only when a characteristic has this value (e.g. a price per bandwidth option). */
  condition: Type.Optional(Type.Object({ characteristic: Type.String(), equals: Type.Union([Type.String(), Type.Number(), Type.Boolean()]) }, { additionalProperties: false })),
  /** Multiply by the numeric value of this characteristic (e.g. per extra IP address). */
  perUnitOf: Type.Optional(Type.String()),
  billingMode: Type.Optional(Type.Union(BILLING_MODES.map((m) => Type.Literal(m)), {
    description: 'in_advance: billed at the start of its period; in_arrear: after its end. Absent: in_arrear for usage, in_advance otherwise. Usage is only in arrear; one_time and prepaid only in advance.',
  })),
};

export const PriceTier = Type.Object({
  /** Units from (inclusive, 0-based count of units already used) up to `upTo` (exclusive); null = no upper bound. */
  upTo: Type.Union([DecimalString, Type.Null()]),
  unitPrice: DecimalString,
}, { additionalProperties: false });
export type PriceTier = Static<typeof PriceTier>;

const Period = Type.Union(RECURRING_PERIODS.map((p) => Type.Literal(p)), { description: 'The billing period: days (with periodDays), week, month, quarter or year' });
const PeriodDays = Type.Optional(Type.Integer({ minimum: 1, maximum: 3660, description: 'The length of the period in days, with period "days" only' }));

export const Charge = Type.Union([
  Type.Object({ kind: Type.Literal('recurring'), ...ChargeCommon, amountMinor: MinorUnits, period: Period, periodDays: PeriodDays }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('prepaid'), ...ChargeCommon, amountMinor: MinorUnits, days: Type.Integer({ minimum: 1, maximum: 3660 }) }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('one_time'), ...ChargeCommon, amountMinor: MinorUnits }, { additionalProperties: false }),
  Type.Object({ kind: Type.Literal('rental'), ...ChargeCommon, amountMinor: MinorUnits, period: Period, periodDays: PeriodDays }, { additionalProperties: false }),
  Type.Object({
    kind: Type.Literal('usage'),
    ...ChargeCommon,
    unit: Type.String({ minLength: 1, maxLength: 40 }),
    /** graduated: each tier's units at that tier's price; volume: all units at the tier the total falls in. */
    tierMode: Type.Union([Type.Literal('graduated'), Type.Literal('volume')]),
    tiers: Type.Array(PriceTier, { minItems: 1, maxItems: 20 }),
  }, { additionalProperties: false }),
]);
export type Charge = Static<typeof Charge>;
export type ChargeKind = Charge['kind'];
export const CHARGE_KINDS: readonly ChargeKind[] = ['recurring', 'prepaid', 'one_time', 'rental', 'usage'];

/** A charge's billing mode, its default filled in. */
export function billingModeOf(charge: Charge): BillingMode {
  return charge.billingMode ?? (charge.kind === 'usage' ? 'in_arrear' : 'in_advance');
}

// ------------------------------------------------------------------ plan phases and terms

/**
 * A length of time: `count` days, weeks, months, quarters or years — or billing periods
 * (`period`), counted in the billing period of the price list's recurring and rental charges.
 */
export const DURATION_UNITS = ['days', 'week', 'month', 'quarter', 'year', 'period'] as const;
export const Duration = Type.Object({
  unit: Type.Union(DURATION_UNITS.map((u) => Type.Literal(u))),
  count: Type.Integer({ minimum: 1, maximum: 3660 }),
}, { additionalProperties: false, description: 'A length of time, e.g. {"unit": "days", "count": 14} or {"unit": "period", "count": 3}' });
export type Duration = Static<typeof Duration>;

/**
 * A phase a subscription passes through before its price list's own charges apply (Kill Bill's
 * TRIAL and DISCOUNT phases). `trial`: free, or only the one-time `charges` it lists (a trial
 * fee). `discount`: the list's charges less `discountPercent`, or its own `charges` instead.
 */
export const PlanPhase = Type.Union([
  Type.Object({
    type: Type.Literal('trial'),
    duration: Duration,
    charges: Type.Optional(Type.Array(Charge, { maxItems: 10, description: 'One-time charges at the start of the trial (a fixed trial fee). Absent or empty: a free trial.' })),
  }, { additionalProperties: false }),
  Type.Object({
    type: Type.Literal('discount'),
    duration: Duration,
    discountPercent: Type.Optional(Percent),
    charges: Type.Optional(Type.Array(Charge, { maxItems: 50, description: 'The phase\'s own charges, instead of the list\'s (give this or discountPercent)' })),
  }, { additionalProperties: false }),
]);
export type PlanPhase = Static<typeof PlanPhase>;

/**
 * The phase of the price list's own charges, after any `phases`: `evergreen` runs until it is
 * cancelled; `fixed` ends after its `duration` (a fixed term that is not renewed by itself).
 */
export const PlanTerm = Type.Union([
  Type.Object({ type: Type.Literal('evergreen') }, { additionalProperties: false }),
  Type.Object({ type: Type.Literal('fixed'), duration: Duration }, { additionalProperties: false }),
]);
export type PlanTerm = Static<typeof PlanTerm>;

/** A price list of one currency. An offering may have several (one per currency). */
export const PriceList = Type.Object({
  currency: Currency,
  /** The plan's own charges: what the pricing engine prices, and what applies after any `phases`. */
  charges: Type.Array(Charge, { minItems: 0, maxItems: 50 }),
  phases: Type.Optional(Type.Array(PlanPhase, { maxItems: 10, description: 'Phases before the charges apply, in order: a trial first, then discount phases. Absent: none.' })),
  term: Type.Optional(PlanTerm),
}, { additionalProperties: false });
export type PriceList = Static<typeof PriceList>;

/** A price list's term, its default filled in: evergreen. */
export function planTermOf(list: PriceList): PlanTerm {
  return list.term ?? { type: 'evergreen' };
}

/**
 * When a plan change or a cancellation takes effect: `immediate` (the rest of the period is
 * prorated) or `end_of_term` (at the end of the billing period in progress).
 */
export const POLICIES = ['immediate', 'end_of_term'] as const;
export type Policy = (typeof POLICIES)[number];
const PolicySchema = (description: string) => Type.Optional(Type.Union(POLICIES.map((p) => Type.Literal(p)), { description }));

// ------------------------------------------------------------------ offerings and bundles

export const AddOnRule = Type.Object({
  offeringId: Type.String({ format: 'uuid' }),
  minCount: Type.Integer({ minimum: 0, maximum: 100, default: 0 }),
  maxCount: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
}, { additionalProperties: false });
export type AddOnRule = Static<typeof AddOnRule>;

export const BundleMember = Type.Object({
  offeringId: Type.String({ format: 'uuid' }),
  /** Included members come with the bundle; optional ones may be added up to maxCount. */
  included: Type.Boolean(),
  minCount: Type.Integer({ minimum: 0, maximum: 100, default: 0 }),
  maxCount: Type.Integer({ minimum: 1, maximum: 100, default: 1 }),
}, { additionalProperties: false });
export type BundleMember = Static<typeof BundleMember>;

export const ProductOfferingBody = Type.Object({
  code: Code,
  name: Name,
  description: Description,
  category: Type.String({ minLength: 1, maxLength: 80 }),
  segment: Type.Union([Type.Literal('residential'), Type.Literal('business'), Type.Literal('enterprise'), Type.Literal('any')]),
  /** Zones where it can be sold; empty = everywhere. */
  availabilityZones: Type.Array(Type.String({ minLength: 1, maxLength: 40 }), { maxItems: 500, default: [] }),
  sellable: Type.Boolean({ default: true }),
  /**
   * An add-on only: sold onto an instance (or an item) of an offering whose `addOns` allow it,
   * never on its own. Absent = false.
   */
  requiresParent: Type.Optional(Type.Boolean()),
  /**
   * How its product instances are named: `{characteristic}` placeholders take the configured
   * value (its `valueLabels` label when it has one), e.g. "Business Fiber {bandwidthMbps}" →
   * "Business Fiber 1Gbps". The name follows the configuration: a MODIFY renames. Absent = `name`.
   */
  nameTemplate: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  validFrom: Type.Optional(Type.String({ format: 'date-time' })),
  validTo: Type.Optional(Type.String({ format: 'date-time' })),
  /** The product it sells; a bundle has none of its own. */
  productSpecification: Type.Optional(SpecRef),
  priceLists: Type.Array(PriceList, { maxItems: 20, default: [] }),
  /** Offerings that may be added to an instance of this one (as its children). */
  addOns: Type.Array(AddOnRule, { maxItems: 100, default: [] }),
  /** Present on a bundle: the offerings it groups and the discount they share. */
  bundle: Type.Optional(Type.Object({
    members: Type.Array(BundleMember, { minItems: 1, maxItems: 50 }),
    discountPercent: Percent,
  }, { additionalProperties: false })),
  changePolicy: PolicySchema('When a change to another plan takes effect: immediate (prorated) or end_of_term (at the end of the billing period in progress). Absent: immediate.'),
  cancelPolicy: PolicySchema('When a cancellation takes effect: immediate (the unused rest is credited) or end_of_term (at the end of the billing period in progress). Absent: end_of_term.'),
}, { additionalProperties: false });
export type ProductOfferingBody = Static<typeof ProductOfferingBody>;

/** An offering's change and cancel policies, defaults filled in (immediate change, cancel at end of term). */
export function policiesOf(body: ProductOfferingBody): { change: Policy; cancel: Policy } {
  return { change: body.changePolicy ?? 'immediate', cancel: body.cancelPolicy ?? 'end_of_term' };
}

/** A catalog entity version as stored and served. */
export interface Versioned<B> {
  id: string;
  version: number;
  status: LifecycleStatus;
  body: B;
  createdAt: string;
  publishedAt: string | null;
  retiredAt: string | null;
}

// ------------------------------------------------------------------ price rules

export const RULE_TYPES = ['percentage', 'fixed_amount', 'promo', 'loyalty', 'volume', 'account_term', 'bundle'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/**
 * How rules combine: rules run in ascending `priority` (ties broken by rule id, never by the
 * order they were given). A `stack` rule applies to the amount left by earlier rules. An
 * `exclusive` rule applies only to a line no rule has discounted yet, and stops later rules
 * on that line. Whatever the rules, a line's total discount never exceeds
 * `maxTotalDiscountPercent` of its list amount (default 100) and an amount never goes below 0.
 */
export const Stacking = Type.Union([Type.Literal('stack'), Type.Literal('exclusive')]);

export const RuleTarget = Type.Object({
  offeringIds: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: 200 })),
  chargeKinds: Type.Optional(Type.Array(Type.Union(CHARGE_KINDS.map((k) => Type.Literal(k))), { maxItems: 5 })),
  chargeCodes: Type.Optional(Type.Array(Code, { maxItems: 50 })),
}, { additionalProperties: false });
export type RuleTarget = Static<typeof RuleTarget>;

/** percent or a fixed amount off (per line, in the line's currency). */
export const Discount = Type.Union([
  Type.Object({ percent: Percent }, { additionalProperties: false }),
  Type.Object({ amountMinor: MinorUnits, currency: Currency }, { additionalProperties: false }),
]);
export type Discount = Static<typeof Discount>;

export const PriceRuleBody = Type.Object({
  code: Code,
  name: Name,
  type: Type.Union(RULE_TYPES.filter((t) => t !== 'account_term' && t !== 'bundle').map((t) => Type.Literal(t))),
  priority: Type.Integer({ minimum: 0, maximum: 10000 }),
  stacking: Stacking,
  appliesTo: RuleTarget,
  validFrom: Type.Optional(Type.String({ format: 'date-time' })),
  validTo: Type.Optional(Type.String({ format: 'date-time' })),
  /** percentage / fixed_amount / promo */
  discount: Type.Optional(Discount),
  /** promo: the code the buyer presents, and how often it may be redeemed in total. */
  promoCode: Type.Optional(Type.String({ pattern: '^[A-Z0-9][A-Z0-9_-]{2,39}$' })),
  maxRedemptions: Type.Optional(Type.Integer({ minimum: 1 })),
  /** loyalty: discount by months since the customer's first activation. */
  loyaltyTiers: Type.Optional(Type.Array(Type.Object({ minMonths: Type.Integer({ minimum: 0 }), percent: Percent }, { additionalProperties: false }), { minItems: 1, maxItems: 20 })),
  /** volume: discount by the line's quantity. */
  volumeTiers: Type.Optional(Type.Array(Type.Object({ minQuantity: Type.Integer({ minimum: 1 }), percent: Percent }, { additionalProperties: false }), { minItems: 1, maxItems: 20 })),
}, { additionalProperties: false });
export type PriceRuleBody = Static<typeof PriceRuleBody>;

/** Individual terms of one account: an override of a charge's list amount, or a discount. */
export const AccountTermBody = Type.Object({
  name: Name,
  priority: Type.Integer({ minimum: 0, maximum: 10000, default: 0 }),
  stacking: Stacking,
  appliesTo: RuleTarget,
  validFrom: Type.String({ format: 'date-time' }),
  validTo: Type.Optional(Type.String({ format: 'date-time' })),
  /** Replaces the list amount (per period/unit) of the targeted charges. */
  overrideAmountMinor: Type.Optional(MinorUnits),
  discount: Type.Optional(Discount),
}, { additionalProperties: false });
export type AccountTermBody = Static<typeof AccountTermBody>;

export const ROUNDING_MODES = ['HALF_UP', 'HALF_EVEN', 'DOWN'] as const;
export type RoundingMode = (typeof ROUNDING_MODES)[number];
