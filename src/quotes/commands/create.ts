/**
 * Making a quote from request lines: the price preview (nothing stored) and the quote itself
 * (snapshot of the installed base, priced lines). Both check the lines as a quote has them,
 * then price them as a basket.
 */
import { findAccountInTx, type Account } from '../../customers/index.ts';
import { assetVersionsInTx } from '../../inventory/index.ts';
import { recordAudit } from '../../platform/audit.ts';
import type { CommandContext } from '../../platform/context.ts';
import type { Pool, Tx } from '../../platform/db.ts';
import { IllegalTransitionError, NotFoundError, ValidationError, type FieldError } from '../../platform/errors.ts';
import { newId } from '../../platform/ids.ts';
import { offeringVersionsFromHeads } from '../../catalog/index.ts';
import { pricingInputsOf, type PriceResult } from '../../pricing/index.ts';
import { priceBasketInTx, TransactionNeeded, type BasketInput } from '../basket.ts';
import type { Quote, QuoteLine, QuoteLineAction } from '../model.ts';
import { quoteEvent } from '../pipeline.ts';
import type { QuoteSettings } from '../service.ts';
import { readPreviewInputs, type PreviewInputs } from '../preview-store.ts';
import * as store from '../store.ts';

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

/** The form of an id the preview's one statement takes ($2::uuid[]); another goes through the transaction, which answers it as before. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * A price preview, read in one statement when it can be (readPreviewInputs: no transaction, one
 * round trip): lines that only ADD, with every offering and published document at hand. Any
 * other (a MODIFY line, a bundle member missing from the lines, a document not cached yet, an
 * id that is not a uuid) is priced by previewPriceInTx in a tenant transaction, which reads what
 * it needs; both answer the same price and the same errors, in the same order.
 */
export async function previewPrice(
  pool: Pool,
  tenantId: string,
  now: string,
  settings: QuoteSettings,
  input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; at?: string },
  inTransaction: () => Promise<PriceResult>,
): Promise<PriceResult> {
  const adds = input.lines.filter((l) => l.action === 'ADD');
  const extended = [...new Set(input.lines.flatMap((l) => (l.parentProductInstanceId ? [l.parentProductInstanceId] : [])))];
  if (input.lines.some((l) => l.action === 'MODIFY') || !UUID.test(input.accountId) || adds.some((l) => !l.offeringId || !UUID.test(l.offeringId))) return inTransaction();
  const at = input.at ?? now;
  const wanted = adds.map((l) => ({ id: l.offeringId!, version: l.offeringVersion ?? null }));
  const read = await readPreviewInputs(pool, tenantId, { accountId: input.accountId, offerings: wanted, extendedInstanceIds: extended, at });
  return previewFromInputs(read, settings, input, at, inTransaction);
}

/** The preview's work once its inputs are read (previewPrice); a separate function so that a benchmark can time it alone. */
export async function previewFromInputs(
  read: PreviewInputs,
  settings: QuoteSettings,
  input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[] },
  at: string,
  inTransaction: () => Promise<PriceResult>,
): Promise<PriceResult> {
  if (!read.account) throw NotFoundError.of('account', input.accountId);
  if (!read.offerings) return inTransaction();
  const installedBase = { products: read.products, relationships: read.relationships };
  const lines = buildLines(input.lines, installedBase.products);
  try {
    return (await priceQuoteLinesInTx(null, {
      account: read.account, installedBase, lines, promoCodes: input.promoCodes ?? [], at, rounding: settings.rounding,
      preloaded: { offerings: read.offerings, pricing: pricingInputsOf(read) },
    })).price;
  } catch (error) {
    if (error instanceof TransactionNeeded) return inTransaction();
    throw error;
  }
}

export async function previewPriceInTx(tx: Tx, now: string, settings: QuoteSettings, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; at?: string }): Promise<PriceResult> {
  const account = await loadAccount(tx, input.accountId);
  const installedBase = await assetVersionsInTx(tx, account.accountId);
  const lines = buildLines(input.lines, installedBase.products);
  return (await priceQuoteLinesInTx(tx, { account, installedBase, lines, promoCodes: input.promoCodes ?? [], at: input.at ?? now, rounding: settings.rounding })).price;
}

