/** Wires the parts together: one place that knows every service. */
import { AccessService } from './access/index.ts';
import { createCatalogCache, CatalogService } from './catalog/index.ts';
import { CustomerService } from './customers/index.ts';
import { InstalledBaseCache, InventoryQueries, InventoryService } from './inventory/index.ts';
import type { Clock } from './platform/clock.ts';
import { readConfig } from './platform/config.ts';
import type { Pool } from './platform/db.ts';
import type { Logger } from './platform/logger.ts';
import { PriceRuleService } from './pricing/index.ts';
import { QuoteService } from './quotes/index.ts';
import { InFlightOrders, OrderService, fulfillmentOutcomes } from './orders/index.ts';
import { Orchestrator, InternalProvisioner, ManualProvisioner, ProvisionerRegistry, fulfillmentSettingsOf, type FulfillmentSettings, type CallbackSecrets } from './fulfillment/index.ts';

export interface Services {
  pool: Pool;
  clock: Clock;
  access: AccessService;
  customers: CustomerService;
  inventory: InventoryService;
  queries: InventoryQueries;
  catalog: CatalogService;
  priceRules: PriceRuleService;
  quotes: QuoteService;
  orders: OrderService;
  /** Re-runs and cancellations of orders in flight. */
  inFlightOrders: InFlightOrders;
  orchestrator: Orchestrator;
  fulfillment: FulfillmentSettings;
  /** Shared secrets of the HTTP provisioners, by code: their callbacks are verified with them. */
  callbackSecrets: CallbackSecrets;
}

export interface ServiceOptions {
  /** The catalog cache's Redis (default: REDIS_URL); null for the in-process cache. */
  redisUrl?: string | null;
  /** The provisioners (default: the built-in manual and internal ones), as loadProvisioners builds them. */
  provisioners?: { registry: ProvisionerRegistry; callbackSecrets: CallbackSecrets };
  /** Default: from the environment. */
  fulfillment?: FulfillmentSettings;
  /** Where the orchestrator reports what it cannot tell a caller (a task that could not start…). */
  logger?: Logger;
  /** Bytes of installed-base bodies kept in process (default: TENURE_INSTALLED_BASE_CACHE_MB); 0: off. */
  installedBaseCacheBytes?: number;
}

export function createServices(pool: Pool, clock: Clock, options: ServiceOptions = {}): Services {
  const deps = { pool, clock };
  const config = readConfig();
  const redisUrl = options.redisUrl === undefined ? config.redisUrl : options.redisUrl;
  const provisioners = options.provisioners ?? { registry: new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner()]), callbackSecrets: new Map() };
  const fulfillment = options.fulfillment ?? fulfillmentSettingsOf(config.fulfillment);
  return {
    pool,
    clock,
    access: new AccessService(deps),
    customers: new CustomerService(deps),
    inventory: new InventoryService(deps),
    queries: new InventoryQueries({ ...deps, installedBaseCache: new InstalledBaseCache(options.installedBaseCacheBytes ?? config.installedBaseCacheMb * 1024 * 1024) }),
    catalog: new CatalogService({ ...deps, cache: createCatalogCache({ redisUrl, clock }) }),
    priceRules: new PriceRuleService(deps),
    quotes: new QuoteService({ ...deps, quoteSettings: { defaultValidityHours: config.quoteValidityHours } }),
    orders: new OrderService({ ...deps, routing: fulfillment.routing }),
    inFlightOrders: new InFlightOrders(deps),
    orchestrator: createOrchestrator(pool, clock, { ...options, provisioners, fulfillment }),
    fulfillment,
    callbackSecrets: provisioners.callbackSecrets,
  };
}

/**
 * The fulfillment orchestrator alone, on a pool of its own: `npm start` gives its in-process
 * worker one, so that the connections a worker holds for its tasks never starve the API. It
 * reports its outcomes to orders (decision 0015).
 */
export function createOrchestrator(pool: Pool, clock: Clock, options: Pick<ServiceOptions, 'provisioners' | 'fulfillment' | 'logger'> = {}): Orchestrator {
  const registry = options.provisioners?.registry ?? new ProvisionerRegistry([new ManualProvisioner(), new InternalProvisioner()]);
  return new Orchestrator({ pool, clock, registry, settings: options.fulfillment ?? fulfillmentSettingsOf(), outcomes: fulfillmentOutcomes, logger: options.logger });
}
