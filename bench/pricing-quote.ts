/**
 * The quote that bench:pricing prices (bench/README.md), shared by pricing.bench.ts and the
 * same-process A/B of pricing-ab.ts.
 */
import type { QuoteLineInput } from '../src/quotes/service.ts';

export const PROMO_CODES = ['WELCOME10'];

/**
 * Ten quote lines, each one priced item: the triple-play bundle (1) with its three included
 * members and the optional router rental (2-5), Business Fiber 2Gbps (6) with Static IP /29,
 * Managed Router and SLA Gold as its add-ons (7-9), and a second Internet 100 (10) that the
 * WELCOME10 promo discounts (as it does the bundle's Internet 100, after which the bundle's 15%
 * stacks). VoIP carries a usage estimate, so the graduated rate card is priced too.
 */
export function quoteLines(offering: (code: string) => string): QuoteLineInput[] {
  return [
    { action: 'ADD', offeringId: offering('triple-play') },
    { action: 'ADD', offeringId: offering('internet-100'), parentLineNumber: 1 },
    { action: 'ADD', offeringId: offering('iptv'), parentLineNumber: 1, configuration: { channelPackage: 'premium' } },
    { action: 'ADD', offeringId: offering('voip'), parentLineNumber: 1, usageEstimate: { calls: '750' } },
    { action: 'ADD', offeringId: offering('router-rental'), parentLineNumber: 1 },
    { action: 'ADD', offeringId: offering('business-fiber'), configuration: { bandwidthMbps: '2000' } },
    { action: 'ADD', offeringId: offering('static-ip-29'), parentLineNumber: 6 },
    { action: 'ADD', offeringId: offering('managed-router'), parentLineNumber: 6 },
    { action: 'ADD', offeringId: offering('sla-gold'), parentLineNumber: 6 },
    { action: 'ADD', offeringId: offering('internet-100') },
  ];
}
