/**
 * RESUME: brings a suspended product instance back; its suspended add-ons come back after it.
 * At submission the target's guard is held; when its tasks are done the target is ACTIVE; when
 * they fail, or it is withdrawn, the guard is released and the target is as it was.
 */
import type { OrderActionModule } from './action.ts';

export const resume: OrderActionModule = {
  target: {
    command: 'resumption:apply',
    cascade: { follows: (status) => status === 'SUSPENDED', addOns: 'after' },
  },
  steps: { kind: 'each-service', step: 'resume' },

  async apply({ ctx, inventory, cause }, target) {
    await inventory.resume(ctx, target.productInstanceId, { ...cause, expectedVersion: target.version });
    return target.productInstanceId;
  },
};
