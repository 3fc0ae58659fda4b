/**
 * Converting an accepted quote (seed 000 §12): the stale check — every instance the quote
 * changes or extends must still be at its snapshot version, else 409 `stale-quote` naming
 * them — then the order draft that the order part turns into an order.
 */
import { assetVersionsInTx } from '../../inventory/index.ts';
import type { CommandContext } from '../../platform/context.ts';
import type { Tx } from '../../platform/db.ts';
import { staleInstances, type Quote } from '../model.ts';
import { changeQuoteInTx, isExpiry, type QuoteExpiry } from '../pipeline.ts';
import { StaleQuoteError } from '../../platform/errors.ts';

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

export async function convertQuoteCommandInTx(tx: Tx, ctx: CommandContext, now: string, quoteId: string, expectedVersion: number): Promise<{ quote: Quote; order: OrderDraft } | QuoteExpiry> {
  const outcome = await changeQuoteInTx(tx, ctx, now, { quoteId, command: 'conversion:apply', expectedVersion }, async (quote) => {
    const current = await assetVersionsInTx(tx, quote.accountId);
    const stale = staleInstances(quote.lines, quote.snapshot.assetVersions, current.products);
    if (stale.length > 0) throw new StaleQuoteError(quote.quoteId, stale);
    quote.convertedAt = now;
    return 'QuoteConverted';
  });
  return isExpiry(outcome) ? outcome : { quote: outcome, order: orderDraftOf(outcome) };
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
