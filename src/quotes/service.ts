/**
 * Quotes (seed 000 §12): priced against a snapshot of the account's installed base, accepted,
 * then converted into an order draft after a stale check. One use case per method, one
 * transaction each. The price preview prices lines without storing anything.
 */
import { recordAudit } from '../platform/audit.ts';
import { findAddOnParents, findOfferingVersion, findProductSpecificationVersion, whyNotSellableToAccount, type ProductOfferingBody, type ProductSpecificationBody, type Versioned } from '../catalog/index.ts';
import { findAccountInTx, type Account } from '../customers/index.ts';
import { appendToOutbox, buildEvent } from '../events/index.ts';
import { mergeConfiguration, assetVersionsInTx } from '../inventory/index.ts';
import type { CommandContext } from '../platform/context.ts';
import { validateConfiguration, priceItems, countPromoRedemptions, loadPricingRules, recordPromoRedemption, type PriceResult, type PricingItem } from '../pricing/index.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, notTheResponse, type Pool, type Tx } from '../platform/db.ts';
import {
  BusinessRuleError,
  ConcurrentModificationError,
  IllegalTransitionError,
  NotFoundError,
  QuoteExpiredError,
  StaleQuoteError,
  ValidationError,
  type FieldError,
} from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import {
  QUOTE_TRANSITIONS,
  allowedQuoteCommands,
  checkComposition,
  effectiveQuoteStatus,
  liveAddOnCounter,
  staleInstances,
  EXPIRABLE_STATES,
  type AssetVersion,
  type Quote,
  type QuoteCommand,
  type QuoteLine,
} from './model.ts';
import * as store from './store.ts';

// Declared with every problem type in platform/errors.ts; exported here as before.
export { QuoteExpiredError, StaleQuoteError };

export interface QuoteLineInput {
  action: 'ADD' | 'MODIFY' | 'DISCONNECT';
  offeringId?: string;
  offeringVersion?: number;
  productInstanceId?: string;
  /** 1-based number of another line of the same request: this line is its add-on / bundle member. */
  parentLineNumber?: number;
  parentProductInstanceId?: string;
  configuration?: Record<string, unknown>;
  quantity?: number;
  usageEstimate?: Record<string, string>;
  zone?: string;
}

export interface QuoteSettings {
  /** How long a quote stays valid unless the request asks for less. */
  defaultValidityHours: number;
  rounding: 'HALF_UP' | 'HALF_EVEN' | 'DOWN';
}

export const DEFAULT_QUOTE_SETTINGS: QuoteSettings = {
  defaultValidityHours: 720,
  rounding: 'HALF_UP',
};

interface Snapshot {
  assets: (AssetVersion & { configuration: Record<string, unknown> })[];
  subscriptions: { subscriptionId: string; version: number; status: string }[];
  addOnCount: (productInstanceId: string, offeringId: string) => number;
}

export interface OrderDraft {
  quoteId: string;
  accountId: string;
  items: {
    lineId: string;
    lineNumber: number;
    action: 'ADD' | 'MODIFY' | 'DISCONNECT';
    offeringId: string | null;
    offeringVersion: number | null;
    productInstanceId: string | null;
    expectedVersion: number | null;
    parentLineId: string | null;
    parentProductInstanceId: string | null;
    configuration: Record<string, unknown>;
    quantity: number;
    priceLineIds: string[];
  }[];
}

export class QuoteService {
  private readonly settings: QuoteSettings;

