/**
 * What happens to an order and its items while they are fulfilled: each function runs inside
 * the caller's transaction (the orchestrator's, or an amendment's) and changes the installed
 * base only through the inventory commands (seed 000 §18), so that an item's state and its
 * assets change together or not at all. Every function first locks the order row: item
 * changes of one order are serialised, and the order is settled exactly once.
 *
 * What an item does to its assets, by action, is its action's module's (orders/actions/index.ts).
 */
import { appendToOutbox, buildEvent } from '../events/index.ts';
import { productInstanceInTx, InventoryService, holdAssetsForOrderInTx } from '../inventory/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { IllegalTransitionError, NotFoundError } from '../platform/errors.ts';
import { ORDER_ACTION_MODULES, type ItemEnv } from './actions/index.ts';
import { currentProduct } from './actions/action.ts';
import { ORDER_FINAL_STATES, itemTransition, orderTransition, settledOrderState, type ItemCommand, type OrderCommand } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord } from './store.ts';

/** A finished task of the item, as fulfillment reports it. */
export interface TaskOutcome {
  taskId: string;
  step: string;
  specification: { kind: string; id: string; version: number; code: string } | null;
  dependsOn: string[];
  externalId: string | null;
  result: Record<string, unknown> | null;
}

export interface ItemError {
  code: string;
  message: string;
  taskId?: string | null;
}

/** The order, locked, with its items. */
async function lockedOrder(tx: Tx, accountId: string, orderId: string): Promise<{ order: OrderRecord; items: OrderItemRecord[] }> {
  const order = await store.lockOrder(tx, accountId, orderId);
  if (!order) throw NotFoundError.of('order', orderId);
  return { order, items: await store.listItems(tx, accountId, orderId) };
}

function itemOf(items: OrderItemRecord[], itemId: string): OrderItemRecord {
  const item = items.find((i) => i.itemId === itemId);
  if (!item) throw NotFoundError.of('order item', itemId);
  return item;
}

