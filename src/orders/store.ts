/** The SQL of orders. */
import { isUniqueViolation, queryOne, queryRows, type Pool, type Tx } from '../platform/db.ts';
import { BusinessRuleError } from '../platform/errors.ts';
import { newId } from '../platform/ids.ts';
import type { ItemState, OrderAction, OrderState } from './model.ts';

export interface OrderRecord {
  orderId: string;
  accountId: string;
  status: OrderState;
  quoteId: string | null;
  supplementalOfOrderId: string | null;
  externalReference: string | null;
  version: number;
  createdAt: string;
  updatedAt: string;
  completedAt: string | null;
}

export interface OrderItemRecord {
  itemId: string;
  itemNumber: number;
  action: OrderAction;
  status: ItemState;
  productInstanceId: string | null;
  expectedVersion: number | null;
  offeringId: string | null;
  offeringVersion: number | null;
  parentItemId: string | null;
  parentProductInstanceId: string | null;
  dependsOn: string[];
  details: Record<string, unknown>;
  error: Record<string, unknown> | null;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** An order's outbox event, as appendToOutbox writes it (its aggregate is the order). */
export interface OrderEventRow {
  eventId: string;
  eventType: string;
  eventVersion: number;
  aggregateType: string;
  aggregateVersion: number | null;
  payload: Record<string, unknown>;
  occurredAt: string;
}

export interface StateChange {
  changeId: string;
  itemId: string | null;
  fromStatus: string | null;
  toStatus: string;
  reason: string | null;
  recordedAt: string;
  actorApiKeyId: string | null;
}

const orderFromRow = (r: any): OrderRecord => ({
  orderId: r.order_id,
  accountId: r.account_id,
  status: r.status,
  quoteId: r.quote_id,
  supplementalOfOrderId: r.supplemental_of_order_id,
  externalReference: r.external_reference,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
  completedAt: r.completed_at ? r.completed_at.toISOString() : null,
});

const itemFromRow = (r: any): OrderItemRecord => ({
  itemId: r.item_id,
  itemNumber: r.item_number,
  action: r.action,
  status: r.status,
  productInstanceId: r.product_instance_id,
  expectedVersion: r.expected_version,
  offeringId: r.offering_id,
  offeringVersion: r.offering_version,
  parentItemId: r.parent_item_id,
  parentProductInstanceId: r.parent_product_instance_id,
  dependsOn: r.depends_on,
  details: r.details,
  error: r.error,
  version: r.version,
  createdAt: r.created_at.toISOString(),
  updatedAt: r.updated_at.toISOString(),
});

/**
 * Writes a new order with its items, their first state changes (the order's, then each
 * item's, in item order) and the order's event, in one statement (decision 0025):
 * the rows come from arrays, so the text is the same for any number of items. The order carries the Idempotency-Key of the request that submitted
 * it (null without one). One order per key and account (migration 0011's unique index; the read
 * first names the order that the key already made, the index catches a race with it): a repeat
 * of a submission that committed is refused instead of doing the work twice.
 */
export async function insertOrderWithItems(
  tx: Tx,
  tenantId: string,
  o: OrderRecord,
  idempotencyKey: string | null,
  items: readonly OrderItemRecord[],
  changes: readonly Omit<StateChange, 'changeId'>[],
  event: OrderEventRow,
): Promise<void> {
  const refuse = (orderId: string | null) => new BusinessRuleError(
    `order ${orderId ?? '(being submitted)'} of account ${o.accountId} was already submitted with Idempotency-Key "${idempotencyKey}"; this request is a repeat of it and submits nothing`,
    { idempotencyKey, ...(orderId ? { orderId } : {}) },
  );
  if (idempotencyKey !== null) {
    const first = await queryOne<{ order_id: string }>(tx, 'select order_id from product_order where tenant_id = $1 and account_id = $2 and idempotency_key = $3', [tenantId, o.accountId, idempotencyKey]);
    if (first) throw refuse(first.order_id);
  }
  try {
    await tx.query(
      `with new_order as (
         insert into product_order (tenant_id, account_id, order_id, status, quote_id, supplemental_of_order_id,
           external_reference, version, created_at, updated_at, idempotency_key)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ), new_items as (
         insert into order_item (tenant_id, account_id, order_id, item_id, item_number, action, status, product_instance_id,
           expected_version, offering_id, offering_version, parent_item_id, parent_product_instance_id, depends_on, details,
           error, version, created_at, updated_at)
         select $1, $2, $3, w.item_id, w.item_number, w.action, w.status, w.product_instance_id, w.expected_version, w.offering_id,
                w.offering_version, w.parent_item_id, w.parent_product_instance_id, w.depends_on::uuid[], w.details, w.error,
                w.version, w.created_at, w.updated_at
           from unnest($12::uuid[], $13::int[], $14::text[], $15::text[], $16::uuid[], $17::int[], $18::uuid[], $19::int[], $20::uuid[],
                       $21::uuid[], $22::text[], $23::jsonb[], $24::jsonb[], $25::int[], $26::timestamptz[], $27::timestamptz[])
                with ordinality as w (item_id, item_number, action, status, product_instance_id, expected_version, offering_id,
                                      offering_version, parent_item_id, parent_product_instance_id, depends_on, details, error,
                                      version, created_at, updated_at, n)
          order by w.n
       ), announced as (
         -- The order's event, as events' appendToOutbox writes it.
         insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
           aggregate_version, payload, occurred_at)
         values ($1, $2, $35, $36, $37, $38, $3, $39, $40, $41)
       )
         insert into order_state_change (tenant_id, account_id, order_id, change_id, item_id, from_status, to_status, reason,
         recorded_at, actor_api_key_id)
       select $1, $2, $3, c.change_id, c.item_id, c.from_status, c.to_status, c.reason, c.recorded_at, c.actor_api_key_id
         from unnest($28::uuid[], $29::uuid[], $30::text[], $31::text[], $32::text[], $33::timestamptz[], $34::uuid[])
              with ordinality as c (change_id, item_id, from_status, to_status, reason, recorded_at, actor_api_key_id, n)
        order by c.n`,
      [tenantId, o.accountId, o.orderId, o.status, o.quoteId, o.supplementalOfOrderId, o.externalReference, o.version, o.createdAt, o.updatedAt, idempotencyKey,
       items.map((i) => i.itemId), items.map((i) => i.itemNumber), items.map((i) => i.action), items.map((i) => i.status),
       items.map((i) => i.productInstanceId), items.map((i) => i.expectedVersion), items.map((i) => i.offeringId),
       items.map((i) => i.offeringVersion), items.map((i) => i.parentItemId), items.map((i) => i.parentProductInstanceId),
       items.map((i) => `{${i.dependsOn.join(',')}}`), items.map((i) => i.details), items.map((i) => i.error),
       items.map((i) => i.version), items.map((i) => i.createdAt), items.map((i) => i.updatedAt),
       changes.map(() => newId()), changes.map((c) => c.itemId), changes.map((c) => c.fromStatus), changes.map((c) => c.toStatus),
       changes.map((c) => c.reason), changes.map((c) => c.recordedAt), changes.map((c) => c.actorApiKeyId),
       event.eventId, event.eventType, event.eventVersion, event.aggregateType, event.aggregateVersion, event.payload, event.occurredAt],
    );
  } catch (error) {
    if (isUniqueViolation(error, 'product_order_idempotency_key')) throw refuse(null);
    throw error;
  }
}

export async function insertItem(tx: Tx, tenantId: string, accountId: string, orderId: string, i: OrderItemRecord): Promise<void> {
  await tx.query(
    `insert into order_item (tenant_id, account_id, order_id, item_id, item_number, action, status, product_instance_id,
       expected_version, offering_id, offering_version, parent_item_id, parent_product_instance_id, depends_on, details,
       error, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
    [tenantId, accountId, orderId, i.itemId, i.itemNumber, i.action, i.status, i.productInstanceId, i.expectedVersion,
     i.offeringId, i.offeringVersion, i.parentItemId, i.parentProductInstanceId, i.dependsOn, i.details, i.error,
     i.version, i.createdAt, i.updatedAt],
  );
}

export async function findOrder(tx: Tx, orderId: string): Promise<(OrderRecord & { items: OrderItemRecord[] }) | undefined> {
  const row = await queryOne<any>(tx, 'select * from product_order where order_id = $1', [orderId]);
  if (!row) return undefined;
  const items = await queryRows(tx, 'select * from order_item where account_id = $1 and order_id = $2 order by item_number', [row.account_id, orderId]);
  return { ...orderFromRow(row), items: items.map(itemFromRow) };
}

/** The tenant of an order, looked up across tenants (outside a tenant's transaction), for operator tools that name only the order. */
export async function findTenantOfOrder(pool: Pool, orderId: string): Promise<string | undefined> {
  const row = await queryOne<{ tenant_id: string }>(pool, 'select tenant_id from product_order where order_id = $1', [orderId]);
  return row?.tenant_id;
}

export async function listOrderIds(tx: Tx, accountId: string, after: { createdAt: string; id: string } | null, limit: number): Promise<string[]> {
  const rows = await queryRows<{ order_id: string }>(
    tx,
    `select order_id from product_order
      where account_id = $1 and ($2::timestamptz is null or (created_at, order_id) > ($2::timestamptz, $3::uuid))
      order by created_at, order_id limit $4`,
    [accountId, after?.createdAt ?? null, after?.id ?? null, limit],
  );
  return rows.map((r) => r.order_id);
}

export async function listStateChanges(tx: Tx, accountId: string, orderId: string): Promise<StateChange[]> {
  const rows = await queryRows<any>(
    tx,
    'select * from order_state_change where account_id = $1 and order_id = $2 order by seq',
    [accountId, orderId],
  );
  return rows.map((r) => ({
    changeId: r.change_id,
    itemId: r.item_id,
    fromStatus: r.from_status,
    toStatus: r.to_status,
    reason: r.reason,
    recordedAt: r.recorded_at.toISOString(),
    actorApiKeyId: r.actor_api_key_id,
  }));
}

/** The order row, locked: every change to an order's or its items' states takes this lock first. */
export async function lockOrder(tx: Tx, accountId: string, orderId: string): Promise<OrderRecord | undefined> {
  const row = await queryOne<any>(tx, 'select * from product_order where account_id = $1 and order_id = $2 for update', [accountId, orderId]);
  return row ? orderFromRow(row) : undefined;
}

/**
 * lockOrder, unless another transaction holds the order's lock: undefined then, at once (SKIP
 * LOCKED), so that a worker passes an order another one is working on. With the order, its
 * items in item order (listItems), read as JSON in the same statement and mapped as listItems
 * maps them.
 */
export async function lockOrderWithItemsIfFree(tx: Tx, accountId: string, orderId: string): Promise<(OrderRecord & { items: OrderItemRecord[] }) | undefined> {
  const row = await queryOne<any>(
    tx,
    `select o.*,
            (select coalesce(jsonb_agg(to_jsonb(i) order by i.item_number), '[]'::jsonb)
               from order_item i where i.account_id = o.account_id and i.order_id = o.order_id) as order_items
       from product_order o
      where o.account_id = $1 and o.order_id = $2
        for update of o skip locked`,
    [accountId, orderId],
  );
  if (!row) return undefined;
  // to_jsonb gives the items' timestamps as text; the row mapper reads dates.
  const items = (row.order_items as any[]).map((i) => itemFromRow({ ...i, created_at: new Date(i.created_at), updated_at: new Date(i.updated_at) }));
  return { ...orderFromRow(row), items };
}

export async function listItems(tx: Tx, accountId: string, orderId: string): Promise<OrderItemRecord[]> {
  const rows = await queryRows(tx, 'select * from order_item where account_id = $1 and order_id = $2 order by item_number', [accountId, orderId]);
  return rows.map(itemFromRow);
}

export async function findItem(tx: Tx, accountId: string, itemId: string): Promise<OrderItemRecord | undefined> {
  const row = await queryOne<any>(tx, 'select * from order_item where account_id = $1 and item_id = $2', [accountId, itemId]);
  return row ? itemFromRow(row) : undefined;
}

/**
 * The order's new status (optimistic: at the version it was read), the state change that records
 * it and its outbox event (as events' appendToOutbox writes it), in one statement (decision 0025),
 * the last two only when the order was updated. The caller builds the event at the version the
 * update gives the order (`order.version + 1`).
 */
export async function updateOrderStatusWithRecords(
  tx: Tx,
  tenantId: string,
  order: OrderRecord,
  status: OrderState,
  stateChange: Omit<StateChange, 'changeId' | 'itemId' | 'fromStatus' | 'toStatus'>,
  event: OrderEventRow,
  at: string,
): Promise<OrderRecord> {
  const row = await queryOne<any>(
    tx,
    `with updated as (
       update product_order set status = $4, version = version + 1, updated_at = $5,
         completed_at = case when $4 in ('completed', 'failed', 'partial', 'cancelled') then $5::timestamptz else null end
        where account_id = $1 and order_id = $2 and version = $3
        returning *
     ), recorded as (
       insert into order_state_change (tenant_id, account_id, order_id, change_id, item_id, from_status, to_status, reason,
         recorded_at, actor_api_key_id)
       select $6, u.account_id, u.order_id, $7, null, $8, $4, $9, $10, $11 from updated u
     ), announced as (
       insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
         aggregate_version, payload, occurred_at)
       select $6, u.account_id, $12, $13, $14, $15, u.order_id, $16, $17, $18 from updated u
     )
     select * from updated`,
    [order.accountId, order.orderId, order.version, status, at,
     tenantId, newId(), order.status, stateChange.reason, stateChange.recordedAt, stateChange.actorApiKeyId,
     event.eventId, event.eventType, event.eventVersion, event.aggregateType, event.aggregateVersion, event.payload, event.occurredAt],
  );
  if (!row) throw new Error(`order ${order.orderId} changed under its lock`);
  return orderFromRow(row);
}

export async function updateItem(
  tx: Tx,
  accountId: string,
  item: OrderItemRecord,
  change: { status: ItemState; productInstanceId?: string | null; error?: Record<string, unknown> | null; details?: Record<string, unknown> },
  at: string,
): Promise<OrderItemRecord> {
  const row = await queryOne<any>(
    tx,
    `update order_item set status = $4, product_instance_id = $5, error = $6, details = $7, version = version + 1, updated_at = $8
      where account_id = $1 and item_id = $2 and version = $3
      returning *`,
    [accountId, item.itemId, item.version, change.status,
     change.productInstanceId === undefined ? item.productInstanceId : change.productInstanceId,
     change.error === undefined ? item.error : change.error,
     change.details ?? item.details, at],
  );
  if (!row) throw new Error(`order item ${item.itemId} changed under its order's lock`);
  return itemFromRow(row);
}

/**
 * updateItem and its state change in one statement: the item's new status and the state
 * change that records it, written together (the state change only when the item was updated).
 * The rows are those the two statements write.
 */
export async function updateItemWithStateChange(
  tx: Tx,
  tenantId: string,
  accountId: string,
  item: OrderItemRecord,
  change: { status: ItemState; productInstanceId?: string | null; error?: Record<string, unknown> | null; details?: Record<string, unknown> },
  stateChange: Omit<StateChange, 'changeId' | 'itemId' | 'fromStatus' | 'toStatus'>,
  at: string,
): Promise<OrderItemRecord> {
  const row = await queryOne<any>(
    tx,
    `with updated as (
       update order_item set status = $4, product_instance_id = $5, error = $6, details = $7, version = version + 1, updated_at = $8
        where account_id = $1 and item_id = $2 and version = $3
        returning *
     ), recorded as (
       insert into order_state_change (tenant_id, account_id, order_id, change_id, item_id, from_status, to_status, reason,
         recorded_at, actor_api_key_id)
       select $9, u.account_id, u.order_id, $10, u.item_id, $11, $4, $12, $13, $14 from updated u
     )
     select * from updated`,
    [accountId, item.itemId, item.version, change.status,
     change.productInstanceId === undefined ? item.productInstanceId : change.productInstanceId,
     change.error === undefined ? item.error : change.error,
     change.details ?? item.details, at,
     tenantId, newId(), item.status, stateChange.reason, stateChange.recordedAt, stateChange.actorApiKeyId],
  );
  if (!row) throw new Error(`order item ${item.itemId} changed under its order's lock`);
  return itemFromRow(row);
}
