/** Wires the parts together: one place that knows every service. */
import { AccessService } from './access/service.ts';
import { CustomerService } from './customers/service.ts';
import { InventoryQueries } from './inventory/queries.ts';
import { InventoryService } from './inventory/service.ts';
import type { Clock } from './platform/clock.ts';
import type { Pool } from './platform/db.ts';

export interface Services {
  pool: Pool;
  clock: Clock;
  access: AccessService;
  customers: CustomerService;
  inventory: InventoryService;
  queries: InventoryQueries;
}

export function createServices(pool: Pool, clock: Clock): Services {
  const deps = { pool, clock };
  return {
    pool,
    clock,
    access: new AccessService(deps),
    customers: new CustomerService(deps),
    inventory: new InventoryService(deps),
    queries: new InventoryQueries(deps),
  };
}
