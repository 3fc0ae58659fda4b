/**
 * Quotes (seed 000 §12): priced against a snapshot of the account's installed base, accepted,
 * then converted into an order draft after a stale check. QuoteService is the part's public
 * class: each method is one use case in one transaction, written in commands/ (making a quote,
 * re-pricing, accepting, converting) over the versioned-change pipeline of pipeline.ts.
 */
import type { CommandContext } from '../platform/context.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, notTheResponse, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError, QuoteExpiredError, StaleQuoteError, ValidationError } from '../platform/errors.ts';
import type { PriceResult } from '../pricing/index.ts';
import { findAccountInTx } from '../customers/index.ts';
import { acceptQuoteInTx } from './commands/accept.ts';
import { convertQuoteCommandInTx, type OrderDraft } from './commands/convert.ts';
import { createQuoteInTx, previewPrice, previewPriceInTx, type QuoteLineInput } from './commands/create.ts';
import { repriceQuoteInTx } from './commands/reprice.ts';
import { effectiveQuoteStatus, type Quote } from './model.ts';
import { changeQuoteInTx, isExpiry, type QuoteExpiry } from './pipeline.ts';
import * as store from './store.ts';

export type { OrderDraft } from './commands/convert.ts';
export type { QuoteLineInput } from './commands/create.ts';

// Declared with every problem type in platform/errors.ts; exported here as before.
export { QuoteExpiredError, StaleQuoteError };

export interface QuoteSettings {
  /** How long a quote stays valid unless the request asks for less. */
  defaultValidityHours: number;
  rounding: 'HALF_UP' | 'HALF_EVEN' | 'DOWN';
}

export const DEFAULT_QUOTE_SETTINGS: QuoteSettings = {
  defaultValidityHours: 720,
  rounding: 'HALF_UP',
};

export class QuoteService {
  private readonly settings: QuoteSettings;

  constructor(private readonly deps: { pool: Pool; clock: Clock; quoteSettings?: Partial<QuoteSettings> }) {
    this.settings = { ...DEFAULT_QUOTE_SETTINGS, ...(deps.quoteSettings ?? {}) };
  }

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now(ctx.tenantId).toISOString()));
  }

  /** A versioned change: a quote found expired has its expiry committed, and the command is refused. */
  private async change<T extends object>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T | QuoteExpiry>): Promise<T> {
    // The expiry commits, the command is refused: the refusal is the request's answer.
    const outcome = await this.run(ctx, async (tx, now) => {
      const result = await work(tx, now);
      return isExpiry(result) ? notTheResponse(result) : result;
    });
    if (isExpiry(outcome)) throw quoteExpiredError(outcome);
    // The quote is what the command answers (so it is what an Idempotency-Key stores with it).
    return outcome;
  }

  /** Prices lines for an account without storing anything (no snapshot, no redemption). */
  async previewPrice(ctx: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; at?: string }): Promise<PriceResult> {
    const inTransaction = () => this.run(ctx, (tx, now) => previewPriceInTx(tx, now, this.settings, input));
    return previewPrice(this.deps.pool, ctx.tenantId, this.deps.clock.now(ctx.tenantId).toISOString(), this.settings, input, inTransaction);
  }

  async createQuote(ctx: CommandContext, input: { accountId: string; lines: QuoteLineInput[]; promoCodes?: string[]; validForHours?: number }): Promise<Quote> {
    if (input.validForHours !== undefined && input.validForHours > this.settings.defaultValidityHours) {
      throw ValidationError.field('/validForHours', `must be at most ${this.settings.defaultValidityHours} hours`);
    }
    return this.run(ctx, (tx, now) => createQuoteInTx(tx, ctx, now, this.settings, input));
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
      if (!(await findAccountInTx(tx, accountId))) throw NotFoundError.of('account', accountId);
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
    return this.change(ctx, (tx, now) => repriceQuoteInTx(tx, ctx, now, this.settings, quoteId, input.expectedVersion));
  }

  /** Accepting redeems the promo codes that the price applied. */
  async acceptQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<Quote> {
    return this.change(ctx, (tx, now) => acceptQuoteInTx(tx, ctx, now, quoteId, input.expectedVersion));
  }

  /** The stale check, then the order draft that the order part turns into an order (commands/convert.ts). */
  async convertQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<{ quote: Quote; order: OrderDraft }> {
    return this.change(ctx, (tx, now) => convertQuoteCommandInTx(tx, ctx, now, quoteId, input.expectedVersion));
  }

  /** A cancellation changes nothing but the state; it also ends a quote past its expiry. */
  async cancelQuote(ctx: CommandContext, quoteId: string, input: { expectedVersion: number }): Promise<Quote> {
    return this.change(ctx, (tx, now) => changeQuoteInTx(tx, ctx, now, { quoteId, command: 'cancellation:apply', expectedVersion: input.expectedVersion }, async () => 'QuoteCancelled'));
  }
}

/**
 * For the order part, inside the order's transaction: converts an accepted quote (stale
 * check included) and returns its order draft. Whatever fails rolls back with the order —
 * an expiry found here too: the refused order keeps nothing.
 */
export async function convertQuoteInTx(tx: Tx, ctx: CommandContext, now: string, quoteId: string, expectedVersion: number): Promise<{ quote: Quote; order: OrderDraft }> {
  const outcome = await convertQuoteCommandInTx(tx, ctx, now, quoteId, expectedVersion);
  if (isExpiry(outcome)) throw quoteExpiredError(outcome);
  return outcome;
}

function quoteExpiredError(expiry: QuoteExpiry): QuoteExpiredError {
  return new QuoteExpiredError(`quote ${expiry.quoteId} expired at ${expiry.expiresAt}; make a new quote`, { quoteId: expiry.quoteId, expiresAt: expiry.expiresAt });
}
