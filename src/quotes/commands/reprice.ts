/** Re-pricing a quote: the same lines against the same snapshot, with the catalog and rules of now. */
import { findAccountInTx } from '../../customers/index.ts';
import type { CommandContext } from '../../platform/context.ts';
import type { Tx } from '../../platform/db.ts';
import { NotFoundError } from '../../platform/errors.ts';
import type { Quote } from '../model.ts';
import { changeQuoteInTx, type QuoteExpiry } from '../pipeline.ts';
import type { QuoteSettings } from '../service.ts';
import { priceQuoteLinesInTx } from './create.ts';

export function repriceQuoteInTx(tx: Tx, ctx: CommandContext, now: string, settings: QuoteSettings, quoteId: string, expectedVersion: number): Promise<Quote | QuoteExpiry> {
  return changeQuoteInTx(tx, ctx, now, { quoteId, command: 'pricing:apply', expectedVersion }, async (quote) => {
    const account = await findAccountInTx(tx, quote.accountId);
    if (!account) throw NotFoundError.of('account', quote.accountId);
    const priced = await priceQuoteLinesInTx(tx, {
      account,
      // The snapshot keeps no relationships: add-on counts were checked when the quote was made.
      installedBase: { products: quote.snapshot.assetVersions, relationships: [] },
      lines: quote.lines,
      promoCodes: quote.promoCodes,
      at: now,
      rounding: settings.rounding,
    });
    quote.lines = priced.lines;
    quote.price = priced.price;
    quote.pricedAt = now;
    return 'QuotePriced';
  });
}
