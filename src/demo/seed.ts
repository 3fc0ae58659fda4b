/**
 * Demo data for `npm start` (seed 000 §2): an ISP catalog (demo/catalog.ts); PT Contoh Digital,
 * an enterprise account owning an active Business Fiber 1Gbps with Static IP /29, Managed Router
 * and SLA Gold on a 24-month subscription; and Budi Santoso, a residential account owning an
 * Internet 100 Mbit/s on a 12-month subscription — both sold from that catalog. Built through the same commands the API
 * uses, so its history and outbox are real, and priced by the same pricing engine call as an
 * order, so its price snapshots have the shape of an order-created instance's.
 */
import { createHash } from 'node:crypto';
import type { Services } from '../app.ts';
import { catalogSnapshotOf } from '../catalog/index.ts';
import { inTenantTransaction, queryOne } from '../platform/db.ts';
import type { AccountSegment } from '../customers/index.ts';
import type { CommandContext, JsonObject } from '../platform/context.ts';
import { validateConfiguration, priceItems, countPromoRedemptions, loadPricingRules, type PriceResult } from '../pricing/index.ts';
import { loadDemoCatalog, type DemoCatalog } from './catalog.ts';

export const DEMO_TENANT_NAME = 'Tenure Demo';

/** Stable ids for the demo catalog entries (a name-based UUID, so every start agrees). */
export function demoId(name: string): string {
  const h = createHash('sha1').update('tenure-demo:' + name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export interface DemoResult {
  tenantId: string;
  apiKey: string;
  /** PT Contoh Digital, an enterprise account owning Business Fiber and its add-ons. */
  accountId: string;
  /** Budi Santoso, a household (residential) account owning Internet 100: the residential offerings' buyer. */
  residentialAccountId: string;
  created: boolean;
}

export async function ensureDemo(services: Services, apiKey: string): Promise<DemoResult> {
  const known = await services.access.authenticate(apiKey);
  if (known) {
    // Found by name (creation times may be equal under a test clock). A data folder made before
    // the residential account existed has none: '' (start from a fresh data folder to get it).
    const ctx: CommandContext = { tenantId: known.tenantId, actor: { apiKeyId: known.apiKeyId, role: known.role }, correlationId: 'demo-seed' };
    const accounts = await services.customers.listAccounts(ctx, {}, { after: null, limit: 100 });
    const idOf = (sale: DemoSale) => accounts.find((a) => a.name === sale.account.name)?.accountId ?? '';
    return { tenantId: known.tenantId, apiKey, accountId: idOf(ENTERPRISE_SALE), residentialAccountId: idOf(RESIDENTIAL_SALE), created: false };
  }
  const tenant = await services.access.createTenant({ name: DEMO_TENANT_NAME, mode: 'test', adminKey: apiKey });
  const ctx: CommandContext = { tenantId: tenant.tenantId, actor: { apiKeyId: tenant.apiKeyId, role: 'admin' }, correlationId: 'demo-seed' };
  // Catalog ids include the tenant: a second demo tenant in the same database gets its own.
  const catalog = await loadDemoCatalog(services, ctx, (name) => demoId(`${tenant.tenantId}:${name}`));
  const { accountId, residentialAccountId } = await seedInstalledBase(services, ctx, catalog);
  return { tenantId: tenant.tenantId, apiKey, accountId, residentialAccountId, created: true };
}

interface DemoProduct {
  name: string;
  /** The code of the catalog offering it was sold from. */
  offering: string;
  configuration: JsonObject;
  service: { name: string; parameters: JsonObject; resources: { type: string; id: string; attributes?: JsonObject }[] };
}

/** One customer, its account, and what it bought in one initial sale: a root product and its children. */
interface DemoSale {
  customer: { name: string; externalReference: string };
  account: { name: string; segment: AccountSegment };
  /** Names the sale's order and item ids. */
  key: string;
  place: JsonObject;
  termMonths: number;
  root: DemoProduct;
  children: (DemoProduct & { link: 'PARENT_OF' | 'ADDON_OF' })[];
}

/** A fiber internet product: its access service on an ONT, an OLT port and a VLAN. */
function internetProduct(
  product: Omit<DemoProduct, 'service'>,
  line: { profile: string; vlan: number; ont: string; ontModel: string; port: string },
): DemoProduct {
  return {
    ...product,
    service: {
      name: 'Internet Access Service',
      parameters: { profile: line.profile, vlan: line.vlan },
      resources: [
        { type: 'ONT', id: line.ont, attributes: { model: line.ontModel } },
        { type: 'PORT', id: line.port },
        { type: 'VLAN', id: String(line.vlan) },
      ],
    },
  };
}

const JAKARTA_HQ = { name: 'Jakarta HQ', street: 'Jl. Jend. Sudirman Kav. 52-53', city: 'Jakarta Selatan', country: 'ID' };

/** A business buying enterprise offerings: only enterprise (or `any`) offerings are sold to it. */
const ENTERPRISE_SALE: DemoSale = {
  customer: { name: 'PT Contoh Digital', externalReference: 'CRM-000123' },
  account: { name: 'PT Contoh Digital — Jakarta', segment: 'enterprise' },
  key: 'initial-sale',
  place: JAKARTA_HQ,
  termMonths: 24,
  root: internetProduct(
    { name: 'Business Fiber 1Gbps', offering: 'business-fiber', configuration: { bandwidthMbps: '1000', accessType: 'FTTx' } },
    { profile: 'BIZ-1G', vlan: 2101, ont: 'ZTEG-C8A1F0E2', ontModel: 'ZTE F670L', port: 'JKT-OLT-07/1/3/12' },
  ),
  children: [
    { name: 'Static IP /29', offering: 'static-ip-29', link: 'PARENT_OF', configuration: { prefixLength: 29 }, service: { name: 'IP Allocation Service', parameters: {}, resources: [{ type: 'IP_BLOCK', id: '203.0.113.8/29' }] } },
    { name: 'Managed Router', offering: 'managed-router', link: 'PARENT_OF', configuration: { model: 'MikroTik CCR2004' }, service: { name: 'Managed CPE Service', parameters: { monitoring: true }, resources: [{ type: 'ROUTER', id: 'HEX-7F3A99D0', attributes: { serialNumber: 'HEX-7F3A99D0' } }] } },
    { name: 'SLA Gold', offering: 'sla-gold', link: 'ADDON_OF', configuration: { availabilityPercent: '99.9', responseTimeHours: 4 }, service: { name: 'SLA Monitoring Service', parameters: { tier: 'gold' }, resources: [] } },
  ],
};

/** A household buying the residential offerings (home internet, IPTV, VoIP, router rental, triple-play). */
const RESIDENTIAL_SALE: DemoSale = {
  customer: { name: 'Budi Santoso', externalReference: 'CRM-000456' },
  account: { name: 'Budi Santoso — Bandung', segment: 'residential' },
  key: 'residential-sale',
  place: { name: 'Home', street: 'Jl. Dago No. 17', city: 'Bandung', country: 'ID' },
  termMonths: 12,
  root: internetProduct(
    { name: 'Internet 100 Mbit/s', offering: 'internet-100', configuration: { bandwidthMbps: 100 } },
    { profile: 'HOME-100M', vlan: 3101, ont: 'ZTEG-B4D2E6F1', ontModel: 'ZTE F609', port: 'BDG-OLT-02/1/1/5' },
  ),
  children: [],
};

export async function seedInstalledBase(services: Services, ctx: CommandContext, catalog: DemoCatalog): Promise<{ accountId: string; residentialAccountId: string }> {
  const accountId = await seedSale(services, ctx, catalog, ENTERPRISE_SALE);
  const residentialAccountId = await seedSale(services, ctx, catalog, RESIDENTIAL_SALE);
  return { accountId, residentialAccountId };
}

async function seedSale(services: Services, ctx: CommandContext, catalog: DemoCatalog, sale: DemoSale): Promise<string> {
  const { customers, inventory } = services;
  const customer = await customers.createCustomer(ctx, sale.customer);
  const account = await customers.createAccount(ctx, { customerId: customer.customerId, name: sale.account.name, currency: 'IDR', timeZone: 'Asia/Jakarta', segment: sale.account.segment });
  const orderId = demoId(`order:${sale.key}`);
  // The enterprise sale keeps the item ids it always had.
  const itemIdOf = (itemNumber: number) => demoId(sale === ENTERPRISE_SALE ? `order-item:${itemNumber}` : `order-item:${sale.key}:${itemNumber}`);
  const sold = (product: DemoProduct) => {
    const offering = catalog.offerings[product.offering];
    const specRef = offering.body.productSpecification!;
    const specification = Object.values(catalog.productSpecifications).find((s) => s.id === specRef.id)!;
    // Checked and defaulted against its specification, as an order's configuration is.
    return { offering, specification, configuration: validateConfiguration(specification.body, product.configuration) as JsonObject };
  };

  // Each instance keeps the offering version and specification it was sold from, and a
  // snapshot of them (seed 000 §4): a later catalog change does not change what it owns.
  // Its price snapshot is the one an order makes: `{currency, lines}`, its lines of the sale.
  const snapshot = (product: DemoProduct, itemNumber: number, price: PriceResult) => {
    const { offering, specification, configuration } = sold(product);
    return {
      productOfferingId: offering.id,
      productOfferingVersion: offering.version,
      productSpecificationId: specification.id,
      productSpecificationVersion: specification.version,
      name: product.name,
      catalogSnapshot: catalogSnapshotOf(offering, specification),
      configuration,
      price: { currency: price.currency, lines: price.lines.filter((l) => l.itemId === itemIdOf(itemNumber)) } as unknown as JsonObject,
    };
  };
  const serviceSpecification = (name: string) => Object.values(catalog.serviceSpecifications).find((s) => s.body.name === name)!;

  // The initial sale priced as one order of its products would be: the account's rules in
  // force now, no promo codes, a new customer.
  const now = services.clock.now().toISOString();
  const price = await inTenantTransaction(services.pool, ctx.tenantId, async (tx) => {
    const rules = await loadPricingRules(tx, account.accountId, now);
    const promoRedemptions = await countPromoRedemptions(tx, rules.filter((r) => r.type === 'promo').map((r) => r.id));
    const items = [sale.root, ...sale.children].map((product, i) => {
      const { offering, specification, configuration } = sold(product);
      return { itemId: itemIdOf(i + 1), offering: { id: offering.id, version: offering.version, body: offering.body }, specification: specification.body, configuration, quantity: 1 };
    });
    return priceItems(items, { accountId: account.accountId, currency: account.currency, at: now, customerSince: null, promoCodes: [], rules, promoRedemptions, rounding: 'HALF_UP' });
  });

  const activate = async (product: DemoProduct, itemNumber: number, extra: { subscriptionId?: string; parentId?: string; link?: 'PARENT_OF' | 'ADDON_OF' }) => {
    const orderItemId = itemIdOf(itemNumber);
    const created = await inventory.createProductInstance(ctx, {
      accountId: account.accountId,
      ...snapshot(product, itemNumber, price),
      place: sale.place,
      orderId,
      orderItemId,
      subscriptionId: extra.subscriptionId ?? null,
      subscription: extra.subscriptionId ? null : { termMonths: sale.termMonths, billingCycle: 'monthly', autoRenew: true },
      relationships: extra.parentId
        ? [extra.link === 'PARENT_OF' ? { type: 'PARENT_OF', sourceProductInstanceId: extra.parentId } : { type: 'ADDON_OF', targetProductInstanceId: extra.parentId }]
        : [],
    });
    const id = created.productInstance.productInstanceId;
    const cause = { orderId, orderItemId };
    await inventory.startActivation(ctx, id, { ...cause, expectedVersion: 1 });
    const spec = serviceSpecification(product.service.name);
    const service = await inventory.attachServiceInstance(ctx, id, {
      ...cause,
      serviceSpecificationId: spec.id,
      serviceSpecificationVersion: spec.version,
      name: product.service.name,
      technicalParameters: product.service.parameters,
    });
    for (const resource of product.service.resources) {
      await inventory.attachResourceInstance(ctx, service.serviceInstanceId, { ...cause, resourceType: resource.type, resourceId: resource.id, attributes: resource.attributes ?? {} });
    }
    await inventory.completeActivation(ctx, id, { ...cause, expectedVersion: 2 });
    return { id, subscriptionId: created.productInstance.subscriptionId ?? created.subscription?.subscriptionId ?? undefined };
  };

  const root = await activate(sale.root, 1, {});
  let item = 2;
  for (const child of sale.children) {
    await activate(child, item++, { subscriptionId: root.subscriptionId, parentId: root.id, link: child.link });
  }
  return account.accountId;
}
