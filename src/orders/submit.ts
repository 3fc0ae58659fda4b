/**
 * Order submission (seed 000 §11–13): one transaction, a pipeline of named steps. Everything is
 * checked first — targets in the account, expected versions, states, catalog add-on rules,
 * configurations, price — and only then is every target's operation guard taken, at once: the
 * whole order is accepted, or nothing is held. What differs by action is asked of the item's
 * action module (orders/actions/).
 */
import { recordAudit } from '../platform/audit.ts';
import { findAccountInTx } from '../customers/index.ts';
import { buildEvent, eventPayload } from '../events/index.ts';
import { planAndEnqueueInTx, type Routing } from '../fulfillment/index.ts';
import { activeOperationInTx, assetVersionsInTx, containedChildren, holdAssetsForOrderInTx, InventoryService, type OrderTarget, type ProductInstanceState } from '../inventory/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { ConcurrentModificationError, IllegalTransitionError, NotFoundError, OperationInProgressError, ValidationError, type FieldError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { PriceResult } from '../pricing/index.ts';
import { priceBasketInTx, type BasketAction, type BasketLine } from '../quotes/index.ts';
import { ORDER_ACTION_MODULES, ORDER_ACTIONS, actionsAllowedOn, type DraftItem, type Submission } from './actions/index.ts';
import { withdrawItemsInTx } from './in-flight.ts';
import { priceSnapshotOf, type InstalledVersions } from './actions/action.ts';
import { checkItemDependencies, type OrderItemInput } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord } from './store.ts';

export type Order = OrderRecord & { items: OrderItemRecord[] };

export interface SubmissionInput {
  accountId: string;
  items: OrderItemInput[];
  /** A supplemental order: the order it amends, and items of that order to cancel. */
  supplementalOf?: string;
  cancelItems?: string[];
  externalReference?: string;
  quoteId: string | null;
  /** From a quote: its price, and the quote line of each item (by index). It is not priced again. */
  quoted?: { price: PriceResult | null; lineIdOfItem: string[] };
}

/**
 * Submits an order in the caller's transaction. With `supplementalOf`, it amends that order
 * in flight: the items of that order holding its targets, and those named in `cancelItems`,
 * are withdrawn first.
 */
export async function submitOrderInTx(tx: Tx, ctx: CommandContext, now: string, input: SubmissionInput, routing: Routing): Promise<Order> {
  const { s, original } = await openSubmission(tx, ctx, now, input);
  checkItemInput(s);
  if (original) await withdrawAmendedItems(s, original, input.cancelItems ?? []);
  addCascadedItems(s);
  checkDependencies(s);
  await checkTargets(s);
  await priceBasket(s, input.quoted);
  await holdTargets(s);
  await beginItems(s);
  const order = await recordOrder(s, input);
  await planFulfillment(s, order, routing);
  await auditOrder(s, order);
  return order;
}

/** The account, the order a supplemental order amends, and a working copy of every item. */
async function openSubmission(tx: Tx, ctx: CommandContext, now: string, input: SubmissionInput): Promise<{ s: Submission; original: Order | undefined }> {
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
  if (input.items.length === 0 && !input.cancelItems?.length) throw ValidationError.field('/items', 'an order has at least one item (a supplemental order may instead only cancel items)');
  const s: Submission = {
    tx, ctx, now, account,
    orderId: newId(),
    assets: await assetVersionsInTx(tx, account.accountId),
    items: input.items.map((item, i) => draftOf({ ...item }, i + 1)),
    priced: false,
  };
  return { s, original };
}

function draftOf(input: OrderItemInput, number: number, cascadedFrom?: number): DraftItem {
  return { number, itemId: newId(), input, module: ORDER_ACTION_MODULES[input.action], cascadedFrom, priceLines: [] };
}

