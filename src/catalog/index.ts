// The public surface of catalog/: other parts import from here only (eslint.config.js enforces it).
export { createCatalogCache } from './cache.ts';
export { AccountTermBody, CHARGE_KINDS, Currency, DecimalString, MinorUnits, PriceRuleBody, PriceTier, ROUNDING_MODES, SignedMinorUnits, type Characteristic, type Charge, type ChargeKind, type Discount, type ProductOfferingBody, type ProductSpecificationBody, type ResourceSpecificationBody, type RoundingMode, type RuleTarget, type RuleType, type ServiceSpecificationBody, type Versioned } from './model.ts';
export { registerCatalogRoutes } from './routes.ts';
export { CatalogService, catalogSnapshotOf, findAddOnParents, findCatalogVersion, findExistingOfferingIds, findOfferingVersion, findOfferingVersions, findProductSpecificationVersion, instanceNameAfterChange, instanceNameOf, offeringSellableAt, offeringVersionsFromHeads, whyNotSellableToAccount, type CatalogKind, type CatalogVersion, type OfferingHeads, type OfferingVersion, type VersionHead, type OfferingWithSpecification, type ProductSpecificationVersion } from './service.ts';
export { canonicalValidity, checkValidity, normalizeDocument } from './validation.ts';
