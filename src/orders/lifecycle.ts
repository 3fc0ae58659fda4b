/**
 * What happens to an order and its items while they are fulfilled: each function runs inside
 * the caller's transaction (the orchestrator's, through the outcome interface in-flight.ts
 * implements, or an amendment's) and changes the installed base only through the inventory
 * commands (seed 000 §18), so that an item's state and its assets change together or not at
 * all. Every change works on an order the transaction has locked (lockOrderInTx), once: item
 * changes of one order are serialised, and the order is settled exactly once.
 *
 * What an item does to its assets, by action, is its action's module's (orders/actions/index.ts).
 */
import { buildEvent, eventPayload } from '../events/index.ts';
import { setOrderTasksHeldInTx, type ItemFailure, type TaskOutcome } from '../fulfillment/index.ts';
import { productInstanceInTx, InventoryService, holdAssetsForOrderInTx } from '../inventory/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { IllegalTransitionError, NotFoundError } from '../platform/errors.ts';
import { ORDER_ACTION_MODULES, type ItemEnv } from './actions/index.ts';
import { currentProduct } from './actions/action.ts';
import { ORDER_FINAL_STATES, itemTransition, orderTransition, settledOrderState, type ItemCommand, type OrderCommand } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord } from './store.ts';

export type ItemError = ItemFailure;

/**
 * An order this transaction has locked, with its items. The functions below keep it current
 * as they move the order and its items, so that a transaction locks an order once.
 */
export interface LockedOrder {
  order: OrderRecord;
  items: OrderItemRecord[];
}

/** Locks the order and returns it with its items: every change to an order or its items starts here. */
export async function lockOrderInTx(tx: Tx, accountId: string, orderId: string): Promise<LockedOrder> {
  const order = await store.lockOrder(tx, accountId, orderId);
  if (!order) throw NotFoundError.of('order', orderId);
  return { order, items: await store.listItems(tx, accountId, orderId) };
}

/**
 * lockOrderInTx, unless another transaction holds the order: undefined then, at once. A
 * worker that would run an order's tasks passes it (another one is on it) instead of queueing.
 */
export async function lockOrderIfFreeInTx(tx: Tx, accountId: string, orderId: string): Promise<LockedOrder | undefined> {
  const locked = await store.lockOrderWithItemsIfFree(tx, accountId, orderId);
  if (!locked) return undefined;
  const { items, ...order } = locked;
  return { order, items };
}

export function itemOf(locked: LockedOrder, itemId: string): OrderItemRecord {
  const item = locked.items.find((i) => i.itemId === itemId);
  if (!item) throw NotFoundError.of('order item', itemId);
  return item;
}