/** The shape of every item: its target in the account (one action per target), its own fields, its parent. */
function checkItemInput(s: Submission): void {
  const errors: FieldError[] = [];
  const owned = (id: string) => s.assets.products.some((p) => p.productInstanceId === id);
  const seenTargets = new Map<string, number>();
  const scheduled = ORDER_ACTIONS.filter((a) => ORDER_ACTION_MODULES[a].scheduled).join(' or ');
  for (const { input: item, module, number } of s.items) {
    const at = `/items/${number - 1}`;
    if (module.target) {
      if (!item.productInstanceId) errors.push({ field: `${at}/productInstanceId`, message: `a ${item.action} item names its target product instance` });
      if (item.expectedVersion === undefined) errors.push({ field: `${at}/expectedVersion`, message: 'the version of the target you read is required' });
      if (item.productInstanceId && !owned(item.productInstanceId)) {
        errors.push({ field: `${at}/productInstanceId`, message: `product instance ${item.productInstanceId} is not owned by account ${s.account.accountId}` });
      }
      if (item.productInstanceId) {
        const other = seenTargets.get(item.productInstanceId);
        if (other !== undefined) errors.push({ field: `${at}/productInstanceId`, message: `item ${other} already changes product instance ${item.productInstanceId}; one action per target per order` });
        seenTargets.set(item.productInstanceId, number);
      }
    }
    errors.push(...(module.validate?.(item, s.now) ?? []).map((e) => ({ field: `${at}${e.field}`, message: e.message })));
    if (item.requestedTerminationDate !== undefined && !module.scheduled) {
      errors.push({ field: `${at}/requestedTerminationDate`, message: `only a ${scheduled} item has a termination date, not a ${item.action}` });
    }
    if (item.parentItemNumber !== undefined && (item.parentItemNumber < 1 || item.parentItemNumber > s.items.length || item.parentItemNumber === number)) {
      errors.push({ field: `${at}/parentItemNumber`, message: `must be the number (1-${s.items.length}) of another item` });
    }
    if (item.parentProductInstanceId && !owned(item.parentProductInstanceId)) {
      errors.push({ field: `${at}/parentProductInstanceId`, message: `product instance ${item.parentProductInstanceId} is not owned by account ${s.account.accountId}` });
    }
  }
  if (errors.length) throw validation(errors);
}

/** A supplemental order withdraws the items of the amended order that hold its targets, and those it cancels. */
async function withdrawAmendedItems(s: Submission, original: Order, cancelItems: string[]): Promise<void> {
  const open = (status: string) => ['acknowledged', 'inProgress', 'held'].includes(status);
  const targeted = new Set(s.items.map((i) => i.input.productInstanceId).filter(Boolean));
  const held = original.items.filter((i) => i.productInstanceId && targeted.has(i.productInstanceId) && open(i.status));
  const errors: FieldError[] = [];
  cancelItems.forEach((id, k) => {
    const item = original.items.find((i) => i.itemId === id);
    if (!item) errors.push({ field: `/cancelItems/${k}`, message: `order ${original.orderId} has no item ${id}` });
    else if (!open(item.status)) errors.push({ field: `/cancelItems/${k}`, message: `item ${item.itemNumber} of order ${original.orderId} is ${item.status}; only items not ended can be cancelled` });
  });
  if (errors.length) throw validation(errors);
  // The versions the client read are checked before the withdrawal moves them.
  const amending: DraftItem[] = [];
  for (const item of s.items) {
    const amended = held.find((h) => h.productInstanceId === item.input.productInstanceId);
    if (!amended) continue;
    const current = s.assets.products.find((p) => p.productInstanceId === item.input.productInstanceId)!;
    if (current.version !== item.input.expectedVersion) throw new ConcurrentModificationError('product instance', current.productInstanceId, item.input.expectedVersion!, current.version);
    item.amends = { orderId: original.orderId, itemId: amended.itemId };
    amending.push(item);
  }
  await withdrawItemsInTx(s.tx, s.ctx, s.now, s.account.accountId, original.orderId, [...held.map((h) => h.itemId), ...cancelItems], `amended by supplemental order ${s.orderId}`);
  s.assets = await assetVersionsInTx(s.tx, s.account.accountId);
  for (const item of amending) item.input.expectedVersion = s.assets.products.find((p) => p.productInstanceId === item.input.productInstanceId)!.version;
}

