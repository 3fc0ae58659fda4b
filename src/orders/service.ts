/**
 * Orders (seed 000 §11–13): explicit actions against the installed base. Submission is one
 * transaction that validates everything first — targets in the account, expected versions,
 * states, catalog add-on rules, configurations — and then takes the operation guard of every
 * target: the whole order is accepted, or nothing is held.
 */
import { recordAudit } from '../platform/audit.ts';
import { catalogSnapshotOf, findAddOnParents, findOfferingVersion, findProductSpecificationVersion, instanceNameAfterChange, instanceNameOf, offeringSellableAt, whyNotSellableToAccount, type ProductOfferingBody, type ProductSpecificationBody, type OfferingVersion, type ProductSpecificationVersion } from '../catalog/index.ts';
import { findAccountInTx, type Account } from '../customers/index.ts';
import { appendToOutbox, buildEvent } from '../events/index.ts';
import { assetVersionsInTx, checkConfigurationChange, holdAssetsForOrderInTx, renewalEndDate, containedChildren, containmentEdge, activeOperationInTx, productInstanceInTx, subscriptionInTx, InventoryService, type OrderTarget, type ProductInstance } from '../inventory/index.ts';
import { listOrderTasksInTx, planAndEnqueueInTx, type Routing, type TaskView } from '../fulfillment/index.ts';
import type { JsonObject } from '../platform/context.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, type Pool, type Tx } from '../platform/db.ts';
import { ConcurrentModificationError, IllegalTransitionError, NotFoundError, OperationInProgressError, ValidationError, type FieldError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import { validateConfiguration, priceItems, countPromoRedemptions, loadPricingRules, type PricedLine, type PriceResult, type PricingItem } from '../pricing/index.ts';
import { checkComposition, liveAddOnCounter, convertQuoteInTx, type QuoteLine } from '../quotes/index.ts';
import { withdrawItemsInTx } from './in-flight.ts';
import { setOrderHeldInTx } from './lifecycle.ts';
import { TARGET_COMMAND, actionAllowedOn, checkItemDependencies, type OrderAction } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord, StateChange } from './store.ts';

export interface OrderItemInput {
  action: OrderAction;
  /** MODIFY … RENEW: the product instance, and the version you read. */
  productInstanceId?: string;
  expectedVersion?: number;
  /** ADD */
  offeringId?: string;
  offeringVersion?: number;
  configuration?: Record<string, unknown>;
  quantity?: number;
  subscriptionId?: string;
  subscription?: { termMonths?: number; billingCycle?: string; autoRenew?: boolean };
  /** ADD: an add-on of another item of this order (1-based), or of an owned instance. */
  parentItemNumber?: number;
  parentProductInstanceId?: string;
  /** Items (1-based numbers) that must complete before this one starts. */
  dependsOn?: number[];
  place?: Record<string, unknown>;
  /** MODIFY: the configuration change (null removes a characteristic). */
  reason?: string;
  requestedTerminationDate?: string;
  /** REPLACE: the offering that replaces the target. */
  replacementOfferingId?: string;
  /** RENEW */
  termMonths?: number;
  newEndDate?: string;
}

/** Actions that a base product's add-ons follow, and the add-on states they apply to. */
const CASCADING_ACTIONS: Partial<Record<OrderAction, (status: string) => boolean>> = {
  DISCONNECT: (status) => status !== 'DISCONNECTED' && status !== 'CANCELLED',
  SUSPEND: (status) => status === 'ACTIVE',
  RESUME: (status) => status === 'SUSPENDED',
  // Add-ons are where their base is: they move with it (and are refused with it when they cannot).
  MOVE: (status) => status !== 'DISCONNECTED' && status !== 'CANCELLED',
};

export type Order = OrderRecord & { items: OrderItemRecord[] };

