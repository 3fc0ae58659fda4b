/** Accepting a quote: it redeems the promo codes that its price applied. */
import type { CommandContext } from '../../platform/context.ts';
import type { Tx } from '../../platform/db.ts';
import { recordPromoRedemption } from '../../pricing/index.ts';
import type { Quote } from '../model.ts';
import { changeQuoteInTx, type QuoteExpiry } from '../pipeline.ts';

export function acceptQuoteInTx(tx: Tx, ctx: CommandContext, now: string, quoteId: string, expectedVersion: number): Promise<Quote | QuoteExpiry> {
  return changeQuoteInTx(tx, ctx, now, { quoteId, command: 'acceptance:apply', expectedVersion }, async (quote) => {
    const appliedPromos = (quote.price?.rules ?? []).filter((r) => r.applied && quote.price!.lines.some((l) => l.adjustments.some((a) => a.ruleId === r.ruleId && a.ruleType === 'promo')));
    for (const rule of appliedPromos) {
      await recordPromoRedemption(tx, ctx.tenantId, { accountId: quote.accountId, ruleId: rule.ruleId, quoteId: quote.quoteId, at: now });
    }
    quote.acceptedAt = now;
    return 'QuoteAccepted';
  });
}