  constructor(private readonly deps: { pool: Pool; clock: Clock; quoteSettings?: Partial<QuoteSettings> }) {
    this.settings = { ...DEFAULT_QUOTE_SETTINGS, ...(deps.quoteSettings ?? {}) };
  }

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now().toISOString()));
  }

  /** Prices lines for an account without storing anything (no snapshot, no redemption). */
  async previewPrice(ctx: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; at?: string }): Promise<PriceResult> {
    return this.run(ctx, async (tx, now) => {
      const account = await loadAccount(tx, input.accountId);
      const snapshot = await takeSnapshot(tx, account.accountId);
      const lines = buildLines(input.lines, snapshot);
      return priceLines(tx, account, lines, snapshot, input.promoCodes ?? [], input.at ?? now, this.settings);
    });
  }

  async createQuote(ctx: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; validForHours?: number }): Promise<Quote> {
    if (input.validForHours !== undefined && input.validForHours > this.settings.defaultValidityHours) {
      throw ValidationError.field('/validForHours', `must be at most ${this.settings.defaultValidityHours} hours`);
    }
    return this.run(ctx, async (tx, now) => {
      const account = await loadAccount(tx, input.accountId);
      const snapshot = await takeSnapshot(tx, account.accountId);
      const lines = buildLines(input.lines, snapshot);
      const promoCodes = [...new Set((input.promoCodes ?? []).map((c) => c.toUpperCase()))];
      const price = await priceLines(tx, account, lines, snapshot, promoCodes, now, this.settings);
      const hours = input.validForHours ?? this.settings.defaultValidityHours;
      const quote: Quote = {
        quoteId: newId(),
        accountId: account.accountId,
        status: 'PRICED',
        currency: account.currency,
        snapshot: {
          snapshotId: newId(),
          snapshotTime: now,
          assetVersions: snapshot.assets,
          subscriptionVersions: snapshot.subscriptions,
        },
        promoCodes,
        lines,
        price,
        pricedAt: now,
        expiresAt: new Date(Date.parse(now) + hours * 3_600_000).toISOString(),
        acceptedAt: null,
        convertedAt: null,
        version: 1,
        createdAt: now,
        updatedAt: now,
      };
      await store.insertQuote(tx, ctx.tenantId, quote);
      await quoteEvent(tx, ctx, quote, 'QuoteCreated', now);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'quote.create', targetType: 'quote', targetId: quote.quoteId, subjectAccountId: quote.accountId });
      return quote;
    });
  }

  async getQuote(ctx: CommandContext, quoteId: string): Promise<Quote> {
    return this.run(ctx, async (tx, now) => {
      const quote = await store.findQuote(tx, quoteId);
      if (!quote) throw NotFoundError.of('quote', quoteId);
      return { ...quote, status: effectiveQuoteStatus(quote.status, quote.expiresAt, now) };
    });
  }

  async listQuotes(ctx: CommandContext, accountId: string, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<Quote[]> {
    return this.run(ctx, async (tx, now) => {
      await loadAccount(tx, accountId);
      const quotes: Quote[] = [];
      for (const id of await store.listQuoteIds(tx, accountId, page.after, page.limit)) {
        const quote = (await store.findQuote(tx, id))!;
        quotes.push({ ...quote, status: effectiveQuoteStatus(quote.status, quote.expiresAt, now) });
      }
      return quotes;
    });
  }

  /** Prices again against the same snapshot: catalog and rules as of now. */
  async repriceQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<Quote> {
    return this.command(ctx, quoteId, 'pricing:apply', input.expectedVersion, async (tx, quote, now) => {
      const account = await loadAccount(tx, quote.accountId);
      const snapshot = snapshotOf(quote);
      quote.price = await priceLines(tx, account, quote.lines, snapshot, quote.promoCodes, now, this.settings);
      quote.pricedAt = now;
      return 'QuotePriced';
    });
  }

  /** Accepting redeems the promo codes that the price applied. */
  async acceptQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<Quote> {
    return this.command(ctx, quoteId, 'acceptance:apply', input.expectedVersion, async (tx, quote, now) => {
      const appliedPromos = (quote.price?.rules ?? []).filter((r) => r.applied && quote.price!.lines.some((l) => l.adjustments.some((a) => a.ruleId === r.ruleId && a.ruleType === 'promo')));
      for (const rule of appliedPromos) {
        await recordPromoRedemption(tx, ctx.tenantId, { accountId: quote.accountId, ruleId: rule.ruleId, quoteId: quote.quoteId, at: now });
      }
      quote.acceptedAt = now;
      return 'QuoteAccepted';
    });
  }

  /**
   * The stale check (seed 000 §12): every instance the quote changes or extends must still be
   * at its snapshot version, else 409 `stale-quote` naming them. Returns the order draft that
   * the order part turns into an order.
   */
  async convertQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<{ quote: Quote; order: OrderDraft }> {
    let order: OrderDraft | null = null;
    const quote = await this.command(ctx, quoteId, 'conversion:apply', input.expectedVersion, async (tx, q, now) => {
      const current = await assetVersionsInTx(tx, q.accountId);
      const stale = staleInstances(q.lines, q.snapshot.assetVersions, current.products);
      if (stale.length > 0) throw new StaleQuoteError(q.quoteId, stale);
      q.convertedAt = now;
      order = orderDraftOf(q);
      return 'QuoteConverted';
    });
    return { quote, order: order! };
  }

  async cancelQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<Quote> {
    return this.command(ctx, quoteId, 'cancellation:apply', input.expectedVersion, async () => 'QuoteCancelled');
  }

  /** load → expected version → expiry → state → change → optimistic persist → event → audit. */
  private async command(
    ctx: CommandContext,
    quoteId: string,
    command: QuoteCommand,
    expectedVersion: number,
    change: (tx: Tx, quote: Quote, now: string) => Promise<string>,
  ): Promise<Quote> {
    const outcome = await this.run(ctx, async (tx, now) => {
      const current = await store.findQuote(tx, quoteId);
      if (!current) throw NotFoundError.of('quote', quoteId);
      if (current.version !== expectedVersion) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, current.version);
      if (EXPIRABLE_STATES.includes(current.status) && now >= current.expiresAt && command !== 'cancellation:apply') {
        // Recorded even though the command is refused: the expiry is a fact, not a change.
        await store.markExpired(tx, current.accountId, quoteId, now, EXPIRABLE_STATES);
        await quoteEvent(tx, ctx, { ...current, status: 'EXPIRED', version: current.version + 1 }, 'QuoteExpired', now);
        // The expiry commits, the command is refused: the refusal is the request's answer.
        return notTheResponse({ expired: current.expiresAt });
      }
      const transition = QUOTE_TRANSITIONS[command];
      if (!(transition.from as readonly string[]).includes(current.status)) {
        throw new IllegalTransitionError('quote', quoteId, current.status, command, allowedQuoteCommands(current.status));
      }
      const next: Quote = structuredClone(current);
      const eventType = await change(tx, next, now);
      next.status = transition.to;
      next.version = current.version + 1;
      next.updatedAt = now;
      if (!(await store.updateQuote(tx, next, expectedVersion))) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, null);
      await quoteEvent(tx, ctx, next, eventType, now);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: `quote.${command.split(':')[0]}`, targetType: 'quote', targetId: quoteId, subjectAccountId: next.accountId });
      // The quote is what the command answers (so it is what an Idempotency-Key stores with it).
      return next;
    });
    if ('expired' in outcome) throw new QuoteExpiredError(`quote ${quoteId} expired at ${outcome.expired}; make a new quote`, { quoteId, expiresAt: outcome.expired });
    return outcome;
  }
}

