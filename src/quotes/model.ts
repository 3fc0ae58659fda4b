/**
 * Quotes as pure data: the lifecycle, the stale check against the installed-base snapshot
 * (seed 000 §12), and the add-on / bundle composition rules of the catalog.
 */
import type { ProductOfferingBody } from '../catalog/index.ts';
import type { PriceResult } from '../pricing/index.ts';
import { allowedCommands, transition } from '../platform/state-machine.ts';

export const QUOTE_STATES = ['DRAFT', 'PRICED', 'ACCEPTED', 'CONVERTED', 'EXPIRED', 'CANCELLED'] as const;
export type QuoteState = (typeof QUOTE_STATES)[number];

export const QUOTE_TRANSITIONS = {
  'pricing:apply': { from: ['DRAFT', 'PRICED'], to: 'PRICED' },
  'acceptance:apply': { from: ['PRICED'], to: 'ACCEPTED' },
  'conversion:apply': { from: ['ACCEPTED'], to: 'CONVERTED' },
  'cancellation:apply': { from: ['DRAFT', 'PRICED', 'ACCEPTED'], to: 'CANCELLED' },
} as const satisfies Record<string, { from: readonly QuoteState[]; to: QuoteState }>;
export type QuoteCommand = keyof typeof QUOTE_TRANSITIONS;

export function allowedQuoteCommands(state: QuoteState): QuoteCommand[] {
  return allowedCommands(QUOTE_TRANSITIONS, state);
}

export function quoteTransition(state: QuoteState, command: QuoteCommand): { ok: true; to: QuoteState } | { ok: false; allowed: QuoteCommand[] } {
  return transition(QUOTE_TRANSITIONS, state, command);
}

/** States in which time can still run out on a quote. */
export const EXPIRABLE_STATES: readonly QuoteState[] = ['DRAFT', 'PRICED', 'ACCEPTED'];

/** The status to show at `now`: a live quote past its expiry is EXPIRED even before anyone wrote it. */
export function effectiveQuoteStatus(status: QuoteState, expiresAt: string, now: string): QuoteState {
  return EXPIRABLE_STATES.includes(status) && now >= expiresAt ? 'EXPIRED' : status;
}

export type QuoteLineAction = 'ADD' | 'MODIFY' | 'DISCONNECT';

export interface QuoteLine {
  lineId: string;
  lineNumber: number;
  action: QuoteLineAction;
  offeringId: string | null;
  offeringVersion: number | null;
  productInstanceId: string | null;
  /** An add-on (or optional bundle member) of another line of this quote. */
  parentLineId: string | null;
  /** An add-on of a product the account already owns. */
  parentProductInstanceId: string | null;
  /** The bundle line this line is a member of. */
  bundleLineId: string | null;
  configuration: Record<string, unknown>;
  quantity: number;
  usageEstimate: Record<string, string> | null;
  zone: string | null;
}

export interface AssetVersion {
  productInstanceId: string;
  version: number;
  status: string;
  productOfferingId: string;
  productOfferingVersion: number;
  name: string;
  activationDate: string | null;
  /** The configuration at snapshot time: what a MODIFY line changes. */
  configuration: Record<string, unknown>;
}