async function moveItem(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  locked: LockedOrder,
  item: OrderItemRecord,
  command: ItemCommand,
  reason: string | null,
  change: { productInstanceId?: string | null; error?: Record<string, unknown> | null; details?: Record<string, unknown> } = {},
): Promise<OrderItemRecord> {
  const verdict = itemTransition(item.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('order item', item.itemId, item.status, command, verdict.allowed);
  const { order } = locked;
  // The item's new status and its state change in one statement.
  const updated = await store.updateItemWithStateChange(tx, ctx.tenantId, order.accountId, item, { status: verdict.to, ...change }, { reason, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null }, now);
  locked.items = locked.items.map((i) => (i.itemId === updated.itemId ? updated : i));
  return updated;
}

async function moveOrder(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, command: OrderCommand, reason: string | null): Promise<OrderRecord> {
  const { order } = locked;
  const verdict = orderTransition(order.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('order', order.orderId, order.status, command, verdict.allowed);
  // The order's new status, its state change and its event in one statement.
  const event = buildEvent({
    eventType: 'ProductOrderStateChanged',
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: null,
    accountId: order.accountId,
    aggregateType: 'product_order',
    aggregateId: order.orderId,
    aggregateVersion: order.version + 1,
    body: { orderId: order.orderId, status: verdict.to, previousStatus: order.status, reason },
  });
  const updated = await store.updateOrderStatusWithRecords(tx, ctx.tenantId, order, verdict.to,
    { reason, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null },
    { ...event, payload: eventPayload(event) }, now);
  // The hold is on the tasks too, whichever way the order enters or leaves `held`: the claim
  // skips a held order's tasks without reading the order (decision 0015).
  if ((order.status === 'held') !== (verdict.to === 'held')) await setOrderTasksHeldInTx(tx, now, order.accountId, order.orderId, verdict.to === 'held');
  locked.order = updated;
  return updated;
}

/** The order starts with its first item, and an item with its first task. */
async function startItem(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, item: OrderItemRecord): Promise<OrderItemRecord> {
  if (locked.order.status === 'acknowledged') await moveOrder(tx, ctx, now, locked, 'start', null);
  return item.status === 'acknowledged' ? moveItem(tx, ctx, now, locked, item, 'start', null) : item;
}

/** Once every item has ended, the order ends: completed, failed, partial or cancelled. */
async function settle(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder): Promise<void> {
  const status = locked.order.status;
  if (ORDER_FINAL_STATES.includes(status)) return;
  let settled = settledOrderState(locked.items.map((i) => i.status));
  if (!settled) return;
  // A cancellation requested after some items completed ends the order partially done.
  if (settled === 'completed' && status === 'pendingCancellation') settled = 'partial';
  // Work already running when the order was held may still end it.
  if ((status === 'acknowledged' || status === 'held') && settled !== 'cancelled') await moveOrder(tx, ctx, now, locked, 'start', null);
  const command: OrderCommand = { completed: 'complete', failed: 'fail', partial: 'completePartially', cancelled: 'cancel' }[settled as 'completed' | 'failed' | 'partial' | 'cancelled'] as OrderCommand;
  if (settled === 'cancelled' && locked.order.status === 'inProgress') await moveOrder(tx, ctx, now, locked, 'requestCancellation', null);
  await moveOrder(tx, ctx, now, locked, command, null);
}

/**
 * The first task of an item started: the item, and the order with it, are in progress. Returns
 * the item. Only an item's first task starts it (and maybe its order, which always starts
 * first) and locks the order: every later task reads the one item row and takes no lock.
 */
export async function markItemStartedInTx(tx: Tx, ctx: CommandContext, now: string, ref: { accountId: string; orderId: string; itemId: string }): Promise<OrderItemRecord> {
  const seen = await store.findItem(tx, ref.accountId, ref.itemId);
  if (seen && seen.status !== 'acknowledged') return seen;
  const locked = await lockOrderInTx(tx, ref.accountId, ref.orderId);
  return startItem(tx, ctx, now, locked, itemOf(locked, ref.itemId));
}

/**
 * markItemStartedInTx on an order this transaction has locked: nothing is read again; the
 * item and the order start when this is the item's first task.
 */
export async function startItemOfLockedOrderInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string): Promise<OrderItemRecord> {
  return startItem(tx, ctx, now, locked, itemOf(locked, itemId));
}

/**
 * Every task of the item is done: apply the change to the installed base and complete the
 * item — the one place an item completes. Idempotent: an item that already ended is left as it is.
 */
export async function completeItemInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string, tasks: readonly TaskOutcome[]): Promise<void> {
  let item = itemOf(locked, itemId);
  if (item.status !== 'acknowledged' && item.status !== 'inProgress') return;
  item = await startItem(tx, ctx, now, locked, item);
  const productInstanceId = await applyItem(tx, ctx, now, locked.order, item, tasks);
  await moveItem(tx, ctx, now, locked, item, 'complete', null, { productInstanceId });
  await settle(tx, ctx, now, locked);
}