async function moveItem(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  order: OrderRecord,
  item: OrderItemRecord,
  command: ItemCommand,
  reason: string | null,
  change: { productInstanceId?: string | null; error?: Record<string, unknown> | null; details?: Record<string, unknown> } = {},
): Promise<OrderItemRecord> {
  const verdict = itemTransition(item.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('order item', item.itemId, item.status, command, verdict.allowed);
  const updated = await store.updateItem(tx, order.accountId, item, { status: verdict.to, ...change }, now);
  await store.insertStateChange(tx, ctx.tenantId, order.accountId, order.orderId, { itemId: item.itemId, fromStatus: item.status, toStatus: verdict.to, reason, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  return updated;
}

async function moveOrder(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, command: OrderCommand, reason: string | null): Promise<OrderRecord> {
  const verdict = orderTransition(order.status, command);
  if (!verdict.ok) throw new IllegalTransitionError('order', order.orderId, order.status, command, verdict.allowed);
  const updated = await store.updateOrderStatus(tx, order.accountId, order, verdict.to, now);
  await store.insertStateChange(tx, ctx.tenantId, order.accountId, order.orderId, { itemId: null, fromStatus: order.status, toStatus: verdict.to, reason, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  await appendToOutbox(tx, ctx.tenantId, buildEvent({
    eventType: 'ProductOrderStateChanged',
    occurredAt: now,
    correlationId: ctx.correlationId,
    causationId: null,
    accountId: order.accountId,
    aggregateType: 'product_order',
    aggregateId: order.orderId,
    aggregateVersion: updated.version,
    body: { orderId: order.orderId, status: verdict.to, previousStatus: order.status, reason },
  }));
  return updated;
}

/** Once every item has ended, the order ends: completed, failed, partial or cancelled. */
async function settle(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord): Promise<OrderRecord> {
  if (ORDER_FINAL_STATES.includes(order.status)) return order;
  const items = await store.listItems(tx, order.accountId, order.orderId);
  let settled = settledOrderState(items.map((i) => i.status));
  if (!settled) return order;
  // A cancellation requested after some items completed ends the order partially done.
  if (settled === 'completed' && order.status === 'pendingCancellation') settled = 'partial';
  // Work already running when the order was held may still end it.
  if ((order.status === 'acknowledged' || order.status === 'held') && settled !== 'cancelled') order = await moveOrder(tx, ctx, now, order, 'start', null);
  const command: OrderCommand = { completed: 'complete', failed: 'fail', partial: 'completePartially', cancelled: 'cancel' }[settled as 'completed' | 'failed' | 'partial' | 'cancelled'] as OrderCommand;
  if (settled === 'cancelled' && order.status === 'inProgress') order = await moveOrder(tx, ctx, now, order, 'requestCancellation', null);
  return moveOrder(tx, ctx, now, order, command, null);
}

/**
 * The order as GET /orders/:id shows it, read in the caller's transaction: a command that
 * answers with the order reads it in the transaction of its change, so that the answer is
 * what an Idempotency-Key stores with that change (src/http/idempotency.ts).
 */
export async function orderViewInTx(tx: Tx, orderId: string): Promise<Awaited<ReturnType<typeof store.findOrder>>> {
  return store.findOrder(tx, orderId);
}

/** Locks the order and returns it with its items: fulfillment takes this lock before it changes an order's tasks. */
export async function lockOrderInTx(tx: Tx, accountId: string, orderId: string): Promise<{ order: OrderRecord; items: OrderItemRecord[] }> {
  return lockedOrder(tx, accountId, orderId);
}

/** The first task of an item started: the item, and the order with it, are in progress. Returns the item. */
export async function markItemStartedInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemId: string): Promise<OrderItemRecord> {
  // Only an item's first task starts it (and maybe its order, which always starts first):
  // every later task reads the one item row and takes no lock.
  const seen = await store.findItem(tx, accountId, itemId);
  if (seen && seen.status !== 'acknowledged') return seen;
  let { order, items } = await lockedOrder(tx, accountId, orderId);
  const item = itemOf(items, itemId);
  if (order.status === 'acknowledged') order = await moveOrder(tx, ctx, now, order, 'start', null);
  return item.status === 'acknowledged' ? moveItem(tx, ctx, now, order, item, 'start', null) : item;
}

/**
 * Every task of the item is done: apply the change to the installed base and complete the
 * item. Idempotent: an item that already ended is left as it is.
 */
export async function completeItemInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemId: string, tasks: readonly TaskOutcome[]): Promise<void> {
  let { order, items } = await lockedOrder(tx, accountId, orderId);
  let item = itemOf(items, itemId);
  if (item.status !== 'acknowledged' && item.status !== 'inProgress') return;
  if (order.status === 'acknowledged') order = await moveOrder(tx, ctx, now, order, 'start', null);
  if (item.status === 'acknowledged') item = await moveItem(tx, ctx, now, order, item, 'start', null);
  const productInstanceId = await applyItem(tx, ctx, now, order, item, tasks);
  await moveItem(tx, ctx, now, order, item, 'complete', null, { productInstanceId });
  await settle(tx, ctx, now, order);
}

/** A task failed for good: the item fails, its assets go to their documented state. */
export async function failItemInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemId: string, error: ItemError): Promise<void> {
  let { order, items } = await lockedOrder(tx, accountId, orderId);
  let item = itemOf(items, itemId);
  if (!['acknowledged', 'inProgress', 'pendingCancellation'].includes(item.status)) return;
  if (order.status === 'acknowledged') order = await moveOrder(tx, ctx, now, order, 'start', null);
  if (item.status === 'acknowledged') item = await moveItem(tx, ctx, now, order, item, 'start', null);
  // An item being withdrawn whose compensation failed has nothing left to undo on its assets;
  // its error says so, and a re-run leaves it alone (its work was withdrawn, not failed).
  const withdrawn = item.status === 'pendingCancellation';
  if (!withdrawn) await failAssets(tx, ctx, now, order, item, error);
  await moveItem(tx, ctx, now, order, item, 'fail', error.message, { error: { ...error, ...(withdrawn ? { duringWithdrawal: true } : {}) } });
  await settle(tx, ctx, now, order);
}

/**
 * An amendment or cancellation takes the item back: its assets return to where they were
 * (a new instance is CANCELLED, a modification is cancelled, a held asset is released).
 * With done work still to undo in external systems the item waits in pendingCancellation
 * until its compensations are done; otherwise it is cancelled now.
 */
export async function withdrawItemInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemId: string, options: { reason: string; compensating: boolean }): Promise<void> {
  const { order, items } = await lockedOrder(tx, accountId, orderId);
  const item = itemOf(items, itemId);
  if (!['acknowledged', 'inProgress', 'held'].includes(item.status)) return;
  await withdrawAssets(tx, ctx, now, order, item);
  const pending = await moveItem(tx, ctx, now, order, item, 'requestCancellation', options.reason);
  if (!options.compensating) await moveItem(tx, ctx, now, order, pending, 'cancel', options.reason);
  await settle(tx, ctx, now, order);
}

/**
 * Holds an order (its tasks not yet claimed wait; running ones finish) or releases the hold.
 * Holding a held order, or releasing one that is not held, changes nothing.
 */
export async function setOrderHeldInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, held: boolean, reason: string | null): Promise<OrderRecord> {
  const { order } = await lockedOrder(tx, accountId, orderId);
  // Releasing the hold of an order that has ended is refused like holding it: 409
  // illegal-transition. Holding a held order, or releasing an open order that is not held,
  // changes nothing.
  if (!held && ORDER_FINAL_STATES.includes(order.status)) {
    const verdict = orderTransition(order.status, 'start');
    throw new IllegalTransitionError('order', order.orderId, order.status, 'release-hold', verdict.ok ? [] : verdict.allowed);
  }
  if (held === (order.status === 'held')) return order;
  return moveOrder(tx, ctx, now, order, held ? 'hold' : 'start', reason);
}

