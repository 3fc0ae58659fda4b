/** Read side of the installed base: current state, history, and state as of a past instant. */
import { findAccountInTx } from '../customers/index.ts';
import { inTenantTransaction, queryRows, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError } from '../platform/errors.ts';
import type { Clock } from '../platform/clock.ts';
import * as store from './store/index.ts';
import type { CommandContext, EntityKind, HistoryEntry, JsonObject, ProductInstance, Relationship, ResourceInstance, ServiceInstance, Subscription } from './types.ts';

/** The seed 000 §20.1 shape, with services nested in products and resources in services. */
export interface InstalledBase {
  accountId: string;
  customerId: string;
  snapshotTime: string;
  asOf: string | null;
  products: InstalledProduct[];
  subscriptions: { subscriptionId: string; status: string; version: number; startDate: string | null; endDate: string | null; termMonths: number | null; autoRenew: boolean }[];
}

export interface InstalledProduct {
  productInstanceId: string;
  name: string;
  status: string;
  version: number;
  subscriptionId: string | null;
  productOfferingId: string;
  productOfferingVersion: number;
  configuration: JsonObject;
  price: JsonObject;
  place: JsonObject | null;
  activationDate: string | null;
  terminationDate: string | null;
  relationships: { relationshipId: string; type: string; targetProductInstanceId: string }[];
  serviceInstances: (Pick<ServiceInstance, 'serviceInstanceId' | 'serviceSpecificationId' | 'name' | 'status' | 'version' | 'place' | 'externalServiceId' | 'technicalParameters'> & {
    resourceInstances: Pick<ResourceInstance, 'resourceInstanceId' | 'resourceType' | 'resourceId' | 'status' | 'version'>[];
  })[];
}

export class InventoryQueries {
  constructor(private readonly deps: { pool: Pool; clock: Clock }) {}

  private read<T>(ctx: CommandContext, work: (tx: Tx) => Promise<T>): Promise<T> {
    return inTenantTransaction(this.deps.pool, ctx.tenantId, work);
  }

  /**
   * What the account owns now, or — with `asOf` — what it owned as recorded at that instant
   * (transaction time), rebuilt from the history tables rather than the current rows.
   */
  async installedBase(ctx: CommandContext, accountId: string, asOf: string | null): Promise<InstalledBase> {
    return JSON.parse(await this.installedBaseText(ctx, accountId, asOf)) as InstalledBase;
  }

  /**
   * The installed base as the JSON text of its response body: PostgreSQL builds the products
   * and subscriptions (store/installed-base.ts), so the rows are never parsed in Node; this adds
   * the account's ids and the snapshot time, which comes from the injected clock.
   */
  async installedBaseText(ctx: CommandContext, accountId: string, asOf: string | null): Promise<string> {
    return this.read(ctx, async (tx) => {
      const account = await findAccountInTx(tx, accountId);
      if (!account) throw NotFoundError.of('account', accountId);
      const { products, subscriptions } = asOf ? await store.installedBaseTextAsOf(tx, accountId, asOf) : await store.installedBaseTextNow(tx, accountId);
      const snapshotTime = asOf ?? this.deps.clock.now().toISOString();
      return `{"accountId":${JSON.stringify(accountId)},"customerId":${JSON.stringify(account.customerId)},"snapshotTime":${JSON.stringify(snapshotTime)},`
        + `"asOf":${JSON.stringify(asOf)},"products":[${products}],"subscriptions":[${subscriptions}]}`;
    });
  }

  async productInstance(ctx: CommandContext, id: string, accountId?: string): Promise<ProductInstance & { relationships: Relationship[]; activeOperation: unknown }> {
    return this.read(ctx, async (tx) => {
      const product = await store.findProductInstance(tx, id);
      if (!product || (accountId && product.accountId !== accountId)) throw NotFoundError.of('product instance', id);
      const relationships = (await store.listCurrentRelationships(tx, product.accountId)).filter(
        (r) => r.sourceProductInstanceId === id || r.targetProductInstanceId === id,
      );
      const guard = await store.findActiveGuard(tx, product.accountId, id);
      return {
        ...product,
        relationships,
        activeOperation: guard ? { orderId: guard.orderId, orderItemId: guard.orderItemId, operationType: guard.operationType, acquiredAt: guard.acquiredAt } : null,
      };
    });
  }

