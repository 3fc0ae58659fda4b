/**
 * REPLACE: a new offering takes an owned product instance's place — sold where the target
 * sits (onto its parent, by the same add-on rules as an ADD there) and configured from what it
 * had (docs/orders-and-fulfillment.md). At submission the target's guard is held; when its
 * tasks are done a new instance is ACTIVE with the services they set up, the relationships are
 * re-pointed to it and the old one is DISCONNECTED; when they fail, or it is withdrawn, the
 * guard is released and the target is as it was.
 */
import { catalogSnapshotOf, findOfferingVersion, findProductSpecificationVersion, instanceNameOf } from '../../catalog/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import { BusinessRuleError, NotFoundError } from '../../platform/errors.ts';
import { servicesFromTasks, type OrderActionModule } from './action.ts';

export const replace: OrderActionModule = {
  target: { command: 'replacement:apply' },
  // The new product is built and activated, then the old one's services are deactivated.
  steps: { kind: 'build', last: 'activate', replaces: true },

  validate: (item) => item.replacementOfferingId ? [] : [{ field: '/replacementOfferingId', message: 'a REPLACE item names the replacing offering' }],

  // Sold where the target sits (onto its parent, by the add-on rules of an ADD there), configured
  // over the target's configurable values (docs/orders-and-fulfillment.md): quotes/basket.ts.
  basketLine: (item) => ({ action: 'REPLACE', offeringId: item.replacementOfferingId!, offeringVersion: null }),

  recorded: (item) => ({ details: { configuration: item.basket!.configuration, replacementOfferingVersion: item.basket!.offering!.version } }),

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
      // Configured and priced for the new offering at submission (the basket, above).
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
      services: await servicesFromTasks(tx, ctx.tenantId, tasks),
    });
    return replaced.productInstance.productInstanceId;
  },
};
