/**
 * MODIFY: changes the configuration of an owned product instance (null removes a
 * characteristic), repriced. At submission the target is PENDING_MODIFICATION with the change
 * and its new price; when its tasks are done the change is applied as a new version, ACTIVE;
 * when they fail, or it is withdrawn, the target is ACTIVE unchanged (a failure's error
 * recorded); a re-run starts the modification again.
 */
import { findOfferingVersion, findProductSpecificationVersion, instanceNameAfterChange } from '../../catalog/index.ts';
import { checkConfigurationChange, productInstanceInTx } from '../../inventory/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import { ValidationError } from '../../platform/errors.ts';
import type { PricedLine } from '../../pricing/index.ts';
import type { OrderActionModule } from './action.ts';

export const modify: OrderActionModule = {
  target: { command: 'modification:start' },
  steps: { kind: 'each-service', step: 'modify' },

  async configure(item, s) {
    // The change is checked as the whole configuration it leaves, against the target's
    // specification — by the inventory's own check, the one its modification command runs.
    const target = (await productInstanceInTx(s.tx, item.input.productInstanceId!))!;
    const checked = await checkConfigurationChange(s.tx, target, item.input.configuration ?? {});
    // Repriced like a sale, with the offering version the instance was sold under (its price
    // list, not a newer one's) and today's rules; without the sale's one-time charges.
    const offering = await findOfferingVersion(s.tx, target.productOfferingId, target.productOfferingVersion);
    if (!offering) {
      throw ValidationError.field('/productInstanceId', `offering ${target.productOfferingId} version ${target.productOfferingVersion} of product instance ${target.productInstanceId} is not in the catalog; the change cannot be priced`);
    }
    const spec = (await findProductSpecificationVersion(s.tx, target.productSpecificationId, target.productSpecificationVersion))
      ?? (offering.body.productSpecification ? await findProductSpecificationVersion(s.tx, offering.body.productSpecification.id, offering.body.productSpecification.version) : null);
    item.change = {
      target,
      configuration: checked.change,
      // A name made from the configuration follows it; a fixed name stays.
      name: instanceNameAfterChange(offering.body, spec?.body ?? null, target, checked.configuration),
    };
    return {
      offering: { id: offering.id, version: offering.version, body: offering.body },
      specification: spec?.body ?? null,
      configuration: checked.configuration,
      quantity: item.input.quantity ?? 1,
      action: 'MODIFY',
    };
  },

  async begin(item, s, inventory) {
    const { target, configuration, name } = item.change!;
    // The instance's new price: the change's lines, and the one-time lines of the sale it keeps (charged once, then).
    const sold = Array.isArray((target.price as { lines?: unknown }).lines) ? (target.price as unknown as { lines: PricedLine[] }).lines.filter((l) => l.kind === 'one_time') : [];
    const newPrice = { currency: s.account.currency, lines: [...sold, ...item.priceLines] } as unknown as JsonObject;
    await inventory.startModification(s.ctx, item.input.productInstanceId!, {
      orderId: s.orderId, orderItemId: item.itemId, expectedVersion: item.input.expectedVersion!,
      requestedChange: { configuration, price: newPrice, ...(name && name !== target.name ? { name } : {}) },
    });
  },

  async apply({ ctx, inventory, cause }, target) {
    await inventory.completeModification(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version });
    return target.productInstanceId;
  },

  async fail({ ctx, inventory, cause }, product, problem) {
    if (product.status === 'PENDING_MODIFICATION') await inventory.failModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, error: problem });
  },

  async withdraw({ ctx, inventory, cause }, product) {
    if (product.status === 'PENDING_MODIFICATION') await inventory.cancelModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  },

  async retake({ ctx, inventory, cause, details }, product) {
    await inventory.startModification(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version, requestedChange: { configuration: (details.configuration ?? {}) as JsonObject } });
  },
};
