/**
 * Orders in flight, at their boundary with fulfillment (decision 0015):
 *
 * - `fulfillmentOutcomes`, orders' side of the outcome interface (fulfillment/outcomes.ts):
 *   what an order does when fulfillment reports that a task starts, that an item's tasks are
 *   done or failed, or that a withdrawn item's work is undone. The assembly (src/app.ts) gives
 *   it to the orchestrator. Each outcome locks the order once (lockOrder); the rest works on it.
 * - the commands that change an order in flight together with its tasks: withdrawing items
 *   (an amendment, a cancellation), cancelling the order, re-running its failed items. The
 *   order's side is here and in lifecycle.ts; the tasks' side is fulfillment's (order-tasks.ts).
 */
import { orderTasksInTx, rerunItemTasksInTx, withdrawItemTasksInTx, type FulfillmentOutcomes, type FulfillmentTask, type OrderOutcomes } from '../fulfillment/index.ts';
import { recordAudit } from '../platform/audit.ts';
import type { Clock } from '../platform/clock.ts';
import type { CommandContext } from '../platform/context.ts';
import { inTenantTransaction, type Pool, type Tx } from '../platform/db.ts';
import { IllegalTransitionError, NotFoundError } from '../platform/errors.ts';
import {
  completeItemInTx, dependentsOf, failItemAndDependentsInTx, finishWithdrawalInTx, itemOf, lockOrderIfFreeInTx, lockOrderInTx, markItemStartedInTx,
  requestOrderCancellationInTx, rerunFailedItemsInTx, startItemOfLockedOrderInTx, withdrawItemInTx, type LockedOrder,
} from './lifecycle.ts';
import { ORDER_FINAL_STATES } from './model.ts';
import * as store from './store.ts';
import type { OrderItemRecord, OrderRecord } from './store.ts';

type OrderView = OrderRecord & { items: OrderItemRecord[] };

/** Item states an amendment or a cancellation can still withdraw. */
const OPEN_ITEM_STATES: readonly string[] = ['acknowledged', 'inProgress', 'held'];

export const fulfillmentOutcomes: FulfillmentOutcomes = {
  async taskStarting(tx, ctx, now, ref, kind) {
    // A compensation does not start its item (it is being withdrawn): it reads it under the order's lock.
    const item = kind === 'provision'
      ? await markItemStartedInTx(tx, ctx, now, ref)
      : itemOf(await lockOrderInTx(tx, ref.accountId, ref.orderId), ref.itemId);
    return { action: item.action, productInstanceId: item.productInstanceId, parameters: item.details };
  },

  async lockOrder(tx, ctx, now, ref) {
    return outcomesOfLocked(tx, ctx, now, await lockOrderInTx(tx, ref.accountId, ref.orderId));
  },

  async lockOrderIfFree(tx, ctx, now, ref) {
    const locked = await lockOrderIfFreeInTx(tx, ref.accountId, ref.orderId);
    return locked ? outcomesOfLocked(tx, ctx, now, locked) : null;
  },
};

function outcomesOfLocked(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder): OrderOutcomes {
  return {
    async taskStarting(itemId, kind) {
      // A compensation does not start its item (it is being withdrawn).
      const item = kind === 'provision' ? await startItemOfLockedOrderInTx(tx, ctx, now, locked, itemId) : itemOf(locked, itemId);
      return { action: item.action, productInstanceId: item.productInstanceId, parameters: item.details };
    },
    itemProvisioned: (itemId, tasks) => completeItemInTx(tx, ctx, now, locked, itemId, tasks),
    itemFailed: (itemId, failure) => failItemAndDependentsInTx(tx, ctx, now, locked, itemId, failure),
    itemWithdrawn: (itemId) => finishWithdrawalInTx(tx, ctx, now, locked, itemId),
  };
}

/**
 * Withdraws items of an order in flight (an amendment by a supplemental order), with the items
 * that depend on them. Refused with `point-of-no-return`, changing nothing, when a task past
 * its point of no return has started. Otherwise tasks not started are cancelled, done (or
 * started) work is compensated by new tasks that run in the reverse order, and the items'
 * assets return to where they were. Returns the withdrawn items.
 */
