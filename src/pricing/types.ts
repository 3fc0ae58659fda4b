/**
 * The pricing engine's contract. The engine (engine.ts) is a pure function from these inputs
 * to an itemized price: no I/O, no clock (the date is an input), no randomness.
 */
import type {
  AccountTermBody,
  ChargeKind,
  Discount,
  PriceRuleBody,
  PriceTier,
  ProductOfferingBody,
  ProductSpecificationBody,
  RecurringPeriod,
  RoundingMode,
  RuleTarget,
} from '../catalog/index.ts';

/** A rule as the engine sees it: a tenant price rule, an account's term, or a bundle's discount. */
export type PriceRule =
  | ({ id: string; source: 'rule' } & PriceRuleBody)
  | ({ id: string; source: 'account_term'; type: 'account_term'; code: string } & AccountTermBody);

/** One thing being priced: usually a quote line. */
export interface PricingItem {
  itemId: string;
  offering: { id: string; version: number; body: ProductOfferingBody };
  /** The offering's product specification, to validate and default the configuration. */
  specification: ProductSpecificationBody | null;
  configuration: Record<string, unknown>;
  quantity: number;
  /** Estimated usage per usage charge code (decimal strings), to show an estimated amount. */
  usageEstimate?: Record<string, string>;
  /** The item of the bundle offering this item is a member of, if any. */
  bundleItemId?: string | null;
  /**
   * ADD (default): a new sale, every charge of the price list. MODIFY: a change of an owned
   * instance, priced without its one-time charges, which belong to the sale (installation).
   */
  action?: 'ADD' | 'MODIFY';
}

export interface PricingContext {
  accountId: string;
  currency: string;
  /** The instant the price is for: rule validity, offering validity, loyalty tenure. */
  at: string;
  /** When the customer's first product was activated (from the installed base); null = new customer. */
  customerSince: string | null;
  promoCodes: string[];
  /** Tenant rules and the account's terms; the engine picks the ones that apply. */
  rules: PriceRule[];
  /** Redemptions already used per promo rule id (for maxRedemptions). */
  promoRedemptions?: Record<string, number>;
  rounding: RoundingMode;
  /** Cap on a line's total discount as a percentage of its list amount; default "100". */
  maxTotalDiscountPercent?: string;
}

export interface PriceAdjustment {
  ruleId: string;
  ruleCode: string;
  ruleType: string;
  description: string;
  /** Negative for a discount; for an override, the difference to the list amount. */
  amountMinor: string;
}

export interface PricedLine {
  lineId: string;
  itemId: string;
  offeringId: string;
  offeringVersion: number;
  chargeCode: string;
  chargeName: string;
  kind: ChargeKind;
  /** recurring/rental: the billing period; prepaid: days covered. */
  period: RecurringPeriod | null;
  periodDays: number | null;
  quantity: string;
  /** List amount of the line before any rule (quantity and per-unit multipliers included). */
  listAmountMinor: string;
  /** Every rule that changed the amount, in the order applied. */
  adjustments: PriceAdjustment[];
  finalAmountMinor: string;
  /** Usage lines: the rate card, and the estimate when one was given. */
  usage: { unit: string; tierMode: 'graduated' | 'volume'; tiers: PriceTier[]; estimatedQuantity: string | null } | null;
}

export interface RuleDecision {
  ruleId: string;
  ruleCode: string;
  applied: boolean;
  /** Why a rule did not apply (expired, code not presented, not combinable, redemptions used up…). */
  reason: string | null;
  /** The lines it changed. */
  lineIds: string[];
}

export interface PriceResult {
  currency: string;
  at: string;
  rounding: RoundingMode;
  lines: PricedLine[];
  totals: {
    oneTimeMinor: string;
    prepaidMinor: string;
    /** Recurring and rental lines per period, e.g. [{ period: 'month', periodDays: null, amountMinor }]. */
    recurring: { period: RecurringPeriod; periodDays: number | null; amountMinor: string }[];
    usageEstimateMinor: string;
    /** Sum of every line's final amount. */
    grandTotalMinor: string;
    listTotalMinor: string;
    discountTotalMinor: string;
  };
  rules: RuleDecision[];
}

export type { Discount, RuleTarget };
