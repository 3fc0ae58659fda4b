/**
 * Price rules (tenant-wide: discounts, promos, loyalty, volume) and account price terms
 * (individual conditions of one account), seed 001 "Pricing Engine". Rules and terms never
 * change once written: a rule is retired and a term is ended, so a quote priced with them stays
 * explainable. The engine (engine.ts) is pure; this file stores its inputs and loads them for
 * the quote code (loadPricingRules, countPromoRedemptions, recordPromoRedemption).
 */
import { recordAudit } from '../platform/audit.ts';
import { findExistingOfferingIds, AccountTermBody, PriceRuleBody, checkValidity, canonicalValidity, normalizeDocument } from '../catalog/index.ts';
import { findAccountInTx } from '../customers/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, isUniqueViolation, type Pool, type Tx } from '../platform/db.ts';
import {
  BusinessRuleError,
  DuplicateCodeError,
  IllegalTransitionError,
  NotFoundError,
  PromoExhaustedError,
  ValidationError,
  type FieldError,
} from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import * as store from './rule-store.ts';
import type { PromoRedemption, RuleInForce, StoredRule, StoredTerm } from './rule-store.ts';
import type { PriceRule } from './types.ts';

export type { PromoRedemption, StoredRule as PriceRuleRecord, StoredTerm as AccountTermRecord } from './rule-store.ts';

function validationError(errors: FieldError[]): ValidationError {
  return new ValidationError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
}

// =================================================================== for the quote code

/**
 * The rules the engine may apply to an account's prices at `at`: the tenant's rules not
 * retired at `at`, and the account's terms not ended at `at`, as PricingContext.rules.
 * Validity windows and promo codes are the engine's to judge.
 */
export async function loadPricingRules(tx: Tx, accountId: string, at: string): Promise<PriceRule[]> {
  const rules = await store.rulesInForceAt(tx, at);
  const terms = await store.termsInForceAt(tx, accountId, at);
  return [
    ...rules.map((r): PriceRule => ({ ...r.body, id: r.id, source: 'rule' })),
    ...terms.map((t): PriceRule => ({ ...t.body, id: t.id, source: 'account_term', type: 'account_term', code: `account-term:${t.id}` })),
  ];
}

/** Redemptions used so far per promo rule id (0 for a rule never redeemed): PricingContext.promoRedemptions. */
export async function countPromoRedemptions(tx: Tx, ruleIds: string[]): Promise<Record<string, number>> {
  const counts = await store.countRedemptions(tx, [...new Set(ruleIds)]);
  return Object.fromEntries(ruleIds.map((id) => [id, counts.get(id) ?? 0]));
}

/**
 * loadPricingRules and countPromoRedemptions of its promo rules, in one statement: what a price
 * (a preview, a quote, an order) reads of rules and terms.
 */
export async function loadPricingInputs(tx: Tx, accountId: string, at: string): Promise<PricingInputs> {
  return pricingInputsOf(await store.pricingInputsAt(tx, accountId, at));
}

export interface PricingInputs {
  rules: PriceRule[];
  promoRedemptions: Record<string, number>;
}

/**
 * The rules and terms in force as the engine takes them, from rows read as pricingInputsAt
 * reads them (its order; promo rules with their redemptions so far): for a statement that
 * reads them with other inputs (a price preview).
 */
export function pricingInputsOf({ rules, terms }: { rules: readonly RuleInForce[]; terms: readonly { id: string; body: AccountTermBody }[] }): PricingInputs {
  return {
    rules: [
      ...rules.map((r): PriceRule => ({ ...r.body, id: r.id, source: 'rule' })),
      ...terms.map((t): PriceRule => ({ ...t.body, id: t.id, source: 'account_term', type: 'account_term', code: `account-term:${t.id}` })),
    ],
    promoRedemptions: Object.fromEntries(rules.filter((r) => r.redemptions !== null).map((r) => [r.id, r.redemptions!])),
  };
}

/**
 * Records that a quote of the account redeemed a promo rule, inside the caller's transaction.
 * Locks the rule row first (SELECT … FOR UPDATE), so concurrent redemptions of one rule count
 * and insert one at a time: when one slot is left, exactly one of them gets it and the others
 * get PromoExhaustedError. Recording the same (account, quote, rule) again is a no-op that
 * returns the first record (`alreadyRecorded: true`).
 */
