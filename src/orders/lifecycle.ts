/**
 * What happens to an order and its items while they are fulfilled: each function runs inside
 * the caller's transaction (the orchestrator's, through the outcome interface in-flight.ts
 * implements, or an amendment's) and changes the installed base only through the inventory
 * commands (seed 000 §18), so that an item's state and its assets change together or not at
 * all. Every change works on an order the transaction has locked (lockOrderInTx), once: item
 * changes of one order are serialised, and the order is settled exactly once.
 *
 * What an item does to its assets, by action:
 *
 *   action      at submission              when its tasks are done                 when it fails
 *   ADD         instance PENDING_ACTIVATION services, resources attached; ACTIVE  ERROR, error recorded
 *   MODIFY      PENDING_MODIFICATION        change applied, new version, ACTIVE     ACTIVE unchanged, error recorded
 *   DISCONNECT  guard held (future date:    DISCONNECTED (start + complete) at the    previous state, schedule withdrawn,
 *               scheduled on the product)   requested date, else now                  guard released
 *   SUSPEND     guard held                  SUSPENDED                                previous state, guard released
 *   RESUME      guard held                  ACTIVE                                   previous state, guard released
 *   MOVE        guard held                  moved; new services and resources from   previous state, guard released
 *                                           the tasks, old ones released
 *   REPLACE     guard held                  new instance ACTIVE with the tasks'      previous state, guard released
 *                                           services, relationships re-pointed, old
 *                                           DISCONNECTED
 *   RENEW       guard held                  subscription end date moved              previous state, guard released
 */
import { catalogSnapshotOf, findCatalogVersion, findOfferingVersion, findProductSpecificationVersion, instanceNameOf } from '../catalog/index.ts';
import { appendToOutbox, buildEvent } from '../events/index.ts';
import { setOrderTasksHeldInTx, type ItemFailure, type TaskOutcome } from '../fulfillment/index.ts';
import { productInstanceInTx, subscriptionInTx, InventoryService, holdAssetsForOrderInTx, type FulfilledService, type ProductInstance } from '../inventory/index.ts';
import type { CommandContext, JsonObject } from '../platform/context.ts';
import type { Tx } from '../platform/db.ts';
import { BusinessRuleError, IllegalTransitionError, NotFoundError } from '../platform/errors.ts';
import { ORDER_FINAL_STATES, TARGET_COMMAND, itemTransition, orderTransition, settledOrderState, type ItemCommand, type OrderCommand } from './model.ts';
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
  const updated = await store.updateItem(tx, order.accountId, item, { status: verdict.to, ...change }, now);
  await store.insertStateChange(tx, ctx.tenantId, order.accountId, order.orderId, { itemId: item.itemId, fromStatus: item.status, toStatus: verdict.to, reason, recordedAt: now, actorApiKeyId: ctx.actor?.apiKeyId ?? null });
  locked.items = locked.items.map((i) => (i.itemId === updated.itemId ? updated : i));
  return updated;
}