// ====================================================================== helpers

async function loadAccount(tx: Tx, accountId: string): Promise<Account> {
  const account = await findAccountInTx(tx, accountId);
  if (!account) throw NotFoundError.of('account', accountId);
  return account;
}

async function takeSnapshot(tx: Tx, accountId: string): Promise<Snapshot> {
  const current = await assetVersionsInTx(tx, accountId);
  const addOnCount = liveAddOnCounter(current.products, current.relationships);
  return { assets: current.products, subscriptions: current.subscriptions, addOnCount };
}

function snapshotOf(quote: Quote): Snapshot {
  // Re-pricing uses the quote's own snapshot; add-on counts were checked when it was made.
  return { assets: quote.snapshot.assetVersions, subscriptions: quote.snapshot.subscriptionVersions, addOnCount: () => 0 };
}

/** Turns request lines into quote lines: ids, parents, and the included members of bundles. */
function buildLines(inputs: QuoteLineInput[], snapshot: Snapshot): QuoteLine[] {
  const errors: FieldError[] = [];
  const ids = inputs.map(() => newId());
  const lines: QuoteLine[] = inputs.map((input, i) => {
    const at = `/lines/${i}`;
    if (input.action === 'ADD' && !input.offeringId) errors.push({ field: `${at}/offeringId`, message: 'an ADD line names the offering to add' });
    if (input.action !== 'ADD' && !input.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: `a ${input.action} line names the product instance it changes` });
    if (input.action !== 'ADD' && input.productInstanceId && !snapshot.assets.some((a) => a.productInstanceId === input.productInstanceId)) {
      errors.push({ field: `${at}/productInstanceId`, message: `product instance ${input.productInstanceId} is not owned by this account` });
    }
    if (input.parentProductInstanceId && !snapshot.assets.some((a) => a.productInstanceId === input.parentProductInstanceId)) {
      errors.push({ field: `${at}/parentProductInstanceId`, message: `product instance ${input.parentProductInstanceId} is not owned by this account` });
    }
    if (input.parentLineNumber !== undefined && (input.parentLineNumber < 1 || input.parentLineNumber > inputs.length || input.parentLineNumber === i + 1)) {
      errors.push({ field: `${at}/parentLineNumber`, message: `must be the number (1-${inputs.length}) of another line` });
    }
    return {
      lineId: ids[i],
      lineNumber: i + 1,
      action: input.action,
      offeringId: input.action === 'ADD' ? input.offeringId ?? null : null,
      offeringVersion: input.action === 'ADD' ? input.offeringVersion ?? null : null,
      productInstanceId: input.action === 'ADD' ? null : input.productInstanceId ?? null,
      parentLineId: input.parentLineNumber ? ids[input.parentLineNumber - 1] ?? null : null,
      parentProductInstanceId: input.parentProductInstanceId ?? null,
      bundleLineId: null,
      configuration: input.configuration ?? {},
      quantity: input.quantity ?? 1,
      usageEstimate: input.usageEstimate ?? null,
      zone: input.zone ?? null,
    };
  });
  if (errors.length) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
  // A well-formed line on an instance that has ended conflicts with its state: 409, as on orders.
  for (const [i, line] of lines.entries()) {
    const target = line.productInstanceId ? snapshot.assets.find((a) => a.productInstanceId === line.productInstanceId) : undefined;
    if (target && ['DISCONNECTED', 'CANCELLED'].includes(target.status)) {
      throw new IllegalTransitionError('product instance', target.productInstanceId, target.status, line.action, [], { field: `/lines/${i}/productInstanceId` });
    }
  }
  return lines;
}

