/** Read side of the installed base: current state, history, and state as of a past instant. */
import { findAccountInTx } from '../customers/index.ts';
import { inTenantTransaction, queryRows, type Pool, type Tx } from '../platform/db.ts';
import { NotFoundError } from '../platform/errors.ts';
import type { Clock } from '../platform/clock.ts';
import type { InstalledBaseCache } from './installed-base-cache.ts';
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
  constructor(private readonly deps: { pool: Pool; clock: Clock; installedBaseCache?: InstalledBaseCache | null }) {}

  /** The kept installed-base bodies (decision 0021), for their stats; null when none was given. */
  get installedBaseCache(): InstalledBaseCache | null {
    return this.deps.installedBaseCache ?? null;
  }

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

  /** The installed base as the JSON text of its response body (installedBaseBytes). */
  async installedBaseText(ctx: CommandContext, accountId: string, asOf: string | null, options: ReadOptions = {}): Promise<string> {
    return (await this.installedBaseBytes(ctx, accountId, asOf, options)).toString('utf8');
  }

  /**
   * The installed base as the UTF-8 bytes of its response body: PostgreSQL builds the products
   * and subscriptions (store/installed-base.ts), so the rows are never parsed in Node; this adds
   * the account's ids and the snapshot time, which comes from the injected clock.
   *
   * With the cache on (decision 0021), the account's change count is read first, in the same
   * transaction, and the products and subscriptions built at that count are sent as kept; a
   * different count, or none kept, builds them as without the cache and keeps them. The count
   * is read before the body, so a body is never older than the count it is kept under.
   */
  async installedBaseBytes(ctx: CommandContext, accountId: string, asOf: string | null, options: ReadOptions = {}): Promise<Buffer> {
    const cache = options.cache === false || !this.deps.installedBaseCache?.enabled ? null : this.deps.installedBaseCache;
    return this.read(ctx, async (tx) => {
      const account = await findAccountInTx(tx, accountId);
      if (!account) throw NotFoundError.of('account', accountId);
      let parts: Buffer;
      if (cache) {
        const changes = await store.installedBaseChanges(tx, accountId);
        parts = cache.get(ctx.tenantId, accountId, asOf, changes) ?? cache.set(ctx.tenantId, accountId, asOf, changes, await partsOf(tx, accountId, asOf));
      } else {
        parts = await partsOf(tx, accountId, asOf);
      }
      const snapshotTime = asOf ?? this.deps.clock.now(ctx.tenantId).toISOString();
      const head = `{"accountId":${JSON.stringify(accountId)},"customerId":${JSON.stringify(account.customerId)},"snapshotTime":${JSON.stringify(snapshotTime)},`
        + `"asOf":${JSON.stringify(asOf)},"products":[`;
      return Buffer.concat([Buffer.from(head), parts, BODY_END]);
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

export interface ReadOptions {
  /** false: build the body from PostgreSQL's rows even when the cache is on (tests, benchmarks). */
  cache?: boolean;
}

const BODY_END = Buffer.from(']}');

/** The body from `"products":[` on, without its closing `]}`: the products, then the subscriptions. */
async function partsOf(tx: Tx, accountId: string, asOf: string | null): Promise<Buffer> {
  const { products, subscriptions } = asOf ? await store.installedBaseTextAsOf(tx, accountId, asOf) : await store.installedBaseTextNow(tx, accountId);
  return Buffer.from(`${products}],"subscriptions":[${subscriptions}`);
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
