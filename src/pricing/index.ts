// The public surface of pricing/: other parts import from here only (eslint.config.js enforces it).
export { validateConfiguration } from './configuration.ts';
export { priceItems } from './engine.ts';
export { registerPriceRuleRoutes } from './rule-routes.ts';
export { PriceRuleService, countPromoRedemptions, loadPricingInputs, loadPricingRules, pricingInputsOf, recordPromoRedemption, type PriceRuleRecord, type PricingInputs } from './rule-service.ts';
export { PriceSnapshotSchema } from './snapshot.ts';
export { type PriceResult, type PricedLine, type PricingItem } from './types.ts';