export async function recordPromoRedemption(
  tx: Tx,
  tenantId: string,
  input: { accountId: string; ruleId: string; quoteId: string; at: string },
): Promise<PromoRedemption & { alreadyRecorded: boolean }> {
  const rule = await store.lockRule(tx, input.ruleId);
  if (!rule) throw NotFoundError.of('price rule', input.ruleId);
  if (rule.type !== 'promo') throw new BusinessRuleError(`price rule ${rule.code} is a ${rule.type} rule, not a promo; it is not redeemed`);
  const existing = await store.findRedemption(tx, input.accountId, input.quoteId, input.ruleId);
  if (existing) return { ...existing, alreadyRecorded: true };
  if (rule.retiredAt !== null && Date.parse(rule.retiredAt) <= Date.parse(input.at)) {
    throw new BusinessRuleError(`promo ${rule.body.promoCode ?? rule.code} was retired at ${rule.retiredAt}`, { ruleId: rule.id });
  }
  const max = rule.body.maxRedemptions;
  if (max !== undefined) {
    const used = (await store.countRedemptions(tx, [rule.id])).get(rule.id) ?? 0;
    if (used >= max) {
      throw new PromoExhaustedError(`promo ${rule.body.promoCode ?? rule.code} has used all of its ${max} redemptions`, {
        ruleId: rule.id, code: rule.code, promoCode: rule.body.promoCode ?? null, maxRedemptions: max,
      });
    }
  }
  const recorded = await store.insertRedemption(tx, { tenantId, ...input });
  return { ...recorded, alreadyRecorded: false };
}

// =================================================================== document checks

/** Which fields belong to which rule types, and what each type needs. */
function checkRuleDocument(body: PriceRuleBody, errors: FieldError[]): void {
  checkValidity(body, errors);
  const onlyFor = (field: keyof PriceRuleBody, types: PriceRuleBody['type'][]) => {
    if (body[field] !== undefined && !types.includes(body.type)) errors.push({ field: `/${field}`, message: `is only for ${types.join(' and ')} rules; this is a ${body.type} rule` });
  };
  const required = (field: keyof PriceRuleBody) => {
    if (body[field] === undefined) errors.push({ field: `/${field}`, message: `is required for a ${body.type} rule` });
  };
  onlyFor('discount', ['percentage', 'fixed_amount', 'promo']);
  onlyFor('promoCode', ['promo']);
  onlyFor('maxRedemptions', ['promo']);
  onlyFor('loyaltyTiers', ['loyalty']);
  onlyFor('volumeTiers', ['volume']);
  switch (body.type) {
    case 'percentage':
      required('discount');
      if (body.discount && !('percent' in body.discount)) errors.push({ field: '/discount', message: 'a percentage rule takes { percent }' });
      break;
    case 'fixed_amount':
      required('discount');
      if (body.discount && !('amountMinor' in body.discount)) errors.push({ field: '/discount', message: 'a fixed_amount rule takes { amountMinor, currency }' });
      break;
    case 'promo':
      required('promoCode');
      required('discount');
      break;
    case 'loyalty':
      required('loyaltyTiers');
      (body.loyaltyTiers ?? []).forEach((tier, i, all) => {
        if (i > 0 && tier.minMonths <= all[i - 1].minMonths) errors.push({ field: `/loyaltyTiers/${i}/minMonths`, message: `must be greater than the previous tier's ${all[i - 1].minMonths}` });
      });
      break;
    case 'volume':
      required('volumeTiers');
      (body.volumeTiers ?? []).forEach((tier, i, all) => {
        if (i > 0 && tier.minQuantity <= all[i - 1].minQuantity) errors.push({ field: `/volumeTiers/${i}/minQuantity`, message: `must be greater than the previous tier's ${all[i - 1].minQuantity}` });
      });
      break;
  }
}

function checkTermDocument(body: AccountTermBody, accountCurrency: string, errors: FieldError[]): void {
  checkValidity(body, errors);
  if (body.overrideAmountMinor === undefined && body.discount === undefined) {
    errors.push({ field: '/discount', message: 'a term needs overrideAmountMinor, discount, or both' });
  }
  if (body.discount && 'currency' in body.discount && body.discount.currency !== accountCurrency) {
    errors.push({ field: '/discount/currency', message: `must be the account's currency, ${accountCurrency}` });
  }
}

/** Rules and terms may target offerings: those must exist (in any state: a rule may outlive a version). */
async function checkTargets(tx: Tx, offeringIds: string[] | undefined, errors: FieldError[]): Promise<void> {
  if (!offeringIds?.length) return;
  const existing = await findExistingOfferingIds(tx, offeringIds);
  offeringIds.forEach((id, i) => {
    if (!existing.has(id)) errors.push({ field: `/appliesTo/offeringIds/${i}`, message: `product offering ${id} does not exist` });
  });
}

