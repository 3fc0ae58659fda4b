/**
 * Orders (seed 000 §11–13): explicit actions against the installed base. Submitting is the
 * pipeline in submit.ts; an item's actions are modules in actions/; what happens while the
 * items are fulfilled is lifecycle.ts.
 */
import { recordAudit } from '../platform/audit.ts';
import { findAccountInTx } from '../customers/index.ts';
import { listOrderTasksInTx, type Routing, type TaskView } from '../fulfillment/index.ts';
import type { CommandContext } from '../platform/context.ts';
import type { Clock } from '../platform/clock.ts';
import { inTenantTransaction, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError } from '../platform/errors.ts';
import { convertQuoteInTx } from '../quotes/index.ts';
import { setOrderHeldInTx } from './lifecycle.ts';
import type { OrderItemInput } from './model.ts';
import * as store from './store.ts';
import type { StateChange } from './store.ts';
import { submitOrderInTx, type Order } from './submit.ts';

export type { Order } from './submit.ts';
export type { OrderItemInput } from './model.ts';

export class OrderService {
  constructor(private readonly deps: { pool: Pool; clock: Clock; routing: Routing }) {}

  private run<T>(ctx: CommandContext, work: (tx: Tx, now: string) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, (tx) => work(tx, this.deps.clock.now(ctx.tenantId).toISOString()));
  }

  /**
   * Submits an order. With `supplementalOf`, it amends that order in flight: the items of
   * that order holding its targets, and those named in `cancelItems`, are withdrawn first.
   */
  async submitOrder(ctx: CommandContext, input: { accountId: string; items: OrderItemInput[]; supplementalOf?: string; cancelItems?: string[]; externalReference?: string }): Promise<Order> {
    return this.run(ctx, (tx, now) => submitOrderInTx(tx, ctx, now, { ...input, quoteId: null }, this.deps.routing));
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
      return submitOrderInTx(tx, ctx, now, { accountId: draft.accountId, items, quoteId: input.quoteId, quoted, externalReference: input.externalReference }, this.deps.routing);
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
