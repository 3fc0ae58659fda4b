// The public surface of inventory/: other parts import from here only (eslint.config.js enforces it).
export { checkAllTenants, checkTenant } from './check.ts';
export { containedChildren, containmentEdge, mergeConfiguration, productInstanceTransition, type ProductInstanceCommand, type ProductInstanceState } from './model.ts';
export { InstalledBaseCache, type InstalledBaseCacheStats } from './installed-base-cache.ts';
export { InventoryQueries, activeOperationInTx, assetVersionsInTx, productInstanceInTx, subscriptionInTx } from './queries.ts';
export { registerInventoryRoutes } from './routes.ts';
export { InventoryService } from './service.ts';
export { checkConfigurationChange } from './commands/modification.ts';
export { holdAssetsForOrderInTx, type OrderTarget } from './commands/order-hold.ts';
export { type PendingProduct, type PendingProductInput } from './commands/order-add.ts';
export { type FulfilledService } from './commands/services-and-resources.ts';
export { renewalEndDate } from './commands/subscriptions.ts';
export { type ProductInstance } from './types.ts';
