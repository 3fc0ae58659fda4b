/**
 * MODIFY: changes the configuration of an owned product instance (null removes a
 * characteristic), repriced. At submission the target is PENDING_MODIFICATION with the change
 * and its new price; when its tasks are done the change is applied as a new version, ACTIVE;
 * when they fail, or it is withdrawn, the target is ACTIVE unchanged (a failure's error
 * recorded); a re-run starts the modification again.
 */
import { instanceNameAfterChange } from '../../catalog/index.ts';
import type { JsonObject } from '../../platform/context.ts';
import type { PricedLine } from '../../pricing/index.ts';
import type { OrderActionModule } from './action.ts';

export const modify: OrderActionModule = {
  target: { command: 'modification:start' },
  steps: { kind: 'each-service', step: 'modify' },

  // The change is checked as the whole configuration it leaves, against the target's own
  // specification (the inventory's check), and repriced like a sale with the offering version
  // the instance was sold under and today's rules, without the sale's one-time charges.
  basketLine: () => ({ action: 'MODIFY', offeringId: null, offeringVersion: null }),

  async begin(item, s, inventory) {
    // The basket checked the change against the target as it is now (see above).
    const { offering, specification, configuration, change } = item.basket!;
    const target = item.basket!.target!;
    // A name made from the configuration follows it; a fixed name stays.
    const name = instanceNameAfterChange(offering!.body, specification?.body ?? null, target, configuration!);
    // The instance's new price: the change's lines, and the one-time lines of the sale it keeps (charged once, then).
    const sold = Array.isArray((target.price as { lines?: unknown }).lines) ? (target.price as unknown as { lines: PricedLine[] }).lines.filter((l) => l.kind === 'one_time') : [];
    const newPrice = { currency: s.account.currency, lines: [...sold, ...item.priceLines] } as unknown as JsonObject;
    await inventory.startModification(s.ctx, item.input.productInstanceId!, {
      orderId: s.orderId, orderItemId: item.itemId, expectedVersion: item.input.expectedVersion!,
      requestedChange: { configuration: change!, price: newPrice, ...(name && name !== target.name ? { name } : {}) },
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
