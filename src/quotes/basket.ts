/**
 * Pricing a basket: the one use case that says whether a set of lines can be sold to an
 * account and at what price. Quotes run it (price preview, quote creation, re-pricing) and
 * orders run it at submission, so that a quote never shows a price for what its order would
 * refuse, and an order refuses what a quote would.
 */
import {
  findOfferingVersions,
  findProductSpecificationVersion,
  whyNotSellableToAccount,
  type OfferingVersion,
  type OfferingWithSpecification,
  type ProductOfferingBody,
  type ProductSpecificationBody,
  type ProductSpecificationVersion,
  type RoundingMode,
} from '../catalog/index.ts';
import type { Account } from '../customers/index.ts';
import { checkConfigurationChange, containmentEdge, productInstanceInTx, type ProductInstance } from '../inventory/index.ts';
import type { JsonObject } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { BusinessRuleError, NotFoundError, ValidationError, type FieldError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { loadPricingInputs, priceItems, validateConfiguration, type PriceResult, type PricingInputs, type PricingItem } from '../pricing/index.ts';
import { checkComposition, liveAddOnCounter, type AssetVersion, type CompositionLine } from './model.ts';

type RelationshipType = Parameters<typeof containmentEdge>[0]['type'];

/** The order actions. Only ADD, MODIFY and REPLACE are priced; the others are carried as they are. */
export type BasketAction = 'ADD' | 'MODIFY' | 'REPLACE' | 'DISCONNECT' | 'SUSPEND' | 'RESUME' | 'MOVE' | 'RENEW';

export interface BasketLine {
  lineId: string;
  action: BasketAction;
  /** ADD: the offering sold (`offeringVersion`, else its current version). REPLACE: the replacing offering (current version). */
  offeringId: string | null;
  offeringVersion: number | null;
  /** Every action but ADD: the instance of the installed base it changes. */
  productInstanceId: string | null;
  /** ADD: an add-on (or bundle member) of another line of the basket … */
  parentLineId: string | null;
  /** … or of an instance of the installed base. */
  parentProductInstanceId: string | null;
  /** ADD, REPLACE: the configuration asked for. MODIFY: the change (null removes a characteristic). */
  configuration: Record<string, unknown>;
  quantity: number;
  usageEstimate: Record<string, string> | null;
  /** The availability zone the line is sold in; null: not checked. */
  zone: string | null;
}

export interface BasketInput {
  account: Account;
  /**
   * The installed base the lines change and extend: read now (a new quote, an order), or a
   * quote's snapshot (re-pricing; its relationships are not kept, so pass [] and existing
   * add-ons count 0 — they were counted when the quote was made).
   */
  installedBase: {
    products: readonly AssetVersion[];
    relationships: readonly { type: string; sourceProductInstanceId: string; targetProductInstanceId: string }[];
  };
  lines: readonly BasketLine[];
  /** Where the lines sit in the request: errors name `${pointer}/${index}/…` (`/lines`, `/items`). */
  pointer: string;
  /** The instant sold at: offering validity, pricing rules, loyalty tenure. */
  at: string;
  /** Add the included members a bundle line lacks (quotes do; an order takes its items as given). */
  completeBundles: boolean;
  /** null: check only, do not price (an order from a quote charges the quote's price). */
  pricing: { promoCodes: readonly string[]; rounding: RoundingMode } | null;
  /**
   * What the caller has read already (a preview, in one statement): offerings as
   * findOfferingVersions answers them for these (id, version) pairs (`addOnParents` null: not
   * read; asking for them throws TransactionNeeded), and the rules in force.
   * Without a transaction (`tx` null) the basket reads nothing else: a line that needs more
   * (a MODIFY, a bundle member that is not in the basket) throws TransactionNeeded.
   */
  preloaded?: {
    offerings: readonly PreloadedOffering[];
    pricing: PricingInputs;
  };
}

export interface PreloadedOffering {
  id: string;
  version: number | null;
  found: (Omit<OfferingWithSpecification, 'addOnParents'> & { addOnParents: string[] | null }) | null;
}

/** priceBasketInTx was called without a transaction and needs to read more: run it in one. */
export class TransactionNeeded extends Error {
  constructor(what: string) {
    super(`the basket needs a transaction to read ${what}`);
  }
}

export interface PricedBasketLine {
  /** The line as given, with `offeringVersion` set to the version sold (ADD, REPLACE). */
  line: BasketLine;
  /** True for a member that `completeBundles` added. */
  addedMember: boolean;
  /** The bundle line this line is a member of. */
  bundleLineId: string | null;
  /** ADD: the offering sold; REPLACE: the replacing one; MODIFY: the instance's own, at the version it was sold under. */
  offering: OfferingVersion | null;
  /** The specification its configuration was checked against (null for a bundle and unpriced lines). */
  specification: ProductSpecificationVersion | null;
  /** ADD, MODIFY, REPLACE: the whole configuration, validated and defaulted (MODIFY: the one the change leaves). */
  configuration: Record<string, unknown> | null;
  /** MODIFY: the normalized change, as the inventory's modification command takes it. */
  change: JsonObject | null;
  /** MODIFY, REPLACE: the target instance as it is now. */
  target: ProductInstance | null;
  /** The line is an item of the priced basket (ADD, MODIFY, REPLACE). */
  priced: boolean;
}

export interface PricedBasket {
  /** One per input line, in order, then the members `completeBundles` added. */
  lines: PricedBasketLine[];
  /** The pricing engine's result (item ids = line ids); null when `pricing` was null. */
  price: PriceResult | null;
}

/**
 * Checks a basket and prices it, inside the caller's tenant transaction. Writes nothing.
 *
 * It assumes the lines are well formed (each names what its action needs; targets and parent
 * instances are in `installedBase`; targets are in a state that allows the action): the
 * caller's own request checks come first. It then checks, in this order, each step throwing
 * one ValidationError (400) naming every field `${pointer}/${i}/…` it found wrong:
 *  1. catalog: an ADD's offering (its version, or the current one) and a REPLACE's replacing
 *     offering exist and may be sold at `at` — active, marked sellable, inside their validity
 *     dates, in the line's `zone` when the line names one and the offering lists zones, and to
 *     the account's segment; a MODIFY's target's offering exists at the version it was sold under;
 *  2. composition: bundle lines get their members (`bundleLineId`; with `completeBundles`, the
 *     included members they lack are appended, and their offering must exist — else 422
 *     business-rule-violation); add-on rules, bundle member counts, add-on-only offerings
 *     (checkComposition). A REPLACE is checked as an ADD onto its target's parent, with the
 *     target no longer counted;
 *  3. configuration: ADD against its offering's specification; REPLACE against the new
 *     specification over the configurable values of the old instance (it must have one);
 *     MODIFY as the whole configuration it leaves — `installedBase`'s configuration with the
 *     change merged — against the instance's own specification (the check its inventory
 *     modification runs);
 *  4. with `pricing`: every promo code is one of the account's rules at `at`
 *     (`/promoCodes/${i}`), then the pricing engine prices the ADD, MODIFY (without one-time
 *     charges, with the instance's offering version) and REPLACE lines with today's rules.
 * Returns every line with what was found for it, and the price (null without `pricing`).
 */
export async function priceBasketInTx(tx: Tx | null, input: BasketInput): Promise<PricedBasket> {
  const { account, installedBase, at } = input;
  const field = (i: number, rest = '') => `${input.pointer}/${i}${rest}`;
  const assetOf = (id: string) => installedBase.products.find((a) => a.productInstanceId === id);
  const catalog = catalogLoader(tx, input.preloaded?.offerings ?? []);
  const inTx = (what: string): Tx => {
    if (!tx) throw new TransactionNeeded(what);
    return tx;
  };
  const out: PricedBasketLine[] = input.lines.map((line) => ({
    line: { ...line }, addedMember: false, bundleLineId: null, offering: null, specification: null, configuration: null, change: null, target: null, priced: false,
  }));
  const errors: FieldError[] = [];

  // ------------------------------------------------------------------ 1. catalog: what is sold, and may it be
  // Every offering the lines name, and those of the instances they change or extend, in one read.
  const wanted: { id: string; version: number | null }[] = [];
  const wantOwned = (id: string | null) => {
    const asset = id ? assetOf(id) : undefined;
    if (asset) wanted.push({ id: asset.productOfferingId, version: asset.productOfferingVersion });
  };
  for (const line of input.lines) {
    if (line.action === 'ADD') wanted.push({ id: line.offeringId!, version: line.offeringVersion });
    else if (line.action === 'REPLACE') wanted.push({ id: line.offeringId!, version: null });
    if (line.action === 'MODIFY') wantOwned(line.productInstanceId);
    wantOwned(line.parentProductInstanceId);
  }
  const reading = catalog.preload(wanted);
  if (reading) await reading;
  // What was read is answered without an await per line (`loaded`); only the rest waits for a read.
  for (const [i, o] of out.entries()) {
    const line = o.line;
    if (line.action === 'ADD' || line.action === 'REPLACE') {
      const where = line.action === 'ADD' ? '/offeringId' : '/replacementOfferingId';
      const wantedVersion = line.action === 'ADD' ? line.offeringVersion : null;
      const offering = catalog.loaded(line.offeringId!, wantedVersion) ?? await catalog.offering(line.offeringId!, wantedVersion);
      if (!offering) {
        errors.push({ field: field(i, where), message: `offering ${line.offeringId}${line.offeringVersion ? ' version ' + line.offeringVersion : ''} does not exist` });
        continue;
      }
      const problem = whyNotSellable(offering, at, line.zone) ?? whyNotSellableToAccount(offering, account);
      if (problem) errors.push({ field: field(i, where), message: problem });
      line.offeringVersion = offering.version;
      o.offering = offering;
    } else if (line.action === 'MODIFY') {
      // A change is priced with the offering version the instance was sold under — its own
      // price list, not a newer version's — and the rules of today.
      const asset = assetOf(line.productInstanceId!)!;
      const offering = catalog.loaded(asset.productOfferingId, asset.productOfferingVersion) ?? await catalog.offering(asset.productOfferingId, asset.productOfferingVersion);
      if (!offering) {
        errors.push({ field: field(i, '/productInstanceId'), message: `offering ${asset.productOfferingId} version ${asset.productOfferingVersion} of product instance ${asset.productInstanceId} is not in the catalog; the change cannot be priced` });
        continue;
      }
      o.offering = offering;
    }
  }
  throwIfAny(errors);

  // ------------------------------------------------------------------ 2. composition: bundles, add-ons
  const given = new Map(out.map((o) => [o.line.lineId, o]));
  for (const o of out) {
    const parent = o.line.parentLineId ? given.get(o.line.parentLineId) : undefined;
    if (parent?.offering?.body.bundle) o.bundleLineId = parent.line.lineId;
  }
  if (input.completeBundles) {
    for (const member of includedMembersMissing(out)) {
      const offering = catalog.loaded(member.line.offeringId!, null) ?? await catalog.offering(member.line.offeringId!, null);
      if (!offering) throw new BusinessRuleError(`bundle member offering ${member.line.offeringId} does not exist`);
      member.line.offeringVersion = offering.version;
      member.offering = offering;
      out.push(member);
    }
  }
  // A REPLACE sells its offering where the target sits: onto the target's parent (if it has
  // one), by the same add-on rules as an ADD there, with the target no longer counted.
  const replaced = new Set(out.filter((o) => o.line.action === 'REPLACE').map((o) => o.line.productInstanceId!));
  const parentOfInstance = (id: string) => installedBase.relationships
    .map((r) => containmentEdge({ source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type as RelationshipType }))
    .find((e) => e?.child === id)?.parent ?? null;
  const compositionLines: CompositionLine[] = out.flatMap(({ line }): CompositionLine[] =>
    line.action === 'ADD' ? [line]
      : line.action === 'REPLACE' ? [{ lineId: line.lineId, action: 'ADD', offeringId: line.offeringId, parentLineId: null, parentProductInstanceId: parentOfInstance(line.productInstanceId!) }]
        : []);
  const ownedOfferings = new Map<string, ProductOfferingBody>();
  for (const line of compositionLines) {
    if (!line.parentProductInstanceId || ownedOfferings.has(line.parentProductInstanceId)) continue;
    const asset = assetOf(line.parentProductInstanceId)!;
    const offering = catalog.loaded(asset.productOfferingId, asset.productOfferingVersion) ?? await catalog.offering(asset.productOfferingId, asset.productOfferingVersion);
    if (offering) ownedOfferings.set(asset.productInstanceId, offering.body);
  }
  const offeringOfLine = new Map(out.map((o) => [o.line.lineId, o.offering?.body]));
  const composition = checkComposition(compositionLines, (l) => offeringOfLine.get(l.lineId), {
    offeringOfInstance: (id) => ownedOfferings.get(id),
    existingAddOns: liveAddOnCounter(installedBase.products.filter((p) => !replaced.has(p.productInstanceId)), installedBase.relationships),
    addOnParents: (id) => catalog.addOnParentsOf(id),
  });
  if (composition.length) throwIfAny(composition.map((p) => ({ field: field(out.findIndex((o) => o.line.lineId === p.lineId)), message: p.message })));

  // ------------------------------------------------------------------ 3. configuration
  const items: PricingItem[] = [];
  for (const [i, o] of out.entries()) {
    const line = o.line;
    if (line.action !== 'ADD' && line.action !== 'MODIFY' && line.action !== 'REPLACE') continue;
    const offering = o.offering!;
    try {
      if (line.action === 'MODIFY') {
        const target = await loadInstance(inTx('a MODIFY line\'s instance'), line.productInstanceId!);
        // Checked over the configuration of the installed base given (a quote's snapshot is
        // what the quote changes), against the instance's own specification.
        const checked = await checkConfigurationChange(inTx('a MODIFY line\'s instance'), { ...target, configuration: assetOf(target.productInstanceId)!.configuration as JsonObject }, line.configuration);
        o.target = target;
        o.configuration = checked.configuration;
        o.change = checked.change;
        o.specification = (await findProductSpecificationVersion(inTx('a MODIFY line\'s specification'), target.productSpecificationId, target.productSpecificationVersion)) ?? catalog.specificationOf(offering);
      } else {
        const spec = catalog.specificationOf(offering);
        o.specification = spec;
        if (line.action === 'REPLACE') {
          if (!spec) {
            errors.push({ field: field(i, '/replacementOfferingId'), message: `offering ${offering.body.code} has no product specification (a bundle?): it cannot replace a product instance` });
            continue;
          }
          o.target = await loadInstance(inTx('a REPLACE line\'s instance'), line.productInstanceId!);
          o.configuration = configureReplacement(spec.body, o.target.configuration, line.configuration);
        } else {
          o.configuration = validateConfiguration(spec?.body ?? null, line.configuration);
        }
      }
    } catch (error) {
      // Name the line: `/lines/2/configuration/bandwidthMbps`.
      if (!(error instanceof ValidationError)) throw error;
      errors.push(...error.errors.map((e) => ({ field: field(i, e.field), message: e.message })));
      continue;
    }
    o.priced = true;
    items.push({
      itemId: line.lineId,
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: o.specification?.body ?? null,
      configuration: o.configuration,
      quantity: line.quantity,
      usageEstimate: line.usageEstimate ?? undefined,
      bundleItemId: o.bundleLineId,
      // A change is not a sale: no one-time charges (installation).
      action: line.action === 'MODIFY' ? 'MODIFY' : 'ADD',
    });
  }
  throwIfAny(errors);

  // ------------------------------------------------------------------ 4. rules and price
  if (!input.pricing) return { lines: out, price: null };
  const { promoCodes, rounding } = input.pricing;
  const { rules, promoRedemptions } = input.preloaded?.pricing ?? await loadPricingInputs(inTx('the rules in force'), account.accountId, at);
  const known = new Set(rules.filter((r) => r.type === 'promo' && 'promoCode' in r && r.promoCode).map((r) => (r as { promoCode: string }).promoCode.toUpperCase()));
  throwIfAny(promoCodes.flatMap((code, i) => known.has(code.toUpperCase()) ? [] : [{ field: `/promoCodes/${i}`, message: `unknown promo code ${code}` }]));
  const customerSince = installedBase.products.map((a) => a.activationDate).filter((d): d is string => d !== null).sort()[0] ?? null;
  const price = priceItems(items, { accountId: account.accountId, currency: account.currency, at, customerSince, promoCodes: [...promoCodes], rules, promoRedemptions, rounding });
  return { lines: out, price };
}

/**
 * Offering versions with their specifications, each read once per basket: `preload` reads many
 * in one statement (findOfferingVersions); `offering` reads what was not preloaded. Kept by id,
 * then by version (null: the current one): the ids are the lines' own strings, so a lookup
 * builds no key (a key string per lookup was a tenth of the basket's own JavaScript).
 */
function catalogLoader(tx: Tx | null, preloaded: readonly PreloadedOffering[]) {
  type Found = PreloadedOffering['found'];
  const loaded = new Map<string, Map<number | null, Found>>();
  /** undefined: not read yet; null: read, and there is none. */
  const get = (id: string, version: number | null): Found | undefined => loaded.get(id)?.get(version);
  const keep = (w: { id: string; version: number | null }, found: Found) => {
    let versions = loaded.get(w.id);
    if (!versions) loaded.set(w.id, (versions = new Map()));
    versions.set(w.version, found);
    // The current version is also that version: specificationOf finds it by number.
    if (found) versions.set(found.offering.version, found);
  };
  for (const p of preloaded) keep(p, p.found);
  /** Reads what is not loaded yet, in one statement; undefined (no promise) when everything is. */
  const preload = (wanted: readonly { id: string; version: number | null }[]): Promise<void> | undefined => {
    const missing: { id: string; version: number | null }[] = [];
    for (const w of wanted) if (get(w.id, w.version) === undefined && !missing.some((m) => m.id === w.id && m.version === w.version)) missing.push(w);
    if (missing.length === 0) return undefined;
    if (!tx) throw new TransactionNeeded('offerings that were not preloaded');
    return findOfferingVersions(tx, missing).then((found) => missing.forEach((w, i) => keep(w, found[i])));
  };
  return {
    preload,
    /** The offering if it was read already; undefined when it was not, or does not exist (then `offering` answers). */
    loaded: (id: string, version: number | null): OfferingVersion | undefined => get(id, version)?.offering ?? undefined,
    offering: async (id: string, version: number | null): Promise<OfferingVersion | undefined> => {
      await preload([{ id, version }]);
      return get(id, version)?.offering ?? undefined;
    },
    /** The codes of the active offerings that allow this offering (one of the basket's, if it requiresParent) as an add-on. */
    addOnParentsOf: (offeringId: string): string[] => {
      let parents: string[] | null | undefined;
      for (const found of loaded.get(offeringId)?.values() ?? []) if (found?.offering.body.requiresParent) { parents = found.addOnParents; break; }
      if (parents === null) throw new TransactionNeeded('the offerings an add-on may be added to');
      return parents ?? [];
    },
    /** The specification the offering pins (null: none, or not in the catalog); the offering was loaded here. */
    specificationOf: (offering: OfferingVersion): ProductSpecificationVersion | null => get(offering.id, offering.version)?.specification ?? null,
  };
}

async function loadInstance(tx: Tx, productInstanceId: string): Promise<ProductInstance> {
  const instance = await productInstanceInTx(tx, productInstanceId);
  if (!instance) throw NotFoundError.of('product instance', productInstanceId);
  return instance;
}

function throwIfAny(errors: FieldError[]): void {
  if (errors.length) throw new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
}

/** Why this offering version cannot be sold at `at` in `zone`, or null. */
function whyNotSellable(offering: OfferingVersion, at: string, zone: string | null): string | null {
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

/** A bundle line brings its included members unless the basket already lists them; the new member lines, in order. */
function includedMembersMissing(lines: readonly PricedBasketLine[]): PricedBasketLine[] {
  const added: PricedBasketLine[] = [];
  for (const bundleLine of lines) {
    const bundle = bundleLine.offering?.body.bundle;
    if (!bundle || bundleLine.line.action !== 'ADD') continue;
    for (const member of bundle.members.filter((m) => m.included)) {
      const present = lines.filter((l) => l.line.parentLineId === bundleLine.line.lineId && l.line.offeringId === member.offeringId).length;
      for (let n = present; n < Math.max(1, member.minCount); n++) {
        added.push({
          line: {
            lineId: newId(),
            action: 'ADD',
            offeringId: member.offeringId,
            offeringVersion: null,
            productInstanceId: null,
            parentLineId: bundleLine.line.lineId,
            parentProductInstanceId: null,
            configuration: {},
            quantity: 1,
            usageEstimate: null,
            zone: bundleLine.line.zone,
          },
          addedMember: true,
          bundleLineId: bundleLine.line.lineId,
          offering: null,
          specification: null,
          configuration: null,
          change: null,
          target: null,
          priced: false,
        });
      }
    }
  }
  return added;
}

/**
 * The configuration of a replacement (docs/orders-and-fulfillment.md): what the item gives,
 * over the old instance's values of the characteristics the new specification also has and
 * lets the customer choose — each kept only when the new specification accepts it — and the
 * new specification's defaults for the rest. Throws a ValidationError for the item's own values.
 */
function configureReplacement(spec: ProductSpecificationBody, old: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  for (const c of spec.characteristics) {
    if (!c.configurable || !(c.name in old) || c.name in given) continue;
    try {
      validateConfiguration({ ...spec, characteristics: [c] }, { [c.name]: old[c.name] });
      carried[c.name] = old[c.name];
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
    }
  }
  return validateConfiguration(spec, { ...carried, ...given });
}