export class OrderService {
  constructor(private readonly deps: { pool: Pool; clock: Clock; routing: Routing }) {}

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now().toISOString()));
  }

  /**
   * Submits an order. With `supplementalOf`, it amends that order in flight: the items of
   * that order holding its targets, and those named in `cancelItems`, are withdrawn first.
   */
  async submitOrder(ctx: CommandContext, input: { accountId: string; items: OrderItemInput[]; supplementalOf?: string; cancelItems?: string[]; externalReference?: string }): Promise<Order> {
    return this.run(ctx, (tx, now) => submitInTx(tx, ctx, now, { ...input, quoteId: null }, this.deps.routing));
  }

  /** Converts an accepted quote (with its stale check) and submits its order, in one transaction. */
  async submitOrderFromQuote(ctx: CommandContext, input: { quoteId: string; expectedQuoteVersion: number; externalReference?: string }): Promise<Order> {
    return this.run(ctx, async (tx, now) => {
      const { quote, order: draft } = await convertQuoteInTx(tx, ctx, now, input.quoteId, input.expectedQuoteVersion);
      const numberOf = new Map(draft.items.map((i) => [i.lineId, i.lineNumber]));
      const items: OrderItemInput[] = draft.items.map((i) => ({
        action: i.action,
        productInstanceId: i.productInstanceId ?? undefined,
        expectedVersion: i.expectedVersion ?? undefined,
        offeringId: i.offeringId ?? undefined,
        offeringVersion: i.offeringVersion ?? undefined,
        configuration: i.configuration,
        quantity: i.quantity,
        parentItemNumber: i.parentLineId ? numberOf.get(i.parentLineId) : undefined,
        parentProductInstanceId: i.parentProductInstanceId ?? undefined,
      }));
      // The order charges what the accepted quote showed, line for line: it is not priced again.
      const quoted = { price: quote.price, lineIdOfItem: draft.items.map((i) => i.lineId) };
      return submitInTx(tx, ctx, now, { accountId: draft.accountId, items, quoteId: input.quoteId, quoted, externalReference: input.externalReference }, this.deps.routing);
    });
  }

  async getOrder(ctx: CommandContext, orderId: string): Promise<Order> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return order;
    });
  }

  async listOrders(ctx: CommandContext, accountId: string, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<Order[]> {
    return this.run(ctx, async (tx) => {
      if (!(await findAccountInTx(tx, accountId))) throw NotFoundError.of('account', accountId);
      const orders: Order[] = [];
      for (const id of await store.listOrderIds(tx, accountId, page.after, page.limit)) orders.push((await store.findOrder(tx, id))!);
      return orders;
    });
  }

  /** Holds the order (no new task starts) or releases the hold; audited. */
  async setHeld(ctx: CommandContext, orderId: string, held: boolean, reason: string | null): Promise<Order> {
    return this.run(ctx, async (tx, now) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      await setOrderHeldInTx(tx, ctx, now, order.accountId, orderId, held, reason);
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: held ? 'order.hold' : 'order.release-hold', targetType: 'order', targetId: orderId, subjectAccountId: order.accountId, details: { reason } });
      return (await store.findOrder(tx, orderId))!;
    });
  }

  /** The order's fulfillment tasks: status, attempts, next run, last error. */
  async orderTasks(ctx: CommandContext, orderId: string): Promise<TaskView[]> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return listOrderTasksInTx(tx, order.accountId, orderId);
    });
  }

  async orderHistory(ctx: CommandContext, orderId: string): Promise<StateChange[]> {
    return this.run(ctx, async (tx) => {
      const order = await store.findOrder(tx, orderId);
      if (!order) throw NotFoundError.of('order', orderId);
      return store.listStateChanges(tx, order.accountId, orderId);
    });
  }
}