// =================================================================== the service

export class PriceRuleService {
  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now(ctx.tenantId).toISOString()));
  }

  // ------------------------------------------------------------------ price rules

  async createRule(ctx: CommandContext, input: unknown): Promise<StoredRule> {
    const { document, errors } = normalizeDocument<PriceRuleBody>(PriceRuleBody, input);
    if (errors.length) throw validationError(errors);
    const body = canonicalValidity(document);
    checkRuleDocument(body, errors);
    if (errors.length) throw validationError(errors);
    return this.run(ctx, async (tx, now) => {
      await checkTargets(tx, body.appliesTo.offeringIds, errors);
      if (errors.length) throw validationError(errors);
      const id = newId();
      let rule: StoredRule;
      try {
        rule = await store.insertRule(tx, { tenantId: ctx.tenantId, id, body, createdAt: now });
      } catch (error) {
        if (isUniqueViolation(error, 'price_rule_tenant_id_code_key')) {
          throw new DuplicateCodeError(`a price rule with code "${body.code}" exists already; codes are never reused, even after retirement`, { code: body.code });
        }
        throw error;
      }
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'price-rule.create', targetType: 'price_rule', targetId: id, subjectAccountId: null, details: { code: body.code, type: body.type } });
      return rule;
    });
  }

  async getRule(ctx: CommandContext, id: string): Promise<StoredRule> {
    return this.run(ctx, async (tx) => {
      const rule = await store.findRule(tx, id);
      if (!rule) throw NotFoundError.of('price rule', id);
      return rule;
    });
  }

  async listRules(ctx: CommandContext, filter: { status?: string; type?: string }, page: { after: { priority: number; code: string } | null; limit: number }): Promise<StoredRule[]> {
    return this.run(ctx, (tx) => store.listRules(tx, filter, page.after, page.limit));
  }

  /** A retired rule no longer applies; it stays readable, and its code is never reused. */
  async retireRule(ctx: CommandContext, id: string): Promise<StoredRule> {
    return this.run(ctx, async (tx, now) => {
      const current = await store.lockRule(tx, id);
      if (!current) throw NotFoundError.of('price rule', id);
      if (current.status === 'retired') throw new IllegalTransitionError('price rule', id, 'retired', 'retirement:apply', []);
      const rule = await store.retireRule(tx, id, now);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'price-rule.retire', targetType: 'price_rule', targetId: id, subjectAccountId: null, details: { code: current.code } });
      return rule!;
    });
  }

  // ------------------------------------------------------------------ account price terms

  async createTerm(ctx: CommandContext, accountId: string, input: unknown): Promise<StoredTerm> {
    const { document, errors } = normalizeDocument<AccountTermBody>(AccountTermBody, input);
    if (errors.length) throw validationError(errors);
    const body = canonicalValidity(document);
    return this.run(ctx, async (tx, now) => {
      const account = await findAccountInTx(tx, accountId);
      if (!account) throw NotFoundError.of('account', accountId);
      checkTermDocument(body, account.currency, errors);
      await checkTargets(tx, body.appliesTo.offeringIds, errors);
      if (errors.length) throw validationError(errors);
      const id = newId();
      const term = await store.insertTerm(tx, { tenantId: ctx.tenantId, accountId, id, body, createdAt: now });
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'account-price-term.create', targetType: 'account_price_term', targetId: id, subjectAccountId: accountId, details: { name: body.name } });
      return term;
    });
  }

  async listTerms(ctx: CommandContext, accountId: string, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<StoredTerm[]> {
    return this.run(ctx, async (tx) => {
      if (!(await findAccountInTx(tx, accountId))) throw NotFoundError.of('account', accountId);
      return store.listTerms(tx, accountId, page.after, page.limit);
    });
  }

  /** Ends a term now: it no longer applies to prices at or after this instant. */
  async endTerm(ctx: CommandContext, accountId: string, termId: string): Promise<StoredTerm> {
    return this.run(ctx, async (tx, now) => {
      const current = await store.lockTerm(tx, accountId, termId);
      if (!current) throw NotFoundError.of('account price term', termId);
      if (current.endedAt !== null) throw new IllegalTransitionError('account price term', termId, 'ended', 'end:apply', []);
      const term = await store.endTerm(tx, accountId, termId, now);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'account-price-term.end', targetType: 'account_price_term', targetId: termId, subjectAccountId: accountId });
      return term!;
    });
  }
}