export interface Quote {
  quoteId: string;
  accountId: string;
  status: QuoteState;
  currency: string;
  snapshot: { snapshotId: string; snapshotTime: string; assetVersions: AssetVersion[]; subscriptionVersions: { subscriptionId: string; version: number; status: string }[] };
  promoCodes: string[];
  lines: QuoteLine[];
  price: PriceResult | null;
  pricedAt: string | null;
  expiresAt: string;
  acceptedAt: string | null;
  convertedAt: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** The instances a quote's lines depend on: changed, disconnected, or extended with add-ons. */
export function referencedInstances(lines: readonly QuoteLine[]): string[] {
  const ids = new Set<string>();
  for (const line of lines) {
    if (line.productInstanceId) ids.add(line.productInstanceId);
    if (line.parentProductInstanceId) ids.add(line.parentProductInstanceId);
  }
  return [...ids];
}

export interface StaleInstance {
  productInstanceId: string;
  quotedVersion: number | null;
  currentVersion: number | null;
  currentStatus: string | null;
}

/**
 * The stale check (seed 000 §12): every instance the quote refers to must still be at the
 * version recorded in its snapshot. Returns the ones that moved (or vanished).
 */
export function staleInstances(lines: readonly QuoteLine[], snapshot: readonly AssetVersion[], current: readonly { productInstanceId: string; version: number; status: string }[]): StaleInstance[] {
  const stale: StaleInstance[] = [];
  for (const id of referencedInstances(lines)) {
    const quoted = snapshot.find((a) => a.productInstanceId === id);
    const now = current.find((c) => c.productInstanceId === id);
    if (!quoted || !now || quoted.version !== now.version) {
      stale.push({ productInstanceId: id, quotedVersion: quoted?.version ?? null, currentVersion: now?.version ?? null, currentStatus: now?.status ?? null });
    }
  }
  return stale;
}

/** What the composition rules read of a line (a quote line, or a line of a basket). */
export type CompositionLine = Pick<QuoteLine, 'lineId' | 'offeringId' | 'parentLineId' | 'parentProductInstanceId'> & { action: string };

export interface CompositionProblem {
  lineId: string;
  message: string;
}

/**
 * Checks add-on and bundle rules of the catalog over the quote's ADD lines:
 *  - a line with a parent line must be an allowed add-on (parent offering's addOns) or a
 *    member of the parent bundle, within the rule's max count;
 *  - every parent line / bundle line has at least the min count of each add-on rule / member;
 *  - an add-on of an owned instance must be allowed by that instance's offering, counting the
 *    add-ons it already has;
 *  - an add-on-only offering (`requiresParent`) has a parent line or an owned parent instance.
 * `offerings` maps offering id → the version used for the line (parents included).
 */
export function checkComposition<L extends CompositionLine>(
  lines: readonly L[],
  offeringOf: (line: L) => ProductOfferingBody | undefined,
  owned: {
    offeringOfInstance: (productInstanceId: string) => ProductOfferingBody | undefined;
    existingAddOns: (productInstanceId: string, offeringId: string) => number;
    /** The codes of the offerings an add-on-only offering (`requiresParent`) may be added to. */
    addOnParents?: (offeringId: string) => string[];
  },
): CompositionProblem[] {
  const problems: CompositionProblem[] = [];
  const byId = new Map(lines.map((l) => [l.lineId, l]));
  const childrenOf = (parentLineId: string) => lines.filter((l) => l.parentLineId === parentLineId);

  for (const line of lines) {
    if (line.action !== 'ADD') continue;
    const own = offeringOf(line);
    if (own?.requiresParent && !line.parentLineId && !line.parentProductInstanceId) {
      const parents = owned.addOnParents?.(line.offeringId!) ?? [];
      problems.push({
        lineId: line.lineId,
        message: `offering ${own.code} is an add-on: it is sold only onto ${parents.length ? `an instance or a line of ${parents.join(', ')}` : 'a parent that allows it (no active offering does now)'}; name its parent`,
      });
      continue;
    }
    if (line.parentLineId) {
      const parent = byId.get(line.parentLineId);
      const parentOffering = parent ? offeringOf(parent) : undefined;
      if (!parent || parent.action !== 'ADD' || !parentOffering) {
        problems.push({ lineId: line.lineId, message: `parent line ${line.parentLineId} is not an ADD line of this quote` });
        continue;
      }
      const rule = parentOffering.bundle?.members.find((m) => m.offeringId === line.offeringId) ?? parentOffering.addOns.find((a) => a.offeringId === line.offeringId);
      if (!rule) {
        problems.push({ lineId: line.lineId, message: `offering ${line.offeringId} is neither an add-on nor a bundle member of ${parentOffering.code}` });
        continue;
      }
    }
    if (line.parentProductInstanceId) {
      const parentOffering = owned.offeringOfInstance(line.parentProductInstanceId);
      const rule = parentOffering?.addOns.find((a) => a.offeringId === line.offeringId);
      if (!parentOffering || !rule) {
        problems.push({ lineId: line.lineId, message: `offering ${line.offeringId} is not an add-on of the offering of product instance ${line.parentProductInstanceId}` });
        continue;
      }
      const sameGroup = lines.filter((l) => l.action === 'ADD' && l.parentProductInstanceId === line.parentProductInstanceId && l.offeringId === line.offeringId);
      const total = owned.existingAddOns(line.parentProductInstanceId, line.offeringId!) + sameGroup.length;
      // Reported once per group, on its last line.
      if (total > rule.maxCount && sameGroup[sameGroup.length - 1] === line) {
        problems.push({ lineId: line.lineId, message: `product instance ${line.parentProductInstanceId} would have ${total} add-ons of ${line.offeringId}; at most ${rule.maxCount}` });
      }
    }
  }

  // Counts per parent line: add-on rules and bundle members, min and max.
  for (const parent of lines) {
    if (parent.action !== 'ADD') continue;
    const offering = offeringOf(parent);
    if (!offering) continue;
    const children = childrenOf(parent.lineId);
    const rules = [...(offering.bundle?.members ?? []), ...offering.addOns];
    for (const rule of rules) {
      const count = children.filter((c) => c.offeringId === rule.offeringId).length;
      if (count > rule.maxCount) problems.push({ lineId: parent.lineId, message: `${offering.code} allows at most ${rule.maxCount} of offering ${rule.offeringId}; the quote has ${count}` });
      if (count < rule.minCount) problems.push({ lineId: parent.lineId, message: `${offering.code} needs at least ${rule.minCount} of offering ${rule.offeringId}; the quote has ${count}` });
    }
  }
  return problems;
}

/**
 * Counts the live add-ons of one offering that an owned product instance already has, along
 * containment (its PARENT_OF targets and ADDON_OF sources): what an add-on rule's maxCount
 * is checked against.
 */
export function liveAddOnCounter(
  products: readonly { productInstanceId: string; productOfferingId: string; status: string }[],
  relationships: readonly { type: string; sourceProductInstanceId: string; targetProductInstanceId: string }[],
): (productInstanceId: string, offeringId: string) => number {
  return (productInstanceId, offeringId) =>
    relationships.filter((r) => {
      const child = r.type === 'PARENT_OF' && r.sourceProductInstanceId === productInstanceId ? r.targetProductInstanceId
        : r.type === 'ADDON_OF' && r.targetProductInstanceId === productInstanceId ? r.sourceProductInstanceId : null;
      const product = child ? products.find((p) => p.productInstanceId === child) : undefined;
      return product !== undefined && product.productOfferingId === offeringId && !['DISCONNECTED', 'CANCELLED'].includes(product.status);
    }).length;
}