/** A task failed for good: the item fails, its assets go to their documented state. */
export async function failItemInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string, error: ItemError): Promise<void> {
  let item = itemOf(locked, itemId);
  if (!['acknowledged', 'inProgress', 'pendingCancellation'].includes(item.status)) return;
  item = await startItem(tx, ctx, now, locked, item);
  // An item being withdrawn whose compensation failed has nothing left to undo on its assets;
  // its error says so, and a re-run leaves it alone (its work was withdrawn, not failed).
  const withdrawn = item.status === 'pendingCancellation';
  if (!withdrawn) await failAssets(tx, ctx, now, locked.order, item, error);
  await moveItem(tx, ctx, now, locked, item, 'fail', error.message, { error: { ...error, ...(withdrawn ? { duringWithdrawal: true } : {}) } });
  await settle(tx, ctx, now, locked);
}

/** The item fails, and so do the items that wait for it. Returns the ids of all of them. */
export async function failItemAndDependentsInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string, error: ItemError): Promise<string[]> {
  const failedItem = itemOf(locked, itemId);
  const dependents = dependentsOf(locked.items, [itemId]);
  await failItemInTx(tx, ctx, now, locked, itemId, error);
  for (const dependent of dependents) {
    await failItemInTx(tx, ctx, now, locked, dependent.itemId, { code: 'dependency-failed', message: `item ${failedItem.itemNumber} (${failedItem.action}), which this item waits for, failed` });
  }
  return [itemId, ...dependents.map((d) => d.itemId)];
}

/**
 * An amendment or cancellation takes the item back: its assets return to where they were
 * (a new instance is CANCELLED, a modification is cancelled, a held asset is released).
 * With done work still to undo in external systems the item waits in pendingCancellation
 * until its compensations are done; otherwise it is cancelled now.
 */
export async function withdrawItemInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string, options: { reason: string; compensating: boolean }): Promise<void> {
  const item = itemOf(locked, itemId);
  if (!['acknowledged', 'inProgress', 'held'].includes(item.status)) return;
  await withdrawAssets(tx, ctx, now, locked.order, item);
  const pending = await moveItem(tx, ctx, now, locked, item, 'requestCancellation', options.reason);
  if (!options.compensating) await moveItem(tx, ctx, now, locked, pending, 'cancel', options.reason);
  await settle(tx, ctx, now, locked);
}

/**
 * Holds an order (its tasks not yet claimed wait; running ones finish) or releases the hold.
 * Holding a held order, or releasing one that is not held, changes nothing.
 */
export async function setOrderHeldInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, held: boolean, reason: string | null): Promise<OrderRecord> {
  const locked = await lockOrderInTx(tx, accountId, orderId);
  const { order } = locked;
  // Releasing the hold of an order that has ended is refused like holding it: 409
  // illegal-transition. Holding a held order, or releasing an open order that is not held,
  // changes nothing.
  if (!held && ORDER_FINAL_STATES.includes(order.status)) {
    const verdict = orderTransition(order.status, 'start');
    throw new IllegalTransitionError('order', order.orderId, order.status, 'release-hold', verdict.ok ? [] : verdict.allowed);
  }
  if (held === (order.status === 'held')) return order;
  return moveOrder(tx, ctx, now, locked, held ? 'hold' : 'start', reason);
}

/** The whole order is to be cancelled: pendingCancellation while its items are withdrawn. */
export async function requestOrderCancellationInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, reason: string): Promise<void> {
  if (locked.order.status !== 'pendingCancellation') await moveOrder(tx, ctx, now, locked, 'requestCancellation', reason);
}

/** The compensations of a withdrawn item are done: it is cancelled. */
export async function finishWithdrawalInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemId: string): Promise<void> {
  const item = itemOf(locked, itemId);
  if (item.status !== 'pendingCancellation') return;
  await moveItem(tx, ctx, now, locked, item, 'cancel', 'compensation done');
  await settle(tx, ctx, now, locked);
}