/** A base product's add-ons follow it (seed 001 bundling), for the actions that cascade. */
function addCascadedItems(s: Submission): void {
  const edges = edgesOf(s.assets);
  // s.items grows while we walk it: the add-ons of an add-on follow too.
  for (let i = 0; i < s.items.length; i++) {
    const { input: item, module, number } = s.items[i];
    const cascade = module.target?.cascade;
    if (!cascade || !item.productInstanceId) continue;
    for (const childId of containedChildren(edges, item.productInstanceId)) {
      const child = s.assets.products.find((p) => p.productInstanceId === childId);
      if (!child || !cascade.follows(child.status) || s.items.some((other) => other.input.productInstanceId === childId)) continue;
      const follower = draftOf({ action: item.action, productInstanceId: childId, expectedVersion: child.version, reason: item.reason, requestedTerminationDate: item.requestedTerminationDate, place: item.place }, s.items.length + 1, number);
      s.items.push(follower);
      // Add-ons go before their base (disconnect, suspend) or come back, or follow it to its new place, after it (resume, move).
      if (cascade.addOns === 'after') follower.input.dependsOn = [number];
      else item.dependsOn = [...(item.dependsOn ?? []), follower.number];
    }
  }
}

/** Item dependencies name other items and form no cycle; an add-on waits for its parent item. */
function checkDependencies(s: Submission): void {
  const problem = checkItemDependencies(s.items.map(({ input, number }) => ({ itemNumber: number, dependsOn: dependenciesOf(input) })));
  if (problem) throw validation([{ field: '/items', message: problem }]);
}

/** Every target can take its item's action in its state, and passes its action's own checks. */
async function checkTargets(s: Submission): Promise<void> {
  const errors: FieldError[] = [];
  for (const item of s.items) {
    if (!item.module.target) continue;
    const at = `/items/${item.number - 1}`;
    const target = s.assets.products.find((p) => p.productInstanceId === item.input.productInstanceId)!;
    const allowed = actionsAllowedOn(target.status as ProductInstanceState);
    if (!allowed.includes(item.input.action)) {
      // An asset in the middle of another order's change is reported as such (seed 000 §13.2), naming that order.
      const holder = await activeOperationInTx(s.tx, s.account.accountId, target.productInstanceId);
      if (holder) throw new OperationInProgressError(target.productInstanceId, holder);
      // A well-formed request that conflicts with the target's state: 409, as on the internal routes.
      throw new IllegalTransitionError('product instance', target.productInstanceId, target.status, item.input.action, allowed, { field: `${at}/action`, itemNumber: item.number });
    }
    if (item.module.checkTarget) await collectErrors(errors, at, () => item.module.checkTarget!(item, s));
  }
  if (errors.length) throw validation(errors);
}

/**
 * The basket (quotes/basket.ts): what the items sell or change can be sold now, to this account
 * and in the item's zone, fits the catalog's add-on rules, is configured; and the whole is
 * priced — unless the order comes from a quote, whose price it charges line for line.
 */
async function priceBasket(s: Submission, quoted: SubmissionInput['quoted']): Promise<void> {
  const basket = await priceBasketInTx(s.tx, {
    account: s.account,
    installedBase: s.assets,
    lines: s.items.map((item) => basketLineOf(item, s)),
    pointer: '/items',
    at: s.now,
    // An order takes its items as given: a bundle's members are its own items.
    completeBundles: false,
    pricing: quoted ? null : { promoCodes: [], rounding: 'HALF_UP' },
  });
  const price = basket.lines.some((l) => l.priced) ? basket.price : null;
  for (const [i, item] of s.items.entries()) {
    item.basket = basket.lines[i];
    if (quoted) {
      const lineId = quoted.lineIdOfItem[i];
      item.priceLines = (quoted.price?.lines ?? []).filter((l) => lineId !== undefined && l.itemId === lineId).map((l) => ({ ...l, lineId: `${item.itemId}:${l.chargeCode}`, itemId: item.itemId }));
    } else {
      item.priceLines = (price?.lines ?? []).filter((l) => l.itemId === item.itemId);
    }
  }
  s.priced = quoted ? Boolean(quoted.price) : price !== null;
}

