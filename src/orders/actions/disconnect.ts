/**
 * DISCONNECT: ends an owned product instance, now or at a requested date; its add-ons go
 * first. At submission the target's guard is held (with a future date, the disconnect is
 * scheduled on the product and its tasks wait for the date); when its tasks are done the
 * target is DISCONNECTED (started and completed) at the requested date, else now; when they
 * fail, or it is withdrawn, the schedule is withdrawn and the target is as it was.
 */
import { productInstanceInTx } from '../../inventory/index.ts';
import type { OrderActionModule } from './action.ts';

export const disconnect: OrderActionModule = {
  target: {
    command: 'disconnect:start',
    cascade: { follows: (status) => status !== 'DISCONNECTED' && status !== 'CANCELLED', addOns: 'before' },
  },
  scheduled: true,
  steps: { kind: 'teardown' },

  validate: (item, now) => item.requestedTerminationDate !== undefined && item.requestedTerminationDate < now
    ? [{ field: '/requestedTerminationDate', message: `${item.requestedTerminationDate} is in the past (now is ${now}); leave it out to disconnect now, or give a date from now on` }]
    : [],

  async begin(item, s, inventory) {
    const date = item.input.requestedTerminationDate;
    if (!date || date <= s.now) return;
    // A disconnect at a future date: the target shows it now, its tasks wait for the date.
    const id = item.input.productInstanceId!;
    await inventory.scheduleDisconnect(s.ctx, id, { orderId: s.orderId, orderItemId: item.itemId, expectedVersion: (await productInstanceInTx(s.tx, id))!.version, terminationDate: date, reason: item.input.reason ?? null });
  },

  async apply({ ctx, now, inventory, cause, details }, target) {
    // A scheduled disconnect takes effect at its date, even when the worker ran it a little later.
    const effectiveAt = details.requestedTerminationDate ?? now;
    const started = await inventory.startDisconnect(ctx, target.productInstanceId, { ...cause, effectiveAt, expectedVersion: target.version, reason: details.reason ?? null, requestedTerminationDate: details.requestedTerminationDate ?? null });
    await inventory.completeDisconnect(ctx, target.productInstanceId, { ...cause, effectiveAt, expectedVersion: started.productInstance.version });
    return target.productInstanceId;
  },

  async fail({ ctx, inventory, cause }, product) {
    await inventory.unscheduleDisconnect(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  },

  async withdraw({ ctx, inventory, cause }, product) {
    await inventory.unscheduleDisconnect(ctx, product.productInstanceId, { ...cause, expectedVersion: product.version });
  },
};