/** Loads what pricing needs from the catalog, checks it can be sold, checks composition, prices. */
async function priceLines(tx: Tx, account: Account, lines: QuoteLine[], snapshot: Snapshot, promoCodes: string[], at: string, settings: QuoteSettings): Promise<PriceResult> {
  const errors: FieldError[] = [];
  const offerings = new Map<string, Versioned<ProductOfferingBody>>();
  const offeringOfLine = new Map<string, Versioned<ProductOfferingBody>>();

  const loadOffering = async (id: string, version?: number | null) => {
    const key = `${id}@${version ?? 'current'}`;
    if (!offerings.has(key)) {
      const found = await findOfferingVersion(tx, id, version ?? undefined);
      if (found) offerings.set(key, found);
    }
    return offerings.get(key);
  };

  for (const [i, line] of lines.entries()) {
    const at_ = `/lines/${i}`;
    if (line.action === 'ADD') {
      const offering = await loadOffering(line.offeringId!, line.offeringVersion);
      if (!offering) {
        errors.push({ field: `${at_}/offeringId`, message: `offering ${line.offeringId}${line.offeringVersion ? ' version ' + line.offeringVersion : ''} does not exist` });
        continue;
      }
      // Sold now, in the zone, and to this account's segment: as an order checks, so that a quote
      // (or a preview) never shows a price for what its order would refuse.
      const problem = whyNotSellable(offering, at, line.zone) ?? whyNotSellableToAccount(offering, account);
      if (problem) errors.push({ field: `${at_}/offeringId`, message: problem });
      line.offeringVersion = offering.version;
      offeringOfLine.set(line.lineId, offering);
    } else if (line.action === 'MODIFY') {
      // A change is priced with the offering version the instance was sold under — its own
      // price list, not a newer version's — and the rules of today (as the order does).
      const asset = snapshot.assets.find((a) => a.productInstanceId === line.productInstanceId)!;
      const offering = await loadOffering(asset.productOfferingId, asset.productOfferingVersion);
      if (!offering) {
        errors.push({ field: `${at_}/productInstanceId`, message: `offering ${asset.productOfferingId} version ${asset.productOfferingVersion} of product instance ${asset.productInstanceId} is not in the catalog; the change cannot be priced` });
        continue;
      }
      offeringOfLine.set(line.lineId, offering);
    }
  }
  if (errors.length) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);

  // Bundles: a member line of a bundle line belongs to that bundle.
  for (const line of lines) {
    const parent = line.parentLineId ? lines.find((l) => l.lineId === line.parentLineId) : undefined;
    if (parent && offeringOfLine.get(parent.lineId)?.body.bundle) line.bundleLineId = parent.lineId;
  }
  addIncludedBundleMembers(lines, offeringOfLine);
  for (const line of lines) {
    if (line.action === 'ADD' && !offeringOfLine.has(line.lineId)) {
      const offering = await loadOffering(line.offeringId!, line.offeringVersion);
      if (!offering) throw new BusinessRuleError(`bundle member offering ${line.offeringId} does not exist`);
      line.offeringVersion = offering.version;
      offeringOfLine.set(line.lineId, offering);
    }
  }

  const ownedOffering = (productInstanceId: string) => {
    const asset = snapshot.assets.find((a) => a.productInstanceId === productInstanceId);
    if (!asset) return undefined;
    return offerings.get(`${asset.productOfferingId}@${asset.productOfferingVersion}`)?.body;
  };
  for (const line of lines) {
    if (line.parentProductInstanceId) {
      const asset = snapshot.assets.find((a) => a.productInstanceId === line.parentProductInstanceId)!;
      await loadOffering(asset.productOfferingId, asset.productOfferingVersion);
    }
  }
  const addOnParents = await findAddOnParents(tx, [...new Set([...offeringOfLine.values()].filter((o) => o.body.requiresParent).map((o) => o.id))]);
  const composition = checkComposition(lines, (l) => offeringOfLine.get(l.lineId)?.body, { offeringOfInstance: ownedOffering, existingAddOns: snapshot.addOnCount, addOnParents: (id) => addOnParents.get(id) ?? [] });
  if (composition.length) {
    const fieldErrors = composition.map((p) => ({ field: `/lines/${lines.findIndex((l) => l.lineId === p.lineId)}`, message: p.message }));
    throw new ValidationError(fieldErrors.map((e) => `${e.field} ${e.message}`).join('; '), fieldErrors);
  }

  const items: PricingItem[] = [];
  for (const [i, line] of lines.entries()) {
    if (line.action === 'DISCONNECT') continue;
    const offering = offeringOfLine.get(line.lineId)!;
    const spec = offering.body.productSpecification
      ? await findProductSpecificationVersion(tx, offering.body.productSpecification.id, offering.body.productSpecification.version)
      : undefined;
    const requested = line.action === 'MODIFY'
      ? mergeConfiguration(snapshot.assets.find((a) => a.productInstanceId === line.productInstanceId)!.configuration, line.configuration)
      : line.configuration;
    let configuration: Record<string, unknown>;
    try {
      configuration = validateConfiguration((spec?.body as ProductSpecificationBody | undefined) ?? null, requested);
    } catch (error) {
      // Name the line: `/lines/2/configuration/bandwidthMbps`.
      if (!(error instanceof ValidationError)) throw error;
      errors.push(...error.errors.map((e) => ({ field: `/lines/${i}${e.field}`, message: e.message })));
      continue;
    }
    items.push({
      itemId: line.lineId,
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: (spec?.body as ProductSpecificationBody | undefined) ?? null,
      configuration,
      quantity: line.quantity,
      usageEstimate: line.usageEstimate ?? undefined,
      bundleItemId: line.bundleLineId,
      // A change is not a sale: no one-time charges (installation).
      action: line.action === 'MODIFY' ? 'MODIFY' : 'ADD',
    });
  }
  if (errors.length) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);

  const rules = await loadPricingRules(tx, account.accountId, at);
  const known = new Set(rules.filter((r) => r.type === 'promo' && 'promoCode' in r && r.promoCode).map((r) => (r as { promoCode: string }).promoCode.toUpperCase()));
  const unknown = promoCodes.map((code, i) => ({ code, i })).filter(({ code }) => !known.has(code.toUpperCase()));
  if (unknown.length) {
    const fieldErrors = unknown.map(({ code, i }) => ({ field: `/promoCodes/${i}`, message: `unknown promo code ${code}` }));
    throw new ValidationError(fieldErrors.map((e) => `${e.field} ${e.message}`).join('; '), fieldErrors);
  }
  const promoRedemptions = await countPromoRedemptions(tx, rules.filter((r) => r.type === 'promo').map((r) => r.id));
  const customerSince = snapshot.assets.map((a) => a.activationDate).filter((d): d is string => d !== null).sort()[0] ?? null;
  return priceItems(items, {
    accountId: account.accountId,
    currency: account.currency,
    at,
    customerSince,
    promoCodes,
    rules,
    promoRedemptions,
    rounding: settings.rounding,
  });
}

