// The public surface of inventory/: other parts import from here only (eslint.config.js enforces it).
export { checkAllTenants, checkTenant } from './check.ts';
export { containedChildren, containmentEdge, mergeConfiguration, productInstanceTransition, type ProductInstanceCommand, type ProductInstanceState } from './model.ts';
export { InventoryQueries, activeOperationInTx, assetVersionsInTx, productInstanceInTx, subscriptionInTx } from './queries.ts';
export { registerInventoryRoutes } from './routes.ts';
export { InventoryService, checkConfigurationChange, holdAssetsForOrderInTx, renewalEndDate, type FulfilledService, type OrderTarget } from './service.ts';
export { type ProductInstance } from './types.ts';