async function moveOrder(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, command: OrderCommand, reason: string | null): Promise<OrderRecord> {
  const { order } = locked;
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

const causeOf = (item: OrderItemRecord, orderId: string, ctx: CommandContext) => ({ orderId, orderItemId: item.itemId, correlationId: ctx.correlationId });

async function currentProduct(tx: Tx, id: string): Promise<ProductInstance> {
  const product = await productInstanceInTx(tx, id);
  if (!product) throw NotFoundError.of('product instance', id);
  return product;
}

/** Applies a done item to the installed base; returns the product instance it leaves (the new one for REPLACE). */
async function applyItem(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord, tasks: readonly TaskOutcome[]): Promise<string | null> {
  const inventory = InventoryService.within(tx, now);
  const cause = causeOf(item, order.orderId, ctx);
  const details = item.details as Record<string, any>;
  if (!item.productInstanceId) return null; // an ADD of a bundle: commercial only, its members are the products
  const target = await currentProduct(tx, item.productInstanceId);
  switch (item.action) {
    case 'ADD': {
      for (const fulfilled of await servicesFromTasks(tx, tasks)) {
        const service = await inventory.attachServiceInstance(ctx, target.productInstanceId, { ...cause, ...fulfilled });
        for (const resource of fulfilled.resources) await inventory.attachResourceInstance(ctx, service.serviceInstanceId, { ...cause, ...resource });
      }
      await inventory.completeActivation(ctx, target.productInstanceId, { ...cause, expectedVersion: (await currentProduct(tx, target.productInstanceId)).version });
      return target.productInstanceId;
    }
    case 'MODIFY':
      await inventory.completeModification(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version });
      return target.productInstanceId;
    case 'DISCONNECT': {
      // A scheduled disconnect takes effect at its date, even when the worker ran it a little later.
      const effectiveAt = details.requestedTerminationDate ?? now;
      const started = await inventory.startDisconnect(ctx, target.productInstanceId, { ...cause, effectiveAt, expectedVersion: target.version, reason: details.reason ?? null, requestedTerminationDate: details.requestedTerminationDate ?? null });
      await inventory.completeDisconnect(ctx, target.productInstanceId, { ...cause, effectiveAt, expectedVersion: started.productInstance.version });
      return target.productInstanceId;
    }
    case 'SUSPEND':
      await inventory.suspend(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version, reason: details.reason ?? null });
      return target.productInstanceId;
    case 'RESUME':
      await inventory.resume(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version });
      return target.productInstanceId;
    case 'MOVE': {
      // The services configured at the new place, with the resources reserved there; an
      // offering whose specification names no services keeps its services, copied to the new place.
      const services = await servicesFromTasks(tx, tasks);
      await inventory.move(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version, place: details.place as JsonObject, ...(services.length ? { services } : {}) });
      return target.productInstanceId;
    }
    case 'REPLACE': {
      const offering = await findOfferingVersion(tx, details.replacementOfferingId, details.replacementOfferingVersion);
      if (!offering) throw NotFoundError.of('product offering', details.replacementOfferingId);
      const specRef = offering.body.productSpecification;
      const specification = specRef ? await findProductSpecificationVersion(tx, specRef.id, specRef.version) : null;
      if (!specification) throw new BusinessRuleError(`offering ${offering.body.code} has no product specification: it cannot replace a product`);
      if (!details.configuration || !details.price) throw new BusinessRuleError(`order item ${item.itemId} has no configuration or price for its replacement`);
      const replaced = await inventory.replace(ctx, target.productInstanceId, {
        ...cause,
        expectedVersion: target.version,
        place: (details.place ?? null) as JsonObject | null,
        // Configured and priced for the new offering at submission (orders/service.ts).
        replacement: {
          productOfferingId: offering.id,
          productOfferingVersion: offering.version,
          productSpecificationId: specification.id,
          productSpecificationVersion: specification.version,
          name: instanceNameOf(offering.body, specification.body, details.configuration),
          catalogSnapshot: catalogSnapshotOf(offering, specification),
          configuration: details.configuration as JsonObject,
          price: details.price as JsonObject,
        },
        services: await servicesFromTasks(tx, tasks),
      });
      return replaced.productInstance.productInstanceId;
    }
    case 'RENEW': {
      if (!target.subscriptionId) throw new BusinessRuleError(`product instance ${target.productInstanceId} has no subscription to renew`);
      const subscription = await subscriptionInTx(tx, target.subscriptionId);
      if (!subscription) throw NotFoundError.of('subscription', target.subscriptionId);
      await inventory.renewSubscription(ctx, subscription.subscriptionId, { ...cause, expectedVersion: subscription.version, termMonths: details.termMonths ?? null, newEndDate: details.newEndDate ?? null });
      await inventory.releaseOrderItemHolds(ctx, order.accountId, item.itemId, 'renewed');
      return target.productInstanceId;
    }
  }
}

/**
 * What fulfillment set up for an item: each configure task is a service (its result the
 * technical parameters, its external id the service's), with the resources its reserve tasks
 * returned. ADD, MOVE and REPLACE all record their services from this.
 */