function basketLineOf(item: DraftItem, s: Submission): BasketLine {
  const { input } = item;
  const priced = item.module.basketLine?.(input);
  return {
    lineId: item.itemId,
    // How the item is priced is its module's to say. The basket reads only ADD, MODIFY and
    // REPLACE lines and carries any other as it is: an action it does not list is carried too.
    action: priced?.action ?? (input.action as BasketAction),
    offeringId: priced?.offeringId ?? null,
    offeringVersion: priced?.offeringVersion ?? null,
    productInstanceId: input.productInstanceId ?? null,
    parentLineId: input.parentItemNumber ? s.items[input.parentItemNumber - 1].itemId : null,
    parentProductInstanceId: input.parentProductInstanceId ?? null,
    configuration: input.configuration ?? {},
    quantity: input.quantity ?? 1,
    usageEstimate: null,
    zone: input.zone ?? null,
  };
}

/** Every target's guard, or none. */
async function holdTargets(s: Submission): Promise<void> {
  const targets: OrderTarget[] = s.items.flatMap((item) => item.module.target ? [{
    productInstanceId: item.input.productInstanceId!,
    expectedVersion: item.input.expectedVersion!,
    orderId: s.orderId,
    orderItemId: item.itemId,
    operationType: item.input.action,
    command: item.module.target.command,
  }] : []);
  await holdAssetsForOrderInTx(s.tx, s.ctx, s.now, s.account.accountId, targets);
}

/** What each item holds or creates in the installed base, every add-on after the item it is an add-on of. */
async function beginItems(s: Submission): Promise<void> {
  const inventory = InventoryService.within(s.tx, s.now);
  const ordered = parentsFirst(s.items);
  const begun = new Set<unknown>();
  for (const item of ordered) {
    if (!item.module.beginAll) await item.module.begin?.(item, s, inventory);
    else if (!begun.has(item.module)) {
      // The action's items at once, where its first item comes.
      begun.add(item.module);
      await item.module.beginAll(ordered.filter((other) => other.module === item.module), s, inventory);
    }
  }
}

/** The order, its items and their history, in one statement. */
async function recordOrder(s: Submission, input: SubmissionInput): Promise<Order> {
  const { tx, ctx, now, account, orderId } = s;
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
  const records = s.items.map((item): OrderItemRecord => {
    const { input: i } = item;
    const own = item.module.recorded?.(item) ?? {};
    return {
      itemId: item.itemId,
      itemNumber: item.number,
      action: i.action,
      status: 'acknowledged',
      productInstanceId: item.createdInstanceId ?? i.productInstanceId ?? null,
      expectedVersion: i.expectedVersion ?? null,
      offeringId: own.offeringId ?? null,
      offeringVersion: own.offeringVersion ?? null,
      parentItemId: i.parentItemNumber ? s.items[i.parentItemNumber - 1].itemId : null,
      parentProductInstanceId: i.parentProductInstanceId ?? null,
      dependsOn: dependenciesOf(i).map((n) => s.items[n - 1].itemId),
      details: stripUndefined({
        configuration: i.configuration,
        quantity: i.quantity,
        zone: i.zone,
        subscriptionId: i.subscriptionId,
        subscription: i.subscription,
        place: i.place,
        reason: i.reason,
        requestedTerminationDate: i.requestedTerminationDate,
        replacementOfferingId: i.replacementOfferingId,
        termMonths: i.termMonths,
        newEndDate: i.newEndDate,
        amends: item.amends,
        cascadedFrom: item.cascadedFrom,
        price: s.priced ? priceSnapshotOf(item, s) : undefined,
        ...own.details,
      }),
      error: null,
      version: 1,
      createdAt: now,
      updatedAt: now,
    };
  });
  const actorApiKeyId = ctx.actor?.apiKeyId ?? null;
  await store.insertOrderWithItems(tx, ctx.tenantId, order, ctx.idempotencyKey ?? null, records, [
    { itemId: null, fromStatus: null, toStatus: 'acknowledged', reason: input.quoteId ? `from quote ${input.quoteId}` : 'submitted', recordedAt: now, actorApiKeyId },
    ...records.map((item) => ({ itemId: item.itemId, fromStatus: null, toStatus: 'acknowledged', reason: null, recordedAt: now, actorApiKeyId })),
  ], acknowledged(s, order, records));
  return { ...order, items: records };
}