async function submitInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  input: {
    accountId: string; items: OrderItemInput[]; supplementalOf?: string; cancelItems?: string[]; externalReference?: string; quoteId: string | null;
    /** From a quote: its price, and the quote line of each item (by index). */
    quoted?: { price: PriceResult | null; lineIdOfItem: string[] };
  },
  routing: Routing,
): Promise<Order> {
  // A working copy: cascaded items are appended, amended targets get their new versions.
  const items: (OrderItemInput & { cascadedFrom?: number })[] = input.items.map((item) => ({ ...item }));
  const account = await findAccountInTx(tx, input.accountId);
  if (!account) throw NotFoundError.of('account', input.accountId);
  const original = input.supplementalOf ? await store.findOrder(tx, input.supplementalOf) : undefined;
  if (input.supplementalOf) {
    if (!original || original.accountId !== account.accountId) throw NotFoundError.of('order', input.supplementalOf);
    if (['completed', 'failed', 'partial', 'cancelled'].includes(original.status)) {
      throw new IllegalTransitionError('order', original.orderId, original.status, 'amend (supplemental order)', []);
    }
  } else if (input.cancelItems?.length) {
    throw ValidationError.field('/cancelItems', 'only a supplemental order (supplementalOf) cancels items of another order');
  }
  if (items.length === 0 && !input.cancelItems?.length) throw ValidationError.field('/items', 'an order has at least one item (a supplemental order may instead only cancel items)');
  const orderId = newId();

  // ---------------------------------------------------------------- 1. shape of every item
  const errors: FieldError[] = [];
  let assets = await assetVersionsInTx(tx, account.accountId);
  const seenTargets = new Map<string, number>();
  items.forEach((item, i) => {
    const at = `/items/${i}`;
    if (item.action === 'ADD') {
      if (!item.offeringId) errors.push({ field: `${at}/offeringId`, message: 'an ADD item names the offering to add' });
      if (item.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: 'an ADD item creates its product instance; it has no target' });
    } else {
      if (!item.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: `a ${item.action} item names its target product instance` });
      if (item.expectedVersion === undefined) errors.push({ field: `${at}/expectedVersion`, message: 'the version of the target you read is required' });
      if (item.productInstanceId && !assets.products.some((p) => p.productInstanceId === item.productInstanceId)) {
        errors.push({ field: `${at}/productInstanceId`, message: `product instance ${item.productInstanceId} is not owned by account ${account.accountId}` });
      }
      if (item.productInstanceId) {
        const other = seenTargets.get(item.productInstanceId);
        if (other !== undefined) errors.push({ field: `${at}/productInstanceId`, message: `item ${other + 1} already changes product instance ${item.productInstanceId}; one action per target per order` });
        seenTargets.set(item.productInstanceId, i);
      }
    }
    if (item.action === 'MOVE' && !item.place) errors.push({ field: `${at}/place`, message: 'a MOVE item names the new place' });
    if (item.action === 'REPLACE' && !item.replacementOfferingId) errors.push({ field: `${at}/replacementOfferingId`, message: 'a REPLACE item names the replacing offering' });
    if (item.requestedTerminationDate !== undefined) {
      if (item.action !== 'DISCONNECT') errors.push({ field: `${at}/requestedTerminationDate`, message: `only a DISCONNECT item has a termination date, not a ${item.action}` });
      else if (item.requestedTerminationDate < now) errors.push({ field: `${at}/requestedTerminationDate`, message: `${item.requestedTerminationDate} is in the past (now is ${now}); leave it out to disconnect now, or give a date from now on` });
    }
    if (item.action === 'RENEW' && item.termMonths === undefined && item.newEndDate === undefined) {
      errors.push({ field: `${at}/termMonths`, message: 'a RENEW item gives termMonths or newEndDate' });
    }
    if (item.parentItemNumber !== undefined && (item.parentItemNumber < 1 || item.parentItemNumber > items.length || item.parentItemNumber === i + 1)) {
      errors.push({ field: `${at}/parentItemNumber`, message: `must be the number (1-${items.length}) of another item` });
    }
    if (item.parentProductInstanceId && !assets.products.some((p) => p.productInstanceId === item.parentProductInstanceId)) {
      errors.push({ field: `${at}/parentProductInstanceId`, message: `product instance ${item.parentProductInstanceId} is not owned by account ${account.accountId}` });
    }
  });
  if (errors.length) throw validation(errors);

  // ---------------------------------------------------------------- 1b. a supplemental order withdraws what it amends
  const amends = new Map<string, { orderId: string; itemId: string }>();
  if (original) {
    const open = (status: string) => ['acknowledged', 'inProgress', 'held'].includes(status);
    const targeted = new Set(items.map((i) => i.productInstanceId).filter(Boolean));
    const held = original.items.filter((i) => i.productInstanceId && targeted.has(i.productInstanceId) && open(i.status));
    (input.cancelItems ?? []).forEach((id, k) => {
      const item = original.items.find((i) => i.itemId === id);
      if (!item) errors.push({ field: `/cancelItems/${k}`, message: `order ${original.orderId} has no item ${id}` });
      else if (!open(item.status)) errors.push({ field: `/cancelItems/${k}`, message: `item ${item.itemNumber} of order ${original.orderId} is ${item.status}; only items not ended can be cancelled` });
    });
    if (errors.length) throw validation(errors);
    // The versions the client read are checked before the withdrawal moves them.
    for (const item of items) {
      const amended = held.find((h) => h.productInstanceId === item.productInstanceId);
      if (!amended) continue;
      const current = assets.products.find((p) => p.productInstanceId === item.productInstanceId)!;
      if (current.version !== item.expectedVersion) throw new ConcurrentModificationError('product instance', current.productInstanceId, item.expectedVersion!, current.version);
      amends.set(current.productInstanceId, { orderId: original.orderId, itemId: amended.itemId });
    }
    await withdrawItemsInTx(tx, ctx, now, account.accountId, original.orderId, [...held.map((h) => h.itemId), ...(input.cancelItems ?? [])], `amended by supplemental order ${orderId}`);
    assets = await assetVersionsInTx(tx, account.accountId);
    for (const item of items) {
      if (amends.has(item.productInstanceId!)) item.expectedVersion = assets.products.find((p) => p.productInstanceId === item.productInstanceId)!.version;
    }
  }

  // ---------------------------------------------------------------- 1c. cascade: a base product's add-ons follow it (seed 001 bundling)
  const edges = assets.relationships.map((r) => ({ source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type }));
  // items grows while we walk it: the add-ons of an add-on follow too.
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const follows = CASCADING_ACTIONS[item.action];
    if (!follows || !item.productInstanceId) continue;
    for (const childId of containedChildren(edges, item.productInstanceId)) {
      const child = assets.products.find((p) => p.productInstanceId === childId);
      if (!child || !follows(child.status) || items.some((other) => other.productInstanceId === childId)) continue;
      items.push({ action: item.action, productInstanceId: childId, expectedVersion: child.version, reason: item.reason, requestedTerminationDate: item.requestedTerminationDate, place: item.place, cascadedFrom: i + 1 });
      // Add-ons go before their base (disconnect, suspend) and come back, or follow it to its new place, after it (resume, move).
      if (item.action === 'RESUME' || item.action === 'MOVE') items[items.length - 1].dependsOn = [i + 1];
      else item.dependsOn = [...(item.dependsOn ?? []), items.length];
    }
  }
  const itemIds = items.map(() => newId());

  const dependencyProblem = checkItemDependencies(items.map((item, i) => ({
    itemNumber: i + 1,
    // An add-on waits for its parent item.
    dependsOn: [...(item.dependsOn ?? []), ...(item.parentItemNumber ? [item.parentItemNumber] : [])],
  })));
  if (dependencyProblem) throw validation([{ field: '/items', message: dependencyProblem }]);

  // ---------------------------------------------------------------- 2. states of the targets
  for (const [i, item] of items.entries()) {
    if (item.action === 'ADD') continue;
    const target = assets.products.find((p) => p.productInstanceId === item.productInstanceId)!;
    const verdict = actionAllowedOn(item.action, target.status as never);
    if (!verdict.ok) {
      // An asset in the middle of another order's change is reported as such (seed 000 §13.2), naming that order.
      const holder = await activeOperationInTx(tx, account.accountId, target.productInstanceId);
      if (holder) throw new OperationInProgressError(target.productInstanceId, holder);
      // A well-formed request that conflicts with the target's state: 409, as on the internal routes.
      throw new IllegalTransitionError('product instance', target.productInstanceId, target.status, item.action, verdict.allowedActions, { field: `/items/${i}/action`, itemNumber: i + 1 });
    }
    if (item.action === 'RENEW') {
      // The renewal's new end is checked now, by the rule the renewal command applies, not after fulfillment.
      const subscriptionId = (await productInstanceInTx(tx, target.productInstanceId))?.subscriptionId;
      const subscription = subscriptionId ? await subscriptionInTx(tx, subscriptionId) : undefined;
      if (!subscription) {
        errors.push({ field: `/items/${i}/productInstanceId`, message: `product instance ${target.productInstanceId} has no subscription to renew` });
        continue;
      }
      try {
        renewalEndDate(subscription, { termMonths: item.termMonths ?? null, newEndDate: item.newEndDate ?? null }, account.timeZone);
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        const field = item.newEndDate ? 'newEndDate' : 'termMonths';
        errors.push(...error.errors.map((e) => ({ field: `/items/${i}/${field}`, message: e.message })));
      }
    }
  }
  if (errors.length) throw validation(errors);

  // ---------------------------------------------------------------- 3. catalog: sellable, add-on rules, configuration, price
  const offeringOfItem = new Map<number, OfferingVersion>();
  for (const [i, item] of items.entries()) {
    const offeringId = item.action === 'ADD' ? item.offeringId : item.action === 'REPLACE' ? item.replacementOfferingId : undefined;
    if (!offeringId) continue;
    const offering = await findOfferingVersion(tx, offeringId, item.action === 'ADD' ? item.offeringVersion : undefined);
    const field = item.action === 'ADD' ? `/items/${i}/offeringId` : `/items/${i}/replacementOfferingId`;
    const notForAccount = offering ? whyNotSellableToAccount(offering, account) : null;
    if (!offering) errors.push({ field, message: `offering ${offeringId} does not exist` });
    else if (!offeringSellableAt(offering, now)) errors.push({ field, message: `offering ${offering.body.code} version ${offering.version} cannot be sold now (${offering.status}${offering.body.sellable ? '' : ', not sellable'})` });
    else if (notForAccount) errors.push({ field, message: notForAccount });
    else offeringOfItem.set(i, offering);
  }
  if (errors.length) throw validation(errors);

  const lines: QuoteLine[] = items.map((item, i) => ({
    lineId: itemIds[i],
    lineNumber: i + 1,
    action: item.action === 'ADD' ? 'ADD' : 'MODIFY',
    offeringId: item.action === 'ADD' ? item.offeringId! : null,
    offeringVersion: offeringOfItem.get(i)?.version ?? null,
    productInstanceId: item.productInstanceId ?? null,
    parentLineId: item.parentItemNumber ? itemIds[item.parentItemNumber - 1] : null,
    parentProductInstanceId: item.parentProductInstanceId ?? null,
    bundleLineId: null,
    configuration: item.configuration ?? {},
    quantity: item.quantity ?? 1,
    usageEstimate: null,
    zone: null,
  }));
  // A REPLACE sells its offering where the target sits: onto the target's parent (if it has
  // one), by the same add-on rules as an ADD there, with the target no longer counted.
  const replacing = new Set<string>();
  const replacementLines: QuoteLine[] = [];
  for (const [i, item] of items.entries()) {
    if (item.action !== 'REPLACE' || !offeringOfItem.has(i)) continue;
    const parent = edges.map(containmentEdge).find((e) => e?.child === item.productInstanceId)?.parent ?? null;
    replacing.add(item.productInstanceId!);
    replacementLines.push({ ...lines[i], action: 'ADD', offeringId: offeringOfItem.get(i)!.id, productInstanceId: null, parentLineId: null, parentProductInstanceId: parent });
  }
  const ownedOfferings = new Map<string, ProductOfferingBody>();
  for (const line of [...lines, ...replacementLines]) {
    if (line.action !== 'ADD' || !line.parentProductInstanceId || ownedOfferings.has(line.parentProductInstanceId)) continue;
    const parent = assets.products.find((p) => p.productInstanceId === line.parentProductInstanceId)!;
    const offering = await findOfferingVersion(tx, parent.productOfferingId, parent.productOfferingVersion);
    if (offering) ownedOfferings.set(parent.productInstanceId, offering.body);
  }
  const addOnCount = liveAddOnCounter(assets.products.filter((p) => !replacing.has(p.productInstanceId)), assets.relationships);
  const addOnParents = await findAddOnParents(tx, [...new Set([...offeringOfItem.values()].filter((o) => o.body.requiresParent).map((o) => o.id))]);
  const composition = checkComposition(
    [...lines.filter((l) => l.action === 'ADD'), ...replacementLines],
    (l) => offeringOfItem.get(l.lineNumber - 1)?.body,
    { offeringOfInstance: (id) => ownedOfferings.get(id), existingAddOns: addOnCount, addOnParents: (id) => addOnParents.get(id) ?? [] },
  );
  if (composition.length) throw validation(composition.map((p) => ({ field: `/items/${lines.findIndex((l) => l.lineId === p.lineId)}`, message: p.message })));

  const configurations = new Map<number, Record<string, unknown>>();
  const specOfItem = new Map<number, ProductSpecificationVersion>();
  const pricingItems: PricingItem[] = [];
  const modificationOf = new Map<number, { target: ProductInstance; change: JsonObject; name: string | undefined }>();
  for (const [i, item] of items.entries()) {
    if (item.action === 'MODIFY') {
      // The change is checked as the whole configuration it leaves, against the target's
      // specification — by the inventory's own check, the one its modification command runs.
      const target = (await productInstanceInTx(tx, item.productInstanceId!))!;
      let checked: { configuration: JsonObject; change: JsonObject };
      try {
        checked = await checkConfigurationChange(tx, target, item.configuration ?? {});
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        errors.push(...error.errors.map((e) => ({ field: `/items/${i}${e.field}`, message: e.message })));
        continue;
      }
      // Repriced like a sale, with the offering version the instance was sold under (its price
      // list, not a newer one's) and today's rules; without the sale's one-time charges.
      const offering = await findOfferingVersion(tx, target.productOfferingId, target.productOfferingVersion);
      if (!offering) {
        errors.push({ field: `/items/${i}/productInstanceId`, message: `offering ${target.productOfferingId} version ${target.productOfferingVersion} of product instance ${target.productInstanceId} is not in the catalog; the change cannot be priced` });
        continue;
      }
      const spec = (await findProductSpecificationVersion(tx, target.productSpecificationId, target.productSpecificationVersion))
        ?? (offering.body.productSpecification ? await findProductSpecificationVersion(tx, offering.body.productSpecification.id, offering.body.productSpecification.version) : null);
      modificationOf.set(i, {
        target,
        change: checked.change,
        // A name made from the configuration follows it; a fixed name stays.
        name: instanceNameAfterChange(offering.body, spec?.body ?? null, target, checked.configuration),
      });
      pricingItems.push({
        itemId: itemIds[i],
        offering: { id: offering.id, version: offering.version, body: offering.body },
        specification: spec?.body ?? null,
        configuration: checked.configuration,
        quantity: item.quantity ?? 1,
        action: 'MODIFY',
      });
      continue;
    }
    const offering = offeringOfItem.get(i);
    if (!offering || (item.action !== 'ADD' && item.action !== 'REPLACE')) continue;
    const spec = offering.body.productSpecification
      ? await findProductSpecificationVersion(tx, offering.body.productSpecification.id, offering.body.productSpecification.version)
      : null;
    if (spec) specOfItem.set(i, spec);
    if (item.action === 'REPLACE' && !spec) {
      errors.push({ field: `/items/${i}/replacementOfferingId`, message: `offering ${offering.body.code} has no product specification (a bundle?): it cannot replace a product instance` });
      continue;
    }
    try {
      const target = item.action === 'REPLACE' ? assets.products.find((p) => p.productInstanceId === item.productInstanceId) : undefined;
      configurations.set(i, target
        ? configureReplacement(spec!.body, (await productInstanceInTx(tx, target.productInstanceId))!.configuration, item.configuration ?? {})
        : validateConfiguration(spec?.body ?? null, item.configuration ?? {}));
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      errors.push(...error.errors.map((e) => ({ field: `/items/${i}${e.field}`, message: e.message })));
      continue;
    }
    pricingItems.push({
      itemId: itemIds[i],
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: spec?.body ?? null,
      configuration: configurations.get(i)!,
      quantity: item.quantity ?? 1,
      bundleItemId: item.parentItemNumber && offeringOfItem.get(item.parentItemNumber - 1)?.body.bundle ? itemIds[item.parentItemNumber - 1] : null,
    });
  }
  if (errors.length) throw validation(errors);
  const price = input.quoted
    ? null
    : pricingItems.length
      ? await priceOrder(tx, account, pricingItems, now, assets.products.map((p) => p.activationDate).filter((d): d is string => d !== null).sort()[0] ?? null)
      : null;
  // Each item's price lines: the quote's, line for line, or the ones priced here.
  const linesOf = (i: number): PricedLine[] => {
    if (input.quoted) {
      const lineId = input.quoted.lineIdOfItem[i];
      return (input.quoted.price?.lines ?? []).filter((l) => lineId !== undefined && l.itemId === lineId).map((l) => ({ ...l, lineId: `${itemIds[i]}:${l.chargeCode}`, itemId: itemIds[i] }));
    }
    return (price?.lines ?? []).filter((l) => l.itemId === itemIds[i]);
  };
  const priced = input.quoted ? Boolean(input.quoted.price) : price !== null;

  // ---------------------------------------------------------------- 4. take every target's guard, or none
  const targets: OrderTarget[] = items.flatMap((item, i) => item.action === 'ADD' ? [] : [{
    productInstanceId: item.productInstanceId!,
    expectedVersion: item.expectedVersion!,
    orderId,
    orderItemId: itemIds[i],
    operationType: item.action,
    command: item.action === 'RENEW' ? null : TARGET_COMMAND[item.action],
  }]);
  await holdAssetsForOrderInTx(tx, ctx, now, account.accountId, targets);

  // ---------------------------------------------------------------- 4b. begin: new instances pending activation, modifications pending
  const inventory = InventoryService.within(tx, now);
  const createdInstance = new Map<number, string>();
  const subscriptionOfItem = new Map<number, string | null>();
  // The one price snapshot shape, {currency, lines} (docs/installed-base.md), also when nothing was priced.
  const priceOf = (i: number): JsonObject => ({ currency: account.currency, lines: linesOf(i) }) as unknown as JsonObject;
  for (const i of parentsFirst(items)) {
    const item = items[i];
    if (item.action === 'MODIFY') {
      const { target, change, name } = modificationOf.get(i)!;
      // The instance's new price: the change's lines, and the one-time lines of the sale it keeps (charged once, then).
      const sold = Array.isArray((target.price as { lines?: unknown }).lines) ? (target.price as unknown as { lines: PricedLine[] }).lines.filter((l) => l.kind === 'one_time') : [];
      const newPrice = { currency: account.currency, lines: [...sold, ...linesOf(i)] } as unknown as JsonObject;
      await inventory.startModification(ctx, item.productInstanceId!, {
        orderId, orderItemId: itemIds[i], expectedVersion: item.expectedVersion!,
        requestedChange: { configuration: change, price: newPrice, ...(name && name !== target.name ? { name } : {}) },
      });
      continue;
    }
    if (item.action === 'DISCONNECT' && item.requestedTerminationDate && item.requestedTerminationDate > now) {
      // A disconnect at a future date: the target shows it now, its tasks wait for the date.
      const target = assets.products.find((p) => p.productInstanceId === item.productInstanceId)!;
      await inventory.scheduleDisconnect(ctx, target.productInstanceId, { orderId, orderItemId: itemIds[i], expectedVersion: (await productInstanceInTx(tx, target.productInstanceId))!.version, terminationDate: item.requestedTerminationDate, reason: item.reason ?? null });
      continue;
    }
    if (item.action !== 'ADD') continue;
    const offering = offeringOfItem.get(i)!;
    const spec = specOfItem.get(i);
    const parentIndex = item.parentItemNumber ? item.parentItemNumber - 1 : null;
    const parentInstanceId = parentIndex !== null ? createdInstance.get(parentIndex) ?? null : item.parentProductInstanceId ?? null;
    // An add-on joins its parent's subscription unless told otherwise; members of a bundle share one.
    const parentSubscription = parentIndex !== null
      ? subscriptionOfItem.get(parentIndex) ?? null
      : parentInstanceId ? (await productInstanceInTx(tx, parentInstanceId))?.subscriptionId ?? null : null;
    const joins = item.subscriptionId ?? parentSubscription;
    if (offering.body.bundle || !spec) {
      // A bundle is commercial: its members are the products. The first member's subscription becomes the bundle's.
      subscriptionOfItem.set(i, joins);
      continue;
    }
    const { productInstance, subscription } = await inventory.createProductInstance(ctx, {
      accountId: account.accountId,
      orderId,
      orderItemId: itemIds[i],
      productOfferingId: offering.id,
      productOfferingVersion: offering.version,
      productSpecificationId: spec.id,
      productSpecificationVersion: spec.version,
      name: instanceNameOf(offering.body, spec.body, configurations.get(i)!),
      catalogSnapshot: catalogSnapshotOf(offering, spec),
      configuration: configurations.get(i) as JsonObject,
      price: priceOf(i),
      place: (item.place ?? null) as JsonObject | null,
      subscriptionId: joins,
      subscription: joins ? null : { termMonths: item.subscription?.termMonths ?? null, billingCycle: item.subscription?.billingCycle ?? 'monthly', autoRenew: item.subscription?.autoRenew ?? false },
      relationships: parentInstanceId ? [{ type: 'ADDON_OF', targetProductInstanceId: parentInstanceId }] : [],
    });
    await inventory.startActivation(ctx, productInstance.productInstanceId, { orderId, orderItemId: itemIds[i], expectedVersion: productInstance.version });
    createdInstance.set(i, productInstance.productInstanceId);
    subscriptionOfItem.set(i, subscription?.subscriptionId ?? joins);
    if (parentIndex !== null && subscriptionOfItem.get(parentIndex) === null) subscriptionOfItem.set(parentIndex, subscription?.subscriptionId ?? null);
  }

  // ---------------------------------------------------------------- 5. write the order
  const order: OrderRecord = {
    orderId,
    accountId: account.accountId,
    status: 'acknowledged',
    quoteId: input.quoteId,
    supplementalOfOrderId: input.supplementalOf ?? null,
    externalReference: input.externalReference ?? null,
    version: 1,
    createdAt: now,
    updatedAt: now,
    completedAt: null,
  };
  await store.insertOrder(tx, ctx.tenantId, order, ctx.idempotencyKey ?? null);
  await store.insertStateChange(tx, ctx.tenantId, account.accountId, orderId, { itemId: null, fromStatus: null, toStatus: 'acknowledged', reason: input.quoteId ? `from quote ${input.quoteId}` : 'submitted', recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  const records: OrderItemRecord[] = items.map((item, i) => ({
    itemId: itemIds[i],
    itemNumber: i + 1,
    action: item.action,
    status: 'acknowledged',
    productInstanceId: item.action === 'ADD' ? createdInstance.get(i) ?? null : item.productInstanceId ?? null,
    expectedVersion: item.expectedVersion ?? null,
    offeringId: item.action === 'ADD' ? item.offeringId! : null,
    offeringVersion: item.action === 'ADD' ? offeringOfItem.get(i)!.version : null,
    parentItemId: item.parentItemNumber ? itemIds[item.parentItemNumber - 1] : null,
    parentProductInstanceId: item.parentProductInstanceId ?? null,
    dependsOn: [...new Set([...(item.dependsOn ?? []), ...(item.parentItemNumber ? [item.parentItemNumber] : [])])].map((n) => itemIds[n - 1]),
    details: stripUndefined({
      configuration: configurations.has(i) ? configurations.get(i) : item.configuration,
      quantity: item.quantity,
      subscriptionId: item.subscriptionId,
      subscription: item.subscription,
      place: item.place,
      reason: item.reason,
      requestedTerminationDate: item.requestedTerminationDate,
      replacementOfferingId: item.replacementOfferingId,
      replacementOfferingVersion: item.action === 'REPLACE' ? offeringOfItem.get(i)?.version : undefined,
      termMonths: item.termMonths,
      newEndDate: item.newEndDate,
      amends: item.productInstanceId ? amends.get(item.productInstanceId) : undefined,
      cascadedFrom: item.cascadedFrom,
      price: priced ? priceOf(i) : undefined,
    }),
    error: null,
    version: 1,
    createdAt: now,
    updatedAt: now,
  }));
  for (const item of records) {
    await store.insertItem(tx, ctx.tenantId, account.accountId, orderId, item);
    await store.insertStateChange(tx, ctx.tenantId, account.accountId, orderId, { itemId: item.itemId, fromStatus: null, toStatus: 'acknowledged', reason: null, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  }
  // Decomposition: the items' fulfillment tasks are enqueued with the order, or not at all.
  await planAndEnqueueInTx(tx, ctx, now, order, records.map((item) => {
    const target = item.productInstanceId ? assets.products.find((p) => p.productInstanceId === item.productInstanceId) : undefined;
    const targetOffering = target ? { offeringId: target.productOfferingId, offeringVersion: target.productOfferingVersion } : { offeringId: null, offeringVersion: null };
    return {
      itemId: item.itemId,
      action: item.action,
      ...(item.action === 'ADD'
        ? { offeringId: item.offeringId, offeringVersion: item.offeringVersion }
        : item.action === 'REPLACE'
          ? { offeringId: (item.details.replacementOfferingId as string) ?? null, offeringVersion: (item.details.replacementOfferingVersion as number) ?? null, replacedOfferingId: targetOffering.offeringId, replacedOfferingVersion: targetOffering.offeringVersion }
          : targetOffering),
      dependsOnItemIds: item.dependsOn,
      // A scheduled disconnect's tasks wait for its date.
      notBefore: item.action === 'DISCONNECT' ? (item.details.requestedTerminationDate as string | undefined) ?? null : null,
    };
  }), routing);
  await appendToOutbox(tx, ctx.tenantId, buildEvent({
    eventType: 'ProductOrderAcknowledged',
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: input.quoteId,
    accountId: account.accountId,
    aggregateType: 'product_order',
    aggregateId: orderId,
    aggregateVersion: 1,
    body: { orderId, status: 'acknowledged', quoteId: input.quoteId, supplementalOfOrderId: order.supplementalOfOrderId, items: records.map((i) => ({ itemId: i.itemId, action: i.action, productInstanceId: i.productInstanceId })) },
  }));
  await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'order.submit', targetType: 'order', targetId: orderId, subjectAccountId: account.accountId, details: { items: records.length, quoteId: input.quoteId } });
  return { ...order, items: records };
}

async function priceOrder(tx: Tx, account: Account, items: PricingItem[], at: string, customerSince: string | null) {
  const rules = await loadPricingRules(tx, account.accountId, at);
  const promoRedemptions = await countPromoRedemptions(tx, rules.filter((r) => r.type === 'promo').map((r) => r.id));
  return priceItems(items, { accountId: account.accountId, currency: account.currency, at, customerSince, promoCodes: [], rules, promoRedemptions, rounding: 'HALF_UP' });
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

function validation(errors: FieldError[]): ValidationError {
  return new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
}

/** Item indexes with every ADD item after the item it is an add-on of. */
function parentsFirst(items: readonly { parentItemNumber?: number }[]): number[] {
  const placed: number[] = [];
  const place = (i: number) => {
    if (placed.includes(i)) return;
    const parent = items[i].parentItemNumber;
    if (parent) place(parent - 1);
    placed.push(i);
  };
  items.forEach((_, i) => place(i));
  return placed;
}

function stripUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
