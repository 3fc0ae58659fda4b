/**
 * RENEW: moves the end of the target's subscription (by termMonths, or to newEndDate). Checked
 * at submission by the rule the renewal command applies; the target's guard is held. When its
 * task is done (commercial only: nothing to do in the network) the subscription's end date is
 * moved; when it fails, or is withdrawn, the guard is released and nothing changed.
 */
import { renewalEndDate, subscriptionInTx, productInstanceInTx } from '../../inventory/index.ts';
import { BusinessRuleError, NotFoundError, ValidationError } from '../../platform/errors.ts';
import type { OrderActionModule } from './action.ts';

export const renew: OrderActionModule = {
  // The subscription is renewed, not the product: any product state but ended.
  target: { command: null },
  steps: { kind: 'product', step: 'renew' },

  validate: (item) => item.termMonths === undefined && item.newEndDate === undefined ? [{ field: '/termMonths', message: 'a RENEW item gives termMonths or newEndDate' }] : [],

  async checkTarget(item, s) {
    // The renewal's new end is checked now, by the rule the renewal command applies, not after fulfillment.
    const id = item.input.productInstanceId!;
    const subscriptionId = (await productInstanceInTx(s.tx, id))?.subscriptionId;
    const subscription = subscriptionId ? await subscriptionInTx(s.tx, subscriptionId) : undefined;
    if (!subscription) throw ValidationError.field('/productInstanceId', `product instance ${id} has no subscription to renew`);
    try {
      renewalEndDate(subscription, { termMonths: item.input.termMonths ?? null, newEndDate: item.input.newEndDate ?? null }, s.account.timeZone);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const field = item.input.newEndDate ? '/newEndDate' : '/termMonths';
      throw new ValidationError(error.message, error.errors.map((e) => ({ field, message: e.message })));
    }
  },

  async apply({ tx, ctx, inventory, cause, order, item, details }, target) {
    if (!target.subscriptionId) throw new BusinessRuleError(`product instance ${target.productInstanceId} has no subscription to renew`);
    const subscription = await subscriptionInTx(tx, target.subscriptionId);
    if (!subscription) throw NotFoundError.of('subscription', target.subscriptionId);
    await inventory.renewSubscription(ctx, subscription.subscriptionId, { ...cause, expectedVersion: subscription.version, termMonths: details.termMonths ?? null, newEndDate: details.newEndDate ?? null });
    await inventory.releaseOrderItemHolds(ctx, order.accountId, item.itemId, 'renewed');
    return target.productInstanceId;
  },
};
