/** Wires the parts together: one place that knows every service. */
import { AccessService } from './access/service.ts';
import { createCatalogCache } from './catalog/cache.ts';
import { CatalogService } from './catalog/service.ts';
import { CustomerService } from './customers/service.ts';
import { InventoryQueries } from './inventory/queries.ts';
import { InventoryService } from './inventory/service.ts';
import type { Clock } from './platform/clock.ts';
import { readConfig } from './platform/config.ts';
import type { Pool } from './platform/db.ts';
import { PriceRuleService } from './pricing/rule-service.ts';
import { QuoteService } from './quotes/service.ts';
import { OrderService } from './orders/service.ts';

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
}

/** `redisUrl`: the catalog cache's Redis (default: REDIS_URL); null for the in-process cache. */
export function createServices(pool: Pool, clock: Clock, options: { redisUrl?: string | null } = {}): Services {
  const deps = { pool, clock };
  const redisUrl = options.redisUrl === undefined ? readConfig().redisUrl : options.redisUrl;
  return {
    pool,
    clock,
    access: new AccessService(deps),
    customers: new CustomerService(deps),
    inventory: new InventoryService(deps),
    queries: new InventoryQueries(deps),
    catalog: new CatalogService({ ...deps, cache: createCatalogCache({ redisUrl, clock }) }),
    priceRules: new PriceRuleService(deps),
    quotes: new QuoteService(deps),
    orders: new OrderService(deps),
  };
}