export async function createQuoteInTx(tx: Tx, ctx: CommandContext, now: string, settings: QuoteSettings, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; validForHours?: number }): Promise<Quote> {
  const account = await loadAccount(tx, input.accountId);
  const installedBase = await assetVersionsInTx(tx, account.accountId);
  const promoCodes = [...new Set((input.promoCodes ?? []).map((c) => c.toUpperCase()))];
  const { lines, price } = await priceQuoteLinesInTx(tx, { account, installedBase, lines: buildLines(input.lines, installedBase.products), promoCodes, at: now, rounding: settings.rounding });
  const hours = input.validForHours ?? settings.defaultValidityHours;
  const quote: Quote = {
    quoteId: newId(),
    accountId: account.accountId,
    status: 'PRICED',
    currency: account.currency,
    snapshot: {
      snapshotId: newId(),
      snapshotTime: now,
      assetVersions: installedBase.products,
      subscriptionVersions: installedBase.subscriptions,
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
}

/**
 * Prices a quote's lines as a basket (errors name `/lines/N/…`), bringing the included members
 * of bundles: the quote's lines as priced (versions sold, bundle members), and the price.
 */
export async function priceQuoteLinesInTx(
  tx: Tx | null,
  input: Pick<BasketInput, 'account' | 'installedBase' | 'at' | 'preloaded'> & { lines: readonly QuoteLine[]; promoCodes: readonly string[]; rounding: QuoteSettings['rounding'] },
): Promise<{ lines: QuoteLine[]; price: PriceResult }> {
  const basket = await priceBasketInTx(tx, {
    preloaded: input.preloaded,
    account: input.account,
    installedBase: input.installedBase,
    lines: input.lines,
    pointer: '/lines',
    at: input.at,
    completeBundles: true,
    pricing: { promoCodes: input.promoCodes, rounding: input.rounding },
  });
  const lines = basket.lines.map(({ line, bundleLineId }, i): QuoteLine => ({
    lineId: line.lineId,
    lineNumber: i + 1,
    action: line.action as QuoteLineAction,
    offeringId: line.offeringId,
    offeringVersion: line.offeringVersion,
    productInstanceId: line.productInstanceId,
    parentLineId: line.parentLineId,
    parentProductInstanceId: line.parentProductInstanceId,
    bundleLineId,
    configuration: line.configuration,
    quantity: line.quantity,
    usageEstimate: line.usageEstimate,
    zone: line.zone,
  }));
  return { lines, price: basket.price! };
}

async function loadAccount(tx: Tx, accountId: string): Promise<Account> {
  const account = await findAccountInTx(tx, accountId);
  if (!account) throw NotFoundError.of('account', accountId);
  return account;
}

/** Turns request lines into quote lines: ids, targets and parents in the account, line numbers. */
function buildLines(inputs: QuoteLineInput[], owned: readonly { productInstanceId: string; status: string }[]): QuoteLine[] {
  const errors: FieldError[] = [];
  const ids = inputs.map(() => newId());
  const lines: QuoteLine[] = inputs.map((input, i) => {
    const at = `/lines/${i}`;
    if (input.action === 'ADD' && !input.offeringId) errors.push({ field: `${at}/offeringId`, message: 'an ADD line names the offering to add' });
    if (input.action !== 'ADD' && !input.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: `a ${input.action} line names the product instance it changes` });
    if (input.action !== 'ADD' && input.productInstanceId && !owned.some((a) => a.productInstanceId === input.productInstanceId)) {
      errors.push({ field: `${at}/productInstanceId`, message: `product instance ${input.productInstanceId} is not owned by this account` });
    }
    if (input.parentProductInstanceId && !owned.some((a) => a.productInstanceId === input.parentProductInstanceId)) {
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
    const target = line.productInstanceId ? owned.find((a) => a.productInstanceId === line.productInstanceId) : undefined;
    if (target && ['DISCONNECTED', 'CANCELLED'].includes(target.status)) {
      throw new IllegalTransitionError('product instance', target.productInstanceId, target.status, line.action, [], { field: `/lines/${i}/productInstanceId` });
    }
  }
  return lines;
}
