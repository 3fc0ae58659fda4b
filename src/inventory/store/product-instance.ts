/** product_instance: the installed products, one row per instance at its current version. */
import { queryOne, queryRows, type Tx } from '../../platform/db.ts';
import type { Guard, ProductInstance } from '../types.ts';
import { guardFromRow } from './guard.ts';
import { iso, selectAll, selectOne, versionColumns, writesOne, type Statement } from './rows.ts';

function productInstanceFromRow(r: any): ProductInstance {
  return {
    productInstanceId: r.product_instance_id,
    accountId: r.account_id,
    customerId: r.customer_id,
    subscriptionId: r.subscription_id,
    productOfferingId: r.product_offering_id,
    productOfferingVersion: r.product_offering_version,
    productSpecificationId: r.product_specification_id,
    productSpecificationVersion: r.product_specification_version,
    name: r.name,
    status: r.status,
    actionOriginOrderId: r.action_origin_order_id,
    actionOriginOrderItemId: r.action_origin_order_item_id,
    activationDate: iso(r.activation_date),
    terminationDate: iso(r.termination_date),
    effectiveFrom: iso(r.effective_from),
    effectiveTo: iso(r.effective_to),
    place: r.place,
    catalogSnapshot: r.catalog_snapshot,
    configuration: r.configuration_snapshot,
    price: r.price_snapshot,
    pendingChange: r.pending_change,
    lastError: r.last_error,
    ...versionColumns(r),
  };
}

export function findProductInstance(tx: Tx, productInstanceId: string): Promise<ProductInstance | undefined> {
  return selectOne(tx, productInstanceFromRow, 'select * from product_instance where product_instance_id = $1', [productInstanceId]);
}

/** A product instance row's columns with the guard of its active operation (as JSON, or null): the reads below. */
const PRODUCT_AND_ACTIVE_GUARD = `select p.*,
            (select to_jsonb(g) from asset_operation_guard g
              where g.account_id = p.account_id and g.product_instance_id = p.product_instance_id
                and g.status in ('ACTIVE', 'PENDING_RELEASE')) as active_guard`;
const PRODUCT_WITH_ACTIVE_GUARD = `${PRODUCT_AND_ACTIVE_GUARD}
       from product_instance p`;

/**
 * The product instance and the guard of its active operation, if any, in one read: a command
 * needs both (seed 000 §16 steps 1 and 4).
 */
export async function findProductInstanceWithGuard(tx: Tx, productInstanceId: string): Promise<{ product: ProductInstance; activeGuard: Guard | null } | undefined> {
  const row = await queryOne<any>(
    tx,
    `${PRODUCT_WITH_ACTIVE_GUARD} where p.product_instance_id = $1`,
    [productInstanceId],
  );
  return row ? withGuardFromRow(row) : undefined;
}

function withGuardFromRow(row: any): { product: ProductInstance; activeGuard: Guard | null } {
  // to_jsonb gives the guard's timestamps as text; its row mapper reads dates.
  const g = row.active_guard;
  return {
    product: productInstanceFromRow(row),
    activeGuard: g ? guardFromRow({ ...g, acquired_at: new Date(g.acquired_at), released_at: g.released_at ? new Date(g.released_at) : null }) : null,
  };
}

/**
 * findProductInstanceWithGuard with the status of the product's subscription (null without
 * one), in the same read: an activation starts a PENDING subscription's term, and reads the
 * subscription only then.
 */
export async function findProductInstanceForActivation(tx: Tx, productInstanceId: string): Promise<{ product: ProductInstance; activeGuard: Guard | null; subscriptionStatus: string | null } | undefined> {
  const row = await queryOne<any>(
    tx,
    `${PRODUCT_AND_ACTIVE_GUARD},
            (select s.status from subscription s where s.account_id = p.account_id and s.subscription_id = p.subscription_id) as subscription_status
       from product_instance p
      where p.product_instance_id = $1`,
    [productInstanceId],
  );
  return row ? { ...withGuardFromRow(row), subscriptionStatus: row.subscription_status } : undefined;
}

/** findProductInstanceWithGuard for many instances in one read; an id that is not there has no entry. */
export async function findProductInstancesWithGuards(tx: Tx, productInstanceIds: readonly string[]): Promise<Map<string, { product: ProductInstance; activeGuard: Guard | null }>> {
  if (productInstanceIds.length === 0) return new Map();
  const rows = await queryRows<any>(
    tx,
    `${PRODUCT_WITH_ACTIVE_GUARD} where p.product_instance_id = any ($1::uuid[])`,
    [productInstanceIds],
  );
  return new Map(rows.map((row) => [row.product_instance_id, withGuardFromRow(row)]));
}

