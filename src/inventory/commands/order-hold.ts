/**
 * An order's hold on the assets it changes: at submission it takes the operation guard of
 * every target for its order item (all or none); when an item fails or is withdrawn before
 * its change applied, the guards it holds are released.
 */
import { jobScheduler } from '../../platform/scheduler.ts';
import type { Tx } from '../../platform/db.ts';
import { newId } from '../../platform/ids.ts';
import { IllegalTransitionError, NotFoundError, OperationInProgressError } from '../../platform/errors.ts';
import { PRODUCT_INSTANCE_FINAL_STATES, productInstanceTransition, type ProductInstanceCommand } from '../model.ts';
import { acquireGuard, audit, checkExpectedVersion, type Unit } from '../pipeline.ts';
import * as store from '../store/index.ts';
import type { CommandContext, Guard, ProductInstance } from '../types.ts';

export interface OrderTarget {
  productInstanceId: string;
  expectedVersion: number;
  orderId: string;
  orderItemId: string;
  operationType: string;
  /** The command whose state rule the target must satisfy now; null = only "not ended". */
  command: ProductInstanceCommand | null;
}

/**
 * Order submission, inside the order's transaction: checks every target (exists in the
 * account, expected version, state) and then takes every target's operation guard for its
 * order item. Any failure throws, and the caller's transaction rolls back every guard taken:
 * the order holds all its targets or none. Targets are handled in id order, so two orders
 * over the same assets cannot deadlock.
 */
export async function holdAssetsForOrderInTx(
  tx: Tx,
  ctx: CommandContext,
  now: string,
  accountId: string,
  targets: readonly OrderTarget[],
): Promise<Guard[]> {
  const u: Unit = { tx, ctx, now, jobs: jobScheduler };
  const ordered = [...targets].sort((a, b) => a.productInstanceId.localeCompare(b.productInstanceId));
  // Every target and its active guard in one read; the checks in id order, as one by one.
  const loadedAll = await store.findProductInstancesWithGuards(tx, ordered.map((t) => t.productInstanceId));
  const checked: { target: OrderTarget; product: ProductInstance; holder: Guard | null }[] = [];
  for (const target of ordered) {
    const loaded = loadedAll.get(target.productInstanceId);
    if (!loaded || loaded.product.accountId !== accountId) throw NotFoundError.of('product instance', target.productInstanceId);
    const product = loaded.product;
    checkExpectedVersion('product instance', product.productInstanceId, product.version, target.expectedVersion);
    if (target.command) {
      const verdict = productInstanceTransition(product.status, target.command);
      if (!verdict.ok) throw new IllegalTransitionError('product instance', product.productInstanceId, product.status, target.command, verdict.allowed);
    } else if (PRODUCT_INSTANCE_FINAL_STATES.includes(product.status)) {
      throw new IllegalTransitionError('product instance', product.productInstanceId, product.status, target.operationType, []);
    }
    checked.push({ target, product, holder: loaded.activeGuard });
  }
  for (const { product, holder } of checked) if (holder) throw new OperationInProgressError(product.productInstanceId, holder);
  // Every guard in one statement; one that another transaction took since the read is taken
  // as acquireGuard takes it (its holder decides: the same item reuses it, another refuses).
  const wanted = checked.map(({ target, product }): Guard => ({
    guardId: newId(),
    accountId: product.accountId,
    productInstanceId: product.productInstanceId,
    orderId: target.orderId,
    orderItemId: target.orderItemId,
    operationType: target.operationType,
    status: 'ACTIVE',
    acquiredAt: now,
    releasedAt: null,
  }));
  const inserted = await store.tryInsertGuards(tx, ctx.tenantId, wanted, ctx.correlationId);
  const held: Guard[] = [];
  for (const [k, { target, product }] of checked.entries()) {
    if (inserted.has(product.productInstanceId)) held.push({ ...wanted[k], acquiredAt: new Date(now).toISOString() });
    else held.push(await acquireGuard(u, product, { orderId: target.orderId, orderItemId: target.orderItemId }, target.operationType, null));
  }
  return held;
}

/**
 * Ends the operations an order item holds without changing the assets: the item failed or
 * was cancelled before its change was applied. Returns the released guards.
 */
export async function releaseOrderItemHolds(u: Unit, accountId: string, orderItemId: string, reason: string): Promise<Guard[]> {
  const released = await store.releaseGuardsOfOrderItem(u.tx, accountId, orderItemId, u.now);
  for (const guard of released) {
    await audit(u, 'product-instance.operation.release', 'product_instance', guard.productInstanceId, accountId, { orderId: guard.orderId, orderItemId, operationType: guard.operationType, reason });
  }
  return released;
}