/** Why this offering version cannot be sold at `at` in `zone`, or null. */
function whyNotSellable(offering: Versioned<ProductOfferingBody>, at: string, zone: string | null): string | null {
  const body = offering.body;
  if (offering.status !== 'active') return `offering ${body.code} version ${offering.version} is ${offering.status}, not sellable`;
  if (!body.sellable) return `offering ${body.code} is not sellable on its own`;
  if (body.validFrom && at < new Date(body.validFrom).toISOString()) return `offering ${body.code} can be sold from ${body.validFrom}`;
  if (body.validTo && at >= new Date(body.validTo).toISOString()) return `offering ${body.code} could be sold until ${body.validTo}`;
  if (zone && body.availabilityZones.length > 0 && !body.availabilityZones.includes(zone)) {
    return `offering ${body.code} is not available in zone ${zone}; it is in ${body.availabilityZones.join(', ')}`;
  }
  return null;
}

/** A bundle line brings its included members unless the request already lists them. */
function addIncludedBundleMembers(lines: QuoteLine[], offeringOfLine: Map<string, Versioned<ProductOfferingBody>>): void {
  for (const bundleLine of [...lines]) {
    const bundle = offeringOfLine.get(bundleLine.lineId)?.body.bundle;
    if (!bundle) continue;
    for (const member of bundle.members.filter((m) => m.included)) {
      const present = lines.filter((l) => l.parentLineId === bundleLine.lineId && l.offeringId === member.offeringId).length;
      for (let n = present; n < Math.max(1, member.minCount); n++) {
        lines.push({
          lineId: newId(),
          lineNumber: lines.length + 1,
          action: 'ADD',
          offeringId: member.offeringId,
          offeringVersion: null,
          productInstanceId: null,
          parentLineId: bundleLine.lineId,
          parentProductInstanceId: null,
          bundleLineId: bundleLine.lineId,
          configuration: {},
          quantity: 1,
          usageEstimate: null,
          zone: bundleLine.zone,
        });
      }
    }
  }
}