/** The whole order is to be cancelled: pendingCancellation while its items are withdrawn. */
export async function requestOrderCancellationInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, reason: string): Promise<OrderRecord> {
  const { order } = await lockedOrder(tx, accountId, orderId);
  return order.status === 'pendingCancellation' ? order : moveOrder(tx, ctx, now, order, 'requestCancellation', reason);
}

/** The compensations of a withdrawn item are done: it is cancelled. */
export async function finishWithdrawalInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemId: string): Promise<void> {
  const { order, items } = await lockedOrder(tx, accountId, orderId);
  const item = itemOf(items, itemId);
  if (item.status !== 'pendingCancellation') return;
  await moveItem(tx, ctx, now, order, item, 'cancel', 'compensation done');
  await settle(tx, ctx, now, order);
}

/**
 * Manual re-run (seed 003 B2): the failed items take their assets' guards again (a conflict
 * refuses the whole re-run) and are in progress again, and so is the order. Returns the
 * re-run item ids; none when nothing had failed.
 */
export async function rerunFailedItemsInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string): Promise<string[]> {
  let { order, items } = await lockedOrder(tx, accountId, orderId);
  const failed = items.filter((i) => i.status === 'failed' && !i.error?.duringWithdrawal);
  if (failed.length === 0) return [];
  if (order.status === 'failed' || order.status === 'partial') order = await moveOrder(tx, ctx, now, order, 'rerun', 'manual re-run');
  for (const item of failed) {
    await retakeAssets(tx, ctx, now, order, item);
    await moveItem(tx, ctx, now, order, item, 'rerun', 'manual re-run', { error: null });
  }
  return failed.map((i) => i.itemId);
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
  const target = await currentProduct(tx, item.productInstanceId);
  return ORDER_ACTION_MODULES[item.action].apply(envOf(tx, ctx, now, order, item), target, tasks);
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