/**
 * The services the configure tasks set up, each with the resources reserved for it, named as
 * the catalog names them: a service by its specification's name, a resource by its
 * specification's resource type (as the demo and the internal routes record them).
 */
async function servicesFromTasks(tx: Tx, tasks: readonly TaskOutcome[]): Promise<FulfilledService[]> {
  const services: FulfilledService[] = [];
  for (const configured of tasks.filter((t) => t.step === 'configure' && t.specification)) {
    const spec = configured.specification!;
    const service = await findCatalogVersion(tx, 'service_specification', spec.id, spec.version);
    const resources: FulfilledService['resources'] = [];
    for (const reserved of tasks.filter((t) => t.step === 'reserve' && t.specification && configured.dependsOn.includes(t.taskId))) {
      const resource = await findCatalogVersion(tx, 'resource_specification', reserved.specification!.id, reserved.specification!.version);
      resources.push({
        resourceType: resource?.body.resourceType ?? reserved.specification!.code,
        resourceId: reserved.externalId,
        externalResourceId: reserved.externalId,
        attributes: (reserved.result ?? {}) as JsonObject,
      });
    }
    services.push({
      serviceSpecificationId: spec.id,
      serviceSpecificationVersion: spec.version,
      name: service?.body.name ?? spec.code,
      externalServiceId: configured.externalId,
      technicalParameters: (configured.result ?? {}) as JsonObject,
      resources,
    });
  }
  return services;
}

async function failAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord, error: ItemError): Promise<void> {
  const inventory = InventoryService.within(tx, now);
  const cause = causeOf(item, order.orderId, ctx);
  const product = item.productInstanceId ? await productInstanceInTx(tx, item.productInstanceId) : undefined;
  const problem = { code: error.code, message: error.message };
  if (item.action === 'ADD' && product?.status === 'PENDING_ACTIVATION') {
    await inventory.failActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, error: problem });
  } else if (item.action === 'MODIFY' && product?.status === 'PENDING_MODIFICATION') {
    await inventory.failModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, error: problem });
  } else if (item.action === 'DISCONNECT' && product) {
    await inventory.unscheduleDisconnect(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  }
  if (product) await inventory.releaseOrderItemHolds(ctx, product.accountId, item.itemId, `order item failed: ${error.code}`);
}

async function withdrawAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord): Promise<void> {
  const inventory = InventoryService.within(tx, now);
  const product = item.productInstanceId ? await productInstanceInTx(tx, item.productInstanceId) : undefined;
  if (!product) return;
  const cause = causeOf(item, order.orderId, ctx);
  if (item.action === 'ADD' && (product.status === 'PENDING_ACTIVATION' || product.status === 'ERROR')) {
    await inventory.cancelActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  } else if (item.action === 'MODIFY' && product.status === 'PENDING_MODIFICATION') {
    await inventory.cancelModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  } else if (item.action === 'DISCONNECT') {
    await inventory.unscheduleDisconnect(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  }
  await inventory.releaseOrderItemHolds(ctx, product.accountId, item.itemId, 'order item withdrawn');
}

async function retakeAssets(tx: Tx, ctx: CommandContext, now: string, order: OrderRecord, item: OrderItemRecord): Promise<void> {
  const inventory = InventoryService.within(tx, now);
  if (!item.productInstanceId) return;
  const product = await currentProduct(tx, item.productInstanceId);
  const cause = causeOf(item, order.orderId, ctx);
  if (item.action === 'ADD') {
    await inventory.startActivation(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  } else if (item.action === 'MODIFY') {
    await inventory.startModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, requestedChange: { configuration: (item.details.configuration ?? {}) as JsonObject } });
  } else {
    await holdAssetsForOrderInTx(tx, ctx, now, product.accountId, [{
      productInstanceId: product.productInstanceId,
      expectedVersion: product.version,
      orderId: order.orderId,
      orderItemId: item.itemId,
      operationType: item.action,
      command: item.action === 'RENEW' ? null : TARGET_COMMAND[item.action],
    }]);
  }
}