function orderDraftOf(quote: Quote): OrderDraft {
  return {
    quoteId: quote.quoteId,
    accountId: quote.accountId,
    items: quote.lines.map((l) => ({
      lineId: l.lineId,
      lineNumber: l.lineNumber,
      action: l.action,
      offeringId: l.offeringId,
      offeringVersion: l.offeringVersion,
      productInstanceId: l.productInstanceId,
      expectedVersion: l.productInstanceId ? quote.snapshot.assetVersions.find((a) => a.productInstanceId === l.productInstanceId)?.version ?? null : null,
      parentLineId: l.parentLineId,
      parentProductInstanceId: l.parentProductInstanceId,
      configuration: l.configuration,
      quantity: l.quantity,
      priceLineIds: (quote.price?.lines ?? []).filter((p) => p.itemId === l.lineId).map((p) => p.lineId),
    })),
  };
}

async function quoteEvent(tx: Tx, ctx: CommandContext, quote: Quote, eventType: string, now: string): Promise<void> {
  await appendToOutbox(tx, ctx.tenantId, buildEvent({
    eventType,
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: null,
    accountId: quote.accountId,
    aggregateType: 'quote',
    aggregateId: quote.quoteId,
    aggregateVersion: quote.version,
    body: {
      quoteId: quote.quoteId,
      status: quote.status,
      version: quote.version,
      currency: quote.currency,
      grandTotalMinor: quote.price?.totals.grandTotalMinor ?? null,
      snapshotId: quote.snapshot.snapshotId,
    },
  }));
}

