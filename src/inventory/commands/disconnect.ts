/**
 * Taking a product instance out of service (order action DISCONNECT, seed 000 §11.3): now —
 * PENDING_DISCONNECT, then DISCONNECTED, with every contained child (PARENT_OF targets,
 * ADDON_OF sources) along — or at a future date, scheduled and possibly taken back.
 */
import { IllegalTransitionError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { PRODUCT_INSTANCE_FINAL_STATES, containedChildren, productInstanceTransition } from '../model.ts';
import { acquireGuard, checkExpectedVersion, loadProduct, loadSubscription, reviseProduct, reviseSubscription, transitionProduct, type TransitionInput, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { ProductInstance } from '../types.ts';
import { edgeOf } from './relationships.ts';
import { transitionWithServices } from './services-and-resources.ts';
import { endSubscriptionIfEmpty } from './subscriptions.ts';

const SUBSCRIPTION_FINAL_STATES: readonly string[] = ['TERMINATED', 'EXPIRED'];

/**
 * Puts the instance into PENDING_DISCONNECT, and with it every child along containment
 * (PARENT_OF targets, ADDON_OF sources), recursively, held by the same order item.
 */
export async function startDisconnect(u: Unit, id: string, input: TransitionInput & { reason?: string | null; requestedTerminationDate?: string | null }): Promise<{ productInstance: ProductInstance; cascaded: ProductInstance[] }> {
  const pending = { reason: input.reason ?? null, requestedTerminationDate: input.requestedTerminationDate ?? null };
  const productInstance = await transitionProduct(u, id, 'disconnect:start', input, (p) => {
    p.pendingChange = pending;
  });
  const cascaded: ProductInstance[] = [];
  const relationships = await store.listCurrentRelationships(u.tx, productInstance.accountId);
  const visit = async (parentId: string) => {
    for (const childId of containedChildren(relationships.map(edgeOf), parentId)) {
      const child = await loadProduct(u, childId);
      if (PRODUCT_INSTANCE_FINAL_STATES.includes(child.status)) continue;
      if (cascaded.some((c) => c.productInstanceId === childId)) continue;
      const updated = await transitionProduct(
        u,
        childId,
        'disconnect:start',
        { ...input, expectedVersion: child.version, correlationId: input.correlationId },
        (p) => {
          p.pendingChange = { ...pending, cascadedFrom: parentId };
        },
        { cascadedFrom: parentId },
      );
      cascaded.push(updated);
      await visit(childId);
    }
  };
  await visit(id);
  return { productInstance, cascaded };
}

/**
 * DISCONNECTED with termination date; services terminated, resources released; children
 * put into PENDING_DISCONNECT by the same order item are completed with it; a subscription
 * left with no live product is terminated.
 */
export async function completeDisconnect(u: Unit, id: string, input: TransitionInput): Promise<{ productInstance: ProductInstance; cascaded: ProductInstance[] }> {
  const productInstance = await loadProduct(u, id);
  const guard = await store.findActiveGuard(u.tx, productInstance.accountId, id);
  const done = await completeDisconnectOne(u, id, input);
  const cascaded: ProductInstance[] = [];
  if (guard && guard.orderItemId) {
    const relationships = await store.listCurrentRelationships(u.tx, done.accountId);
    const visit = async (parentId: string) => {
      for (const childId of containedChildren(relationships.map(edgeOf), parentId)) {
        const child = await loadProduct(u, childId);
        if (child.status !== 'PENDING_DISCONNECT') continue;
        const childGuard = await store.findActiveGuard(u.tx, child.accountId, childId);
        if (!childGuard || childGuard.orderItemId !== guard.orderItemId) continue;
        cascaded.push(await completeDisconnectOne(u, childId, { ...input, expectedVersion: child.version }, { cascadedFrom: parentId }));
        await visit(childId);
      }
    };
    await visit(id);
  }
  return { productInstance: done, cascaded };
}

async function completeDisconnectOne(u: Unit, id: string, input: TransitionInput, summaryExtra: Record<string, unknown> = {}): Promise<ProductInstance> {
  const effectiveAt = input.effectiveAt ?? u.now;
  const done = await transitionWithServices(u, id, 'disconnect:complete', input, (p) => {
    const requested = (p.pendingChange as { requestedTerminationDate?: string | null } | null)?.requestedTerminationDate;
    p.terminationDate = input.effectiveAt ?? requested ?? effectiveAt;
    p.effectiveTo = p.terminationDate;
    p.pendingChange = null;
  }, summaryExtra);
  await endSubscriptionIfEmpty(u, done, input);
  return done;
}

/**
 * A disconnect at a future date (seed 000 §11.3): until then the instance keeps its state,
 * held by the order item, and shows the scheduled date as its `terminationDate` with the
 * disconnect as its `pendingChange`. When every live product of its subscription is
 * scheduled to go, the subscription's `endDate` becomes the (latest) scheduled date, so that
 * billing can tell when service ends; `commitmentEndDate` keeps the end of the term.
 */
export async function scheduleDisconnect(u: Unit, id: string, input: TransitionInput & { terminationDate: string; reason?: string | null }): Promise<ProductInstance> {
  const loaded = await store.findProductInstanceWithGuard(u.tx, id);
  if (!loaded) throw NotFoundError.of('product instance', id);
  const current = loaded.product;
  checkExpectedVersion('product instance', id, current.version, input.expectedVersion);
  const verdict = productInstanceTransition(current.status, 'disconnect:start');
  if (!verdict.ok) throw new IllegalTransitionError('product instance', id, current.status, 'disconnect:schedule', verdict.allowed);
  if (!input.orderItemId) throw ValidationError.field('/orderItemId', 'a scheduled disconnect is owned by an order item; give orderId and orderItemId');
  await acquireGuard(u, current, input, 'DISCONNECT', loaded.activeGuard);
  const scheduled = await reviseProduct(u, current, 'DISCONNECT_SCHEDULED', 'ProductInstanceDisconnectScheduled', input, (p) => {
    p.terminationDate = input.terminationDate;
    p.effectiveTo = input.terminationDate;
    p.pendingChange = { operation: 'DISCONNECT', requestedTerminationDate: input.terminationDate, reason: input.reason ?? null };
  }, { scheduledTerminationDate: input.terminationDate });
  if (scheduled.subscriptionId) {
    const subscription = await loadSubscription(u, scheduled.subscriptionId);
    const live = (await store.listProductInstancesOfSubscription(u.tx, scheduled.accountId, scheduled.subscriptionId)).filter((p) => !PRODUCT_INSTANCE_FINAL_STATES.includes(p.status));
    const dates = live.map(scheduledTerminationOf);
    if (!SUBSCRIPTION_FINAL_STATES.includes(subscription.status) && dates.every((d): d is string => d !== null)) {
      const end = dates.sort().at(-1)!;
      if (subscription.endDate !== end) {
        await reviseSubscription(u, subscription, 'TERMINATION_SCHEDULED', 'SubscriptionTerminationScheduled', input, (s) => {
          s.endDate = end;
        }, { operation: 'DISCONNECT', scheduledEndDate: end });
      }
    }
  }
  return scheduled;
}

/**
 * Takes a scheduled disconnect back (its order item was withdrawn or failed before the date):
 * no termination date any more, and the subscription ends at the end of its term again.
 * An instance with no disconnect scheduled is left as it is.
 */
export async function unscheduleDisconnect(u: Unit, id: string, input: TransitionInput): Promise<ProductInstance> {
  const current = await loadProduct(u, id);
  if (scheduledTerminationOf(current) === null || current.status === 'PENDING_DISCONNECT' || PRODUCT_INSTANCE_FINAL_STATES.includes(current.status)) return current;
  const loaded = await store.findProductInstanceWithGuard(u.tx, id);
  await acquireGuard(u, current, input, 'DISCONNECT', loaded?.activeGuard ?? null);
  const restored = await reviseProduct(u, current, 'DISCONNECT_UNSCHEDULED', 'ProductInstanceDisconnectUnscheduled', input, (p) => {
    p.terminationDate = null;
    p.effectiveTo = null;
    p.pendingChange = null;
  }, { cancelledTerminationDate: current.terminationDate });
  if (restored.subscriptionId) {
    const subscription = await loadSubscription(u, restored.subscriptionId);
    if (!SUBSCRIPTION_FINAL_STATES.includes(subscription.status) && subscription.endDate !== subscription.commitmentEndDate) {
      await reviseSubscription(u, subscription, 'TERMINATION_UNSCHEDULED', 'SubscriptionTerminationUnscheduled', input, (s) => {
        s.endDate = s.commitmentEndDate;
      }, { operation: 'DISCONNECT', cancelledEndDate: subscription.endDate });
    }
  }
  return restored;
}

/** The date a disconnect is scheduled for on this instance, or null. */
function scheduledTerminationOf(product: ProductInstance): string | null {
  const pending = product.pendingChange as { operation?: string; requestedTerminationDate?: string | null } | null;
  return pending?.operation === 'DISCONNECT' && pending.requestedTerminationDate ? pending.requestedTerminationDate : null;
}
