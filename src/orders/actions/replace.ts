/**
 * REPLACE: a new offering takes an owned product instance's place — sold where the target
 * sits (onto its parent, by the same add-on rules as an ADD there) and configured from what it
 * had (docs/orders-and-fulfillment.md). At submission the target's guard is held; when its
 * tasks are done a new instance is ACTIVE with the services they set up, the relationships are
 * re-pointed to it and the old one is DISCONNECTED; when they fail, or it is withdrawn, the
 * guard is released and the target is as it was.
 */
import { catalogSnapshotOf, findOfferingVersion, findProductSpecificationVersion, instanceNameOf, type ProductSpecificationBody } from '../../catalog/index.ts';
import { productInstanceInTx } from '../../inventory/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import { BusinessRuleError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import { validateConfiguration } from '../../pricing/index.ts';
import { bundleItemIdOf, servicesFromTasks, type OrderActionModule } from './action.ts';

export const replace: OrderActionModule = {
  target: { command: 'replacement:apply' },
  // The new product is built and activated, then the old one's services are deactivated.
  steps: { kind: 'build', last: 'activate' },

  validate: (item) => item.replacementOfferingId ? [] : [{ field: '/replacementOfferingId', message: 'a REPLACE item names the replacing offering' }],

  sells: (item) => ({ offeringId: item.replacementOfferingId!, field: 'replacementOfferingId', inPlaceOfTarget: true }),

  async configure(item, s) {
    const offering = item.sale!.offering;
    const spec = offering.body.productSpecification
      ? await findProductSpecificationVersion(s.tx, offering.body.productSpecification.id, offering.body.productSpecification.version)
      : null;
    if (!spec) throw ValidationError.field('/replacementOfferingId', `offering ${offering.body.code} has no product specification (a bundle?): it cannot replace a product instance`);
    item.specification = spec;
    const old = (await productInstanceInTx(s.tx, item.input.productInstanceId!))!.configuration;
    item.configuration = configureReplacement(spec.body, old, item.input.configuration ?? {});
    return {
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: spec.body,
      configuration: item.configuration,
      quantity: item.input.quantity ?? 1,
      bundleItemId: bundleItemIdOf(item, s),
    };
  },

  recorded: (item) => ({ details: { replacementOfferingVersion: item.sale?.offering.version } }),

  async apply({ tx, ctx, inventory, cause, item, details }, target, tasks) {
    const offering = await findOfferingVersion(tx, details.replacementOfferingId, details.replacementOfferingVersion);
    if (!offering) throw NotFoundError.of('product offering', details.replacementOfferingId);
    const specRef = offering.body.productSpecification;
    const specification = specRef ? await findProductSpecificationVersion(tx, specRef.id, specRef.version) : null;
    if (!specification) throw new BusinessRuleError(`offering ${offering.body.code} has no product specification: it cannot replace a product`);
    if (!details.configuration || !details.price) throw new BusinessRuleError(`order item ${item.itemId} has no configuration or price for its replacement`);
    const replaced = await inventory.replace(ctx, target.productInstanceId, {
      ...cause,
      expectedVersion: target.version,
      place: (details.place ?? null) as JsonObject | null,
      // Configured and priced for the new offering at submission (configure, above).
      replacement: {
        productOfferingId: offering.id,
        productOfferingVersion: offering.version,
        productSpecificationId: specification.id,
        productSpecificationVersion: specification.version,
        name: instanceNameOf(offering.body, specification.body, details.configuration),
        catalogSnapshot: catalogSnapshotOf(offering, specification),
        configuration: details.configuration as JsonObject,
        price: details.price as JsonObject,
      },
      services: await servicesFromTasks(tx, tasks),
    });
    return replaced.productInstance.productInstanceId;
  },
};

/**
 * The configuration of a replacement (docs/orders-and-fulfillment.md): what the item gives,
 * over the old instance's values of the characteristics the new specification also has and
 * lets the customer choose — each kept only when the new specification accepts it — and the
 * new specification's defaults for the rest. Throws a ValidationError for the item's own values.
 */
function configureReplacement(spec: ProductSpecificationBody, old: Record<string, unknown>, given: Record<string, unknown>): Record<string, unknown> {
  const carried: Record<string, unknown> = {};
  for (const c of spec.characteristics) {
    if (!c.configurable || !(c.name in old) || c.name in given) continue;
    try {
      validateConfiguration({ ...spec, characteristics: [c] }, { [c.name]: old[c.name] });
      carried[c.name] = old[c.name];
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
    }
  }
  return validateConfiguration(spec, { ...carried, ...given });
}