/** Decomposition: the items' fulfillment tasks are enqueued with the order, or not at all. */
async function planFulfillment(s: Submission, order: Order, routing: Routing): Promise<void> {
  await planAndEnqueueInTx(s.tx, s.ctx, s.now, order, s.items.map((item, k) => {
    const target = item.input.productInstanceId ? s.assets.products.find((p) => p.productInstanceId === item.input.productInstanceId) : undefined;
    const targetOffering = { offeringId: target?.productOfferingId ?? null, offeringVersion: target?.productOfferingVersion ?? null };
    const priced = item.basket?.offering;
    return {
      itemId: item.itemId,
      steps: item.module.steps,
      // Planned on the specification tree of the offering it was priced with (what it sells), else of its target's.
      ...(priced ? { offeringId: priced.id, offeringVersion: priced.version } : targetOffering),
      ...(target ? { replacedOfferingId: targetOffering.offeringId, replacedOfferingVersion: targetOffering.offeringVersion } : {}),
      dependsOnItemIds: order.items[k].dependsOn,
      // A scheduled item's tasks wait for its date.
      notBefore: item.module.scheduled ? item.input.requestedTerminationDate ?? null : null,
    };
  }), routing);
}

/** The order's audit row, the submission's last statement. */
async function auditOrder(s: Submission, order: Order): Promise<void> {
  const { tx, ctx, now, account } = s;
  await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'order.submit', targetType: 'order', targetId: order.orderId, subjectAccountId: account.accountId, details: { items: order.items.length, quoteId: order.quoteId } });
}

/** The order's event, written with it. */
function acknowledged(s: Submission, order: OrderRecord, items: readonly OrderItemRecord[]): store.OrderEventRow {
  const { ctx, now, account } = s;
  const event = buildEvent({
    eventType: 'ProductOrderAcknowledged',
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: order.quoteId,
    accountId: account.accountId,
    aggregateType: 'product_order',
    aggregateId: order.orderId,
    aggregateVersion: 1,
    body: { orderId: order.orderId, status: 'acknowledged', quoteId: order.quoteId, supplementalOfOrderId: order.supplementalOfOrderId, items: items.map((i) => ({ itemId: i.itemId, action: i.action, productInstanceId: i.productInstanceId })) },
  });
  return { ...event, payload: eventPayload(event) };
}

// ---------------------------------------------------------------------------- helpers

function validation(errors: FieldError[]): ValidationError {
  return new ValidationError(errors.map((e) => `${e.field} ${e.message}`).join('; '), errors);
}

/** Runs a check whose ValidationError names fields relative to the item at `at`: its errors join `errors`. */
async function collectErrors(errors: FieldError[], at: string, check: () => Promise<unknown>): Promise<void> {
  try {
    await check();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    errors.push(...error.errors.map((e) => ({ field: `${at}${e.field}`, message: e.message })));
  }
}

function edgesOf(assets: InstalledVersions) {
  return assets.relationships.map((r) => ({ source: r.sourceProductInstanceId, target: r.targetProductInstanceId, type: r.type }));
}

/** The items (1-based numbers) an item waits for: those it names, and the item it is an add-on of. */
function dependenciesOf(item: OrderItemInput): number[] {
  return [...new Set([...(item.dependsOn ?? []), ...(item.parentItemNumber ? [item.parentItemNumber] : [])])];
}

/** The items with every add-on after the item it is an add-on of. */
function parentsFirst(items: readonly DraftItem[]): DraftItem[] {
  const placed: DraftItem[] = [];
  const place = (item: DraftItem) => {
    if (placed.includes(item)) return;
    const parent = item.input.parentItemNumber;
    if (parent) place(items[parent - 1]);
    placed.push(item);
  };
  items.forEach(place);
  return placed;
}

function stripUndefined(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