export async function withdrawItemsInTx(tx: Tx, ctx: CommandContext, now: string, accountId: string, orderId: string, itemIds: readonly string[], reason: string): Promise<string[]> {
  return withdrawLockedItems(tx, ctx, now, await lockOrderInTx(tx, accountId, orderId), itemIds, reason, { wholeOrder: false });
}

async function withdrawLockedItems(tx: Tx, ctx: CommandContext, now: string, locked: LockedOrder, itemIds: readonly string[], reason: string, options: { wholeOrder: boolean }): Promise<string[]> {
  const { accountId, orderId } = locked.order;
  const affected = [...new Set([...itemIds, ...dependentsOf(locked.items, itemIds).map((i) => i.itemId)])]
    .filter((id) => OPEN_ITEM_STATES.includes(locked.items.find((i) => i.itemId === id)?.status ?? ''));
  const compensating = await withdrawItemTasksInTx(tx, now, accountId, orderId, affected);
  if (options.wholeOrder) await requestOrderCancellationInTx(tx, ctx, now, locked, reason);
  // Dependents first, so that an add-on is withdrawn before its parent.
  for (const itemId of [...affected].reverse()) {
    await withdrawItemInTx(tx, ctx, now, locked, itemId, { reason, compensating: compensating.includes(itemId) });
  }
  return affected;
}

/**
 * Re-runs and cancellations of orders in flight. Each answers with the order read in the
 * transaction of its change, so that the answer is what an Idempotency-Key stores with that
 * change (src/http/idempotency.ts).
 */
export class InFlightOrders {
  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now(ctx.tenantId).toISOString()));
  }

  /** The tenant of an order, for operator tools that name only the order. */
  async tenantOfOrder(orderId: string): Promise<string | undefined> {
    return store.findTenantOfOrder(this.deps.pool, orderId);
  }

  /**
   * Manual re-run (seed 003 B2): the failed items of the order take their assets again and
   * their failed and cancelled tasks are due again with fresh attempts. Audited. Re-running an
   * order with nothing failed changes nothing.
   */
  async rerunOrder(ctx: CommandContext, orderId: string): Promise<{ order: OrderView; rerunItemIds: string[]; tasks: FulfillmentTask[] }> {
    return this.run(ctx, async (tx, now) => {
      const locked = await lockOrderInTx(tx, await accountOfOrder(tx, orderId), orderId);
      const { accountId } = locked.order;
      const rerunItemIds = await rerunFailedItemsInTx(tx, ctx, now, locked);
      if (rerunItemIds.length) {
        const { due, provisioned } = await rerunItemTasksInTx(tx, now, accountId, rerunItemIds);
        // An item whose tasks were all done failed while completing: complete it now.
        for (const { itemId, tasks } of provisioned) await completeItemInTx(tx, ctx, now, locked, itemId, tasks);
        await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'order.rerun', targetType: 'order', targetId: orderId, subjectAccountId: accountId, details: { items: rerunItemIds, tasks: due.map((t) => t.taskId) } });
      }
      return { order: (await store.findOrder(tx, orderId))!, rerunItemIds, tasks: await orderTasksInTx(tx, accountId, orderId) };
    });
  }

  /** Cancels an order in flight: every item not ended is withdrawn (see withdrawItemsInTx). Returns the order as it is then. */
  async cancelOrder(ctx: CommandContext, orderId: string, reason: string): Promise<OrderView> {
    return this.run(ctx, async (tx, now) => {
      const locked = await lockOrderInTx(tx, await accountOfOrder(tx, orderId), orderId);
      const { order } = locked;
      if (ORDER_FINAL_STATES.includes(order.status)) throw new IllegalTransitionError('order', orderId, order.status, 'cancel', []);
      const open = locked.items.filter((i) => OPEN_ITEM_STATES.includes(i.status)).map((i) => i.itemId);
      await withdrawLockedItems(tx, ctx, now, locked, open, reason, { wholeOrder: true });
      await recordAudit(tx, ctx.tenantId, ctx.actor, ctx.correlationId, now, { action: 'order.cancel', targetType: 'order', targetId: orderId, subjectAccountId: order.accountId, details: { reason, items: open } });
      return (await store.findOrder(tx, orderId))!;
    });
  }
}

async function accountOfOrder(tx: Tx, orderId: string): Promise<string> {
  const order = await store.findOrder(tx, orderId);
  if (!order) throw NotFoundError.of('order', orderId);
  return order.accountId;
}