  async listProductInstances(ctx: CommandContext, accountId: string, filter: { status?: string }, page: { after: { createdAt: string; id: string } | null; limit: number }): Promise<ProductInstance[]> {
    return this.read(ctx, async (tx) => {
      const account = await findAccountInTx(tx, accountId);
      if (!account) throw NotFoundError.of('account', accountId);
      const rows = await queryRows<{ product_instance_id: string }>(
        tx,
        `select product_instance_id from product_instance
          where account_id = $1 and ($2::text is null or status = $2)
            and ($3::timestamptz is null or (created_at, product_instance_id) > ($3::timestamptz, $4::uuid))
          order by created_at, product_instance_id limit $5`,
        [accountId, filter.status ?? null, page.after?.createdAt ?? null, page.after?.id ?? null, page.limit],
      );
      const result: ProductInstance[] = [];
      for (const row of rows) result.push((await store.findProductInstance(tx, row.product_instance_id))!);
      return result;
    });
  }

  async subscription(ctx: CommandContext, id: string): Promise<Subscription & { productInstanceIds: string[] }> {
    return this.read(ctx, async (tx) => {
      const subscription = await store.findSubscription(tx, id);
      if (!subscription) throw NotFoundError.of('subscription', id);
      const products = await store.listProductInstancesOfSubscription(tx, subscription.accountId, id);
      return { ...subscription, productInstanceIds: products.map((p) => p.productInstanceId) };
    });
  }

  async serviceInstance(ctx: CommandContext, id: string): Promise<ServiceInstance & { resourceInstances: ResourceInstance[] }> {
    return this.read(ctx, async (tx) => {
      const service = await store.findServiceInstance(tx, id);
      if (!service) throw NotFoundError.of('service instance', id);
      return { ...service, resourceInstances: await store.listResourceInstancesOfService(tx, service.accountId, id) };
    });
  }

  async resourceInstance(ctx: CommandContext, id: string): Promise<ResourceInstance> {
    return this.read(ctx, async (tx) => {
      const resource = await store.findResourceInstance(tx, id);
      if (!resource) throw NotFoundError.of('resource instance', id);
      return resource;
    });
  }

  /** Every version of an entity, oldest first, a page at a time (cursor: last version seen). */
  async history(ctx: CommandContext, kind: EntityKind, id: string, page: { afterVersion: number; limit: number }, accountId?: string): Promise<HistoryEntry[]> {
    return this.read(ctx, async (tx) => {
      const owner = await ownerAccount(tx, kind, id);
      if (!owner || (accountId && owner !== accountId)) throw NotFoundError.of(kind.replace('_', ' '), id);
      return store.listHistory(tx, kind, owner, id, page.afterVersion, page.limit);
    });
  }
}

async function ownerAccount(tx: Tx, kind: EntityKind, id: string): Promise<string | undefined> {
  switch (kind) {
    case 'product_instance':
      return (await store.findProductInstance(tx, id))?.accountId;
    case 'subscription':
      return (await store.findSubscription(tx, id))?.accountId;
    case 'service_instance':
      return (await store.findServiceInstance(tx, id))?.accountId;
    case 'resource_instance':
      return (await store.findResourceInstance(tx, id))?.accountId;
  }
}

/**
 * For other parts, inside their own transaction: every product instance of the account with
 * its version (the material of an installed-base snapshot and of a stale check).
 */
export async function assetVersionsInTx(tx: Tx, accountId: string): Promise<store.AssetVersions> {
  return store.findAssetVersions(tx, accountId);
}

/** One product instance as it is now, read inside the caller's transaction (orders, fulfillment). */
export async function productInstanceInTx(tx: Tx, productInstanceId: string): Promise<ProductInstance | undefined> {
  return store.findProductInstance(tx, productInstanceId);
}

/** One subscription as it is now, read inside the caller's transaction. */
export async function subscriptionInTx(tx: Tx, subscriptionId: string): Promise<Subscription | undefined> {
  return store.findSubscription(tx, subscriptionId);
}

/** The operation holding a product instance now (its active guard), if any. */
export async function activeOperationInTx(tx: Tx, accountId: string, productInstanceId: string) {
  return store.findActiveGuard(tx, accountId, productInstanceId);
}
