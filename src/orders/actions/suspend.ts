/**
 * SUSPEND: suspends an active product instance; its active add-ons go first. At submission the
 * target's guard is held; when its tasks are done the target is SUSPENDED; when they fail, or
 * it is withdrawn, the guard is released and the target is as it was.
 */
import type { OrderActionModule } from './action.ts';

export const suspend: OrderActionModule = {
  target: {
    command: 'suspension:apply',
    cascade: { follows: (status) => status === 'ACTIVE', addOns: 'before' },
  },
  steps: { kind: 'each-service', step: 'suspend' },

  async apply({ ctx, inventory, cause, details }, target) {
    await inventory.suspend(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version, reason: details.reason ?? null });
    return target.productInstanceId;
  },
};