export function listProductInstancesOfAccount(tx: Tx, accountId: string): Promise<ProductInstance[]> {
  return selectAll(tx, productInstanceFromRow, 'select * from product_instance where account_id = $1 order by created_at, product_instance_id', [accountId]);
}

export function listProductInstancesOfSubscription(tx: Tx, accountId: string, subscriptionId: string): Promise<ProductInstance[]> {
  return selectAll(tx, productInstanceFromRow, 'select * from product_instance where account_id = $1 and subscription_id = $2 order by created_at, product_instance_id', [accountId, subscriptionId]);
}

export async function insertProductInstance(tx: Tx, tenantId: string, p: ProductInstance): Promise<void> {
  await tx.query(
    `insert into product_instance (tenant_id, account_id, product_instance_id, customer_id, subscription_id,
       product_offering_id, product_offering_version, product_specification_id, product_specification_version,
       name, status, action_origin_order_id, action_origin_order_item_id, activation_date, termination_date,
       effective_from, effective_to, place, catalog_snapshot, configuration_snapshot, price_snapshot,
       pending_change, last_error, version, created_at, updated_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)`,
    [tenantId, p.accountId, p.productInstanceId, p.customerId, p.subscriptionId, p.productOfferingId,
     p.productOfferingVersion, p.productSpecificationId, p.productSpecificationVersion, p.name, p.status,
     p.actionOriginOrderId, p.actionOriginOrderItemId, p.activationDate, p.terminationDate, p.effectiveFrom,
     p.effectiveTo, p.place, p.catalogSnapshot, p.configuration, p.price, p.pendingChange, p.lastError,
     p.version, p.createdAt, p.updatedAt],
  );
}

/**
 * The columns a command can change, each with how to read it from a ProductInstance. The
 * status, version and updated_at are written by every command; the others only when
 * changed.
 */
const PRODUCT_UPDATABLE: ReadonlyArray<readonly [column: string, value: (p: ProductInstance) => unknown]> = [
  ['subscription_id', (p) => p.subscriptionId],
  ['name', (p) => p.name],
  ['product_offering_id', (p) => p.productOfferingId],
  ['product_offering_version', (p) => p.productOfferingVersion],
  ['product_specification_id', (p) => p.productSpecificationId],
  ['product_specification_version', (p) => p.productSpecificationVersion],
  ['activation_date', (p) => p.activationDate],
  ['termination_date', (p) => p.terminationDate],
  ['effective_from', (p) => p.effectiveFrom],
  ['effective_to', (p) => p.effectiveTo],
  ['place', (p) => p.place],
  ['catalog_snapshot', (p) => p.catalogSnapshot],
  ['configuration_snapshot', (p) => p.configuration],
  ['price_snapshot', (p) => p.price],
  ['pending_change', (p) => p.pendingChange],
  ['last_error', (p) => p.lastError],
];

/**
 * The optimistic write (seed 000 §15.2), as a statement: it changes the row only if the row is
 * still at `expectedVersion`; no row changed means another transaction got there first, and the
 * caller must fail, never reload and overwrite. It is sent with the version's records
 * (store.updateWithHistoryAndEvent).
 *
 * Given the row as read at `expectedVersion` (`before`), only the columns whose value
 * differs from it are sent (with status, version and updated_at): every write bumps the
 * version, so a row still at that version still holds `before`, and a column left out keeps
 * exactly the value it would have been set to. Commands replace an object (a snapshot, the
 * place, the pending change, the last error) to change it, never edit it in place, so an
 * object that is still the same one is unchanged. Most commands change the status and the
 * pending change only, and the statement is then as small as that.
 */
export function productInstanceUpdate(p: ProductInstance, expectedVersion: number, before?: ProductInstance): Statement {
  const params: unknown[] = [p.accountId, p.productInstanceId, expectedVersion, p.status, p.version, p.updatedAt];
  const sets = ['status = $4', 'version = $5', 'updated_at = $6'];
  for (const [column, value] of PRODUCT_UPDATABLE) {
    const next = value(p);
    if (before !== undefined && next === value(before)) continue;
    params.push(next);
    sets.push(`${column} = $${params.length}`);
  }
  return {
    text: `update product_instance set ${sets.join(', ')}
      where account_id = $1 and product_instance_id = $2 and version = $3`,
    params,
  };
}

/** productInstanceUpdate, sent on its own: true when it changed the row. */
export async function updateProductInstance(tx: Tx, p: ProductInstance, expectedVersion: number, before?: ProductInstance): Promise<boolean> {
  const { text, params } = productInstanceUpdate(p, expectedVersion, before);
  return writesOne(tx, text, params);
}
