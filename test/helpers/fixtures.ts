/** Small builders for installed-base test data, going through the real services. */
import { randomUUID } from 'node:crypto';
import type { Services } from '../../src/app.ts';
import type { CommandContext, JsonObject } from '../../src/platform/context.ts';
import type { CreateProductInstanceInput } from '../../src/inventory/service.ts';

/** The catalog entries test products are sold from: instances may only name what the catalog has. */
export interface FixtureCatalog {
  productOfferingId: string;
  productSpecificationId: string;
  serviceSpecificationId: string;
}

/** What the tests configure on fixture products: a modification is checked against these. */
const FIXTURE_CHARACTERISTICS = [
  { name: 'bandwidthMbps', valueType: 'integer', unit: 'Mbit/s', configurable: true, minCardinality: 0, maxCardinality: 1 },
  { name: 'staticIp', valueType: 'boolean', configurable: true, minCardinality: 0, maxCardinality: 1 },
  { name: 'vlan', valueType: 'integer', configurable: true, minCardinality: 0, maxCardinality: 1 },
  { name: 'sla', valueType: 'string', maxLength: 40, configurable: true, minCardinality: 0, maxCardinality: 1 },
];

const fixtureCatalogs = new Map<string, FixtureCatalog>();
let currentCatalog: FixtureCatalog | null = null;

/**
 * Publishes a small catalog (one service specification, one product specification realised by
 * it, one offering of that product) in the context's tenant, once per tenant; later calls
 * return the same entries. createAccount calls it, so tests that build products have it.
 */
export async function ensureFixtureCatalog(services: Services, ctx: CommandContext): Promise<FixtureCatalog> {
  const known = fixtureCatalogs.get(ctx.tenantId);
  if (known) return (currentCatalog = known);
  const publish = async (kind: 'service_specification' | 'product_specification' | 'product_offering', body: Record<string, unknown>) => {
    const created = await services.catalog.create(ctx, kind, body as never);
    return (await services.catalog.publish(ctx, kind, created.id, 1)).id;
  };
  const serviceSpecificationId = await publish('service_specification', { code: 'fixture-access', name: 'Fixture access service', resourceSpecifications: [] });
  const productSpecificationId = await publish('product_specification', { code: 'fixture-fiber', name: 'Fixture fiber', serviceSpecifications: [{ id: serviceSpecificationId, version: 1 }], characteristics: FIXTURE_CHARACTERISTICS });
  const productOfferingId = await publish('product_offering', { code: 'fixture-fiber', name: 'Fixture fiber', category: 'connectivity', segment: 'any', productSpecification: { id: productSpecificationId, version: 1 }, priceLists: [{ currency: 'IDR', charges: [] }] });
  const catalog = { productOfferingId, productSpecificationId, serviceSpecificationId };
  fixtureCatalogs.set(ctx.tenantId, catalog);
  return (currentCatalog = catalog);
}

function fixtureCatalog(catalog: FixtureCatalog | null = currentCatalog): FixtureCatalog {
  if (!catalog) throw new Error('no fixture catalog yet: call createAccount or ensureFixtureCatalog first');
  return catalog;
}

/** The offering and specification references of a product sold from the fixture catalog. */
export function catalogRefs(catalog: FixtureCatalog | null = currentCatalog) {
  const c = fixtureCatalog(catalog);
  return { productOfferingId: c.productOfferingId, productOfferingVersion: 1, productSpecificationId: c.productSpecificationId, productSpecificationVersion: 1 };
}

/** The service specification reference of a service of the fixture catalog. */
export function serviceSpecRef(catalog: FixtureCatalog | null = currentCatalog) {
  return { serviceSpecificationId: fixtureCatalog(catalog).serviceSpecificationId, serviceSpecificationVersion: 1 };
}

export async function createAccount(services: Services, ctx: CommandContext, name = 'PT Contoh Digital') {
  await ensureFixtureCatalog(services, ctx);
  const customer = await services.customers.createCustomer(ctx, { name });
  const account = await services.customers.createAccount(ctx, { customerId: customer.customerId, name: name + ' account', currency: 'IDR', timeZone: 'Asia/Jakarta' });
  return { customerId: customer.customerId, accountId: account.accountId };
}

/** The order item the fixture price lines belong to (fixed, so two snapshots compare equal). */
export const FIXTURE_PRICE_ITEM_ID = '00000000-0000-4000-8000-00000000f1be';

/**
 * A price snapshot in the one shape instances keep (docs/installed-base.md "The price
 * snapshot"): the currency and the pricing engine's lines, here one monthly recurring line.
 */
export function priceSnapshot(amountMinor = '1500000000', catalog: FixtureCatalog | null = currentCatalog, offeringId = fixtureCatalog(catalog).productOfferingId) {
  return {
    currency: 'IDR',
    lines: [{
      lineId: `${FIXTURE_PRICE_ITEM_ID}:fixture-monthly`,
      itemId: FIXTURE_PRICE_ITEM_ID,
      offeringId,
      offeringVersion: 1,
      chargeCode: 'fixture-monthly',
      chargeName: 'Fixture fiber monthly',
      kind: 'recurring',
      period: 'month',
      periodDays: null,
      quantity: '1',
      listAmountMinor: amountMinor,
      adjustments: [],
      finalAmountMinor: amountMinor,
      usage: null,
    }],
  };
}

export function productSnapshot(name = 'Business Fiber 1Gbps', configuration: JsonObject = { bandwidthMbps: 1000 }, catalog: FixtureCatalog | null = currentCatalog) {
  return {
    ...catalogRefs(catalog),
    name,
    catalogSnapshot: { offeringName: name },
    configuration,
    price: priceSnapshot('1500000000', catalog),
  };
}

export function orderCause() {
  return { orderId: randomUUID(), orderItemId: randomUUID() };
}

/** Creates a product instance and activates it: returns it at version 3, ACTIVE. */
export async function activeProduct(
  services: Services,
  ctx: CommandContext,
  accountId: string,
  extra: Partial<CreateProductInstanceInput> = {},
) {
  const cause = orderCause();
  const catalog = await ensureFixtureCatalog(services, ctx);
  const created = await services.inventory.createProductInstance(ctx, {
    accountId,
    ...productSnapshot(undefined, undefined, catalog),
    subscription: extra.subscriptionId ? null : { termMonths: 24, billingCycle: 'monthly' },
    ...cause,
    ...extra,
  });
  const id = created.productInstance.productInstanceId;
  await services.inventory.startActivation(ctx, id, { ...cause, expectedVersion: 1 });
  const active = await services.inventory.completeActivation(ctx, id, { ...cause, expectedVersion: 2 });
  return active;
}
