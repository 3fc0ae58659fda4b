/**
 * The raw-SQL floor of the modification benchmark: the writes of one Tenure command done
 * with plain SQL through pg, no engine in between.
 */
import { randomUUID } from 'node:crypto';
import type { Services } from '../src/app.ts';
import type { ProductInstance } from '../src/inventory/index.ts';
import type { CommandContext, JsonObject } from '../src/platform/context.ts';
import { tenantBeginSql, type Pool } from '../src/platform/db.ts';
import type { Step } from './support.ts';

/** A product instance a worker drives, with the version it was left at. */
export interface Instance {
  accountId: string;
  customerId: string;
  productInstanceId: string;
  version: number;
}

/** What one raw command writes: the new status and pending change, and how history and the event name it. */
export interface RawChange {
  toStatus: string;
  pendingChange: object | null;
  changeType: string;
  eventType: string;
}

/**
 * One command as plain SQL, the same transaction shape as a Tenure command without the
 * engine: tenant transaction (role + tenant setting, as inTenantTransaction does, so RLS is
 * paid by both), lock the row, versioned update, history row, outbox row, commit.
 */
export async function rawCommand(pool: Pool, tenantId: string, p: Instance, change: RawChange): Promise<void> {
  const { toStatus, pendingChange } = change;
  const client = await pool.connect();
  let broken = false;
  try {
    // Exactly what inTenantTransaction sends: BEGIN, application role and tenant setting in one round trip.
    await client.query(tenantBeginSql(tenantId));
    const before = (await client.query(
      'select * from product_instance where account_id = $1 and product_instance_id = $2 for update',
      [p.accountId, p.productInstanceId],
    )).rows[0];
    if (!before || before.version !== p.version) throw new Error(`raw: ${p.productInstanceId} is not at version ${p.version}`);
    const now = new Date().toISOString();
    const after = { ...before, status: toStatus, pending_change: pendingChange, version: p.version + 1, updated_at: now };
    const updated = await client.query(
      `update product_instance set status = $3, pending_change = $4, version = $5, updated_at = $6
        where account_id = $1 and product_instance_id = $2 and version = $7`,
      [p.accountId, p.productInstanceId, toStatus, pendingChange, p.version + 1, now, p.version],
    );
    if (updated.rowCount !== 1) throw new Error(`raw: lost the versioned update of ${p.productInstanceId}`);
    await client.query(
      `insert into product_instance_history (tenant_id, account_id, product_instance_id, version, history_id, change_type,
         changed_by_order_id, changed_by_order_item_id, before_state, after_state, recorded_at, effective_at, actor_api_key_id, correlation_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [tenantId, p.accountId, p.productInstanceId, p.version + 1, randomUUID(), change.changeType, null, null, before, after, now, now, null, 'bench'],
    );
    const eventId = randomUUID();
    await client.query(
      `insert into outbox_event (tenant_id, account_id, event_id, event_type, event_version, aggregate_type, aggregate_id,
         aggregate_version, payload, occurred_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [tenantId, p.accountId, eventId, change.eventType, 1, 'product_instance', p.productInstanceId, p.version + 1,
       { eventId, eventType: change.eventType, eventVersion: 1, occurredAt: now, accountId: p.accountId, customerId: p.customerId,
         productInstanceId: p.productInstanceId, previousVersion: p.version, newVersion: p.version + 1, status: toStatus,
         changeSummary: { operation: 'MODIFY', previousStatus: before.status } }, now],
    );
    await client.query('commit');
    p.version++;
  } catch (error) {
    await client.query('rollback').catch(() => {
      broken = true;
    });
    throw error;
  } finally {
    client.release(broken);
  }
}

/** Creates and publishes version 1 of a catalog entry; returns its id. */
export async function publishFirstVersion(services: Services, ctx: CommandContext, kind: 'service_specification' | 'product_specification' | 'product_offering', body: Record<string, unknown>): Promise<string> {
  const created = await services.catalog.create(ctx, kind, body as never);
  return (await services.catalog.publish(ctx, kind, created.id, 1)).id;
}

/** What the benches sell: one account, and the fiber offering (with its specification) its instances name. */
export interface BenchSale {
  accountId: string;
  productSpecificationId: string;
  productOfferingId: string;
}

export async function createBenchSale(services: Services, ctx: CommandContext): Promise<BenchSale> {
  const customer = await services.customers.createCustomer(ctx, { name: 'Bench customer' });
  const account = await services.customers.createAccount(ctx, { customerId: customer.customerId, name: 'Bench account', currency: 'IDR', timeZone: 'Asia/Jakarta' });
  // Instances name the catalog entries they were sold from, which must exist.
  const productSpecificationId = await publishFirstVersion(services, ctx, 'product_specification', { code: 'bench-fiber', name: 'Bench fiber', serviceSpecifications: [], characteristics: [{ name: 'bandwidthMbps', valueType: 'integer', unit: 'Mbit/s', configurable: true, default: 1000, minCardinality: 1, maxCardinality: 1 }] });
  const productOfferingId = await publishFirstVersion(services, ctx, 'product_offering', { code: 'bench-fiber', name: 'Bench fiber', category: 'connectivity', segment: 'any', productSpecification: { id: productSpecificationId, version: 1 }, priceLists: [{ currency: 'IDR', charges: [] }] });
  return { accountId: account.accountId, productSpecificationId, productOfferingId };
}

/** One ACTIVE product instance of the sale, with its subscription, written by the inventory commands. */
export async function createActiveProduct(services: Services, ctx: CommandContext, sale: BenchSale, place?: JsonObject): Promise<ProductInstance> {
  const cause = { orderId: randomUUID(), orderItemId: randomUUID() };
  const name = 'Business Fiber 1Gbps';
  const { productInstance } = await services.inventory.createProductInstance(ctx, {
    accountId: sale.accountId,
    productOfferingId: sale.productOfferingId,
    productOfferingVersion: 1,
    productSpecificationId: sale.productSpecificationId,
    productSpecificationVersion: 1,
    name,
    catalogSnapshot: { offeringName: name },
    configuration: { bandwidthMbps: 1000 },
    ...(place ? { place } : {}),
    // The price snapshot's one shape: the currency and the pricing engine's lines.
    price: {
      currency: 'IDR',
      lines: [{ lineId: `${cause.orderItemId}:bench-monthly`, itemId: cause.orderItemId, offeringId: sale.productOfferingId, offeringVersion: 1, chargeCode: 'bench-monthly', chargeName: 'Bench fiber monthly', kind: 'recurring', period: 'month', periodDays: null, quantity: '1', listAmountMinor: '1500000000', adjustments: [], finalAmountMinor: '1500000000', usage: null }],
    },
    subscription: { termMonths: 24, billingCycle: 'monthly' },
    ...cause,
  });
  const id = productInstance.productInstanceId;
  await services.inventory.startActivation(ctx, id, { ...cause, expectedVersion: 1 });
  return services.inventory.completeActivation(ctx, id, { ...cause, expectedVersion: 2 });
}

/** Active product instances for the floor (and the engine) to drive: one per concurrent worker. */
export async function createActiveProducts(services: Services, ctx: CommandContext, count: number): Promise<Instance[]> {
  const sale = await createBenchSale(services, ctx);
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const active = await createActiveProduct(services, ctx, sale);
    instances.push({ accountId: active.accountId, customerId: active.customerId, productInstanceId: active.productInstanceId, version: active.version });
  }
  return instances;
}

/** The floor's step, the same in every benchmark: two raw commands (modification start, cancel). */
export function rawStep(pool: Pool, tenantId: string, p: Instance): Step {
  return async () => {
    await rawCommand(pool, tenantId, p, { toStatus: 'PENDING_MODIFICATION', pendingChange: { configuration: { bandwidthMbps: 2000 } }, changeType: 'MODIFICATION_STARTED', eventType: 'ProductInstanceModificationStarted' });
    await rawCommand(pool, tenantId, p, { toStatus: 'ACTIVE', pendingChange: null, changeType: 'MODIFICATION_CANCELLED', eventType: 'ProductInstanceModificationCancelled' });
    return 2;
  };
}