/**
 * For the order part, inside the order's transaction: converts an accepted quote (stale
 * check included) and returns its order draft. Whatever fails rolls back with the order.
 */
export async function convertQuoteInTx(tx: Tx, ctx: CommandContext, now: string, quoteId: string, expectedVersion: number): Promise<{ quote: Quote; order: OrderDraft }> {
  const current = await store.findQuote(tx, quoteId);
  if (!current) throw NotFoundError.of('quote', quoteId);
  if (current.version !== expectedVersion) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, current.version);
  if (EXPIRABLE_STATES.includes(current.status) && now >= current.expiresAt) {
    throw new QuoteExpiredError(`quote ${quoteId} expired at ${current.expiresAt}; make a new quote`, { quoteId, expiresAt: current.expiresAt });
  }
  const transition = QUOTE_TRANSITIONS['conversion:apply'];
  if (!(transition.from as readonly string[]).includes(current.status)) {
    throw new IllegalTransitionError('quote', quoteId, current.status, 'conversion:apply', allowedQuoteCommands(current.status));
  }
  const live = await assetVersionsInTx(tx, current.accountId);
  const stale = staleInstances(current.lines, current.snapshot.assetVersions, live.products);
  if (stale.length > 0) throw new StaleQuoteError(quoteId, stale);
  const next: Quote = { ...current, status: transition.to, convertedAt: now, version: current.version + 1, updatedAt: now };
  if (!(await store.updateQuote(tx, next, expectedVersion))) throw new ConcurrentModificationError('quote', quoteId, expectedVersion, null);
  await quoteEvent(tx, ctx, next, 'QuoteConverted', now);
  await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'quote.conversion', targetType: 'quote', targetId: quoteId, subjectAccountId: next.accountId });
  return { quote: next, order: orderDraftOf(next) };
}
