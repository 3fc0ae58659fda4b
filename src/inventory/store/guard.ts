/**
 * asset_operation_guard: one active operation per product instance, held by an order item
 * (decision 0004). A partial unique index on the active ones enforces it, not code alone.
 */
import type { Tx } from '../../platform/db.ts';
import type { Guard } from '../types.ts';
import { iso, isoRequired, selectAll, selectOne } from './rows.ts';

export function guardFromRow(r: any): Guard {
  return {
    guardId: r.guard_id,
    accountId: r.account_id,
    productInstanceId: r.product_instance_id,
    orderId: r.order_id,
    orderItemId: r.order_item_id,
    operationType: r.operation_type,
    status: r.status,
    acquiredAt: isoRequired(r.acquired_at),
    releasedAt: iso(r.released_at),
  };
}

/**
 * Inserts an ACTIVE guard unless one is active for the asset. The partial unique index
 * decides: a concurrent inserter waits for the first one's transaction and then sees the
 * conflict. Returns the new guard (as written: nothing in the table changes a value on
 * insert), or undefined when another is active.
 */
export async function tryInsertGuard(tx: Tx, tenantId: string, g: Guard, correlationId: string | null): Promise<Guard | undefined> {
  const result = await tx.query(
    `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id,
       operation_type, status, correlation_id, acquired_at)
     values ($1, $2, $3, $4, $5, $6, $7, 'ACTIVE', $8, $9)
     on conflict (account_id, product_instance_id) where status in ('ACTIVE', 'PENDING_RELEASE') do nothing`,
    [tenantId, g.accountId, g.guardId, g.productInstanceId, g.orderId, g.orderItemId, g.operationType, correlationId, g.acquiredAt],
  );
  return result.rowCount === 1 ? { ...g, status: 'ACTIVE', acquiredAt: new Date(g.acquiredAt).toISOString(), releasedAt: null } : undefined;
}

/**
 * tryInsertGuard for many assets in one statement, in the order given (an order takes its
 * targets' guards in id order, so that two orders cannot deadlock). Returns the product
 * instances whose guard was inserted; one missing had another active guard.
 */
export async function tryInsertGuards(tx: Tx, tenantId: string, guards: readonly Guard[], correlationId: string | null): Promise<Set<string>> {
  if (guards.length === 0) return new Set();
  const rows = await selectAll(
    tx,
    (r: { product_instance_id: string }) => r.product_instance_id,
    `insert into asset_operation_guard (tenant_id, account_id, guard_id, product_instance_id, order_id, order_item_id,
       operation_type, status, correlation_id, acquired_at)
     select $1, w.account_id, w.guard_id, w.product_instance_id, w.order_id, w.order_item_id, w.operation_type, 'ACTIVE', $2, w.acquired_at
       from unnest($3::uuid[], $4::uuid[], $5::uuid[], $6::uuid[], $7::uuid[], $8::text[], $9::timestamptz[])
            with ordinality as w (account_id, guard_id, product_instance_id, order_id, order_item_id, operation_type, acquired_at, n)
      order by w.n
     on conflict (account_id, product_instance_id) where status in ('ACTIVE', 'PENDING_RELEASE') do nothing
     returning product_instance_id`,
    [tenantId, correlationId, guards.map((g) => g.accountId), guards.map((g) => g.guardId), guards.map((g) => g.productInstanceId),
     guards.map((g) => g.orderId), guards.map((g) => g.orderItemId), guards.map((g) => g.operationType), guards.map((g) => g.acquiredAt)],
  );
  return new Set(rows);
}

export function findActiveGuard(tx: Tx, accountId: string, productInstanceId: string): Promise<Guard | undefined> {
  return selectOne(
    tx,
    guardFromRow,
    `select * from asset_operation_guard
      where account_id = $1 and product_instance_id = $2 and status in ('ACTIVE', 'PENDING_RELEASE')`,
    [accountId, productInstanceId],
  );
}

export async function releaseGuard(tx: Tx, accountId: string, guardId: string, at: string): Promise<void> {
  await tx.query(
    `update asset_operation_guard set status = 'RELEASED', released_at = $3
      where account_id = $1 and guard_id = $2 and status <> 'RELEASED'`,
    [accountId, guardId, at],
  );
}

/** Releases every active guard an order item holds; returns them. */
export function releaseGuardsOfOrderItem(tx: Tx, accountId: string, orderItemId: string, at: string): Promise<Guard[]> {
  return selectAll(
    tx,
    guardFromRow,
    `update asset_operation_guard set status = 'RELEASED', released_at = $3
      where account_id = $1 and order_item_id = $2 and status in ('ACTIVE', 'PENDING_RELEASE')
      returning *`,
    [accountId, orderItemId, at],
  );
}