/**
 * Manual re-run (seed 003 B2): the failed items take their assets' guards again (a conflict
 * refuses the whole re-run) and are in progress again, and so is the order. Returns the
 * re-run item ids; none when nothing had failed.
 */
export async function rerunFailedItemsInTx(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder): Promise<string[]> {
  const failed = locked.items.filter((i) => i.status === 'failed' && !i.error?.duringWithdrawal);
  if (failed.length === 0) return [];
  if (locked.order.status === 'failed' || locked.order.status === 'partial') await moveOrder(tx, ctx, now, locked, 'rerun', 'manual re-run');
  for (const item of failed) {
    await retakeAssets(tx, ctx, now, locked.order, item);
    await moveItem(tx, ctx, now, locked, item, 'rerun', 'manual re-run', { error: null });
  }
  return failed.map((i) => i.itemId);
}

/** Items that wait, directly or through others, for any of `itemIds`. */
export function dependentsOf(items: readonly OrderItemRecord[], itemIds: readonly string[]): OrderItemRecord[] {
  const found = new Set<string>();
  const visit = (id: string) => {
    for (const item of items) {
      if (item.dependsOn.includes(id) && !found.has(item.itemId)) {
        found.add(item.itemId);
        visit(item.itemId);
      }
    }
  };
  itemIds.forEach(visit);
  return items.filter((i) => found.has(i.itemId));
}

// ------------------------------------------------------------------------- per action
// What an item does to its assets is its action's module's (orders/actions/); these dispatch.

function envOf(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord): ItemEnv {
  return {
    tx, ctx, now, order, item,
    inventory: InventoryService.within(tx, now),
    cause: { orderId: order.orderId, orderItemId: item.itemId, correlationId: ctx.correlationId },
    details: item.details as Record<string, any>,
  };
}

/** Applies a done item to the installed base; returns the product instance it leaves (the new one for REPLACE). */
async function applyItem(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord, tasks: readonly TaskOutcome[]): Promise<string | null> {
  if (!item.productInstanceId) return null; // an ADD of a bundle: commercial only, its members are the products
  const module = ORDER_ACTION_MODULES[item.action];
  const env = envOf(tx, ctx, now, order, item);
  if (module.applyTo) return module.applyTo(env, item.productInstanceId, tasks);
  return module.apply!(env, await currentProduct(tx, item.productInstanceId), tasks);
}

async function failAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord, error: ItemError): Promise<void> {
  const product = item.productInstanceId ? await productInstanceInTx(tx, item.productInstanceId) : undefined;
  if (!product) return;
  const env = envOf(tx, ctx, now, order, item);
  await ORDER_ACTION_MODULES[item.action].fail?.(env, product, { code: error.code, message: error.message });
  await env.inventory.releaseOrderItemHolds(ctx, product.accountId, item.itemId, `order item failed: ${error.code}`);
}

async function withdrawAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord): Promise<void> {
  const product = item.productInstanceId ? await productInstanceInTx(tx, item.productInstanceId) : undefined;
  if (!product) return;
  const env = envOf(tx, ctx, now, order, item);
  await ORDER_ACTION_MODULES[item.action].withdraw?.(env, product);
  await env.inventory.releaseOrderItemHolds(ctx, product.accountId, item.itemId, 'order item withdrawn');
}

async function retakeAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord): Promise<void> {
  if (!item.productInstanceId) return;
  const product = await currentProduct(tx, item.productInstanceId);
  const module = ORDER_ACTION_MODULES[item.action];
  if (module.retake) return module.retake(envOf(tx, ctx, now, order, item), product);
  // Without a hook of its own, the item takes its target's guard again, as at submission.
  await holdAssetsForOrderInTx(tx, ctx, now, product.accountId, [{
    productInstanceId: product.productInstanceId,
    expectedVersion: product.version,
    orderId: order.orderId,
    orderItemId: item.itemId,
    operationType: item.action,
    command: module.target?.command ?? null,
  }]);
}
